import json

import numpy as np
import pandas as pd
import pytest

from bench.studies import precision_vs_dose as study
from bench.studies.precision_tasks import noise_seed

SUMMARY_COLUMNS = {
    "method", "dose_e_per_A2", "atoms_per_column", "realisations", "columns", "flagged_fraction",
    "position_precision_pm", "position_precision_low_pm", "position_precision_high_pm",
    "position_bias_pm", "position_rmse_pm", "position_rmse_low_pm", "position_rmse_high_pm",
    "scs_precision_pct", "scs_bias_pct", "scs_bias_low_pct", "scs_bias_high_pct", "scs_rmse_pct",
    "crlb_position_pm", "crlb_scs_pct", "scs_reference_A2", "scs_exact_A2",
}


def test_tiny_run_writes_a_tidy_summary_with_the_expected_columns(tiny_run):
    summary = pd.read_parquet(tiny_run / "summary.parquet")
    assert SUMMARY_COLUMNS <= set(summary.columns)
    assert len(summary) == 2 * 2 * 1  # methods × doses × thicknesses
    assert set(summary["method"]) == {"raw", "bm3d"}
    assert (summary["realisations"] == 3).all()
    realisations = pd.read_parquet(tiny_run / "realisations.parquet")
    assert {"method", "dose_e_per_A2", "atoms_per_column", "realisation", "column", "x_error_pm", "y_error_pm",
            "scs_A2", "scs_error_pct", "flagged"} <= set(realisations.columns)
    assert realisations.groupby("method").size().nunique() == 1


def test_raw_precision_is_consistent_with_its_poisson_crlb(tiny_run):
    summary = pd.read_parquet(tiny_run / "summary.parquet")
    raw = summary[summary["method"] == "raw"].set_index("dose_e_per_A2")
    # the CRLB bounds an unbiased estimator's spread: it lies below the upper end of the precision interval
    assert (raw["crlb_position_pm"] < raw["position_precision_high_pm"]).all()
    assert (raw["crlb_scs_pct"] < raw["scs_precision_high_pct"]).all()
    # 100× the dose: 10× better precision for a Poisson-limited estimate (within the small-sample scatter)
    ratio = raw.loc[500.0, "position_precision_pm"] / raw.loc[50000.0, "position_precision_pm"]
    assert 5 < ratio < 20
    assert 9 < raw.loc[500.0, "crlb_position_pm"] / raw.loc[50000.0, "crlb_position_pm"] < 11


def test_manifest_records_provenance_and_completion(tiny_run):
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    assert manifest["study"] == study.STUDY.name and manifest["status"] == "complete"
    assert {m["name"] for m in manifest["methods"]} == {"raw", "bm3d"}
    assert manifest["thickness_series"]["recipe"]["name"] == "pt001-haadf-coarse"
    assert manifest["wall_time_s"] > 0 and "numpy" in manifest["versions"]


def test_methods_see_the_same_noise_realisations(tiny_run):
    index = json.loads((tiny_run / "examples.json").read_text())
    with np.load(tiny_run / "examples.npz") as archive:
        raw = [archive[e["key"]] for e in index if e["method"] == "raw" and e["dose_e_per_A2"] == 500.0]
    assert len(raw) == 1 and np.all(raw[0] == np.round(raw[0]))  # raw keeps integer counts
    seed_a = noise_seed(2023, 4, 0, 0)
    assert seed_a == noise_seed(2023, 4, 0, 0) != noise_seed(2023, 4, 1, 0)


@pytest.mark.parametrize("overrides, message", [
    ({"doses": ()}, "doses is empty"),
    ({"thicknesses": ()}, "thicknesses is empty"),
    ({"realisations": 1}, "realisations"),
    ({"doses": (500.0, -1.0)}, "positive"),
])
def test_bad_settings_raise_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        study.STUDY.configure("quick", **overrides)


def test_unknown_preset_and_too_thick_series_raise(series):
    with pytest.raises(ValueError, match="preset 'huge' is unknown"):
        study.STUDY.configure("huge")
    with pytest.raises(ValueError, match="exceed the thickness series"):
        study.check_series(study.STUDY.configure("quick"), series)


def test_a_missing_shipped_series_is_named_with_its_fix(monkeypatch):
    from bench.studies.precision_vs_dose import series_recipe
    from simulate import thickness_series

    monkeypatch.setattr(thickness_series, "embedded_default_recipe", lambda: None)
    with pytest.raises(FileNotFoundError, match="--write-default"):
        series_recipe("default")
