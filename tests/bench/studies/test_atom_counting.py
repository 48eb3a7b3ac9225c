import numpy as np
import pytest

from _shared.results import ResultStore
from bench.methods import RawMethod
from bench.studies import atom_counting as study
from bench.studies.base import Inputs, RunOptions


def bulk_specimen(series, atoms: int):
    """A real specimen image with known counts: a bulk Pt [001] field of view, every column ``atoms`` deep."""
    from simulate.dislocation import ProjectedColumns
    from simulate.field_of_view import field_of_view
    from simulate.specimen_recipe import SpecimenImage, SpecimenImageRecipe

    view = field_of_view(series, atoms_per_column=atoms, cells=(4, 4), pixel_size_A=0.2)
    n = len(view.column_positions_A)
    columns = ProjectedColumns(view.column_positions_A, np.full(n, atoms), view.column_positions_A,
                               np.zeros(n, dtype=bool))
    recipe = SpecimenImageRecipe(microscope=series.recipe, scan_sampling_A=0.2, field_of_view_A=15.0)
    return SpecimenImage("bulk", {}, recipe, view.image[None], columns, {})


def test_counting_scores_library_and_gmm_counts_against_the_truth(series, tmp_path):
    preset = study.STUDY.configure("quick", doses=(5e2, 5e4), realisations=3, block_size=3, bootstrap=200)
    store = ResultStore.open(tmp_path / "run", study.STUDY.name, preset.to_config())
    summary = study.STUDY.execute(preset, Inputs(data={"specimen": bulk_specimen(series, 4), "series": series}),
                                  [RawMethod()], store, RunOptions(workers=1, progress=False))
    assert {"position_mae_pm", "scs_mpe_pct", "correct_library_fraction", "correct_library_low_fraction",
            "correct_gmm_fraction"} <= set(summary.columns)
    rows = summary.set_index("dose_e_per_A2")
    assert rows.loc[5e4, "scs_mpe_pct"] < rows.loc[5e2, "scs_mpe_pct"]
    assert (tmp_path / "run" / "library.json").exists()
    assert 0.0 <= summary["correct_library_noise_free_fraction"].iloc[0] <= 1.0
    table = store.read_table("realisations")
    high = table[table["dose_e_per_A2"] == 5e4]
    # at 5·10⁴ e⁻/Å² every 4-atom column is counted within one atom, most of them exactly
    assert np.all(np.abs(high["atoms_library"] - 4) <= 1)
    assert np.mean(high["atoms_library"] == 4) > 0.3 and np.mean(high["atoms_gmm"] == 4) > 0.3

    from matplotlib.figure import Figure

    from reports.study_figures import plot_counting_vs_dose

    artists = plot_counting_vs_dose(Figure().subplots(), summary)
    assert len(artists) == 2  # library and GMM counts of raw


def test_counting_rejects_bad_settings():
    with pytest.raises(ValueError, match="doses is empty"):
        study.STUDY.configure("quick", doses=())
    with pytest.raises(ValueError, match="preset 'huge'"):
        study.STUDY.configure("huge")


def test_the_distorted_particle_fits_cleanly_by_the_study_protocol():
    """The shipped particle under the benchmark distortions at 5·10⁴ e⁻/Å²: starts snapped to the peaks, bounded
    fit. Every column converges (a whole-image fit from the undistorted positions loses weak rim
    columns and flags the whole image), and the position error is the fast-scan delay of the raw data."""
    from simulate.distortions import apply_stem_distortions, benchmark_stem_params
    from simulate.specimen_data import load_shipped

    particle = load_shipped("nanoparticle")
    truth, px = particle.columns.positions_A, particle.pixel_size_A
    preset = study.STUDY.configure("quick")
    measured, _ = apply_stem_distortions(np.maximum(particle.image, 0.0)[None],
                                         benchmark_stem_params(dose_e_per_A2=5e4, pixel_size_A=px), 7)
    fit = study.fit_particle(np.asarray(measured, float), truth, pixel_size_A=px, preset=preset)
    assert fit.converged.all() and fit.flagged.mean() < 0.01
    radius = study.fit_options(preset, truth)["max_displacement"]
    assert abs(radius - 0.25 * 1.962) < 1e-6  # a quarter of the Pt [001] column spacing
    error = fit.positions[0] - truth
    assert np.all(np.linalg.norm(error, axis=-1) <= 2 * radius)  # every column stays in its own cell
    # the causal fast-scan PSF delays the signal along x (≈ 0.26 Å); y is unbiased up to the jitter
    assert 0.15 < np.median(error[:, 0]) < 0.40 and abs(np.median(error[:, 1])) < 0.05
