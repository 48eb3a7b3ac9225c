"""Precision of column positions and SCS against dose and thickness (paper Fig. 3), for any methods.

Set-up. A bulk Pt [001] field of view of ``cells`` unit cells (4 × 4 by default: 78 × 78 px of 0.2 Å,
64 columns) is built from the simulated thickness series by exact Fourier interpolation. Each realisation
is pure Poisson noise at dose D: counts ~ Poisson(D · Δ² · intensity). Every method restores the count
image; Gaussian columns are then fitted (StatSTEM-style least squares by default) from the true column
positions, and the columns at least ``border_A`` from the image edge are scored.

Ground truth. Positions: the true column positions. SCS: the SCS the same estimator finds in the
noise-free image (a Gaussian fit cannot reproduce the exact cell-integrated SCS, which is reported beside
it). Fitted volumes [counts · Å²] are divided by D · Δ² to give SCS in Å².

Results per method, dose and thickness: precision (std over realisations), bias and RMSE of positions
[pm] and SCS [%], with bootstrap 95 % intervals, and the Poisson CRLB of the raw data at the parameters of
the noise-free fit. Noise realisations are shared by all methods (common random numbers).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.gate import compare_methods
from bench.studies import register_study
from bench.studies.base import Gate, Inputs, Study
from bench.studies.precision_tasks import OFFERS, measured_counts, neighbour_views, plan, training_data
from bench.studies.presets import omit_named_values
from bench.tasks import Task
from reports.figures import precision_report_figures
from reports.html import ESTIMATORS
from reports.spec import ReportSpec
from restore.self_supervised_budget import PAPER_BUDGET, QUICK_BUDGET, SelfSupervisedBudget

ESTIMATOR_NAMES = tuple(ESTIMATORS)
THICKNESS_SERIES = ("default", "coarse")


@dataclass(frozen=True)
class PrecisionPreset:
    """Settings of a precision-vs-dose run.

    Attributes
    ----------
    name : str
    thicknesses : tuple of int
        Thicknesses [atoms per column].
    doses : tuple of float
        Doses [e⁻/Å²].
    realisations : int
        Noise realisations per thickness and dose (≥ 2).
    block_size : int
        Realisations per task.
    cells : (int, int)
        Unit cells of the field of view along x and y.
    pixel_size_A : float
        Pixel size Δ [Å].
    border_A : float
        Columns closer than this to the image edge are fitted but not scored [Å].
    estimator : str
        'least_squares' (StatSTEM) or 'poisson' (maximum likelihood; only for count images).
    seed : int
        Seed of the noise and of the bootstrap.
    bootstrap : int
        Bootstrap resamples for the 95 % intervals.
    example_atoms : tuple of int
        Thicknesses whose first realisation is kept as an example image for the report.
    max_iterations : int
        Iteration cap of the fit; at a few counts per pixel least squares needs > 100 iterations.
    thickness_series : str
        'default' (the shipped series, 0–75 atoms) or 'coarse' (a cheap series of 0–10 atoms for tests). The
        configuration records the series' full recipe instead of this name.
    training : SelfSupervisedBudget
        Training budget of the self-supervised methods (one network per dose and thickness).
    """

    name: str
    thicknesses: tuple[int, ...]
    doses: tuple[float, ...] = (5e2, 5e4)
    realisations: int = 100
    block_size: int = 25
    cells: tuple[int, int] = (4, 4)
    pixel_size_A: float = 0.2
    border_A: float = 2.5
    estimator: str = "least_squares"
    seed: int = 2023
    bootstrap: int = 1000
    example_atoms: tuple[int, ...] = (5, 20)
    max_iterations: int = 300
    thickness_series: str = "default"
    training: SelfSupervisedBudget = QUICK_BUDGET

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            For empty, repeated or invalid thicknesses or doses, fewer than 2 realisations, a block size below 1,
            an unknown estimator or thickness series, a non-positive pixel size or fewer than 100 resamples.
        """
        if not self.thicknesses:
            raise ValueError("thicknesses is empty: give at least one thickness in atoms per column (e.g. 2,5,10)")
        if any(int(t) != t or t < 1 for t in self.thicknesses):
            raise ValueError(f"thicknesses={self.thicknesses!r} must be integers >= 1 atom per column")
        if not self.doses:
            raise ValueError("doses is empty: give at least one dose in e⁻/Å² (e.g. --doses 500,50000)")
        if any(not (np.isfinite(d) and d > 0) for d in self.doses):
            raise ValueError(f"doses={self.doses!r} must be positive numbers of e⁻/Å²")
        if len(set(self.doses)) != len(self.doses) or len(set(self.thicknesses)) != len(self.thicknesses):
            raise ValueError("doses and thicknesses must not repeat a value")
        if int(self.realisations) != self.realisations or self.realisations < 2:
            raise ValueError(f"realisations={self.realisations!r} must be an integer >= 2")
        if int(self.block_size) != self.block_size or self.block_size < 1:
            raise ValueError(f"block_size={self.block_size!r} must be an integer >= 1")
        if self.estimator not in ESTIMATOR_NAMES:
            raise ValueError(f"estimator={self.estimator!r} must be one of {ESTIMATOR_NAMES}")
        if not self.pixel_size_A > 0:
            raise ValueError(f"pixel_size_A={self.pixel_size_A!r} must be > 0 Å")
        if self.bootstrap < 100:
            raise ValueError(f"bootstrap={self.bootstrap!r} must be >= 100")
        if self.thickness_series not in THICKNESS_SERIES:
            raise ValueError(f"thickness_series={self.thickness_series!r} is unknown; valid: "
                             f"{', '.join(THICKNESS_SERIES)} (--recipe)")

    def to_config(self) -> dict[str, Any]:
        """Return the configuration recorded (and hashed) in the manifest; the series enters as its recipe.

        Returns
        -------
        dict
            The fields without ``thickness_series`` (tuples as lists); the training budget only where it
            differs from the named preset's (:func:`bench.studies.presets.omit_named_values`).
        """
        config = asdict(self)
        del config["thickness_series"]
        config["thicknesses"] = [int(t) for t in self.thicknesses]
        config["doses"] = [float(d) for d in self.doses]
        config["cells"] = list(self.cells)
        config["example_atoms"] = list(self.example_atoms)
        return omit_named_values(config, self, PRESETS, ("training",))


PRESETS = {
    # The paper's study: every thickness 2–75, two doses, 100 realisations.
    "paper": PrecisionPreset(name="paper", thicknesses=tuple(range(2, 76)), realisations=100, block_size=25,
                             training=PAPER_BUDGET),
    # A CPU-sized subset: six thicknesses, the same doses, 20 realisations (see docs/studies.md).
    "quick": PrecisionPreset(name="quick", thicknesses=(2, 5, 10, 20, 40, 75), realisations=20, block_size=10),
}


# Preparation (main process) -------------------------------------------------------------------------------

def series_recipe(name: str):
    """Return the recipe of a named thickness series.

    Parameters
    ----------
    name : str
        'default' (the shipped series) or 'coarse'.

    Returns
    -------
    simulate.recipe.HAADFRecipe
        The series' recipe.

    Raises
    ------
    ValueError
        For an unknown name.
    FileNotFoundError
        For 'default' when the package was installed without its data.
    """
    from simulate.recipe import COARSE_RECIPE
    from simulate.thickness_series import embedded_default_recipe

    if name == "default":
        recipe = embedded_default_recipe()
        if recipe is None:
            raise FileNotFoundError("the shipped default thickness series (simulate/data/pt001_haadf_default.*) is "
                                    "missing from this installation; reinstall the package with its data, or "
                                    "regenerate it with `bench simulate thickness-series --force --write-default`")
        return recipe
    if name == "coarse":
        return COARSE_RECIPE
    raise ValueError(f"thickness series {name!r} is unknown; valid: {', '.join(THICKNESS_SERIES)}")


def load_series(name: str, *, scheduler: str | None = None, progress: bool = True):
    """Return the named thickness series: the shipped default, or the coarse one simulated (or read from the cache).

    Parameters
    ----------
    name : str
        'default' or 'coarse'.
    scheduler : str or None, optional
        Address of a dask.distributed scheduler for the simulation; None simulates locally.
    progress : bool, default True
        Show the simulation's progress bar.

    Returns
    -------
    simulate.thickness_series.ThicknessSeries
        The noise-free bulk Pt [001] thickness series.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    from simulate.thickness_series import load_embedded_default, simulate_thickness_series

    if name == "default":
        return load_embedded_default()
    return simulate_thickness_series(series_recipe(name), scheduler=scheduler, progress=progress)


def check_series(preset: PrecisionPreset, series) -> None:
    """Check that the series reaches every thickness the preset asks for.

    Parameters
    ----------
    preset : PrecisionPreset
        The study's preset.
    series : simulate.thickness_series.ThicknessSeries
        The thickness series.

    Raises
    ------
    ValueError
        When a requested thickness exceeds the series' thickest column.
    """
    maximum = int(series.atoms_per_column[-1])
    missing = [t for t in preset.thicknesses if t > maximum]
    if missing:
        raise ValueError(f"thicknesses {missing} exceed the thickness series ({series.recipe.name}: 0–{maximum} atoms "
                         f"per column); choose thicknesses <= {maximum}")


def prepare_references(preset: PrecisionPreset, series, progress: bool = False):
    """Build the noise-free fields of view, their reference fit and the raw-data CRLB.

    Parameters
    ----------
    preset : PrecisionPreset
        The study's preset.
    series : simulate.thickness_series.ThicknessSeries
        The thickness series.
    progress : bool, default False
        Show a progress bar over the thicknesses.

    Returns
    -------
    references : dict int -> dict
        Per thickness: image [fraction of beam], true positions (C, 2) [Å], central column indices,
        reference width [Å], SCS [Å²] and background of the noise-free fit, and the two nearest other
        thicknesses with their noise-free fields of view (hourglass's fields).
    reference_table : pandas.DataFrame
        Per thickness and central column: true and reference-fit positions [Å], reference SCS, width,
        background and the exact cell-integrated SCS [Å²].
    crlb_table : pandas.DataFrame
        Per thickness and dose: the Poisson CRLB of the raw data for positions [pm] and SCS [%].

    Raises
    ------
    ValueError
        If no column lies ``border_A`` from the edge of the field of view.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from fitting import crlb_columns, fit_columns
    from simulate.field_of_view import field_of_view

    references, rows, crlb_rows = {}, [], []
    px = preset.pixel_size_A
    for atoms in tqdm(preset.thicknesses, desc="noise-free references", unit="thickness", disable=not progress):
        view = field_of_view(series, atoms_per_column=atoms, cells=tuple(preset.cells), pixel_size_A=px)
        # Fourier interpolation of a coarsely sampled cell can ring slightly below zero far from the
        # columns; an intensity cannot, and Poisson counting needs λ ≥ 0.
        image = np.maximum(view.image, 0.0)
        truth = view.column_positions_A
        height, width = image.shape
        edge = np.minimum.reduce([truth[:, 0], truth[:, 1], (width - 1) * px - truth[:, 0],
                                  (height - 1) * px - truth[:, 1]])
        central = np.nonzero(edge >= preset.border_A)[0]
        if central.size == 0:
            raise ValueError(f"no column lies {preset.border_A} Å from the edge of a {preset.cells} cell "
                             "field of view; use more cells or a smaller border_A")
        fit = fit_columns(image, truth, pixel_size_A=px, estimator="least_squares")
        rho, background = float(fit.widths[0, 0]), float(fit.background[0])
        scs = fit.scs[0]
        # hourglass's fields (only their high-dose noisy frames, made in the task, reach a trainer)
        others, neighbours = neighbour_views(series, atoms, cells=tuple(preset.cells), pixel_size_A=px)
        references[atoms] = {"image": image, "truth": truth, "central": central, "width": rho,
                             "scs": scs, "background": background, "neighbours": neighbours,
                             "neighbour_atoms": others}
        for c in central:
            rows.append({"atoms_per_column": atoms, "column": int(c), "x_true_A": truth[c, 0], "y_true_A": truth[c, 1],
                         "x_reference_A": fit.positions[0, c, 0], "y_reference_A": fit.positions[0, c, 1],
                         "scs_reference_A2": scs[c], "width_reference_A": rho, "background_reference": background,
                         "scs_exact_A2": view.scs_A2})
        for dose in preset.doses:
            bound = crlb_columns(fit.positions[0], np.maximum(scs, 1e-12), width=rho, background=max(background, 0.0),
                                 pixel_size_A=px, shape=image.shape, dose=dose, fit_background=background > 0)
            crlb_rows.append({
                "atoms_per_column": atoms, "dose_e_per_A2": float(dose),
                "crlb_position_pm": 100.0 * float(np.sqrt(np.mean((bound.sigma_x[central] ** 2
                                                                   + bound.sigma_y[central] ** 2) / 2))),
                "crlb_scs_pct": 100.0 * float(np.sqrt(np.mean(bound.relative_volume[central] ** 2))),
            })
    return references, pd.DataFrame(rows), pd.DataFrame(crlb_rows)


# One task (worker process; its plan, noise and training data: bench.studies.precision_tasks) ----------

def fit_central_columns(restored, *, truth, central, width_A: float, dose_e_per_A2: float, pixel_size_A: float,
                        estimator: str, max_iterations: int):
    """Fit restored images as the study fits a realisation and measure their central columns.

    Parameters
    ----------
    restored : numpy.ndarray
        (B, H, W) restored images in counts.
    truth : numpy.ndarray
        (N, 2) true column positions [Å], the fit's start.
    central : numpy.ndarray
        Indices of the columns scored.
    width_A : float
        Starting Gaussian width [Å] (the noise-free reference fit's).
    dose_e_per_A2 : float
        Dose [e⁻/Å²] that converts fitted volumes to SCS.
    pixel_size_A : float
        Pixel size [Å].
    estimator : str
        'least_squares' or 'poisson'.
    max_iterations : int
        Iteration cap of the fit.

    Returns
    -------
    error_pm : numpy.ndarray
        (B, C, 2) fitted − true positions [pm] of the central columns.
    scs_A2 : numpy.ndarray
        (B, C) SCS [Å²] (fitted volume / (D · Δ²)).
    fit : fitting.ColumnFit
        The whole fit (widths, flags).
    """
    from fitting import fit_columns

    fit = fit_columns(restored, truth, pixel_size_A=pixel_size_A, width=width_A, estimator=estimator,
                      max_iterations=max_iterations)
    error = (fit.positions[:, central] - truth[None, central]) * 100.0  # pm
    scs = fit.scs[:, central] / (dose_e_per_A2 * pixel_size_A * pixel_size_A)  # counts·Å² → Å²
    return error, scs, fit


def run_task(params: dict):
    """Simulate, restore and fit one task's realisations (runs in a worker process).

    Parameters
    ----------
    params : dict
        The task's parameters (:func:`bench.studies.precision_tasks.plan`).

    Returns
    -------
    table : pandas.DataFrame
        One row per realisation and central column: x and y errors [pm], SCS [Å²] (fitted volume / (D · Δ²)),
        SCS error [%] against the noise-free fit, width [Å], flag and training time [s].
    arrays : dict or None
        For an example task: its first measured and restored images.
    """
    import pandas as pd

    from bench.methods import POISSON, apply_method

    dose, count = params["dose"], params["count"]
    counts = measured_counts(params)
    restored, record = apply_method(params["method"], counts, POISSON, training_data(params))
    central = params["central"]
    error, scs, fit = fit_central_columns(restored, truth=params["truth"], central=central, width_A=params["width"],
                                          dose_e_per_A2=dose, pixel_size_A=params["pixel_size_A"],
                                          estimator=params["estimator"], max_iterations=params["max_iterations"])
    reference = params["scs"][central]
    n_columns = central.size
    table = pd.DataFrame({
        "method": params["method"].name,
        "dose_e_per_A2": dose,
        "atoms_per_column": params["atoms"],
        "realisation": np.repeat(np.arange(params["first"], params["first"] + count), n_columns),
        "column": np.tile(central, count),
        "x_error_pm": error[..., 0].ravel(),
        "y_error_pm": error[..., 1].ravel(),
        "scs_A2": scs.ravel(),
        "scs_error_pct": (100.0 * (scs / reference[None, :] - 1.0)).ravel(),
        "width_A": fit.widths[:, central].ravel(),
        "flagged": fit.flagged[:, central].ravel(),
        "training_s": float(record.get("training_s", 0.0)),
    })
    arrays = None
    if params["example"]:
        arrays = {"measured": counts[0].astype(np.float32), "restored": restored[0].astype(np.float32)}
    return table, arrays


# Summary ----------------------------------------------------------------------------------------------

def summarise(tasks_table, crlb_table, reference_table, preset: PrecisionPreset):
    """Summarise per method, dose and thickness: precision, bias and RMSE with 95 % intervals, beside the CRLB.

    Flagged fits are left out of the statistics (their fraction is reported).

    Parameters
    ----------
    tasks_table : pandas.DataFrame
        The realisations table (rows of :func:`run_task`).
    crlb_table : pandas.DataFrame
        The CRLB per thickness and dose (:func:`prepare_references`).
    reference_table : pandas.DataFrame
        The reference fit per thickness and column (:func:`prepare_references`).
    preset : PrecisionPreset
        The study's preset (seed and bootstrap resamples).

    Returns
    -------
    pandas.DataFrame
        One row per method, dose and thickness: position statistics [pm], SCS statistics [%], mean,
        reference and exact SCS [Å²], and the CRLB columns.
    """
    import pandas as pd

    from bench.studies.statistics import summarise_errors

    rows = []
    exact = reference_table.groupby("atoms_per_column")["scs_exact_A2"].first()
    ref_scs = reference_table.groupby("atoms_per_column")["scs_reference_A2"].mean()
    for (method, dose, atoms), group in tasks_table.groupby(["method", "dose_e_per_A2", "atoms_per_column"]):
        group = group.sort_values(["realisation", "column"])
        n_real = group["realisation"].nunique()
        n_col = group["column"].nunique()
        flagged = group["flagged"].to_numpy().reshape(n_real, n_col)

        def grid(name, group=group, flagged=flagged):
            return np.where(flagged, np.nan, group[name].to_numpy(dtype=float).reshape(flagged.shape))

        positions = np.stack([grid("x_error_pm"), grid("y_error_pm")], axis=-1)
        seed = preset.seed + int(atoms)
        pos = summarise_errors(positions, ("precision", "bias", "rmse"), bootstrap=preset.bootstrap, seed=seed)
        scs = summarise_errors(grid("scs_error_pct"), ("precision", "signed_bias", "rmse"),
                               bootstrap=preset.bootstrap, seed=seed)
        scs_values = grid("scs_A2")
        mean_scs = float(np.nanmean(scs_values)) if np.isfinite(scs_values).any() else float("nan")
        row = {"method": method, "dose_e_per_A2": float(dose), "atoms_per_column": int(atoms),
               "realisations": n_real, "columns": n_col, "flagged_fraction": float(flagged.mean()),
               "training_s": float(group["training_s"].max()) if "training_s" in group else 0.0}
        row.update({f"position_{k}_pm": v for k, v in pos.items()})
        row.update({f"scs_{k.replace('signed_', '')}_pct": v for k, v in scs.items()})
        row.update({"scs_mean_A2": mean_scs, "scs_reference_A2": float(ref_scs[atoms]),
                    "scs_exact_A2": float(exact[atoms]),
                    "scs_bias_vs_exact_pct": 100.0 * (mean_scs / float(exact[atoms]) - 1.0)})
        rows.append(row)
    summary = pd.DataFrame(rows)
    return summary.merge(crlb_table, on=["atoms_per_column", "dose_e_per_A2"], how="left").sort_values(
        ["method", "dose_e_per_A2", "atoms_per_column"]).reset_index(drop=True)


def write_examples(store, tasks, references) -> None:
    """Gather the example images of finished tasks into ``examples.npz`` with an ``examples.json`` index.

    Parameters
    ----------
    store : ResultStore
        The results directory.
    tasks : sequence of Task
        Every task of the run.
    references : dict
        The noise-free references per thickness (:func:`prepare_references`).
    """

    images, index = {}, []
    shown = sorted({t.params["atoms"] for t in tasks if t.params["example"]})
    for atoms in shown:
        key = f"noise_free__t{atoms:03d}"
        images[key] = references[atoms]["image"].astype(np.float32)
        index.append({"key": key, "kind": "noise_free", "method": None, "dose_e_per_A2": None,
                      "atoms_per_column": atoms})
    for task in tasks:
        if not task.params["example"]:
            continue
        arrays = store.read_arrays(task.key)
        if arrays is None:
            continue
        images[task.key] = arrays["restored"]
        index.append({"key": task.key, "kind": "restored", "method": task.params["method"].name,
                      "dose_e_per_A2": task.params["dose"], "atoms_per_column": task.params["atoms"]})
    store.write_examples(images, index)


SUMMARY_COLUMNS = (
    ("method", "method"), ("dose_e_per_A2", "dose [e⁻/Å²]"), ("atoms_per_column", "atoms"),
    ("position_precision_pm", "pos. precision [pm]"), ("position_precision_low_pm", "95 % low"),
    ("position_precision_high_pm", "95 % high"), ("position_bias_pm", "pos. bias [pm]"),
    ("position_rmse_pm", "pos. RMSE [pm]"), ("crlb_position_pm", "pos. CRLB [pm]"),
    ("scs_precision_pct", "SCS precision [%]"), ("scs_precision_low_pct", "95 % low"),
    ("scs_precision_high_pct", "95 % high"), ("scs_bias_pct", "SCS bias [%]"), ("scs_rmse_pct", "SCS RMSE [%]"),
    ("crlb_scs_pct", "SCS CRLB [%]"), ("flagged_fraction", "flagged"),
)


class PrecisionVsDose(Study):
    """Paper Fig. 3 as a registered study (see the module docstring)."""

    name = "precision-vs-dose"
    description = ("precision and bias of column positions and scattering cross sections (SCS) against dose and "
                   "thickness, beside the Poisson CRLB (paper Fig. 3)")
    quick_run_time = "≈ 1.5 min on a quiet 2-core CPU (6 min at load 4–6), measured"
    presets = PRESETS
    order = 1
    report = ReportSpec(
        intro="Precision is the standard deviation over noise realisations (95 % chi-square interval); bias and "
              "RMSE have basic bootstrap intervals. The CRLB is the Poisson bound of the raw data: a restored "
              "estimate below it is only possible through bias, shown beside it. Ground truth: true column "
              "positions; SCS from the same estimator on the noise-free image.",
        columns=SUMMARY_COLUMNS, figures=precision_report_figures, fits_columns=True)
    gate = Gate(compare_methods, "position and SCS RMSE, precision and bias per dose and thickness")
    refusals = {"images": "use --thicknesses, --doses, --realisations",
                "modalities": "use --thicknesses, --doses, --realisations"}
    printed_columns = ("method", "dose_e_per_A2", "atoms_per_column", "position_precision_pm", "position_bias_pm",
                       "position_rmse_pm", "crlb_position_pm", "scs_precision_pct", "scs_bias_pct",
                       "scs_rmse_pct", "crlb_scs_pct")
    float_format = "{:.3g}"

    def describe(self, preset: PrecisionPreset) -> str:
        """Return one line on the thicknesses, doses, realisations and the estimator of a run.

        Parameters
        ----------
        preset : PrecisionPreset
            The study's preset.

        Returns
        -------
        str
            The description.
        """
        return (f"{len(preset.thicknesses)} thicknesses, doses {', '.join(f'{d:g}' for d in preset.doses)} e⁻/Å², "
                f"{preset.realisations} realisations, estimator: {ESTIMATORS[preset.estimator]}")

    def training_offers(self, preset: PrecisionPreset) -> dict[str, str]:
        """Return what the study gives methods that learn from data.

        The realisations of a point are frames of one field; hourglass gets high-dose frames of the two
        nearest other thicknesses.

        Parameters
        ----------
        preset : PrecisionPreset
            The study's preset.

        Returns
        -------
        dict
            'same_field' and 'high_dose', each with one sentence saying what it is.
        """
        factor = f"{preset.training.hourglass_dose_factor:g}"
        return {need: text.replace("hourglass_dose_factor", factor) for need, text in OFFERS.items()}

    def inputs(self, preset: PrecisionPreset) -> Inputs:
        """Name the thickness series' recipe (configuration) and the estimator (provenance).

        Parameters
        ----------
        preset : PrecisionPreset
            The study's preset.

        Returns
        -------
        Inputs
            The configuration and provenance entries.

        Raises
        ------
        ValueError
            For an unknown thickness series.
        """
        recipe = series_recipe(preset.thickness_series)
        return Inputs(config={"thickness_series_recipe": recipe.to_dict()}, provenance={"estimator": preset.estimator})

    def load(self, preset: PrecisionPreset, inputs: Inputs, options) -> Inputs:
        """Load (or simulate) the thickness series and check that it holds every thickness asked for.

        Parameters
        ----------
        preset : PrecisionPreset
            The study's preset.
        inputs : Inputs
            What :meth:`inputs` named.
        options : RunOptions
            Scheduler and progress bars of the simulation.

        Returns
        -------
        Inputs
            ``inputs`` with ``data["series"]`` and the series' recipe and metadata in the provenance.

        Raises
        ------
        ValueError
            If the series was made by another recipe than the one recorded, or lacks a thickness.
        """
        series = load_series(preset.thickness_series, scheduler=options.scheduler, progress=options.progress)
        if series.recipe.to_dict() != inputs.config["thickness_series_recipe"]:
            raise ValueError(f"the {preset.thickness_series} thickness series on disk was made by another recipe "
                             "than the one recorded; regenerate it")
        check_series(preset, series)
        inputs.data["series"] = series
        inputs.provenance["thickness_series"] = {"recipe": series.recipe.to_dict(), "metadata": series.metadata}
        return inputs

    def prepare(self, preset: PrecisionPreset, inputs: Inputs, store, options) -> dict:
        """Compute the noise-free references, their fit and the raw-data CRLB; write ``reference`` and ``crlb``.

        Parameters
        ----------
        preset : PrecisionPreset
            The study's preset.
        inputs : Inputs
            The loaded inputs (``data["series"]``).
        store : ResultStore
            The results directory.
        options : RunOptions
            How the run is executed (progress bars).

        Returns
        -------
        dict
            ``references``, ``reference_table`` and ``crlb_table`` (:func:`prepare_references`).
        """
        series = inputs.data["series"]
        check_series(preset, series)
        references, reference_table, crlb_table = prepare_references(preset, series, options.progress)
        store.write_table("reference", reference_table)
        store.write_table("crlb", crlb_table)
        return {"references": references, "reference_table": reference_table, "crlb_table": crlb_table}

    def plan(self, preset: PrecisionPreset, methods, shared: dict) -> list[Task]:
        """Split the run into tasks: one per method, dose, thickness and block of realisations.

        Parameters
        ----------
        preset : PrecisionPreset
            The study's preset.
        methods : sequence of Method
            The methods compared.
        shared : dict
            What :meth:`prepare` returned.

        Returns
        -------
        list of Task
            The tasks (:func:`bench.studies.precision_tasks.plan`).
        """
        return plan(preset, methods, shared["references"])

    run_task = staticmethod(run_task)

    def finish(self, preset: PrecisionPreset, shared: dict, tasks, store):
        """Write the examples, then ``realisations`` (every method run in this directory) and ``summary``.

        Parameters
        ----------
        preset : PrecisionPreset
            The study's preset.
        shared : dict
            What :meth:`prepare` returned.
        tasks : sequence of Task
            Every task of the run.
        store : ResultStore
            The results directory.

        Returns
        -------
        pandas.DataFrame
            The summary table (:func:`summarise`).
        """
        write_examples(store, tasks, shared["references"])
        return store.write_summary(lambda table: summarise(table, shared["crlb_table"], shared["reference_table"],
                                                           preset))


STUDY = register_study(PrecisionVsDose())
