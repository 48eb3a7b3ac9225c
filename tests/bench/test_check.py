from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.check import compare_methods
from bench.cli import main
from bench.methods import POISSON, RawMethod
from bench.studies import precision_vs_dose as study
from bench.tasks import ResultStore


@dataclass(frozen=True)
class DetectorSmear:
    """A deliberately worse method: the causal fast-scan detector PSF of simulate.distortions (it drags every
    column along the scan direction, so positions become biased)."""

    name: str = "smear"

    def __call__(self, images, noise=POISSON):
        from simulate.distortions import FastScanParams, fast_scan_noise

        return np.asarray(fast_scan_noise(np.asarray(images, float), FastScanParams(detector_width=1.5)))

    def provenance(self):
        return {"name": self.name, "kind": "test: causal detector smear"}


def test_check_fails_when_a_method_is_made_worse_and_passes_otherwise(series, tmp_path, capsys):
    preset = study.configure("quick", thicknesses=(6,), doses=(5e4,), realisations=6, block_size=6,
                             bootstrap=300, example_atoms=(6,))
    store = ResultStore.open(tmp_path / "run", study.STUDY, preset.to_config())
    study.execute(preset, series, [RawMethod(), DetectorSmear()], store, workers=1, progress=False)

    table = compare_methods(store.read_table("realisations"), "smear", "raw")
    regressed = set(table.loc[table["regressed"], "metric"])
    assert {"position_bias_pm", "position_rmse_pm"} <= regressed
    assert not compare_methods(store.read_table("realisations"), "raw", "raw")["regressed"].any()

    assert main(["check", "--results", str(tmp_path / "run"), "--model", "smear", "--baseline", "raw"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["check", "--results", str(tmp_path / "run"), "--model", "raw", "--baseline", "raw"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "run" / "check_raw_vs_raw.csv")["metric"].nunique() == 6
