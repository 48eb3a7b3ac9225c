"""``bench train`` chunks (--init-from, --max-minutes, --resume), ``bench train-cache`` and ``bench train-step``."""
import json

import numpy as np
import pytest

from bench.cli import main
from restore.models import CGRDNConfig
from tests.restore.conftest import make_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config_file(tmp_path, **changes):
    x, y = make_pairs(4, 32, seed=5)
    np.savez(tmp_path / "pairs.npz", x=x, y=y)
    config = {"data": f"npz:{tmp_path / 'pairs.npz'}", "validation": f"npz:{tmp_path / 'pairs.npz'}",
              "steps": 3, "batch_size": 2, "warmup_steps": 1, "init_warmup_steps": 1, "val_every": 3,
              "val_batches": 1, "checkpoint_every": 3, "log_every": 1, "bf16": "fp32",
              "generator": CGRDNConfig.tiny().to_dict(), "losses": {"adversarial": 0.0}, **changes}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_train_chunks_from_weights_with_a_time_budget(tmp_path, capsys):
    config = _config_file(tmp_path)
    assert main(["train", config, "-o", str(tmp_path / "first"), "--no-progress"]) == 0
    weights = tmp_path / "first" / "model.safetensors"
    run = tmp_path / "second"
    assert main(["train", config, "-o", str(run), "--init-from", str(weights), "--max-minutes", "1e-9",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "numeric path: fp32 on cpu (fp32: forced)" in out and "trained to step 1 (time budget)" in out
    assert "totals over chunks: 4 steps" in out  # 3 steps of the weights' run + 1
    assert main(["train", config, "-o", str(run), "--resume", "--init-from", str(weights), "--no-progress"]) == 0
    assert "trained to step 3 (steps)" in capsys.readouterr().out  # resumed from the checkpoint, not the weights
    chunks = json.loads((run / "run.json").read_text())["chunks"]
    assert [c["chunk"] for c in chunks] == [2, 3] and chunks[0]["init_from"]["path"] == str(weights)
    assert main(["train", config, "-o", str(tmp_path / "third"), "--init-from", "cgrdn.nothing",
                 "--no-progress"]) == 2


def test_train_cache_build_and_verify(tmp_path, capsys):
    directory = tmp_path / "cache"
    assert main(["train-cache", "build", "--size", "16", "--pairs", "3", "--seed", "4", "--shard-pairs", "2",
                 "--workers", "0", "-o", str(directory), "--no-progress"]) == 0
    assert f'data = "cache:{directory}"' in capsys.readouterr().out
    assert main(["train-cache", "verify", str(directory), "--regenerate", "1"]) == 0
    assert "SHA-256 ok" in capsys.readouterr().out
    (directory / "shard_00001.npy").write_bytes((directory / "shard_00000.npy").read_bytes()[:-4] + b"\0\0\0\0")
    assert main(["train-cache", "verify", str(directory)]) == 2
    assert "differs from the manifest" in capsys.readouterr().err


def test_train_step_prints_a_table_and_writes_json(tmp_path, capsys):
    out_json = tmp_path / "steps.json"
    assert main(["train-step", "--sizes", "tiny", "--patches", "32", "--batch", "2", "--repeats", "1",
                 "--gan", "off", "--layouts", "channels-last", "--json", str(out_json)]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    assert len(table) == 2 and "fp32" in table[0] and "bf16" in table[1]
    results = json.loads(out_json.read_text())["results"]
    assert [r["dtype"] for r in results] == ["fp32", "bf16"] and all(r["median_s"] > 0 for r in results)
