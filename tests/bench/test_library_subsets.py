"""Counting phonon averages over configuration subsets, on synthetic SCS whose statistics are known."""
import numpy as np
import pytest
from scipy.stats import norm

from bench.library_subsets import (
    counting_by_subset_size,
    predicted_fraction_correct,
    subset_scs,
    subset_sizes,
)

LIBRARY = np.arange(8.0)  # SCS of n atoms = n: every library step is 1


def pixels_are_columns(image):
    """The synthetic 'estimator': each pixel of a one-row image is one column's SCS."""
    return image[0]


def synthetic_configurations(truth, sigma, configurations, bias=0.0, seed=7):
    rng = np.random.default_rng(seed)
    values = truth + bias + sigma * rng.standard_normal((configurations, len(truth)))
    return values[:, None, :]  # (K, 1, N) images


def test_subset_sizes_and_disjoint_averages():
    assert subset_sizes(16) == [1, 2, 4, 8, 16] and subset_sizes(12) == [1, 2, 4, 8, 12] and subset_sizes(1) == [1]
    images = np.arange(6.0)[:, None, None] * np.ones((6, 1, 3))
    # sizes 4 of 6 configurations: one subset, configurations 0–3
    assert np.array_equal(subset_scs(pixels_are_columns, images, 2), [[0.5] * 3, [2.5] * 3, [4.5] * 3])
    assert np.array_equal(subset_scs(pixels_are_columns, images, 4), [[1.5] * 3])
    with pytest.raises(ValueError, match="size"):
        subset_scs(pixels_are_columns, images, 7)
    with pytest.raises(ValueError, match="configurations"):
        subset_sizes(0)


def test_unbiased_scatter_counts_as_predicted_and_improves_with_k():
    truth = np.tile(np.arange(1, 7), 400)  # 2400 columns of 1–6 atoms, away from the library's ends
    sigma = 0.5
    result = counting_by_subset_size(pixels_are_columns, synthetic_configurations(truth, sigma, 16), truth,
                                     LIBRARY)
    rows = {row["configurations"]: row for row in result["rows"]}
    assert sorted(rows) == [1, 2, 4, 8, 16] and [rows[k]["subsets"] for k in sorted(rows)] == [16, 8, 4, 2, 1]
    for k, row in rows.items():
        exact = 2 * norm.cdf(0.5 * np.sqrt(k) / sigma) - 1  # |error| < half a step
        assert row["fraction_correct"] == pytest.approx(exact, abs=0.02)
        assert row["predicted_fraction_scatter"] == pytest.approx(exact, abs=0.02)
        assert abs(row["mean_error_atoms"]) < 0.03
    assert rows[1]["fraction_correct"] < rows[4]["fraction_correct"] < rows[16]["fraction_correct"]
    assert rows[1]["rms_error_atoms"] == pytest.approx(np.sqrt(2 * norm.sf(1.0) + 2 * 3 * norm.sf(3.0)), abs=0.03)
    scatter = result["per_true_count"][4]
    assert scatter["columns"] == 400 and scatter["library_step_relative"] == pytest.approx(0.25)
    assert scatter["scatter_one_configuration_relative"] == pytest.approx(sigma / 4, rel=0.1)


def test_a_bias_beyond_half_a_step_miscounts_every_column():
    truth = np.tile(np.arange(1, 6), 50)
    result = counting_by_subset_size(pixels_are_columns, synthetic_configurations(truth, 0.02, 4, bias=0.6),
                                     truth, LIBRARY)
    full = result["rows"][-1]
    assert full["fraction_correct"] == 0.0 and full["mean_error_atoms"] == pytest.approx(1.0)
    # the scatter alone predicts perfect counting; scatter and bias predict the misses
    assert full["predicted_fraction_scatter"] > 0.99 and full["predicted_fraction_scatter_and_bias"] < 0.01
    assert result["per_true_count"][5]["bias_relative"] == pytest.approx(0.6 / 5, rel=0.05)


def test_prediction_at_the_table_ends_and_errors():
    # at the top of the library only the lower neighbour can steal a column: P = Φ(0.5/σ)
    assert predicted_fraction_correct(LIBRARY, np.array([7]), 0.5) == pytest.approx(norm.cdf(1.0))
    assert predicted_fraction_correct(LIBRARY, np.array([0]), 0.5) == pytest.approx(norm.cdf(1.0))
    with pytest.raises(ValueError, match="truth"):
        predicted_fraction_correct(LIBRARY, np.array([8]), 0.5)
    with pytest.raises(ValueError, match="sigma"):
        predicted_fraction_correct(LIBRARY, np.array([3]), 0.0)
    single = counting_by_subset_size(pixels_are_columns, synthetic_configurations(np.array([2, 3]), 0.1, 1),
                                     np.array([2, 3]), LIBRARY)
    assert single["rows"][0]["predicted_fraction_scatter"] is None  # no scatter from one configuration
