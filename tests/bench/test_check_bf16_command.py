"""End to end: ``bench check-bf16`` runs both numeric paths of a real CGRDN checkpoint on the same noise, and
``--record`` puts the verdict where ``numeric="auto"`` reads it (the sidecar, then ``model.bf16_check``)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.cli import main
from tests.bench.test_check_command import tiny_cgrdn

SMALL = ["--recipe", "coarse", "--thicknesses", "4", "--doses", "50000", "--realisations", "3", "--workers", "1",
         "--quiet"]
pytestmark = pytest.mark.filterwarnings("ignore:bf16 forced on a CPU without")  # AVX2 machines emulate bf16


def amplifier_cgrdn(path, gain: float):
    """Save a tiny CGRDN whose residual is ``gain`` × its normalised input: output = input + gain × (input − mean).

    In float32 that is an affine map of the intensities: it moves no column and scales every SCS by 1 + gain.
    In bf16 every convolution on the way (head, stride-2 down, up, tail) rounds the normalised image to 8 bits
    (≈ 2⁻⁹ relative each), and the gain carries that rounding into the output at ``gain`` times the image's
    contrast: each SCS changes by a fraction of a per cent of a 100-fold SCS, far beyond the CRLB.
    """
    return tiny_cgrdn(path, 0, gain=gain)


def test_a_network_that_amplifies_bf16_rounding_fails(series, tmp_path, capsys):
    weights = amplifier_cgrdn(tmp_path / "amplifier.safetensors", 100.0)
    output = tmp_path / "check"
    assert main(["check-bf16", str(weights), *SMALL, "--output", str(output)]) == 1
    assert "FAIL" in capsys.readouterr().out
    changes = pd.read_csv(output / "bf16_check_amplifier.csv")
    scs = changes[changes["quantity"] == "scs"]
    assert (scs["moved_pct_crlb"] > 20 * 5).all()  # each SCS moves by many CRLBs between the two paths
    assert (scs[["change_pct_crlb", "low_pct_crlb", "high_pct_crlb"]].abs().max(axis=1) > 5).all()


def test_the_identity_network_passes_and_the_record_reaches_auto(tmp_path, capsys, monkeypatch):
    from restore import numerics
    from restore.checkpoint import bf16_check_of, load_model, read_sidecar
    from restore.inference import numeric_path_for

    weights = tiny_cgrdn(tmp_path / "identity.safetensors", 0)
    assert load_model(weights)[0].bf16_check is None  # never checked: auto means fp32
    output = tmp_path / "check"
    # a passing record must rest on the quick preset itself (the shipped series, 12 points, 20 realisations)
    code = main(["check-bf16", str(weights), "--workers", "2", "--quiet", "--output", str(output), "--record"])
    out = capsys.readouterr().out
    assert code == 0 and "PASS" in out and "recorded in" in out
    # the identity returns its input in either arithmetic, so bf16 changes no statistic at all
    changes = pd.read_csv(output / "bf16_check_identity.csv")
    assert len(changes) == 12 * 6 and (changes[["change_pct_crlb", "moved_pct_crlb"]].abs().to_numpy() == 0).all()
    sidecar = read_sidecar(weights)
    record = sidecar["bf16_check"]
    assert record["passed"] and record["weights_sha256"] == sidecar["sha256"] and record["realisations"] == 20
    assert record["flag_changed_pct"] == 0 and "CPUs" in record["measured_on"] and record["covers_quick_preset"]
    model = load_model(weights)[0]
    assert model.bf16_check == record == bf16_check_of(sidecar)
    monkeypatch.setattr(numerics, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert numeric_path_for("auto", "cpu", bf16_check=model.bf16_check).bf16
    # judging the same directory again reads it without running anything
    assert main(["check-bf16", str(weights), "--results", str(output)]) == 0
    # … but not for other weights of the same name
    other = amplifier_cgrdn(tmp_path / "elsewhere" / "identity.safetensors", 1.0)
    assert main(["check-bf16", str(other), "--results", str(output)]) == 2
    assert "was run with weights sha256" in capsys.readouterr().err


def test_a_record_of_other_weights_is_ignored(tmp_path):
    from restore.checkpoint import bf16_check_of, load_model, read_sidecar, record_in_sidecar

    weights = tiny_cgrdn(tmp_path / "identity.safetensors", 0)
    record = {"passed": True, "bound_pct_crlb": 5.0, "largest_pct_crlb": 0.0, "weights_sha256": "0" * 64}
    record_in_sidecar(weights, "bf16_check", record)
    assert read_sidecar(weights)["bf16_check"] == record  # stored, weights untouched (load checks their digest)
    assert load_model(weights)[0].bf16_check is None and bf16_check_of(read_sidecar(weights)) is None
    with pytest.raises(ValueError, match="re-export"):
        record_in_sidecar(weights, "sha256", "0" * 64)
    assert json.loads((tmp_path / "identity.json").read_text())["sha256"] != "0" * 64


def test_bad_requests_are_refused_before_anything_runs(series, tmp_path, tiny_run, capsys):
    from restore.checkpoint import read_sidecar

    weights = tiny_cgrdn(tmp_path / "identity.safetensors", 0)
    assert main(["check-bf16", f"{weights}+bf16", *SMALL]) == 2
    assert "without +auto/+bf16/+fp32" in capsys.readouterr().err
    assert main(["check-bf16", str(weights), *SMALL, "--record"]) == 2  # a reduced study cannot record a pass
    assert "the study asked for does not cover the quick preset (thicknesses [2, 5, 10, 20, 40, 75]" \
        in capsys.readouterr().err
    reduced = tmp_path / "reduced"
    assert main(["check-bf16", str(weights), *SMALL, "--output", str(reduced)]) == 0
    capsys.readouterr()
    table = reduced / "bf16_check_identity.csv"
    written = table.stat().st_mtime_ns
    assert main(["check-bf16", str(weights), "--results", str(reduced), "--record"]) == 2
    assert "does not cover the quick preset" in capsys.readouterr().err and "bf16_check" not in read_sidecar(weights)
    assert table.stat().st_mtime_ns == written  # refused before anything was written
    assert main(["check-bf16", "raw", *SMALL]) == 2
    assert "not a restoration network" in capsys.readouterr().err
    assert main(["check-bf16", str(weights), "--results", str(tiny_run)]) == 2  # raw and BM3D only
    assert "identity+fp32 has no results here" in capsys.readouterr().err
