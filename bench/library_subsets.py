"""Atom counting of phonon averages over subsets of the frozen-phonon configurations.

A noise-free image averaged over K configurations still carries the phonon scatter of its columns' SCS,
σ_K ≈ σ₁/√K. Counting the averages of disjoint subsets of K = 1, 2, 4, … configurations measures how the
fraction of exactly counted columns grows with K, and comparing it with the fraction predicted from σ₁ and
the library's SCS step tells the scatter apart from a systematic bias (particle against bulk library).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import norm

from fitting import count_by_library


def subset_sizes(configurations: int) -> list[int]:
    """Return the subset sizes K = 1, 2, 4, 8, … below ``configurations``, and ``configurations`` itself.

    Parameters
    ----------
    configurations : int
        Number of frozen-phonon configurations available (≥ 1).

    Returns
    -------
    list of int
        The subset sizes, increasing.

    Raises
    ------
    ValueError
        If ``configurations`` is not an integer ≥ 1.
    """
    if int(configurations) != configurations or configurations < 1:
        raise ValueError(f"configurations={configurations!r} must be an integer >= 1")
    sizes = [1 << i for i in range(int(configurations).bit_length()) if 1 << i < configurations]
    return sizes + [int(configurations)]


def subset_scs(measure: Callable[[np.ndarray], np.ndarray], configuration_images: np.ndarray,
               size: int) -> np.ndarray:
    """SCS of every column in the average of each disjoint run of ``size`` consecutive configurations.

    Parameters
    ----------
    measure : callable
        Image (H, W) → SCS of the N columns, shape (N,).
    configuration_images : ndarray, shape (K, H, W)
        One noise-free image per frozen-phonon configuration.
    size : int
        Configurations per subset, 1 … K; the K // size subsets are configurations [0, size), [size, 2·size)
        and so on.

    Returns
    -------
    ndarray, shape (K // size, N)
    """
    total = len(configuration_images)
    if int(size) != size or not 1 <= size <= total:
        raise ValueError(f"size={size!r} must be an integer in [1, {total}] (the configurations available)")
    return np.stack([np.asarray(measure(configuration_images[i * size:(i + 1) * size].mean(axis=0)))
                     for i in range(total // size)])


def predicted_fraction_correct(library_scs: np.ndarray, truth: np.ndarray, sigma: np.ndarray,
                               bias: np.ndarray | float = 0.0) -> float:
    """Expected fraction of columns counted exactly when each column's SCS is Gaussian around its true
    count's library value (plus ``bias``) with standard deviation ``sigma``.

    Library matching counts n while the SCS lies within half the library step to n − 1 and to n + 1, so
    P(correct) = Φ((½(s[n+1] − s[n]) − b)/σ) − Φ((−½(s[n] − s[n−1]) − b)/σ), open-ended at the table's ends.

    Parameters
    ----------
    library_scs : ndarray, shape (T + 1,)
        Library SCS for 0 … T atoms [Å²].
    truth : ndarray of int, shape (N,)
        True atoms per column, each in [0, T].
    sigma : ndarray, shape (N,) or scalar
        SCS standard deviation per column [Å²], > 0.
    bias : ndarray, shape (N,) or scalar
        Mean SCS offset from the library value [Å²].

    Returns
    -------
    float
    """
    table = np.asarray(library_scs, dtype=float)
    truth = np.asarray(truth, dtype=int)
    if truth.min() < 0 or truth.max() >= len(table):
        raise ValueError(f"truth must lie in [0, {len(table) - 1}] (the library's atoms), got "
                         f"[{truth.min()}, {truth.max()}]")
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), truth.shape)
    if not np.all(sigma > 0):
        raise ValueError("sigma must be > 0 for every column")
    padded = np.concatenate([[-np.inf], table, [np.inf]])
    lower = 0.5 * (padded[truth] - table[truth]) - bias  # negative half-step (−∞ below 0 atoms)
    upper = 0.5 * (padded[truth + 2] - table[truth]) - bias
    return float(np.mean(norm.cdf(upper / sigma) - norm.cdf(lower / sigma)))


def counting_by_subset_size(measure: Callable[[np.ndarray], np.ndarray], configuration_images: np.ndarray,
                            truth: np.ndarray, library_scs: np.ndarray,
                            sizes: list[int] | None = None) -> dict[str, Any]:
    """Count the columns of phonon averages over K = 1, 2, 4, … configurations and predict the result
    from the per-column SCS scatter of single configurations.

    Parameters
    ----------
    measure : callable
        Image (H, W) → SCS of the N columns (N,) [Å²], the estimator the library was built with.
    configuration_images : ndarray, shape (K, H, W)
        Noise-free images of the K frozen-phonon configurations.
    truth : ndarray of int, shape (N,)
        True atoms per column.
    library_scs : ndarray, shape (T + 1,)
        Library SCS for 0 … T atoms [Å²].
    sizes : list of int, optional
        Subset sizes (default :func:`subset_sizes` of K).

    Returns
    -------
    dict
        ``rows``: per K the number of disjoint subsets, the fraction of columns counted exactly (mean over
        subsets, and its min and max), the mean and RMS count error [atoms] and two predictions: from the
        scatter alone, σ_K = σ₁/√K with σ₁ the per-column standard deviation over single configurations
        (an unbiased SCS), and from the scatter plus each column's bias (all-configuration mean minus its
        library value). ``per_true_count``: library step and median σ₁, both relative to the library SCS.
        Predictions are ``None`` with a single configuration.
    """
    images = np.asarray(configuration_images)
    truth = np.asarray(truth, dtype=int)
    table = np.asarray(library_scs, dtype=float)
    sizes = subset_sizes(len(images)) if sizes is None else list(sizes)
    single = subset_scs(measure, images, 1)
    sigma_one = single.std(axis=0, ddof=1) if len(images) > 1 else None
    bias = single.mean(axis=0) - table[truth]
    rows = []
    for size in sizes:
        scs = single if size == 1 else subset_scs(measure, images, size)
        errors = np.asarray(count_by_library(scs, table)) - truth
        correct = np.mean(errors == 0, axis=1)
        predicted = {"predicted_fraction_scatter": None, "predicted_fraction_scatter_and_bias": None}
        if sigma_one is not None:
            sigma = np.maximum(sigma_one / np.sqrt(size), 1e-12 * table.max())
            predicted = {"predicted_fraction_scatter": predicted_fraction_correct(table, truth, sigma),
                         "predicted_fraction_scatter_and_bias": predicted_fraction_correct(table, truth, sigma,
                                                                                           bias)}
        rows.append({"configurations": int(size), "subsets": int(len(scs)),
                     "fraction_correct": float(correct.mean()), "fraction_correct_min": float(correct.min()),
                     "fraction_correct_max": float(correct.max()), "mean_error_atoms": float(errors.mean()),
                     "rms_error_atoms": float(np.sqrt(np.mean(errors.astype(float) ** 2))), **predicted})
    per_count = {}
    for n in np.unique(truth):
        step = table[n] - table[n - 1] if n >= 1 else np.nan
        per_count[int(n)] = {
            "columns": int(np.sum(truth == n)),
            "library_step_relative": float(step / table[n]) if table[n] > 0 else None,
            "scatter_one_configuration_relative": (None if sigma_one is None else
                                                   float(np.median(sigma_one[truth == n]) / table[n])),
            "bias_relative": float(np.median(bias[truth == n]) / table[n]) if table[n] > 0 else None}
    return {"configurations": int(len(images)), "columns": int(len(truth)), "rows": rows,
            "per_true_count": per_count}


def markdown_tables(check: dict[str, Any]) -> str:
    """Format the subset rows and the per-thickness scatter of a counting check as Markdown tables.

    Parameters
    ----------
    check : dict
        The result of :func:`bench.library.shipped_nanoparticle_check`.

    Returns
    -------
    str
        Two Markdown tables: per estimator and K the counting accuracy, then per true atom count the library
        step, the library's standard error, σ₁ and the bias, all in % of the library SCS.
    """
    def cell(value, digits=1, scale=100.0):
        """Return ``scale · value`` with ``digits`` decimals, or a dash for None.

        Parameters
        ----------
        value : float or None
            The value (a fraction by default).
        digits : int, default 1
            Decimals shown.
        scale : float, default 100.0
            Factor applied before formatting (100: fraction → %).

        Returns
        -------
        str
            The formatted value.
        """
        return "–" if value is None else f"{scale * value:.{digits}f}"

    lines = ["| estimator | K | subsets | correct % (min–max) | predicted %: scatter / + bias | mean error | "
             "RMS error |", "|---|---|---|---|---|---|---|"]
    for estimator in ("gaussian", "voronoi"):
        for row in check[estimator]["subsets"]["rows"]:
            lines.append(
                f"| {estimator} | {row['configurations']} | {row['subsets']} | {cell(row['fraction_correct'])} "
                f"({cell(row['fraction_correct_min'])}–{cell(row['fraction_correct_max'])}) | "
                f"{cell(row['predicted_fraction_scatter'])} / {cell(row['predicted_fraction_scatter_and_bias'])} | "
                f"{row['mean_error_atoms']:+.3f} | {row['rms_error_atoms']:.3f} |")
    lines += ["", "| atoms | columns | library step % (Gauss / Voronoi) | library SE % | σ₁ % (Gauss / Voronoi) | "
              "bias % (Gauss / Voronoi) |", "|---|---|---|---|---|---|"]
    gauss, voronoi = check["gaussian"]["subsets"]["per_true_count"], check["voronoi"]["subsets"]["per_true_count"]
    library_error = check.get("library_standard_error_relative")
    for n in gauss:
        g, v = gauss[n], voronoi[n]
        error = None if library_error is None or int(n) >= len(library_error) else library_error[int(n)]
        lines.append(f"| {n} | {g['columns']} | {cell(g['library_step_relative'])} / "
                     f"{cell(v['library_step_relative'])} | {cell(error)} | "
                     f"{cell(g['scatter_one_configuration_relative'])} / "
                     f"{cell(v['scatter_one_configuration_relative'])} | {cell(g['bias_relative'], 1)} / "
                     f"{cell(v['bias_relative'], 1)} |")
    return "\n".join(lines)
