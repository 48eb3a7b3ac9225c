"""Column positions and SCS around an edge dislocation under realistic distortions (paper Fig. 4).

Set-up. The shipped noise-free HAADF image of the Pt [112] edge dislocation (``simulate.specimen_data``)
is distorted at each dose with the fixed benchmark set of ``simulate.distortions.benchmark_stem_params``:
scan-line jitter, Poisson counting at dose D, scintillator/PMT noise and the causal fast-scan PSF. Every
method restores the distorted image (BM3D's VST uses the detector's Poisson–Gaussian model of eq. 46: one
count per electron plus the PMT's Gaussian, ``bench.methods.stem_noise_model``); Gaussian columns are then
fitted by least squares by the protocol of :mod:`bench.studies.fit_protocol` (starts on the image's peaks
within a quarter spacing of the true positions, heights ≥ 0, every column within that radius of its start):
from the undistorted positions a column at 5·10² e⁻/Å² could run Ångströms away and dominate the mean error.

Scores per method and dose, for the core columns (within the core radius) and for all columns: the mean
absolute position error [pm] against the true positions, and the mean absolute percentage SCS error against
the SCS the same estimator finds in the noise-free image, each with a percentile-bootstrap 95 % interval over
realisations. SCS are the fitted volumes divided by D · Δ² (counts per electron: 1). Every column counts, also
where the fit is flagged (not converged, negative height, left its cell); the flagged fraction is reported.
"""
from __future__ import annotations

import numpy as np

from bench.studies import register_study
from bench.studies.distorted_specimen import (
    DISTORTED_SPECIMEN_PRESETS,
    DistortedSpecimenPreset,
    DistortedSpecimenStudy,
)
from reports.spec import ReportSpec
from reports.study_figures import dislocation_report_figures

DislocationPreset = DistortedSpecimenPreset  # one protocol for both distorted-specimen studies
PRESETS = DISTORTED_SPECIMEN_PRESETS


def fit_image(images, truth: np.ndarray, *, pixel_size_A: float, preset: DislocationPreset, width=None):
    """Fit images by the study's protocol (:mod:`bench.studies.fit_protocol`).

    Parameters
    ----------
    images : ndarray, shape (H, W) or (B, H, W)
        The images.
    truth : ndarray, shape (N, 2)
        True column positions (x, y) [Å].
    pixel_size_A : float
        Pixel size [Å].
    preset : DislocationPreset
        The study's preset (search radius fraction, objective tolerance, iteration cap).
    width : float, optional
        Starting Gaussian width ρ [Å]; None searches for it.

    Returns
    -------
    fitting.ColumnFit
        The fit, with leading dimension B (1 for a single image).
    """
    from bench.studies import fit_protocol

    return fit_protocol.fit_from_peaks(images, truth, pixel_size_A=pixel_size_A,
                                       fraction=preset.search_radius_fraction,
                                       objective_tolerance=preset.objective_tolerance,
                                       max_iterations=preset.max_iterations, width=width)


def reference(specimen_image, preset: DislocationPreset) -> dict:
    """Fit the noise-free specimen image: the references every task compares with.

    Parameters
    ----------
    specimen_image : simulate.specimen_images.SpecimenImage
        The shipped noise-free image with its ground-truth columns.
    preset : DislocationPreset
        The study's preset (fit protocol).

    Returns
    -------
    dict
        ``image`` (clipped at 0) [fraction of the beam], ``truth`` (N, 2) [Å], ``core`` (N,) bool, ``width``
        [Å] and ``scs`` (N,) of the reference fit (fitted volumes [Å²]),
        ``pixel_size_A`` [Å] and ``columns``.
    """
    image = np.maximum(specimen_image.image, 0.0)
    truth = specimen_image.columns.positions_A
    fit = fit_image(image, truth, pixel_size_A=specimen_image.pixel_size_A, preset=preset)
    return {"image": image, "truth": truth, "core": specimen_image.columns.core_mask.astype(bool),
            "width": float(fit.widths[0, 0]), "scs": fit.scs[0], "pixel_size_A": specimen_image.pixel_size_A,
            "columns": specimen_image.columns}


CIRCUIT_STEPS = (8, 4)  # nearest-neighbour steps along x (1.387 Å) and y (2.266 Å): an 11 × 9 Å loop


def burgers_check(columns, fitted_positions: np.ndarray) -> dict:
    """Walk the Burgers circuit around the core on fitted column positions (``simulate.dislocation``).

    Parameters
    ----------
    columns : simulate.dislocation.ProjectedColumns
        The true columns (atoms, reference positions, core mask).
    fitted_positions : ndarray, shape (N, 2)
        Fitted (x, y) of the same columns [Å].

    Returns
    -------
    dict
        ``circuit_corners_A`` (five corners, closed, for drawing) and ``burgers_closure_A``:
        the closure failure [Å], the Burgers vector b = (2.775, 0) Å when the fitted columns still show the
        dislocation, NaN when the walk loses its way.
    """
    from simulate.dislocation import ProjectedColumns, burgers_circuit, column_spacings

    dx, dy = column_spacings()
    centre = columns.positions_A[columns.core_mask].mean(axis=0)
    start = centre - np.array([CIRCUIT_STEPS[0] * dx / 2, CIRCUIT_STEPS[1] * dy / 2])
    fitted = ProjectedColumns(np.asarray(fitted_positions), columns.atoms_per_column,
                              columns.reference_positions_A, columns.core_mask)
    try:
        closure = burgers_circuit(fitted, start_A=start, steps=CIRCUIT_STEPS).tolist()
    except ValueError:
        closure = [float("nan"), float("nan")]
    width, height = CIRCUIT_STEPS[0] * dx, CIRCUIT_STEPS[1] * dy
    corners = start + np.array([[0, 0], [width, 0], [width, height], [0, height], [0, 0]])
    return {"circuit_corners_A": corners.tolist(), "burgers_closure_A": closure}


def run_task(params: dict):
    """Distort, restore and fit one task's realisations (runs in a worker process).

    Parameters
    ----------
    params : dict
        The task's parameters (:func:`bench.studies.distorted_specimen.dose_block_tasks`).

    Returns
    -------
    table : pandas.DataFrame
        One row per realisation and column: position error [pm], SCS [Å²] (fitted volume / (D · Δ²)), SCS
        error [%] against the reference fit, core and flag columns, training time [s].
    arrays : dict or None
        For the task holding realisation 0: its measured and restored images and fitted positions.
    """
    import pandas as pd

    from bench.methods import apply_method, stem_noise_model
    from bench.studies.distorted_specimen import distorted_realisations, training_data
    from simulate.distortions import benchmark_stem_params

    preset, ref = params["preset"], params["reference"]
    dose, px, count = params["dose"], ref["pixel_size_A"], params["count"]
    distortion = benchmark_stem_params(dose_e_per_A2=dose, pixel_size_A=px, jitter_sigma=preset.jitter_sigma_A,
                                       jitter_phi=preset.jitter_phi)
    measured = distorted_realisations(params, distortion)
    pmt = distortion.pmt
    noise = stem_noise_model(pmt.sigma_counts)
    restored, record = apply_method(params["method"], measured, noise, training_data(params, pmt))
    fit = fit_image(restored, ref["truth"], pixel_size_A=px, preset=preset, width=ref["width"])
    error = np.linalg.norm(fit.positions - ref["truth"][None], axis=-1) * 100.0  # pm
    scs = fit.scs / (dose * px * px)
    n_columns = ref["truth"].shape[0]
    table = pd.DataFrame({
        "method": params["method"].name, "dose_e_per_A2": dose,
        "realisation": np.repeat(np.arange(params["first"], params["first"] + count), n_columns),
        "column": np.tile(np.arange(n_columns), count), "core": np.tile(ref["core"], count),
        "position_error_pm": error.ravel(), "scs_A2": scs.ravel(),
        "scs_error_pct": (100.0 * (scs / ref["scs"][None] - 1.0)).ravel(), "flagged": fit.flagged.ravel(),
        "training_s": float(record.get("training_s", 0.0)),
    })
    arrays = None
    if params["first"] == 0:
        arrays = {"measured": measured[0].astype(np.float32), "restored": restored[0].astype(np.float32),
                  "fitted_positions": fit.positions[0]}
    return table, arrays


def _mean_with_interval(values: np.ndarray, rng, bootstrap: int) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    draws = values[rng.integers(0, values.size, size=(bootstrap, values.size))].mean(axis=1)
    low, high = np.quantile(draws, [0.025, 0.975])
    return float(values.mean()), float(low), float(high)


def summarise(table, preset: DislocationPreset):
    """Summarise position MAE [pm] and SCS MPE [%] per method, dose and region (core / all), with 95 % intervals.

    The intervals are percentile-bootstrap intervals over realisations (the per-image means resampled).

    Parameters
    ----------
    table : pandas.DataFrame
        The realisations table (rows of :func:`run_task`).
    preset : DislocationPreset
        The study's preset (seed and bootstrap resamples).

    Returns
    -------
    pandas.DataFrame
        One row per region, method and dose, with the flagged fraction.
    """
    import pandas as pd

    rng = np.random.default_rng(preset.seed)
    rows = []
    for (method, dose), group in table.groupby(["method", "dose_e_per_A2"]):
        for region, subset in (("core", group[group["core"]]), ("all", group)):
            # every column counts, flagged fits included: that is the error a user of the method gets
            per_image = subset.groupby("realisation").agg(
                mae=("position_error_pm", "mean"), mpe=("scs_error_pct", lambda v: np.mean(np.abs(v))))
            row = {"method": method, "dose_e_per_A2": float(dose), "region": region,
                   "columns": int(subset["column"].nunique()), "realisations": int(subset["realisation"].nunique()),
                   "flagged_fraction": float(subset["flagged"].mean())}
            for name, unit, column in (("position_mae", "pm", "mae"), ("scs_mpe", "pct", "mpe")):
                value, low, high = _mean_with_interval(per_image[column].to_numpy(float), rng, preset.bootstrap)
                row.update({f"{name}_{unit}": value, f"{name}_low_{unit}": low, f"{name}_high_{unit}": high})
            rows.append(row)
    return pd.DataFrame(rows).sort_values(["region", "method", "dose_e_per_A2"]).reset_index(drop=True)


def write_examples(store, tasks, ref: dict) -> None:
    """Store the first restored realisation of each method and dose with its fitted positions and Burgers circuit.

    Parameters
    ----------
    store : ResultStore
        The results directory.
    tasks : sequence of Task
        Every task of the run.
    ref : dict
        The noise-free reference (:func:`reference`).
    """
    images, index = {"noise_free": ref["image"].astype(np.float32), "truth": ref["truth"], "core": ref["core"]}, []
    for task in tasks:
        arrays = store.read_arrays(task.key)
        if arrays is not None:
            images[task.key] = arrays["restored"]
            images[f"{task.key}__positions"] = arrays["fitted_positions"]
            index.append({"key": task.key, "kind": "restored", "method": task.params["method"].name,
                          "dose_e_per_A2": task.params["dose"], "pixel_size_A": ref["pixel_size_A"],
                          **burgers_check(ref["columns"], arrays["fitted_positions"])})
    store.write_examples(images, index)


class Dislocation(DistortedSpecimenStudy):
    """Paper Fig. 4 as a registered study (see the module docstring)."""

    name = "dislocation"
    description = ("position and SCS errors of the columns around a Pt edge-dislocation core, with scan "
                   "distortions and detector noise (paper Fig. 4)")
    quick_run_time = "≈ 40 s on a quiet 2-core CPU (2.5 min at load 8), measured"
    order = 2
    specimen_kind = "dislocation"
    training_specimen = "nanoparticle"
    report = ReportSpec(
        intro="Mean absolute position error against the true column positions and mean absolute percentage SCS "
              "error against the noise-free fit, for the core columns and all columns, with percentile-bootstrap "
              "95 % intervals over realisations (flagged fits included).",
        columns=(("method", "method"), ("dose_e_per_A2", "dose [e⁻/Å²]"), ("region", "columns"), ("columns", "n"),
                 ("position_mae_pm", "position MAE [pm]"), ("position_mae_low_pm", "95 % low"),
                 ("position_mae_high_pm", "95 % high"), ("scs_mpe_pct", "SCS MPE [%]"),
                 ("scs_mpe_low_pct", "95 % low"), ("scs_mpe_high_pct", "95 % high"),
                 ("flagged_fraction", "flagged")),
        figures=dislocation_report_figures, fits_columns=True)

    def prepare(self, preset: DislocationPreset, inputs, store, options) -> dict:
        """Fit the noise-free image and write the ``reference`` table.

        Parameters
        ----------
        preset : DislocationPreset
            The study's preset.
        inputs : Inputs
            The loaded inputs (``data["specimen"]``).
        store : ResultStore
            The results directory.
        options : RunOptions
            How the run is executed (unused).

        Returns
        -------
        dict
            The reference (:func:`reference`), shared by every task.
        """
        import pandas as pd

        ref = reference(inputs.data["specimen"], preset)
        store.write_table("reference", pd.DataFrame({
            "column": np.arange(ref["truth"].shape[0]), "x_true_A": ref["truth"][:, 0],
            "y_true_A": ref["truth"][:, 1], "core": ref["core"], "scs_reference_A2": ref["scs"],
            "width_reference_A": ref["width"]}))
        return ref

    run_task = staticmethod(run_task)
    not_sent = ("columns",)  # the Burgers circuit is walked in the main process

    def finish(self, preset: DislocationPreset, shared: dict, tasks, store):
        """Write the examples, ``realisations`` and ``summary``.

        Parameters
        ----------
        preset : DislocationPreset
            The study's preset.
        shared : dict
            The reference of :meth:`prepare`.
        tasks : sequence of Task
            Every task of the run.
        store : ResultStore
            The results directory.

        Returns
        -------
        pandas.DataFrame
            The summary table (:func:`summarise`).
        """
        write_examples(store, tasks, shared)
        return store.write_summary(lambda table: summarise(table, preset))


STUDY = register_study(Dislocation())
