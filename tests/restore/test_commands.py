"""The bench sub-commands of the restoration stack: train, restore, models."""
import json

import numpy as np
import pytest
import torch

from bench.cli import main
from restore.checkpoint import load_model, save_model
from restore.imageio import read_image, write_image
from restore.models import CGRDN, CGRDNConfig
from tests.restore.conftest import make_pairs
from tests.restore.rounding import network_error_std, rounding_std, within_model


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("STEM_BENCH_MODELS", str(folder))
    torch.manual_seed(0)
    save_model(folder / "cgrdn.tiny.safetensors", CGRDN(CGRDNConfig.tiny()), "cgrdn", modality="HRSTEM")
    return folder


def test_models_list_shows_installed_and_pending_models(model_dir, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "cgrdn.tiny" in out and "cgrdn.hrstem_default" in out and "not installed" in out
    # each installed model says whether auto may restore with it in bf16: the shipped default passed its check
    default = out[out.index("cgrdn.hrstem_default"):]
    assert "bf16: check passed, numeric auto restores in bf16 where native (largest change" in default.splitlines()[2]
    tiny = out[out.index("cgrdn.tiny"):]
    assert "bf16: not checked" in tiny.splitlines()[2]


def test_restore_keeps_shape_scale_and_calibration(model_dir, tmp_path, capsys):
    x, _ = make_pairs(2, 45, seed=4)
    write_image(tmp_path / "in.tif", 1e4 * x, pixel_size_A=0.2)
    assert main(["restore", str(tmp_path / "in.tif"), "-o", str(tmp_path / "out.h5"), "--model", "cgrdn.tiny",
                 "--tile", "32", "--device", "cpu"]) == 0
    out = read_image(tmp_path / "out.h5")
    assert out.data.shape == (2, 45, 45) and out.pixel_size_A == pytest.approx(0.2)
    assert abs(out.data.mean() / (1e4 * x).mean() - 1) < 0.2
    np.save(tmp_path / "b.npy", x[0])
    assert main(["restore", str(tmp_path / "in.tif"), str(tmp_path / "b.npy"), "-o", str(tmp_path / "dir"),
                 "--model", str(model_dir / "cgrdn.tiny.safetensors"), "--tile", "32"]) == 0
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["b_restored.npy", "in_restored.tif"]


def test_restore_reports_bad_input_and_missing_models(model_dir, tmp_path, capsys):
    (tmp_path / "bad.tif").write_text("no image")
    assert main(["restore", str(tmp_path / "bad.tif"), "-o", str(tmp_path / "o.tif"), "--model", "cgrdn.tiny"]) == 2
    assert main(["restore", str(tmp_path / "bad.tif"), "-o", str(tmp_path / "o.tif"), "--model",
                 "cgrdn.sfr_hrstem"]) == 2
    err = capsys.readouterr().err
    assert "not a readable TIFF" in err and "import-r-em" in err


def test_train_command_runs_a_config_file(tmp_path):
    x, y = make_pairs(4, 32, seed=5)
    np.savez(tmp_path / "pairs.npz", x=x, y=y)
    config = {"data": f"npz:{tmp_path / 'pairs.npz'}", "validation": f"npz:{tmp_path / 'pairs.npz'}",
              "steps": 2, "batch_size": 2, "warmup_steps": 1, "val_every": 2, "val_batches": 1,
              "checkpoint_every": 2, "log_every": 1, "generator": CGRDNConfig.tiny().to_dict(),
              "losses": {"adversarial": 0.0}}
    (tmp_path / "train.json").write_text(json.dumps(config))
    assert main(["train", str(tmp_path / "train.json"), "-o", str(tmp_path / "run"), "--no-progress"]) == 0
    assert (tmp_path / "run" / "model.safetensors").exists()
    assert main(["train", str(tmp_path / "train.json"), "-o", str(tmp_path / "run"), "--no-progress"]) == 2


def test_restore_algorithms_agree_and_winograd_off_the_cpu_is_refused(model_dir, tmp_path, capsys):
    x, _ = make_pairs(1, 40, seed=6)
    write_image(tmp_path / "in.npy", 1e3 * x[0])
    outputs = {}
    for algorithm in ("direct", "winograd"):
        destination = tmp_path / f"{algorithm}.npy"
        assert main(["restore", str(tmp_path / "in.npy"), "-o", str(destination), "--model", "cgrdn.tiny",
                     "--tile", "32", "--device", "cpu", "--algorithm", algorithm]) == 0
        outputs[algorithm] = read_image(destination).data.astype(np.float64)
    direct, winograd = outputs["direct"], outputs["winograd"]
    # the same tiles, two float32 evaluations: their difference is within both rounding models together
    # (tests/restore/rounding.py; modelled on the whole image) plus the blending's roundings of |output|
    image = torch.from_numpy(read_image(tmp_path / "in.npy").data.astype(np.float32))[None, None]
    model = load_model(model_dir / "cgrdn.tiny.safetensors")[0]
    exact, std_winograd = network_error_std(model, image, winograd=True)
    std = (std_winograd.square() + network_error_std(model, image)[1].square()
           + 2 * rounding_std(*[exact] * 4).square()).sqrt()[0, 0]
    assert within_model(winograd - direct, std)
    assert not np.array_equal(winograd, direct)  # the flag reached restore_image: another rounding path ran
    capsys.readouterr()
    assert main(["restore", str(tmp_path / "in.npy"), "-o", str(tmp_path / "gpu.npy"), "--model", "cgrdn.tiny",
                 "--device", "cuda", "--algorithm", "winograd"]) == 2
    assert "Winograd dense blocks run on the CPU" in capsys.readouterr().err
    assert not (tmp_path / "gpu.npy").exists()
    with pytest.raises(SystemExit) as refused:
        main(["restore", str(tmp_path / "in.npy"), "-o", str(tmp_path / "o.npy"), "--algorithm", "fft"])
    assert refused.value.code == 2 and "invalid choice: 'fft'" in capsys.readouterr().err
