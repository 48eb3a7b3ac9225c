"""The regression gate of ``bench check``: whether a candidate is worse than a baseline beyond the uncertainty.

Named *gate* because *check* in this code means validating an input.

Both methods are scored on the same noise realisations (common random numbers), so each metric's
difference candidate − baseline gets a paired bootstrap 95 % interval over realisations. A metric has
regressed at a (dose, thickness) point when the whole interval lies above zero (worse with 95 %
confidence) and the worsening exceeds ``tolerance`` × the baseline value (so that negligible but
significant changes do not fail the gate).

Two studies are gated: precision-vs-dose (:func:`compare_methods`: position and SCS RMSE, precision and
bias per dose and thickness) and atom counting (:func:`compare_counting`: the fraction of miscounted
columns, 1 − the fraction library matching counts correctly, per dose). Both tables share their columns.
"""
from __future__ import annotations

import numpy as np

from bench.studies.statistics import STATISTICS, paired_difference

# metric name -> (error columns, statistic); larger is worse for every metric.
METRICS = {
    "position_rmse_pm": (("x_error_pm", "y_error_pm"), "rmse"),
    "position_precision_pm": (("x_error_pm", "y_error_pm"), "precision"),
    "position_bias_pm": (("x_error_pm", "y_error_pm"), "bias"),
    "scs_rmse_pct": (("scs_error_pct",), "rmse"),
    "scs_precision_pct": (("scs_error_pct",), "precision"),
    "scs_abs_bias_pct": (("scs_error_pct",), "abs_signed_bias"),
}


def error_grid(group, columns) -> np.ndarray:
    """Return one method's errors at one point as (realisations, columns, quantities), flagged fits NaN.

    Parameters
    ----------
    group : pandas.DataFrame
        Rows of one method at one dose and thickness of a precision-vs-dose realisations table.
    columns : sequence of str
        The error columns to stack (e.g. ``x_error_pm``, ``y_error_pm``).

    Returns
    -------
    numpy.ndarray
        Shape (R, C, len(columns)), sorted by realisation and column.
    """
    group = group.sort_values(["realisation", "column"])
    n_real, n_col = group["realisation"].nunique(), group["column"].nunique()
    flagged = group["flagged"].to_numpy().reshape(n_real, n_col)
    arrays = [np.where(flagged, np.nan, group[c].to_numpy(float).reshape(n_real, n_col)) for c in columns]
    return np.stack(arrays, axis=-1)


def compare_methods(realisations, candidate: str, baseline: str, *, tolerance: float = 0.05,
                    bootstrap: int = 1000, seed: int = 0):
    """Paired comparison of two methods in a precision-vs-dose realisations table.

    Parameters
    ----------
    realisations : pandas.DataFrame
        The study's per-realisation table (``realisations.parquet``).
    candidate, baseline : str
        Method names present in the table.
    tolerance : float
        Relative worsening (≥ 0) that is tolerated even when significant.
    bootstrap : int
        Paired bootstrap resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame
        One row per dose, thickness and metric: baseline, candidate, difference with its 95 % interval,
        and ``regressed``.

    Raises
    ------
    ValueError
        If a method is missing, the two methods were not run on the same realisations, or the tolerance is
        negative.
    """
    import pandas as pd

    if tolerance < 0:
        raise ValueError(f"tolerance={tolerance!r} must be >= 0 (a relative worsening)")
    present = sorted(realisations["method"].unique())
    for name in (candidate, baseline):
        if name not in present:
            raise ValueError(f"method {name!r} has no results here; methods present: {present}")
    rows = []
    keys = ["dose_e_per_A2", "atoms_per_column"]
    cand = dict(tuple(realisations[realisations["method"] == candidate].groupby(keys)))
    base = dict(tuple(realisations[realisations["method"] == baseline].groupby(keys)))
    if set(cand) != set(base):
        raise ValueError(f"{candidate!r} and {baseline!r} were run at different doses/thicknesses; run both in one "
                         "results directory")
    for key in sorted(cand):
        for metric, (columns, statistic) in METRICS.items():
            a, b = error_grid(cand[key], columns), error_grid(base[key], columns)
            if a.shape != b.shape:
                raise ValueError(f"{candidate!r} and {baseline!r} differ in realisations or columns at dose "
                                 f"{key[0]:g}, {key[1]} atoms; they must share the noise realisations")
            difference, low, high = paired_difference(a, b, statistic, bootstrap=bootstrap, seed=seed)
            base_value = float(STATISTICS[statistic](b.reshape(b.shape[0], -1)))
            regressed = bool(low > 0 and difference > tolerance * abs(base_value))
            rows.append({"study": "precision-vs-dose", "dose_e_per_A2": key[0], "atoms_per_column": key[1],
                         "metric": metric,
                         "baseline": base_value, "candidate": base_value + difference, "difference": difference,
                         "difference_low": low, "difference_high": high, "regressed": regressed})
    return pd.DataFrame(rows)


COUNTING_METRIC = "miscounted_library_fraction"


def _miscounted(group) -> np.ndarray:
    """(R, C) indicators 1 where library matching miscounted a column, 0 where it counted it right."""
    group = group.sort_values(["realisation", "column"])
    n_real, n_col = group["realisation"].nunique(), group["column"].nunique()
    wrong = (group["atoms_library"].to_numpy() != group["atoms_true"].to_numpy()).astype(np.float64)
    return wrong.reshape(n_real, n_col)


def compare_counting(realisations, candidate: str, baseline: str, *, tolerance: float = 0.05,
                     bootstrap: int = 1000, seed: int = 0):
    """Paired comparison of the counting accuracy of two methods in an atom-counting realisations table.

    The metric is the fraction of miscounted columns by library matching (1 − the fraction of correctly
    counted columns; larger is worse, like every gated metric). Flagged fits count as they were counted by
    the study (their SCS is taken as 0). Its difference candidate − baseline gets a paired bootstrap 95 %
    interval over realisations (whole images resampled, so the correlation of columns within an image is
    kept); the regression rule is that of :func:`compare_methods`.

    Parameters
    ----------
    realisations : pandas.DataFrame
        The atom-counting study's per-realisation table (``realisations.parquet``).
    candidate, baseline : str
        Method names present in the table.
    tolerance : float
        Relative worsening (≥ 0) that is tolerated even when significant.
    bootstrap : int
        Paired bootstrap resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame
        One row per dose, with the columns of :func:`compare_methods` (``atoms_per_column`` is NaN: all
        columns of the particle are pooled).

    Raises
    ------
    ValueError
        If a method is missing, the two methods were not run on the same doses and realisations, or the
        tolerance is negative.
    """
    import pandas as pd

    if tolerance < 0:
        raise ValueError(f"tolerance={tolerance!r} must be >= 0 (a relative worsening)")
    present = sorted(realisations["method"].unique())
    for name in (candidate, baseline):
        if name not in present:
            raise ValueError(f"method {name!r} has no results here; methods present: {present}")
    cand = dict(tuple(realisations[realisations["method"] == candidate].groupby("dose_e_per_A2")))
    base = dict(tuple(realisations[realisations["method"] == baseline].groupby("dose_e_per_A2")))
    if set(cand) != set(base):
        raise ValueError(f"{candidate!r} and {baseline!r} were run at different doses; run both in one results "
                         "directory")
    rows = []
    for dose in sorted(cand):
        a, b = _miscounted(cand[dose]), _miscounted(base[dose])
        if a.shape != b.shape:
            raise ValueError(f"{candidate!r} and {baseline!r} differ in realisations or columns at dose {dose:g}; "
                             "they must share the noise realisations")
        # the mean of the 0/1 indicators over realisations and columns is the statistic 'signed_bias'
        difference, low, high = paired_difference(a, b, "signed_bias", bootstrap=bootstrap, seed=seed)
        base_value = float(b.mean())
        regressed = bool(low > 0 and difference > tolerance * abs(base_value))
        rows.append({"study": "atom-counting", "dose_e_per_A2": dose, "atoms_per_column": np.nan,
                     "metric": COUNTING_METRIC, "baseline": base_value, "candidate": base_value + difference,
                     "difference": difference, "difference_low": low, "difference_high": high,
                     "regressed": regressed})
    return pd.DataFrame(rows)
