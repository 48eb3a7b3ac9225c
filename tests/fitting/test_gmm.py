import numpy as np
import pytest

from fitting import fit_gmm, gmm_path
from fitting.gmm import _em, _log_joint, _logsumexp

STEP = 0.008  # SCS increment per atom [Å²]


def _long_series(seed, fraction=0.2):
    """Counts 2 … 20 with 10–39 columns each; SCS = count·STEP + N(0, (fraction·STEP)²)."""
    rng = np.random.default_rng(seed)
    counts = np.repeat(np.arange(2, 21), rng.integers(10, 40, 19))
    return counts, counts * STEP + rng.normal(0.0, fraction * STEP, counts.size)


def test_path_reaches_the_optimum_started_from_the_true_means():
    """The deterministic starts (every gap of the smaller fit, plus a quantile start) find the likelihood
    maximum that EM reaches from the true 19 means, with the true width."""
    counts, scs = _long_series(seed=0)
    fit = gmm_path(scs, 19)[-1]
    centre, scale = scs.mean(), scs.std()
    z = (scs - centre) / scale
    means = ((np.arange(2, 21) * STEP - centre) / scale)[None]
    weights = (np.bincount(counts)[2:] / counts.size)[None]
    means, variance, weights, _, _ = _em(z, means, np.array([(0.2 * STEP / scale) ** 2]), weights, None, 0.0,
                                         1000, 1e-10)
    oracle = float(_logsumexp(_log_joint(z, means, variance, weights, None)[0]).sum() - z.size * np.log(scale))
    assert fit.log_likelihood >= oracle - 1e-3
    assert np.allclose(fit.means, np.arange(2, 21) * STEP, atol=0.25 * STEP)
    assert fit.variance ** 0.5 == pytest.approx(0.2 * STEP, rel=0.15)


def test_icl_is_bic_plus_twice_the_classification_entropy():
    _, scs = _long_series(seed=1)
    fit = fit_gmm(scs, 6)
    tau = fit.responsibilities(scs)
    entropy = -np.sum(tau * np.log(np.clip(tau, 1e-300, None)))
    assert fit.entropy == pytest.approx(entropy, rel=1e-9)
    assert fit.icl == pytest.approx(fit.bic + 2.0 * entropy, rel=1e-12)
    assert fit.bic == pytest.approx(-2.0 * fit.log_likelihood + 12 * np.log(scs.size), rel=1e-12)
    assert np.all(np.diff(fit.means) > 0) and fit.weights.sum() == pytest.approx(1.0)


def test_path_is_deterministic():
    _, scs = _long_series(seed=2)
    first, second = gmm_path(scs, 8), gmm_path(scs, 8)
    assert all(np.array_equal(a.means, b.means) and a.variance == b.variance for a, b in zip(first, second))
