import json
import math

import numpy as np
import pytest
from scipy import stats

from simulate.distortions import (
    sample_fast_scan,
    sample_mean_counts,
    sample_pmt,
    sample_stem_params,
    sample_tem_params,
)
from simulate.distortions.samplers import MEAN_COUNTS_RANGE, sample_jitter


def _ks_bound(n: int, alpha: float = 1e-6) -> float:
    """Kolmogorov-Smirnov statistic exceeded with probability < alpha under the null (DKW bound)."""
    return math.sqrt(math.log(2 / alpha) / (2 * n))


def test_jitter_occurrence_kinds_and_ranges_follow_the_paper():
    rng = np.random.default_rng(0)
    draws = [sample_jitter(rng) for _ in range(4000)]
    present = [d for d in draws if d is not None]
    assert abs(len(present) / 4000 - 0.9) < 5 * math.sqrt(0.09 / 4000)
    kinds = [d.kind for d in present]
    for kind, p in (("x", 0.25), ("y", 0.25), ("xy", 0.5)):
        assert abs(kinds.count(kind) / len(kinds) - p) < 5 * math.sqrt(p * (1 - p) / len(kinds))
    phis = [d.phi_fast for d in present if d.sigma_fast > 0]
    assert min(phis) >= 0 and max(phis) <= 0.7


def test_jitter_sigma_is_uniform_on_the_papers_range():
    rng = np.random.default_rng(10)
    present = [d for d in (sample_jitter(rng) for _ in range(4000)) if d is not None]
    sigmas = np.array([s for d in present for s in (d.sigma_fast, d.sigma_slow) if s > 0])
    assert 0.0025 <= sigmas.min() and sigmas.max() <= 0.8
    statistic = stats.kstest(sigmas, stats.uniform(loc=0.0025, scale=0.8 - 0.0025).cdf).statistic
    assert statistic < _ks_bound(sigmas.size)
    # A log-uniform law (the earlier reading) would be rejected at this sample size.
    log_uniform = stats.loguniform(0.0025, 0.8).cdf
    assert stats.kstest(sigmas, log_uniform).statistic > _ks_bound(sigmas.size)


def test_log_mean_counts_follow_the_truncated_exponential():
    rng = np.random.default_rng(1)
    counts = np.array([sample_mean_counts(rng) for _ in range(20000)])
    low, high = MEAN_COUNTS_RANGE
    assert (low, high) == (0.05, 5000.0)
    assert counts.min() >= low and counts.max() <= high
    t = np.log(counts / low) / np.log(high / low)
    scale = 0.5

    def cdf(value):
        return (1 - np.exp(-np.clip(value, 0, 1) / scale)) / (1 - np.exp(-1 / scale))

    assert stats.kstest(t, cdf).statistic < _ks_bound(t.size)
    median = low * (high / low) ** (-scale * math.log(1 - 0.5 * (1 - math.exp(-1 / scale))))
    assert median == pytest.approx(1.302, abs=1e-3)  # counts per pixel: the low-dose emphasis
    assert abs(np.mean(counts < median) - 0.5) < 5 * math.sqrt(0.25 / counts.size)


def test_sampled_dose_gives_the_sampled_mean_count():
    params = sample_stem_params(3, pixel_size_A=0.25, mean_intensity=0.04)
    mean_counts = params.dose_e_per_A2 * 0.25**2 * 0.04
    assert 0.05 <= mean_counts <= 5000
    assert sample_stem_params(3, pixel_size_A=0.25, mean_intensity=0.04) == params
    json.dumps(params.to_dict())
    json.dumps(sample_tem_params(3, pixel_size_A=0.25, mean_intensity=0.04).to_dict())


def test_pmt_sampler_ranges():
    rng = np.random.default_rng(2)
    draws = [sample_pmt(rng) for _ in range(2000)]
    m_c = np.array([d.photons_per_electron for d in draws])
    excess = np.array([d.photons_variance for d in draws]) / m_c
    eta = np.array([d.quantum_efficiency for d in draws])
    delta = np.array([d.dynode_gain for d in draws])
    for values, (low, high) in ((m_c, (50, 150)), (excess, (1, 3)), (eta, (0.1, 0.35)), (delta, (3, 8))):
        assert low <= values.min() and values.max() <= high
        assert stats.kstest(values, stats.uniform(loc=low, scale=high - low).cdf).statistic < _ks_bound(values.size)


def test_fast_scan_sampler_occurrence_and_ranges():
    rng = np.random.default_rng(3)
    n = 4000
    draws = [sample_fast_scan(rng, align="centroid") for _ in range(n)]
    present = [d for d in draws if d is not None]
    assert abs(len(present) / n - 0.75) < 5 * math.sqrt(0.75 * 0.25 / n)
    assert all(d.align == "centroid" and d.kernel_length_px == 32 for d in present)
    hwhm = np.array([d.detector_hwhm_px for d in present])
    assert stats.kstest(hwhm, stats.loguniform(0.05, 2.0).cdf).statistic < _ks_bound(hwhm.size)
    readout = [d for d in present if d.readout_beta_px is not None]
    p = len(readout) / len(present)
    assert abs(p - 0.5) < 5 * math.sqrt(0.25 / len(present))
    beta = np.array([d.readout_beta_px for d in readout])
    gamma = np.array([d.readout_gamma_px for d in readout])
    theta = np.array([d.readout_theta_rad for d in readout])
    assert 0.5 <= beta.min() and beta.max() <= 5 and 2 <= gamma.min() and gamma.max() <= 32
    assert 0 <= theta.min() and theta.max() <= math.pi / 2


def test_samplers_need_a_dose_source_and_a_valid_pixel_size():
    with pytest.raises(ValueError, match="mean_intensity"):
        sample_stem_params(0, pixel_size_A=0.2)
    with pytest.raises(ValueError, match="pixel_size_A"):
        sample_stem_params(0, pixel_size_A=0.0, dose_e_per_A2=10.0)
    with pytest.raises(ValueError, match="generator"):
        sample_tem_params("zero", pixel_size_A=0.2, dose_e_per_A2=10.0)
    with pytest.raises(ValueError, match="align"):
        sample_stem_params(1, pixel_size_A=0.2, dose_e_per_A2=10.0, fast_scan_align="middle")


def test_infinite_scale_spreads_log_mean_counts_uniformly_on_the_same_stream():
    low, high = MEAN_COUNTS_RANGE
    rng = np.random.default_rng(2)
    counts = np.array([sample_mean_counts(rng, exponential_scale=math.inf) for _ in range(20000)])
    t = np.log(counts / low) / np.log(high / low)
    assert stats.kstest(t, "uniform").statistic < _ks_bound(t.size)
    # one uniform number per draw whatever the scale: the draws after it are the same
    paper, uniform = np.random.default_rng(3), np.random.default_rng(3)
    sample_mean_counts(paper)
    sample_mean_counts(uniform, exponential_scale=math.inf)
    assert paper.uniform() == uniform.uniform()
    with pytest.raises(ValueError, match="exponential_scale"):
        sample_mean_counts(0, exponential_scale=0.0)


def test_dose_scale_reaches_the_stem_and_tem_samplers():
    for sampler in (sample_stem_params, sample_tem_params):
        paper = sampler(4, pixel_size_A=0.25, mean_intensity=0.04)
        uniform = sampler(4, pixel_size_A=0.25, mean_intensity=0.04, dose_exponential_scale=math.inf)
        u = np.random.default_rng(4).uniform()  # the dose is the sampler's first draw
        low, high = MEAN_COUNTS_RANGE
        assert uniform.dose_e_per_A2 * 0.25**2 * 0.04 == pytest.approx(low * (high / low) ** u, rel=1e-12)
        assert paper.dose_e_per_A2 != uniform.dose_e_per_A2
        assert paper.to_dict().keys() == uniform.to_dict().keys()


def _scan_distortions(params) -> tuple:
    return (params.jitter, params.fast_scan, params.row_lines, params.black_pixels, params.zingers, params.clip,
            params.quantisation_bits)


def test_clean_scans_keep_only_poisson_and_pmt_noise_at_their_probability():
    n, p = 2000, 0.25
    rng = np.random.default_rng(7)
    draws = [sample_stem_params(rng, pixel_size_A=0.2, mean_intensity=0.05, clean_probability=p) for _ in range(n)]
    clean = [d for d in draws if all(v is None for v in _scan_distortions(d))]
    assert all(d.dose_e_per_A2 > 0 and d.pmt is not None for d in clean)
    # the paper's own draws are clean with probability 0.1 · 0.25 · 0.75³ · 0.9 · 0.5 ≈ 0.0047
    expected_low, expected_high = p, p + (1 - p) * 0.0048
    bound = 5 * math.sqrt(p * (1 - p) / n)
    assert expected_low - bound < len(clean) / n < expected_high + bound
    everything = sample_stem_params(3, pixel_size_A=0.2, mean_intensity=0.05, clean_probability=1.0)
    assert all(v is None for v in _scan_distortions(everything))


def test_no_clean_probability_draws_nothing_and_bad_ones_are_refused():
    paper = sample_stem_params(11, pixel_size_A=0.2, mean_intensity=0.05)
    zero = sample_stem_params(11, pixel_size_A=0.2, mean_intensity=0.05, clean_probability=0.0)
    assert paper.to_dict() == zero.to_dict()  # the paper's random stream is untouched
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="clean_probability"):
            sample_stem_params(11, pixel_size_A=0.2, mean_intensity=0.05, clean_probability=bad)
