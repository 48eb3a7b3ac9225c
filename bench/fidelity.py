"""Noise-free fidelity of a restoration: the infinite-dose limit of the precision-vs-dose study.

A restoration applied to the *expected* image of a dose (λ = dose · pixel_area · intensity, no Poisson
noise) should return it unchanged: whatever it moves there — column positions, scattering cross sections,
contrast — it moves in every high-dose measurement too, so the change is a lower bound on the method's
high-dose bias. The check costs one restoration and one fit per thickness (seconds), against minutes for
the quick precision-vs-dose study, which is why a training campaign uses it to watch its checkpoints.

Each thickness of the study's Pt [001] series is restored at the study's sampling and fitted exactly as
the study fits a realisation (least squares from the true positions, width started at the noise-free
reference); the errors are taken against the same truth and reference SCS. The raw (unrestored) row is
the fit's own floor: a few hundredths of a pm and of a percent.

:func:`lattice_transfer` asks the same question of synthetic square lattices of Gaussian columns, swept over
column width and spacing in pixels: it separates what a network does to sharp, isolated, periodic columns
(the benchmark's Pt at 0.2 Å pixels: σ ≈ 1–1.5 px every 8–12 px) from anything specific to the Pt images.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from bench.studies.precision_vs_dose import PrecisionPreset, fit_central_columns, load_series, prepare_references

if TYPE_CHECKING:
    import pandas as pd

Restorer = Callable[[np.ndarray], np.ndarray]
# (spacing, σ) [px] of the probe lattices: the benchmark's Pt spacing and widths at 0.2 Å pixels, and denser.
LATTICE_PROBES = ((6.0, 1.0), (6.0, 1.5), (9.0, 1.0), (9.0, 1.5), (14.0, 1.0), (14.0, 1.5))


def _restored(name: str, restore: Restorer, images: np.ndarray) -> np.ndarray:
    """Return ``restore(images)`` as float64, refusing a result of another shape (a ValueError naming ``name``)."""
    restored = np.asarray(restore(images), dtype=np.float64)
    if restored.shape != images.shape:
        raise ValueError(f"method {name!r} returned shape {restored.shape} for input {images.shape}")
    return restored


def noise_free_fidelity(restorers: dict[str, Restorer], *, preset: PrecisionPreset, dose_e_per_A2: float = 5e4,
                        series=None) -> pd.DataFrame:
    """Restore the expected (noise-free) images of the study's series and measure what the restoration moved.

    Parameters
    ----------
    restorers : dict of str to callable
        Method name → function mapping a (B, H, W) stack of expected counts to a restored stack of the same
        shape and units. A ``raw`` entry (the identity) gives the fit's own floor.
    preset : PrecisionPreset
        The precision-vs-dose preset whose thicknesses, sampling, field of view and fit are used.
    dose_e_per_A2 : float
        Dose [e⁻/Å²] whose expected counts are restored (only the intensity scale: the images carry no noise).
    series : ThicknessSeries, optional
        The simulated thickness series; loaded from the preset when omitted.

    Returns
    -------
    pandas.DataFrame
        One row per method and thickness: ``x_shift_pm`` and ``y_shift_pm`` (mean fitted − true position of
        the central columns), ``scs_change_pct`` (mean SCS against the noise-free reference fit),
        ``width_A`` (fitted Gaussian width), ``contrast_transfer`` (std of the restored image / std of the
        expected one) and ``min_counts`` (the restored image's minimum; negative values are unphysical).

    Raises
    ------
    ValueError
        If the dose is not positive or a restorer changes the image's shape.
    """
    import pandas as pd  # noqa: PLC0415  (pandas costs the command line's start-up time)

    if not (np.isfinite(dose_e_per_A2) and dose_e_per_A2 > 0):
        raise ValueError(f"dose_e_per_A2={dose_e_per_A2!r} must be a positive number of e⁻/Å² (e.g. 5e4)")
    series = load_series(preset.thickness_series, progress=False) if series is None else series
    references, _, _ = prepare_references(preset, series)
    px = preset.pixel_size_A
    rows = []
    for atoms, reference in references.items():
        expected = (dose_e_per_A2 * px * px * reference["image"])[None]
        central, truth = reference["central"], reference["truth"]
        for name, restore in restorers.items():
            restored = _restored(name, restore, expected)
            error, scs, fit = fit_central_columns(restored, truth=truth, central=central, width_A=reference["width"],
                                                  dose_e_per_A2=dose_e_per_A2, pixel_size_A=px,
                                                  estimator=preset.estimator, max_iterations=preset.max_iterations)
            shift, scs = error[0], scs[0]
            rows.append({
                "method": name, "atoms_per_column": int(atoms),
                "x_shift_pm": float(shift[:, 0].mean()), "y_shift_pm": float(shift[:, 1].mean()),
                "scs_change_pct": float(100.0 * np.mean(scs / reference["scs"][central] - 1.0)),
                "width_A": float(fit.widths[0, central].mean()),
                "contrast_transfer": float(restored.std() / expected.std()),
                "min_counts": float(restored.min()),
            })
    return pd.DataFrame(rows)


def square_lattice(*, spacing_px: float, sigma_px: float, size_px: int = 128,
                   peak_counts: float = 1000.0) -> np.ndarray:
    """Return a noise-free square lattice of identical Gaussian columns, axis-aligned, centred in the image.

    Parameters
    ----------
    spacing_px : float
        Column spacing [px], > 0.
    sigma_px : float
        Gaussian width σ of each column [px], > 0.
    size_px : int
        Image side [px], >= 16.
    peak_counts : float
        Height of each Gaussian [counts], > 0.

    Returns
    -------
    numpy.ndarray
        Shape (size_px, size_px), float64, expected counts (columns beyond the edges included).

    Raises
    ------
    ValueError
        For a non-positive spacing, width or height, or a side below 16 px.
    """
    if not (spacing_px > 0 and sigma_px > 0 and peak_counts > 0) or size_px < 16:
        raise ValueError(f"square_lattice needs spacing_px, sigma_px, peak_counts > 0 and size_px >= 16; got "
                         f"{spacing_px!r}, {sigma_px!r}, {peak_counts!r}, {size_px!r}")
    axis = np.arange(size_px, dtype=np.float64)
    reach = 9 * sigma_px  # a column's tail beyond it, exp(-40.5) ≈ 3e-18, is below float64's resolution
    centres = np.arange(spacing_px / 2 - np.ceil(reach / spacing_px) * spacing_px, size_px + reach, spacing_px)
    profile = np.exp(-((axis[:, None] - centres[None, :]) ** 2) / (2 * sigma_px**2)).sum(axis=1)
    return peak_counts * np.outer(profile, profile)  # a square lattice of Gaussians is separable


def axis_fundamentals(images: np.ndarray, *, spacing_px: float, margin_px: int = 16) -> np.ndarray:
    """Return the amplitude of a square lattice's fundamental along the fast (x) and slow (y) axes.

    The image's interior (``margin_px`` off every edge, cut to a whole number of periods) is averaged over
    rows (the profile along x) and over columns (along y); each profile's Fourier amplitude at 1/spacing is
    returned. A restoration that sharpens the columns along one axis raises that axis's amplitude.

    Parameters
    ----------
    images : numpy.ndarray
        (B, H, W) square images of a lattice of period ``spacing_px`` along both axes; axis -1 is x.
    spacing_px : float
        The period [px], > 0, with at least one whole period inside the interior.
    margin_px : int
        Pixels left out at every edge (where a network sees padding), >= 0.

    Returns
    -------
    numpy.ndarray
        Shape (B, 2): the x (fast) and y (slow) amplitudes [counts].

    Raises
    ------
    ValueError
        If the interior holds no whole period.
    """
    images = np.asarray(images, dtype=np.float64)
    periods = int((min(images.shape[-2:]) - 2 * margin_px) // spacing_px) if spacing_px > 0 else 0
    if periods < 1:
        raise ValueError(f"spacing_px={spacing_px!r} with margin_px={margin_px!r} leaves no whole period inside a "
                         f"{images.shape[-2:]} image; use a smaller spacing or margin")
    length = int(round(periods * spacing_px))
    window = images[..., margin_px:margin_px + length, margin_px:margin_px + length]
    phase = np.exp(-2j * np.pi * np.arange(length) / spacing_px)
    return np.stack([np.abs(window.mean(axis=-2) @ phase), np.abs(window.mean(axis=-1) @ phase)], axis=-1)


def lattice_transfer(restorers: dict[str, Restorer], *, probes=LATTICE_PROBES, size_px: int = 128) -> pd.DataFrame:
    """Restore noise-free square lattices of Gaussian columns and measure how much contrast survives.

    Parameters
    ----------
    restorers : dict of str to callable
        Method name → function mapping a (B, H, W) stack of expected counts to a restored stack.
    probes : sequence of (float, float)
        (spacing, σ) [px] of each lattice.
    size_px : int
        Image side [px].

    Returns
    -------
    pandas.DataFrame
        One row per method and lattice: ``spacing_px``, ``sigma_px``, ``contrast_transfer`` (std of the
        restored image / std of the lattice: 1 keeps the columns, near 0 flattens them), and
        ``fast_axis_transfer`` and ``slow_axis_transfer`` (the fundamental's amplitude along x and y,
        restored / lattice, :func:`axis_fundamentals`: above 1 sharpens the columns along that axis, below 1
        blurs them; a network that undoes a fast-scan blur the image does not have sharpens along x more).

    Raises
    ------
    ValueError
        For an invalid lattice or a restorer that changes the image's shape.
    """
    import pandas as pd  # noqa: PLC0415

    rows = []
    for spacing, sigma in probes:
        image = square_lattice(spacing_px=spacing, sigma_px=sigma, size_px=size_px)[None]
        lattice_fundamentals = axis_fundamentals(image, spacing_px=spacing)
        for name, restore in restorers.items():
            restored = _restored(name, restore, image)
            fast, slow = (axis_fundamentals(restored, spacing_px=spacing) / lattice_fundamentals)[0]
            rows.append({"method": name, "spacing_px": float(spacing), "sigma_px": float(sigma),
                         "contrast_transfer": float(restored.std() / image.std()),
                         "fast_axis_transfer": float(fast), "slow_axis_transfer": float(slow)})
    return pd.DataFrame(rows)


def fidelity_verdict(table: pd.DataFrame, *, max_shift_pm: float = 0.5, max_scs_change_pct: float = 2.0) -> pd.Series:
    """Say per method whether every thickness stays within the training campaign's high-dose bounds.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`noise_free_fidelity`.
    max_shift_pm : float
        Largest admissible |x| or |y| shift [pm] (the campaign's high-dose position-bias bound).
    max_scs_change_pct : float
        Largest admissible |SCS change| [%] (the campaign's high-dose SCS-bias bound).

    Returns
    -------
    pandas.Series
        Method name → True when every thickness meets both bounds. Meeting them is necessary, not
        sufficient: the study's Poisson realisations can add bias.
    """
    worst_shift = table[["x_shift_pm", "y_shift_pm"]].abs().max(axis=1)
    ok = (worst_shift <= max_shift_pm) & (table["scs_change_pct"].abs() <= max_scs_change_pct)
    return ok.groupby(table["method"], sort=False).all()


def format_fidelity(table: pd.DataFrame, methods: Sequence[str]) -> str:
    """Format the fidelity table as fixed-width text, methods in the given order.

    Parameters
    ----------
    table : pandas.DataFrame
        The output of :func:`noise_free_fidelity`.
    methods : sequence of str
        Order of the methods in the text.

    Returns
    -------
    str
        One line per method and thickness, with a header.
    """
    header = (f"{'method':40s} {'atoms':>5s} {'x shift':>9s} {'y shift':>9s} {'SCS':>8s} {'width':>7s} "
              f"{'contrast':>8s} {'min':>9s}\n{'':40s} {'':>5s} {'[pm]':>9s} {'[pm]':>9s} {'[%]':>8s} {'[Å]':>7s} "
              f"{'transfer':>8s} {'[counts]':>9s}")
    lines = [header]
    for name in methods:
        for row in table[table["method"] == name].itertuples():
            lines.append(f"{name[-40:]:40s} {row.atoms_per_column:5d} {row.x_shift_pm:9.3f} {row.y_shift_pm:9.3f} "
                         f"{row.scs_change_pct:8.2f} {row.width_A:7.3f} {row.contrast_transfer:8.3f} "
                         f"{row.min_counts:9.2f}")
    return "\n".join(lines)
