import numpy as np
import pytest

from _shared.results import ResultStore
from bench.methods import RawMethod
from bench.studies import dislocation as study
from bench.studies.base import Inputs, RunOptions


def test_dislocation_errors_fall_with_dose_and_split_core_from_all(tmp_path):
    from simulate.specimen_data import load_shipped

    specimen = load_shipped("dislocation")
    preset = study.STUDY.configure("quick", doses=(5e2, 5e5), realisations=2, block_size=2, bootstrap=200)
    store = ResultStore.open(tmp_path / "run", study.STUDY.name, preset.to_config())
    summary = study.STUDY.execute(preset, Inputs(data={"specimen": specimen}), [RawMethod()], store,
                                  RunOptions(workers=1, progress=False))
    assert set(summary["region"]) == {"core", "all"}
    assert {"position_mae_pm", "position_mae_low_pm", "scs_mpe_pct", "scs_mpe_high_pct"} <= set(summary.columns)
    rows = summary[summary["region"] == "all"].set_index("dose_e_per_A2")
    assert rows.loc[5e5, "scs_mpe_pct"] < rows.loc[5e2, "scs_mpe_pct"]  # more dose, less SCS noise
    core = summary[summary["region"] == "core"]
    assert (core["columns"] == int(specimen.columns.core_mask.sum())).all()
    assert np.all(summary["position_mae_pm"] > 0)
    # the fit protocol keeps every column in its own cell (a quarter spacing from its start, which is within a
    # quarter spacing of the truth): no column runs Ångströms away at 5·10² e⁻/Å² and dominates the mean
    from bench.studies.fit_protocol import search_radius

    radius_pm = 100.0 * search_radius(specimen.columns.positions_A, preset.search_radius_fraction)
    assert store.read_table("realisations")["position_error_pm"].max() <= 2 * radius_pm + 1e-6
    assert rows.loc[5e2, "position_mae_pm"] < 45.0  # the ≈ 30 pm fast-scan delay plus noise

    from matplotlib.figure import Figure

    from reports.figures import load_results
    from reports.study_figures import dislocation_examples_figure, plot_error_vs_dose

    artists = plot_error_vs_dose(Figure().subplots(), summary, "position_mae_pm")
    assert len(artists) == 2  # raw: core and all columns
    figure = dislocation_examples_figure(load_results(tmp_path / "run")["examples"])
    assert len(figure.axes) == 2 and len(figure.axes[0].images) == 1


def test_dislocation_rejects_an_empty_dose_list():
    with pytest.raises(ValueError, match="doses is empty"):
        study.STUDY.configure("quick", doses=())
