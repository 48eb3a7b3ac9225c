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
