import json

import numpy as np
import pytest
import torch

from bench.cli import main
from restore.checkpoint import file_sha256, load_model
from restore.export import export_run, training_wall_time
from restore.losses import LossWeights
from restore.models import CGRDNConfig, PatchGANConfig
from restore.train import ArrayPairDataset, train
from restore.training_config import TrainingConfig
from tests.restore.conftest import make_pairs


@pytest.fixture(scope="module")
def chunked_run(tmp_path_factory):
    """A tiny run trained in two chunks (stop at step 6, then resume to step 8)."""
    x, y = make_pairs(4, 32, seed=11)
    pairs = ArrayPairDataset(x, y)
    config = TrainingConfig(data="npz:unused", validation="npz:unused", steps=8, batch_size=2, warmup_steps=1,
                            val_every=4, val_batches=1, checkpoint_every=3, log_every=1,
                            generator=CGRDNConfig.tiny(), discriminator=PatchGANConfig.tiny(),
                            losses=LossWeights(adversarial=0.0))
    run = tmp_path_factory.mktemp("run")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module-scoped: set up before the autouse one-thread fixture of conftest.py
    try:
        train(config, run, train_data=pairs, val_data=pairs, progress=False, stop_at=6)
        train(config, run, train_data=pairs, val_data=pairs, progress=False, resume=True)
    finally:
        torch.set_num_threads(threads)
    return run


def test_wall_time_adds_the_chunks_of_a_resumed_run(tmp_path):
    log = tmp_path / "train_log.csv"
    log.write_text("step,seconds\n1,2.0\n2,5.0\n3,1.5\n4,4.0\n")
    assert training_wall_time(log) == (9.0, 2)
    assert training_wall_time(log, up_to_step=3) == (6.5, 2)  # an exported checkpoint's steps only
    assert training_wall_time(log, up_to_step=2) == (5.0, 1)
    log.write_text("step,seconds\n")
    with pytest.raises(ValueError, match="no logged steps"):
        training_wall_time(log)


def test_export_writes_the_ema_weights_with_a_complete_sidecar(chunked_run, tmp_path):
    path = export_run(chunked_run, "cgrdn.mytest", tmp_path, hardware="test machine")
    model, sidecar = load_model(path, expected_sha256=file_sha256(path))
    ema, _ = load_model(chunked_run / "model.safetensors")
    for (name, a), b in zip(model.state_dict().items(), ema.state_dict().values()):
        assert torch.equal(a, b), name
    assert sidecar["steps"] == 8 and sidecar["training_chunks"] == 2 and sidecar["hardware"] == "test machine"
    assert sidecar["parameters"] == sum(p.numel() for p in model.parameters())
    assert sidecar["loss_weights"]["adversarial"] == 0.0 and sidecar["data_recipe"]["seed"] == 0
    assert 0 < sidecar["wall_time_s"] and np.isfinite(sidecar["validation"]["psnr_db"])


def test_export_refuses_an_unfinished_run_and_a_wrong_arch(chunked_run, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    assert main(["models", "export", str(unfinished), "--name", "cgrdn.x", "--output", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err
    with pytest.raises(ValueError, match="arch 'cgrdn'"):
        export_run(chunked_run, "patchgan.x", tmp_path)
    assert main(["models", "export", str(chunked_run), "--name", "cgrdn.cli", "--output", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "cgrdn.cli.json").read_text())["name"] == "cgrdn.cli"


def test_export_of_a_checkpoint_takes_its_ema_and_the_run_lineage(chunked_run, tmp_path):
    """A run trained in chunks exports the EMA of a checkpoint with the lineage and each chunk's hardware."""
    latest = json.loads((chunked_run / "checkpoints" / "latest.json").read_text())["path"]
    path = export_run(chunked_run, "cgrdn.chunk", tmp_path, checkpoint="latest")
    model, sidecar = load_model(path)
    ema, source = load_model(chunked_run / "checkpoints" / latest / "ema.safetensors")
    for (name, a), b in zip(model.state_dict().items(), ema.state_dict().values()):
        assert torch.equal(a, b), name
    assert sidecar["steps"] == source["step"] and sidecar["source"] == f"checkpoints/{latest}/ema.safetensors"
    assert sidecar["lineage"] == source["lineage"] and sidecar["lineage"]["steps"] == source["step"]
    assert sidecar["synthetic_recipe_version"] == source.get("synthetic_recipe_version")
    run_chunks = json.loads((chunked_run / "run.json").read_text())["chunks"]
    assert sidecar["hardware"] == "; ".join(sorted({c["hardware"] for c in run_chunks}))
    assert all(isinstance(v, float) for v in sidecar["validation"].values())
    older = export_run(chunked_run, "cgrdn.older", tmp_path, checkpoint="step_00000006")
    assert load_model(older)[1]["steps"] == 6
    inside = export_run(chunked_run, "cgrdn.inside", tmp_path, checkpoint="step_00000003")
    inside_chunks = load_model(inside)[1]["chunks"]  # step 3 lies inside the first chunk (steps 0 → 6)
    assert [(c["start_step"], c["end_step"], c["run_end_step"]) for c in inside_chunks] == [(0, 3, 6)]
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        export_run(chunked_run, "cgrdn.none", tmp_path, checkpoint="step_00000001")
