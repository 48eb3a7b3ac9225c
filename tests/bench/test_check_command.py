"""End to end: the real ``bench check`` command with real CGRDN checkpoints against raw data.

Two tiny CGRDN networks (``CGRDNConfig.tiny()``, saved with ``restore.checkpoint``) are built with exact
weights instead of training: one restores the identity (every weight zero, so the residual is zero and the
network returns its input), the other moves the image by one pixel along the fast-scan axis (space-to-depth
by the stride-2 convolution, depth-to-space by the transposed one, and a one-pixel shift kernel in the tail)
— a scan-delay error of 0.2 Å that a restoration must never add. ``bench check`` runs the quick
precision-vs-dose study for each network and raw data on the same noise realisations (coarse abTEM series,
one thickness, one dose, three realisations) and must fail the shift and pass the identity.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.cli import main

PIXEL_PM = 20.0  # the precision-vs-dose study's pixel, 0.2 Å
SMALL = ["--baseline", "raw", "--studies", "precision-vs-dose", "--recipe", "coarse", "--thicknesses", "4",
         "--doses", "50000", "--realisations", "3", "--workers", "1", "--quiet"]


def tiny_cgrdn(path, shift_px: int, gain: float = 0.0):
    """Save a tiny CGRDN that returns its input moved by ``shift_px`` pixels along x (0: the identity), plus
    ``gain`` × its normalised input (the output is then input + gain × (input − mean))."""
    import torch

    from restore.checkpoint import save_model
    from restore.models import CGRDN, CGRDNConfig

    model = CGRDN(CGRDNConfig.tiny())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        if shift_px or gain:
            model.head.weight[0, 0, 1, 1] = 1.0  # channel 0 carries the normalised image
            for a in (0, 1):
                for b in (0, 1):  # channel 2a + b holds pixel (2i + a, 2j + b) at half resolution, and back
                    model.down.weight[2 * a + b, 0, a + 1, b + 1] = 1.0
                    model.up.weight[2 * a + b, 0, a + 1, b + 1] = 1.0
        if shift_px:
            # residual = image(j − shift) − image(j): the output is the image moved by +shift pixels along x
            model.tail.weight[0, 0, 1, 1 - shift_px] += 1.0
            model.tail.weight[0, 0, 1, 1] -= 1.0
        model.tail.weight[0, 0, 1, 1] += gain
    save_model(path, model, "cgrdn", modality="hrstem", note="test network with constructed weights")
    return path


def test_the_checkpoints_do_what_they_claim(tmp_path):
    from bench.methods import make_method

    image = np.random.default_rng(3).poisson(40.0, size=(2, 78, 78)).astype(float)
    identity = make_method(str(tiny_cgrdn(tmp_path / "identity.safetensors", 0)))
    shift = make_method(str(tiny_cgrdn(tmp_path / "shift.safetensors", 1)))
    assert np.allclose(identity(image), image, atol=1e-4)
    moved = shift(image)
    assert np.allclose(moved[:, :, 1:], image[:, :, :-1], atol=1e-4) and not np.allclose(moved, image)


def _check(tmp_path, name: str, shift_px: int, capsys):
    weights = tiny_cgrdn(tmp_path / f"{name}.safetensors", shift_px)
    output = tmp_path / f"check-{name}"
    code = main(["check", "--model", str(weights), *SMALL, "--output", str(output)])
    out = capsys.readouterr().out
    table = pd.read_csv(output / f"check_{name}_vs_raw.csv")
    return code, out, table, output / "precision-vs-dose"


def test_check_fails_a_network_that_shifts_the_image_and_passes_the_identity(series, tmp_path, capsys):
    code, out, table, results = _check(tmp_path, "shift", 1, capsys)
    assert code == 1 and "FAIL" in out and "position_bias_pm" in out
    assert len(table) == 6 and set(table["study"]) == {"precision-vs-dose"}
    assert set(table["dose_e_per_A2"]) == {5e4} and set(table["atoms_per_column"]) == {4}
    rows = table.set_index("metric")
    assert {"position_bias_pm", "position_rmse_pm"} <= set(rows.index[rows["regressed"]])
    # the gate sees the physics: the bias is the one-pixel shift along x (x and y pooled: 20 pm / √2), the
    # baseline's a fraction of a pm
    assert abs(rows.loc["position_bias_pm", "candidate"] - PIXEL_PM / np.sqrt(2)) < 0.1 * PIXEL_PM
    assert rows.loc["position_bias_pm", "baseline"] < 0.1 * PIXEL_PM
    assert rows.loc["position_bias_pm", "difference_low"] > 0
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["study"] == "precision-vs-dose"
    assert [m["name"] for m in manifest["methods"]] == ["raw", "shift"]
    realisations = pd.read_parquet(results / "realisations.parquet")
    assert sorted(realisations["method"].unique()) == ["raw", "shift"]
    assert realisations.groupby("method")["realisation"].nunique().eq(3).all()

    code, out, table, identity_results = _check(tmp_path, "identity", 0, capsys)
    assert code == 0 and "PASS" in out
    assert len(table) == 6 and not table["regressed"].any()
    assert np.allclose(table["difference"], 0.0, atol=1e-3)
    # the same seeds give the baseline the same noise realisations in both runs
    raw = [pd.read_parquet(d / "realisations.parquet").query("method == 'raw'").reset_index(drop=True)
           for d in (results, identity_results)]
    pd.testing.assert_frame_equal(raw[0], raw[1])


@pytest.mark.parametrize("arguments, message", [
    (["--studies", "dislocation"], "--studies 'dislocation'"),
    (["--studies", "precision-vs-dose", "--counting-results", "x"], "--studies chooses"),
])
def test_check_rejects_bad_study_choices(arguments, message, tmp_path, capsys):
    assert main(["check", "--model", "raw", "--baseline", "raw", "--output", str(tmp_path / "o"), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("arguments, message", [(["--workers", "0"], "--workers 0"),
                                                (["--device", "foo"], "--device 'foo' is not a device name")])
def test_check_refuses_bad_workers_and_devices_before_any_work(arguments, message, tmp_path, capsys):
    output = tmp_path / "check"
    assert main(["check", "--model", "bm3d", "--baseline", "raw", *arguments, "--output", str(output)]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()
