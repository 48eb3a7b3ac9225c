"""Whether the training distribution covers what the benchmark studies measure.

The restoration network learns the distribution of the synthetic pairs (``simulate.synthetic.make_pair``).
This module puts the sampled values of the quantities that set how an image is distorted (expected counts
per pixel, scan jitter, fast-scan PSF and its lag, PMT noise, pixel size, specimen thickness, std/mean of
the clean image) beside the values the benchmark studies use, and draws them in one figure
(``bench gallery synthetic``), so a reader sees at a glance whether training covers the benchmark.

Counts follow the suite's dose convention: the expected counts of a pixel are
λ = dose [e⁻/Å²] · pixel_size² [Å²] · intensity (fraction of the incident beam).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from _shared.files import write_figure_atomic
from bench.studies.distorted_specimen import DISTORTED_SPECIMEN_PRESETS
from bench.studies.precision_vs_dose import PRESETS as PRECISION_PRESETS
from simulate.distortions import FastScanParams, benchmark_stem_params, fast_scan_lag_px
from simulate.field_of_view import field_of_view
from simulate.specimen_data import load_shipped
from simulate.synthetic import make_pair
from simulate.thickness_series import load_embedded_default

PT_LATTICE_A = 3.924  # fcc Pt; one atom per [001] column per cell
PT_112_REPEAT_A = PT_LATTICE_A * math.sqrt(6) / 2  # one atom per [112] column per repeat

# The quantities compared, their axis label and whether they are drawn on a logarithmic axis.
QUANTITIES: dict[str, tuple[str, bool]] = {
    "mean_counts": ("mean expected counts per pixel", True),
    "peak_counts": ("peak expected counts per pixel", True),
    "std_mean_ratio": ("std/mean of the clean image", True),
    "pixel_size_A": ("pixel size [Å]", False),
    "thickness_A": ("specimen thickness [Å]", True),
    "jitter_sigma_A": ("jitter σ [Å] (fast and slow)", False),
    "jitter_phi": ("jitter φ", False),
    "detector_hwhm_px": ("detector PSF HWHM [px]", True),
    "fast_scan_lag_px": ("fast-scan lag (kernel centroid) [px]", True),
    "pmt_sigma_counts": ("PMT σ [counts]", False),
}


@dataclass(frozen=True)
class StudyValue:
    """One value a study uses: which study, what it is, and the value in the quantity's unit."""

    study: str
    quantity: str
    value: float
    label: str


def _counts_rows(study: str, image: np.ndarray, pixel_size_A: float, doses, label: str) -> list[StudyValue]:
    image = np.maximum(image, 0.0)
    rows = [StudyValue(study, "std_mean_ratio", float(image.std() / image.mean()), label),
            StudyValue(study, "pixel_size_A", pixel_size_A, label)]
    for dose in doses:
        scale = dose * pixel_size_A**2
        tag = f"{label}, {dose:.0e} e⁻/Å²"
        rows.append(StudyValue(study, "mean_counts", float(scale * image.mean()), tag))
        rows.append(StudyValue(study, "peak_counts", float(scale * image.max()), tag))
    return rows


def study_values(precision_preset: str = "quick", specimen_preset: str = "quick") -> pd.DataFrame:
    """The values of every compared quantity used by the benchmark studies.

    Parameters
    ----------
    precision_preset, specimen_preset : str
        Presets of ``precision-vs-dose`` and of the distorted-specimen studies (dislocation, atom counting).

    Returns
    -------
    pandas.DataFrame
        Columns study, quantity, value, label; one row per value.
    """
    rows: list[StudyValue] = []
    precision = PRECISION_PRESETS[precision_preset]
    series = load_embedded_default()
    px = precision.pixel_size_A
    for atoms in precision.thicknesses:
        view = field_of_view(series, atoms_per_column=atoms, cells=tuple(precision.cells), pixel_size_A=px)
        rows += _counts_rows("precision-vs-dose", view.image, px, precision.doses, f"{atoms} atoms")
        rows.append(StudyValue("precision-vs-dose", "thickness_A", atoms * PT_LATTICE_A, f"{atoms} atoms"))
    specimen = DISTORTED_SPECIMEN_PRESETS[specimen_preset]
    for study, kind in (("dislocation", "dislocation"), ("atom-counting", "nanoparticle")):
        shipped = load_shipped(kind)
        spx = shipped.pixel_size_A
        rows += _counts_rows(study, shipped.image, spx, specimen.doses, kind)
        atoms = shipped.columns.atoms_per_column
        repeat = PT_112_REPEAT_A if kind == "dislocation" else PT_LATTICE_A
        for value, tag in ((atoms.min(), "thinnest column"), (atoms.max(), "thickest column")):
            rows.append(StudyValue(study, "thickness_A", float(max(value, 1) * repeat), f"{kind}, {tag}"))
        params = benchmark_stem_params(dose_e_per_A2=specimen.doses[0], pixel_size_A=spx,
                                       jitter_sigma=specimen.jitter_sigma_A,
                                       jitter_phi=specimen.jitter_phi)
        rows.append(StudyValue(study, "jitter_sigma_A", specimen.jitter_sigma_A, kind))
        rows.append(StudyValue(study, "jitter_phi", specimen.jitter_phi, kind))
        rows.append(StudyValue(study, "pmt_sigma_counts", params.pmt.sigma_counts, kind))
        rows.append(StudyValue(study, "detector_hwhm_px", params.fast_scan.detector_hwhm_px, kind))
        rows.append(StudyValue(study, "fast_scan_lag_px", fast_scan_lag_px(params.fast_scan), kind))
    return pd.DataFrame([r.__dict__ for r in rows])


def _specimen_thickness_A(image_record: dict) -> float:
    specimen = image_record.get("specimen", {})
    for key in ("crystal", "amorphous"):
        if isinstance(specimen.get(key), dict) and "thickness" in specimen[key]:
            return float(specimen[key]["thickness"])
    return math.nan


def _pair_values(x, y, record: dict) -> dict[str, float]:
    params = record["distortion_params"]
    alpha = 1.0 / record["x_scale"]  # counts per unit of y (× the camera gain for TEM)
    y = np.asarray(y, dtype=np.float64)
    values = {
        "mean_counts": alpha * float(y.mean()),
        "peak_counts": alpha * float(y.max()),
        "std_mean_ratio": float(y.std() / y.mean()) if y.mean() > 0 else math.nan,
        "pixel_size_A": float(record["pixel_size_A"]),
        "thickness_A": _specimen_thickness_A(record["image"]) if record["image"]["source"] == "atomic" else math.nan,
    }
    jitter = params.get("jitter") or {}
    values["jitter_sigma_fast_A"] = float(jitter.get("sigma_fast", 0.0)) or math.nan
    values["jitter_sigma_slow_A"] = float(jitter.get("sigma_slow", 0.0)) or math.nan
    phis = [jitter[f"phi_{axis}"] for axis in ("fast", "slow") if jitter.get(f"sigma_{axis}", 0.0) > 0]
    values["jitter_phi"] = float(phis[0]) if phis else math.nan
    fast = params.get("fast_scan")
    values["detector_hwhm_px"] = float(fast["detector_hwhm_px"]) if fast else math.nan
    values["fast_scan_lag_px"] = math.nan
    if fast:
        keys = ("detector_alpha_px", "readout_beta_px", "readout_gamma_px", "readout_theta_rad", "kernel_length_px")
        values["fast_scan_lag_px"] = fast_scan_lag_px(FastScanParams(**{k: fast[k] for k in keys}))
    pmt = params.get("pmt")
    values["pmt_sigma_counts"] = float(pmt["sigma_counts"]) if pmt else math.nan
    return values


def training_values(pairs: int = 400, *, seed: int = 0, modality: str = "hrstem", size: int = 256,
                    progress: bool = False) -> pd.DataFrame:
    """Draw ``pairs`` synthetic training pairs and tabulate the compared quantities, one row per pair.

    Parameters
    ----------
    pairs : int
        Number of pairs (≥ 1); pair i is ``make_pair(SeedSequence([seed, i]))``.
    seed : int
        Seed of the sample (≥ 0).
    modality : str
        Modality of :mod:`simulate.synthetic.modalities`.
    size : int
        Side of the pairs [px].
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    pandas.DataFrame
        One column per quantity of :data:`QUANTITIES` (jitter σ split into fast and slow); NaN where a pair
        does not have the distortion (no jitter, no fast-scan blur, a TEM pair's PMT, ...).
    """
    if int(pairs) != pairs or pairs < 1:
        raise ValueError(f"pairs={pairs!r} must be a positive integer")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    rows = []
    for i in tqdm(range(int(pairs)), desc="training pairs", unit="pair", disable=not progress):
        x, y, record = make_pair(np.random.default_rng(np.random.SeedSequence([int(seed), i])), modality, size)
        rows.append(_pair_values(x, y, record))
    return pd.DataFrame(rows)


def coverage_table(training: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """Compare, per quantity, the training range with the range the studies use.

    The studies' range is the plain min–max of their values (no margin is added on log quantities).

    Parameters
    ----------
    training : pandas.DataFrame
        Per-pair values of :func:`training_values`.
    studies : pandas.DataFrame
        Study values of :func:`study_values` (columns study, quantity, value, label).

    Returns
    -------
    pandas.DataFrame
        One row per quantity present in both: ``training_p01`` and ``training_p99`` (1st and 99th
        percentile), ``study_min``, ``study_max``, ``covered`` (the studies' range lies within the
        percentiles) and ``training_fraction_in_study_range``.
    """
    rows = []
    for quantity in QUANTITIES:
        train = _training_series(training, quantity)
        study = studies.loc[studies["quantity"] == quantity, "value"].to_numpy(dtype=float)
        if train.size == 0 or study.size == 0:
            continue
        low, high = float(study.min()), float(study.max())
        rows.append({"quantity": quantity, "training_p01": float(np.percentile(train, 1)),
                     "training_p99": float(np.percentile(train, 99)), "study_min": low, "study_max": high,
                     "covered": bool(np.percentile(train, 1) <= low and high <= np.percentile(train, 99)),
                     "training_fraction_in_study_range": float(np.mean((train >= low) & (train <= high)))})
    return pd.DataFrame(rows)


def _training_series(training: pd.DataFrame, quantity: str) -> np.ndarray:
    if quantity == "jitter_sigma_A":
        values = np.concatenate([training["jitter_sigma_fast_A"], training["jitter_sigma_slow_A"]])
    else:
        values = training[quantity].to_numpy(dtype=float)
    return values[np.isfinite(values)]


def coverage_figure(training: pd.DataFrame, studies: pd.DataFrame, path, *, title: str = ""):
    """Draw one histogram per quantity of the training values, the studies' values as vertical lines.

    Parameters
    ----------
    training : pandas.DataFrame
        Per-pair values of :func:`training_values`.
    studies : pandas.DataFrame
        Study values of :func:`study_values`.
    path : str or Path
        The PNG file to write (through a temporary file).
    title : str, optional
        Title of the figure (default: a description of the grey histograms and the lines).

    Returns
    -------
    Path
        The path written.
    """
    matplotlib.use("Agg")

    names = list(QUANTITIES)
    columns = 4
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), constrained_layout=True)
    colours = {"precision-vs-dose": "tab:red", "dislocation": "tab:green", "atom-counting": "tab:purple"}
    for ax, quantity in zip(axes.flat, names):
        label, logarithmic = QUANTITIES[quantity]
        values = _training_series(training, quantity)
        study = studies[studies["quantity"] == quantity]
        finite = np.concatenate([values, study["value"].to_numpy(dtype=float)])
        finite = finite[np.isfinite(finite)]
        if logarithmic:
            finite = finite[finite > 0]
            values = values[values > 0]
            bins = np.geomspace(finite.min(), finite.max(), 40) if finite.size else 10
            ax.set_xscale("log")
        else:
            bins = np.linspace(finite.min(), finite.max(), 40) if finite.size else 10
        ax.hist(values, bins=bins, color="0.6", label=f"training ({values.size} draws)")
        for name, group in study.groupby("study"):
            for value in group["value"]:
                ax.axvline(value, color=colours.get(name, "k"), lw=0.8, alpha=0.7)
            ax.plot([], [], color=colours.get(name, "k"), label=name)
        ax.set_xlabel(label)
        ax.set_ylabel("pairs")
        ax.legend(fontsize=6, loc="upper right")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(title or "Training distribution (grey) and the values the benchmark studies use (lines)")
    path = Path(path)
    write_figure_atomic(path, fig, dpi=110, mode=0o644)  # a docs figure, meant to be shared
    plt.close(fig)
    return path
