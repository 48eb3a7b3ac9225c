"""Precision, bias and RMSE of repeated estimates, with 95 % confidence intervals.

Errors come as (R, C) arrays: R noise realisations of C equivalent columns, NaN where a fit was flagged.

- precision: the pooled standard deviation √(mean_c s_c²); its interval is the chi-square interval with
  Σ_c (R_c − 1) degrees of freedom (columns taken as independent: they share an image but not pixels).
- bias: for positions the size of the systematic error, √max(0, mean_c (b̄_c² − s_c²/R_c)) — the noise
  part of the squared column means is subtracted, so pure noise gives ≈ 0; for SCS the signed mean error.
- rmse: √(mean of all squared errors).

Bias and RMSE intervals are basic (reflected) bootstrap intervals over realisations, resampled as whole
images so that the correlation between columns of one image is kept; reflecting corrects the downward
shift of resampled spreads.
"""
from __future__ import annotations

import warnings

import numpy as np

CONFIDENCE = 0.95


def _precision(errors: np.ndarray) -> np.ndarray:
    """√(mean over columns of the variance over realisations); errors (..., R, C)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, which is the answer
        return np.sqrt(np.nanmean(np.nanvar(errors, axis=-2, ddof=1), axis=-1))


def _bias_rms(errors: np.ndarray) -> np.ndarray:
    """√max(0, mean_c(b̄_c² − s_c²/R_c)): the size of the systematic error, noise part removed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = np.sum(np.isfinite(errors), axis=-2)
        squared = np.nanmean(errors, axis=-2) ** 2 - np.nanvar(errors, axis=-2, ddof=1) / n
        return np.sqrt(np.maximum(np.nanmean(squared, axis=-1), 0.0))


def _bias_signed(errors: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(errors, axis=(-2, -1))


def _rmse(errors: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.sqrt(np.nanmean(errors**2, axis=(-2, -1)))


def _bias_absolute(errors: np.ndarray) -> np.ndarray:
    return np.abs(_bias_signed(errors))


STATISTICS = {"precision": _precision, "bias": _bias_rms, "signed_bias": _bias_signed,
              "abs_signed_bias": _bias_absolute, "rmse": _rmse}


def summarise_errors(errors: np.ndarray, statistics: tuple[str, ...], *, bootstrap: int = 1000,
                     seed: int = 0) -> dict[str, float]:
    """Statistics of an (R, C) error array and their 95 % intervals (chi-square or basic bootstrap).

    Parameters
    ----------
    errors : ndarray, shape (R, C) or (R, C, K)
        Estimate minus truth; a trailing axis K (e.g. x and y) is pooled with the columns.
    statistics : tuple of str
        Names from :data:`STATISTICS`: precision, bias (RMS over columns of the mean error, noise part
        removed), signed_bias, abs_signed_bias, rmse.
    bootstrap : int
        Resamples of the realisations (≥ 100).
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``name``, ``name_low`` and ``name_high`` for each statistic.

    Raises
    ------
    ValueError
        For fewer than 2 realisations, an unknown statistic or too few resamples.
    """
    array = np.asarray(errors, dtype=np.float64)
    if array.ndim == 3:
        array = array.reshape(array.shape[0], -1)
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(f"errors must have shape (R, C) with R >= 2 realisations, got {np.shape(errors)}")
    unknown = [s for s in statistics if s not in STATISTICS]
    if unknown:
        raise ValueError(f"unknown statistic(s) {unknown}; valid: {sorted(STATISTICS)}")
    if bootstrap < 100:
        raise ValueError(f"bootstrap={bootstrap!r} must be >= 100 resamples")
    rng = np.random.default_rng(seed)
    n = array.shape[0]
    resampled = array[rng.integers(0, n, size=(bootstrap, n))]  # (B, R, C)
    alpha = (1.0 - CONFIDENCE) / 2.0
    out: dict[str, float] = {}
    for name in statistics:
        function = STATISTICS[name]
        value = float(function(array))
        if name == "precision":
            low, high = _chi_square_interval(array, value, alpha)
        else:
            draws = function(resampled)
            draws = draws[np.isfinite(draws)]
            if draws.size:
                upper, lower = np.quantile(draws, [1 - alpha, alpha])
                low, high = 2 * value - upper, 2 * value - lower
                if name != "signed_bias":  # sizes cannot be negative
                    low = max(low, 0.0)
            else:
                low = high = np.nan
        out[name], out[f"{name}_low"], out[f"{name}_high"] = value, float(low), float(high)
    return out


def _chi_square_interval(array: np.ndarray, value: float, alpha: float) -> tuple[float, float]:
    from scipy.stats import chi2

    dof = int(np.sum(np.maximum(np.sum(np.isfinite(array), axis=0) - 1, 0)))
    if dof < 1 or not np.isfinite(value):
        return np.nan, np.nan
    return (value * np.sqrt(dof / chi2.ppf(1 - alpha, dof)), value * np.sqrt(dof / chi2.ppf(alpha, dof)))


def paired_difference(candidate: np.ndarray, baseline: np.ndarray, statistic: str, *, bootstrap: int = 1000,
                      seed: int = 0) -> tuple[float, float, float]:
    """Return statistic(candidate) − statistic(baseline) with a paired bootstrap 95 % interval.

    Both arrays are (R, C[, K]) errors of the same noise realisations (common random numbers), so the
    realisations are resampled jointly; the interval is the percentile interval of the resampled differences.

    Parameters
    ----------
    candidate : ndarray, shape (R, C) or (R, C, K)
        Errors (estimate minus truth) of the candidate method.
    baseline : ndarray
        Errors of the baseline method on the same realisations, same shape.
    statistic : str
        A name from :data:`STATISTICS`.
    bootstrap : int, default 1000
        Resamples of the realisations.
    seed : int, default 0
        Seed of the resampling.

    Returns
    -------
    difference : float
        The difference of the statistic on all realisations.
    low, high : float
        The 95 % interval of the difference (NaN when no resample gives a finite value).

    Raises
    ------
    ValueError
        If the two arrays differ in shape.
    """
    a = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"candidate and baseline errors must have the same shape, got {a.shape} and {b.shape}")
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    function = STATISTICS[statistic]
    rng = np.random.default_rng(seed)
    index = rng.integers(0, a.shape[0], size=(bootstrap, a.shape[0]))
    draws = function(a[index]) - function(b[index])
    draws = draws[np.isfinite(draws)]
    alpha = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(draws, [alpha, 1 - alpha]) if draws.size else (np.nan, np.nan)
    return float(function(a) - function(b)), float(low), float(high)
