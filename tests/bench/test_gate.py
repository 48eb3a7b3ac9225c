import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from _shared.results import ResultStore
from bench.cli import main
from bench.gate import compare_methods
from bench.methods import POISSON, RawMethod
from bench.studies import precision_vs_dose as study
from bench.studies.base import Inputs, RunOptions

SERIAL = RunOptions(workers=1, progress=False)


@dataclass(frozen=True)
class DetectorSmear:
    """A deliberately worse method: the causal fast-scan detector PSF of simulate.distortions (it drags every
    column along the scan direction, so positions become biased)."""

    name: str = "smear"

    def __call__(self, images, noise=POISSON):
        from simulate.distortions import FastScanParams, fast_scan_noise

        return np.asarray(fast_scan_noise(np.asarray(images, float), FastScanParams(detector_alpha_px=3 * math.pi)))

    def provenance(self):
        return {"name": self.name, "kind": "test: causal detector smear"}


def test_check_fails_when_a_method_is_made_worse_and_passes_otherwise(series, tmp_path, capsys):
    preset = study.STUDY.configure("quick", thicknesses=(6,), doses=(5e4,), realisations=6, block_size=6,
                                   bootstrap=300, example_atoms=(6,))
    store = ResultStore.open(tmp_path / "run", study.STUDY.name, preset.to_config())
    study.STUDY.execute(preset, Inputs(data={"series": series}), [RawMethod(), DetectorSmear()], store, SERIAL)

    table = compare_methods(store.read_table("realisations"), "smear", "raw")
    regressed = set(table.loc[table["regressed"], "metric"])
    assert {"position_bias_pm", "position_rmse_pm"} <= regressed
    assert not compare_methods(store.read_table("realisations"), "raw", "raw")["regressed"].any()

    assert main(["check", "--results", str(tmp_path / "run"), "--model", "smear", "--baseline", "raw"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["check", "--results", str(tmp_path / "run"), "--model", "raw", "--baseline", "raw"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "run" / "check_raw_vs_raw.csv")["metric"].nunique() == 6


@dataclass(frozen=True)
class Dimmer:
    """A deliberately worse method for counting: it loses a quarter of the intensity, as a network with a
    wrong output scale would, so every column's SCS drops by about one atom in four."""

    name: str = "dim"

    def __call__(self, images, noise=POISSON):
        return 0.75 * np.asarray(images, float)

    def provenance(self):
        return {"name": self.name, "kind": "test: 0.75 × intensity"}


def test_counting_gate_fails_a_method_that_miscounts_and_passes_raw_against_raw(series, tmp_path, capsys):
    from bench.gate import COUNTING_METRIC, compare_counting
    from bench.studies import atom_counting
    from tests.bench.studies.test_atom_counting import bulk_specimen

    preset = atom_counting.STUDY.configure("quick", doses=(5e4,), realisations=4, block_size=4, bootstrap=200)
    store = ResultStore.open(tmp_path / "count", atom_counting.STUDY.name, preset.to_config())
    atom_counting.STUDY.execute(preset, Inputs(data={"specimen": bulk_specimen(series, 4), "series": series}),
                                [RawMethod(), Dimmer()], store, SERIAL)
    realisations = store.read_table("realisations")

    table = compare_counting(realisations, "dim", "raw")
    assert list(table["metric"]) == [COUNTING_METRIC] and bool(table["regressed"].iloc[0])
    assert table["candidate"].iloc[0] > table["baseline"].iloc[0] and table["difference_low"].iloc[0] > 0
    assert not compare_counting(realisations, "raw", "raw")["regressed"].any()
    with pytest.raises(ValueError, match="has no results here"):
        compare_counting(realisations, "bm3d", "raw")

    assert main(["check", "--counting-results", str(tmp_path / "count"), "--model", "dim", "--baseline", "raw"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and COUNTING_METRIC in out
    assert main(["check", "--counting-results", str(tmp_path / "count"), "--model", "raw", "--baseline", "raw"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["check", "--counting-results", str(tmp_path / "count"), "--results", str(tmp_path / "count"),
                 "--model", "raw", "--baseline", "raw"]) == 2  # a counting directory given as --results
    assert "must hold precision-vs-dose" in capsys.readouterr().err
