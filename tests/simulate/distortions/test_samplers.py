import json
import math

import numpy as np
import pytest

from simulate.distortions import sample_mean_counts, sample_stem_params, sample_tem_params
from simulate.distortions.samplers import sample_jitter


def test_jitter_occurrence_kinds_and_ranges_follow_the_paper():
    rng = np.random.default_rng(0)
    draws = [sample_jitter(rng) for _ in range(4000)]
    present = [d for d in draws if d is not None]
    assert abs(len(present) / 4000 - 0.9) < 5 * math.sqrt(0.09 / 4000)
    kinds = [d.kind for d in present]
    for kind, p in (("x", 0.25), ("y", 0.25), ("xy", 0.5)):
        assert abs(kinds.count(kind) / len(kinds) - p) < 5 * math.sqrt(p * (1 - p) / len(kinds))
    sigmas = [s for d in present for s in (d.sigma_fast, d.sigma_slow) if s > 0]
    phis = [d.phi_fast for d in present if d.sigma_fast > 0]
    assert 0.0025 <= min(sigmas) and max(sigmas) <= 0.8 and min(phis) >= 0 and max(phis) <= 0.7


def test_mean_counts_follow_the_truncated_exponential():
    rng = np.random.default_rng(1)
    counts = np.array([sample_mean_counts(rng) for _ in range(20000)])
    assert counts.min() >= 0.5 and counts.max() <= 750
    scale = 0.5
    mean_t = scale - math.exp(-1 / scale) / (1 - math.exp(-1 / scale))
    expected = 0.5 + 749.5 * mean_t
    assert counts.mean() == pytest.approx(expected, abs=5 * counts.std() / math.sqrt(counts.size))


def test_sampled_dose_gives_the_sampled_mean_count():
    params = sample_stem_params(3, 0.25, mean_intensity=0.04)
    mean_counts = params.dose_per_area * 0.25**2 * 0.04
    assert 0.5 <= mean_counts <= 750
    assert sample_stem_params(3, 0.25, mean_intensity=0.04) == params
    json.dumps(params.to_dict())
    json.dumps(sample_tem_params(3, 0.25, mean_intensity=0.04).to_dict())


def test_samplers_need_a_dose_source_and_a_valid_pixel_size():
    with pytest.raises(ValueError, match="mean_intensity"):
        sample_stem_params(0, 0.2)
    with pytest.raises(ValueError, match="pixel_size"):
        sample_stem_params(0, 0.0, dose_per_area=10.0)
    with pytest.raises(ValueError, match="generator"):
        sample_tem_params("zero", 0.2, dose_per_area=10.0)
