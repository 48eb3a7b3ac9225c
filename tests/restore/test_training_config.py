import pytest

from restore.models import CGRDNConfig
from restore.training_config import TrainingConfig


def test_reads_toml_with_nested_tables(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text('data = "npz:p.npz"\nsteps = 10\n[generator]\nfeatures = 8\ngrowth = 4\n[losses]\nl2 = 0.0\n')
    config = TrainingConfig.read(path)
    assert config.steps == 10 and config.generator == CGRDNConfig(features=8, growth=4) and config.losses.l2 == 0
    assert TrainingConfig.from_dict(config.to_dict()) == config


def test_learning_rate_warms_up_then_decays_by_cosine():
    config = TrainingConfig(steps=1100, warmup_steps=100, learning_rate=1e-3, final_lr_fraction=0.01)
    assert config.learning_rate_at(0) == pytest.approx(1e-5)
    assert config.learning_rate_at(99) == pytest.approx(1e-3)
    assert config.learning_rate_at(600) == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5))
    assert config.learning_rate_at(1100) == pytest.approx(1e-5)


@pytest.mark.parametrize("values, message", [({"steps": 0}, "steps"), ({"ema_decay": 1.0}, "ema_decay"),
                                             ({"data": "nothing"}, "data"), ({"colour": 1}, "unknown keys"),
                                             ({"generator": {"width": 2}}, "unknown fields")])
def test_bad_configs_raise(values, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig.from_dict(values)


def test_numeric_mode_reads_old_boolean_configs():
    assert TrainingConfig.from_dict({"bf16": False}).bf16 == "fp32"
    assert TrainingConfig.from_dict({"bf16": True}).bf16 == "auto" == TrainingConfig().bf16
    assert TrainingConfig.from_dict({"bf16": "BF16"}).bf16 == "bf16"
    old = {**TrainingConfig().to_dict(), "bf16": True}  # a checkpoint's config written before the modes
    assert TrainingConfig.from_dict(old) == TrainingConfig()
    with pytest.raises(ValueError, match="TrainingConfig.bf16"):
        TrainingConfig(bf16="fp16")


def test_init_warm_up_replaces_the_warm_up_of_a_run_started_from_weights():
    config = TrainingConfig(steps=1000, warmup_steps=100, init_warmup_steps=10, learning_rate=1e-3)
    assert config.learning_rate_at(0, config.init_warmup_steps) == pytest.approx(1e-4)
    assert config.learning_rate_at(9, config.init_warmup_steps) == pytest.approx(1e-3)
    assert config.learning_rate_at(9) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="init_warmup_steps"):
        TrainingConfig(init_warmup_steps=-1)


def test_cache_data_spec_is_accepted():
    assert TrainingConfig(data="cache:/tmp/pairs").data == "cache:/tmp/pairs"


def test_shipped_configs_parse():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "restore" / "configs"
    configs = {path.name: TrainingConfig.read(path) for path in sorted(folder.glob("*.toml"))}
    assert configs["hrstem_cpu_interim.toml"].bf16 == "fp32"  # an old boolean config
    chunks = configs["hrstem_cpu_chunks.toml"]
    assert chunks.data.startswith("cache:") and chunks.bf16 == "auto" and chunks.channels_last
