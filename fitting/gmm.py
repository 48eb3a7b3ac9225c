"""One-dimensional Gaussian mixtures with a shared variance, fitted by EM, for statistical atom counting.

Component j has mean μ_j and variance σ² (StatSTEM's model) or, with a dose D [e⁻/Å²], σ² + μ_j/D: the
Poisson variance of an SCS measured from D·μ_j counts added to the shared (thickness-independent) part.
Mixtures with k = 1, 2, … components are built deterministically (no random restarts): the k-component
fit has k + 1 starts — the (k−1)-component solution with one component added below the smallest mean, above
the largest, or in any one of the k − 2 gaps between neighbouring means (StatSTEM's scheme), plus a fresh
start with k means at the data's (j + ½)/k quantiles (equal weights, σ a quarter of the mean spacing), which
the incremental path cannot reach once an early split went wrong. Every start runs a short EM and the one of
highest likelihood continues to convergence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_GOLDEN = 0.5 * (np.sqrt(5.0) - 1.0)


@dataclass(frozen=True)
class GaussianMixture:
    """A fitted 1-D mixture (means sorted ascending).

    Parameters
    ----------
    means : ndarray
        Shape (k,): component means μ_j [SCS units], ascending.
    weights : ndarray
        Shape (k,): mixing proportions (summing to 1), in the order of ``means``.
    variance : float
        Shared variance σ² [SCS units²] (component variances add μ_j/dose when ``dose`` is set).
    dose : float or None
        D [e⁻/Å²] of the dose-dependent model, or None.
    log_likelihood : float
        ln L at the fit, in the units of the SCS values.
    entropy : float
        −Σ τ ln τ of the responsibilities τ.
    n_values : int
        Number of SCS values N.
    iterations : int
        EM iterations of the final run.
    converged : bool
        Whether that run met its tolerance before ``max_iterations``.
    """

    means: np.ndarray
    weights: np.ndarray
    variance: float
    dose: float | None
    log_likelihood: float
    entropy: float
    n_values: int
    iterations: int
    converged: bool

    @property
    def n_components(self) -> int:
        """Number of components k.

        Returns
        -------
        int
            The size of ``means``.
        """
        return int(self.means.size)

    @property
    def n_parameters(self) -> int:
        """Number of free parameters, 2k: k means, k − 1 weights and one variance.

        Returns
        -------
        int
            2k (the same for the dose-dependent model).
        """
        return 2 * self.n_components  # k means, k − 1 weights, one variance

    @property
    def component_variances(self) -> np.ndarray:
        """Variance of each component [SCS units²]: σ² + max(μ_j, 0)/D.

        Returns
        -------
        ndarray or float
            Shape (k,) with a dose; without one, the shared σ² as a scalar (not broadcast to (k,)).
        """
        extra = 0.0 if self.dose is None else np.maximum(self.means, 0.0) / self.dose
        return self.variance + extra

    @property
    def icl(self) -> float:
        """Integrated classification likelihood: −2 ln L + 2·entropy + (2k) ln N (smaller is better).

        Returns
        -------
        float
            The ICL value.
        """
        return -2.0 * self.log_likelihood + 2.0 * self.entropy + self.n_parameters * np.log(self.n_values)

    @property
    def bic(self) -> float:
        """Bayesian information criterion: −2 ln L + (2k) ln N (smaller is better).

        Returns
        -------
        float
            The BIC value.
        """
        return -2.0 * self.log_likelihood + self.n_parameters * np.log(self.n_values)

    @property
    def aic(self) -> float:
        """Akaike information criterion: −2 ln L + 2·(2k) (smaller is better).

        Returns
        -------
        float
            The AIC value.
        """
        return -2.0 * self.log_likelihood + 2.0 * self.n_parameters

    def responsibilities(self, values) -> np.ndarray:
        """Return the posterior probability of each component for each value.

        Parameters
        ----------
        values : array_like
            M SCS values, any shape (flattened) [SCS units].

        Returns
        -------
        ndarray
            Shape (M, k); each row sums to 1.
        """
        values = np.asarray(values, dtype=np.float64).ravel()
        log_joint = _log_joint(values, self.means[None], np.array([self.variance]), self.weights[None], self.dose)[0]
        return np.exp(log_joint - _logsumexp(log_joint)[:, None])

    def classify(self, values) -> np.ndarray:
        """Return the index of the most probable component for each value.

        Parameters
        ----------
        values : array_like
            M SCS values, any shape (flattened) [SCS units].

        Returns
        -------
        ndarray
            Shape (M,): integer component indices, 0 being the lowest mean.
        """
        return np.argmax(self.responsibilities(values), axis=1)


def fit_gmm(values, n_components, *, dose=None, max_iterations=1000, tolerance=1e-8) -> GaussianMixture:
    """Fit a k-component shared-variance mixture with deterministic incremental initialisation.

    Parameters
    ----------
    values : array_like
        SCS values, any shape (flattened) [Å² or image units × Å²].
    n_components : int
        k ≥ 1.
    dose : float, optional
        None (default) for variance σ², or D [e⁻/Å²] for variance σ² + μ_j/D (values then in Å²).
    max_iterations : int, default 1000
        EM iteration cap of each k's final run.
    tolerance : float, default 1e-8
        EM stops when ln L (of the standardised values) changes by less than ``tolerance``·|ln L|.

    Returns
    -------
    GaussianMixture
        The k-component fit (the last of :func:`gmm_path`).

    Raises
    ------
    ValueError
        For non-finite or too few values (need more than 2k), k < 1 or a non-positive dose.
    """
    return gmm_path(values, n_components, dose=dose, max_iterations=max_iterations, tolerance=tolerance)[-1]


def gmm_path(values, max_components, *, dose=None, max_iterations=1000, tolerance=1e-8) -> list[GaussianMixture]:
    """Fit mixtures for k = 1 … ``max_components``, each started from the previous one (see module docstring).

    Parameters
    ----------
    values : array_like
        SCS values, any shape (flattened) [Å² or image units × Å²].
    max_components : int
        Largest k, ≥ 1.
    dose : float, optional
        None (default) for variance σ², or D [e⁻/Å²] for variance σ² + μ_j/D (values then in Å²).
    max_iterations : int, default 1000
        EM iteration cap of each k's final run.
    tolerance : float, default 1e-8
        EM stops when ln L (of the standardised values) changes by less than ``tolerance``·|ln L|.

    Returns
    -------
    list of GaussianMixture
        ``max_components`` fits, k = 1, 2, … in order.

    Raises
    ------
    ValueError
        For non-finite, all-equal or too few values (need more than 2·``max_components``), a
        ``max_components`` below 1 or a non-positive dose.
    """
    return list(iterate_gmm_path(values, max_components, dose=dose, max_iterations=max_iterations,
                                 tolerance=tolerance))


def iterate_gmm_path(values, max_components, *, dose=None, max_iterations=1000, tolerance=1e-8):
    """Yield the fits of :func:`gmm_path` one at a time, k = 1, 2, … ``max_components``.

    Parameters
    ----------
    values : array_like
        SCS values, any shape (flattened) [Å² or image units × Å²].
    max_components : int
        Largest k, ≥ 1.
    dose : float, optional
        None (default) for variance σ², or D [e⁻/Å²] for variance σ² + μ_j/D (values then in Å²).
    max_iterations : int, default 1000
        EM iteration cap of each k's final run.
    tolerance : float, default 1e-8
        EM stops when ln L (of the standardised values) changes by less than ``tolerance``·|ln L|.

    Yields
    ------
    GaussianMixture
        The k-component fit, k = 1, 2, … in turn.

    Raises
    ------
    ValueError
        As :func:`gmm_path`, when the generator is first advanced (not when it is created).
    """
    data = _check(values, max_components, dose)
    scale = float(np.std(data)) or 1.0
    # Work in standardised units for numerical conditioning; dose rescales with the data.
    centre = float(np.mean(data))
    z = (data - centre) / scale
    dose_z = None if dose is None else float(dose) * scale
    offset_z = centre / scale  # the dose term needs the absolute mean: μ_abs = scale·(μ_z + offset_z)
    means = np.array([[0.0]])
    variance = np.array([1.0])
    weights = np.array([[1.0]])
    fits_state = None  # the previous k's fit; it seeds the candidates of the next k
    for k in range(1, max_components + 1):
        if k > 1:
            means, variance, weights = _candidates(fits_state, k, z)
            means, variance, weights, _, _ = _em(z, means, variance, weights, dose_z, offset_z, 25, tolerance)
            best = int(np.argmax(_log_likelihood(z, means, variance, weights, dose_z, offset_z)))
            means, variance, weights = means[best:best + 1], variance[best:best + 1], weights[best:best + 1]
        means, variance, weights, iterations, converged = _em(z, means, variance, weights, dose_z, offset_z,
                                                              max_iterations, tolerance)
        fits_state = (means[0], variance[0], weights[0])
        order = np.argsort(means[0])
        log_joint = _log_joint(z, means, variance, weights, dose_z, offset_z)[0]
        log_norm = _logsumexp(log_joint)
        tau = np.exp(log_joint - log_norm[:, None])
        entropy = float(-np.sum(tau * np.log(np.clip(tau, 1e-300, None))))
        # ln L in the original units: the Jacobian of the standardisation is −N ln(scale).
        log_likelihood = float(np.sum(log_norm) - data.size * np.log(scale))
        yield GaussianMixture(
            means=scale * means[0][order] + centre, weights=weights[0][order], variance=float(variance[0]) * scale ** 2,
            dose=None if dose is None else float(dose), log_likelihood=log_likelihood, entropy=entropy,
            n_values=int(data.size), iterations=int(iterations), converged=bool(converged))


def _check(values, n_components, dose):
    data = np.asarray(values, dtype=np.float64).ravel()
    if int(n_components) != n_components or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    if data.size <= 2 * n_components:
        raise ValueError(f"values must hold more than 2·k = {2 * n_components} SCS values, got {data.size}")
    if not np.all(np.isfinite(data)):
        raise ValueError("values contain NaN or infinite SCS values; drop flagged columns first")
    if np.ptp(data) == 0:
        raise ValueError("values are all equal: a mixture cannot be fitted")
    if dose is not None and not (np.isfinite(dose) and dose > 0):
        raise ValueError(f"dose must be a positive number of e⁻/Å² or None, got {dose!r}")
    return data


def _candidates(state, k, z):
    """Starting mixtures for k components (standardised units): the (k−1) fit plus one component below,
    above or in any gap between neighbouring means, and one spread start at the data's quantiles."""
    means, variance, weights = state
    order = np.argsort(means)
    sorted_means = means[order]
    spacing = np.diff(sorted_means).mean() if sorted_means.size > 1 else 2.0 * np.sqrt(variance)
    # A missing component sits in a gap between neighbours or outside the current range (one spacing
    # below/above); trying every gap, as StatSTEM does, costs k short EM runs, vectorised.
    gaps = np.concatenate([[sorted_means[0] - spacing], 0.5 * (sorted_means[1:] + sorted_means[:-1]),
                           [sorted_means[-1] + spacing]])
    n_incremental = gaps.size
    new_means = np.concatenate([np.tile(sorted_means, (n_incremental, 1)), gaps[:, None]], axis=1)
    new_weights = np.concatenate([np.tile(weights[order] * (k - 1) / k, (n_incremental, 1)),
                                  np.full((n_incremental, 1), 1.0 / k)], axis=1)
    spread = np.quantile(z, (np.arange(k) + 0.5) / k)
    spread_variance = (0.25 * np.ptp(spread) / max(k - 1, 1)) ** 2 or float(variance)
    all_means = np.concatenate([new_means, spread[None]], axis=0)
    all_weights = np.concatenate([new_weights, np.full((1, k), 1.0 / k)], axis=0)
    all_variances = np.concatenate([np.full(n_incremental, float(variance)), [spread_variance]])
    return all_means, all_variances, all_weights


def _variances(means, variance, dose, offset):
    if dose is None:
        return np.broadcast_to(variance[:, None], means.shape)
    return variance[:, None] + np.maximum(means + offset, 0.0) / dose


def _log_joint(z, means, variance, weights, dose, offset=0.0):
    """ln(w_j N(z_i | μ_j, v_j)) as (C, M, k)."""
    var = np.maximum(_variances(means, variance, dose, offset), 1e-12)[:, None, :]
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)[:, None, :]
    return log_w - 0.5 * np.log(2 * np.pi * var) - 0.5 * (z[None, :, None] - means[:, None, :]) ** 2 / var


def _logsumexp(a):
    peak = np.max(a, axis=-1, keepdims=True)
    return (peak + np.log(np.sum(np.exp(a - peak), axis=-1, keepdims=True)))[..., 0]


def _log_likelihood(z, means, variance, weights, dose, offset):
    return _logsumexp(_log_joint(z, means, variance, weights, dose, offset)).sum(axis=-1)


def _em(z, means, variance, weights, dose, offset, max_iterations, tolerance):
    """EM (ECM for the dose model) vectorised over C candidate mixtures: shapes (C, k), (C,), (C, k)."""
    previous = np.full(means.shape[0], -np.inf)
    converged = np.zeros(means.shape[0], dtype=bool)
    iteration = 0
    floor = 1e-8
    for iteration in range(1, max_iterations + 1):  # noqa: B007  (the count after the loop is returned)
        log_joint = _log_joint(z, means, variance, weights, dose, offset)
        peak = np.max(log_joint, axis=-1, keepdims=True)
        tau = np.exp(log_joint - peak)  # one exponential pass gives both ln L and the responsibilities
        norm = tau.sum(axis=-1, keepdims=True)
        tau /= norm
        current = (peak + np.log(norm)).sum(axis=(-2, -1))
        converged = np.abs(current - previous) <= tolerance * np.abs(current)
        if np.all(converged):
            break
        previous = current
        total = tau.sum(axis=1) + 1e-300  # (C, k)
        weights = total / z.size
        first = np.einsum("cmk,m->ck", tau, z)
        if dose is None:
            means = first / total
            spread = np.einsum("cmk,cmk->c", tau, (z[None, :, None] - means[:, None, :]) ** 2)
            variance = np.maximum(spread / z.size, floor)
            continue
        # ECM step 1: means given σ² (root of a quadratic, in absolute units a = μ + offset).
        second = np.einsum("cmk,m->ck", tau, (z + offset) ** 2)
        first_abs = first + offset * total
        b = total * (1.0 / dose + 2.0 * dose * variance[:, None])
        c = second - total * variance[:, None] + 2.0 * dose * variance[:, None] * first_abs
        absolute = (-b + np.sqrt(b * b + 4.0 * total * np.maximum(c, 0.0))) / (2.0 * total)
        means = absolute - offset
        # ECM step 2: σ² given the means, by golden-section search of the expected log-likelihood.
        spread = np.einsum("cmk,cmk->ck", tau, (z[None, :, None] - means[:, None, :]) ** 2)
        variance = _golden_variance(total, spread, np.maximum(absolute, 0.0) / dose, floor)
    return means, variance, weights, iteration, bool(np.all(converged))


def _golden_variance(total, spread, poisson, floor, steps=45):
    """argmax over σ² ≥ floor of Σ_j −½ T_j ln(σ² + p_j) − S_j / (2(σ² + p_j)), vectorised over candidates."""
    def objective(s2):
        v = s2[:, None] + poisson
        return np.sum(-0.5 * total * np.log(v) - 0.5 * spread / v, axis=1)

    low = np.full(total.shape[0], floor)
    high = np.maximum(np.max(spread / np.maximum(total, 1e-300), axis=1), 10 * floor)
    for _ in range(steps):
        a = high - _GOLDEN * (high - low)
        b = low + _GOLDEN * (high - low)
        better_a = objective(a) > objective(b)
        high = np.where(better_a, b, high)
        low = np.where(better_a, low, a)
    return 0.5 * (low + high)
