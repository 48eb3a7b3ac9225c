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


def test_the_identity_network_passes_and_the_record_reaches_auto(series, tmp_path, capsys, monkeypatch):
    from restore import numerics
    from restore.checkpoint import bf16_check_of, load_model, read_sidecar
    from restore.inference import numeric_path_for

    weights = tiny_cgrdn(tmp_path / "identity.safetensors", 0)
    assert load_model(weights)[0].bf16_check is None  # never checked: auto means fp32
    output = tmp_path / "check"
    code = main(["check-bf16", str(weights), *SMALL, "--output", str(output), "--record"])
    out = capsys.readouterr().out
    assert code == 0 and "PASS" in out and "recorded in" in out
    # the identity returns its input in either arithmetic, so bf16 changes no statistic at all
    changes = pd.read_csv(output / "bf16_check_identity.csv")
    assert len(changes) == 6 and (changes[["change_pct_crlb", "moved_pct_crlb"]].abs().to_numpy() == 0).all()
    sidecar = read_sidecar(weights)
    record = sidecar["bf16_check"]
    assert record["passed"] and record["weights_sha256"] == sidecar["sha256"] and record["realisations"] == 3
    assert record["doses_e_per_A2"] == [50000.0] and record["atoms_per_column"] == [4]
    model = load_model(weights)[0]
    assert model.bf16_check == record == bf16_check_of(sidecar)
    monkeypatch.setattr(numerics, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert numeric_path_for("auto", "cpu", bf16_check=model.bf16_check).bf16
    # judging the same directory again reads it without running anything
    assert main(["check-bf16", str(weights), "--results", str(output)]) == 0


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


def test_bad_requests_are_refused_before_anything_runs(tmp_path, tiny_run, capsys):
    weights = tiny_cgrdn(tmp_path / "identity.safetensors", 0)
    assert main(["check-bf16", f"{weights}+bf16", *SMALL]) == 2
    assert "without +auto/+bf16/+fp32" in capsys.readouterr().err
    assert main(["check-bf16", "raw", *SMALL]) == 2
    assert "not a restoration network" in capsys.readouterr().err
    assert main(["check-bf16", str(weights), "--results", str(tiny_run)]) == 2  # raw and BM3D only
    assert "identity+bf16 has no results here" in capsys.readouterr().err
