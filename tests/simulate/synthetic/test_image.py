import numpy as np
import pytest
import torch

from simulate.synthetic.image import adjust_std_mean_ratio, finish_image, std_mean_ratio
from simulate.synthetic.lowres import LOWRES_KINDS, crack_mask, sample_lowres_image


@pytest.mark.parametrize("seed", range(12))
def test_finished_images_are_normalised_with_ratio_in_range(seed):
    rng = np.random.default_rng(seed)
    sparse = torch.zeros(96, 96)
    sparse[rng.integers(0, 96, 30), rng.integers(0, 96, 30)] = torch.as_tensor(rng.uniform(0.1, 1.0, 30),
                                                                             dtype=torch.float32)
    field = (slice(8, 88), slice(8, 88))
    y, record = finish_image(sparse, rng, region=field)
    inner = y[field]
    assert torch.isfinite(y).all() and float(y.min()) >= 0
    assert float(inner.max()) == pytest.approx(1.0)
    assert 0.01 - 1e-6 <= std_mean_ratio(inner) <= 0.35 + 1e-6
    assert record["std_mean_ratio"] == pytest.approx(std_mean_ratio(inner))


def test_ratio_adjustment_in_both_directions():
    high = torch.tensor([0.0, 0.0, 0.0, 1.0])
    shifted, offset = adjust_std_mean_ratio(high)
    assert offset > 0 and std_mean_ratio(shifted) == pytest.approx(0.35, rel=1e-5)
    flat = torch.tensor([10.0, 10.01, 10.02, 10.0])
    shifted, offset = adjust_std_mean_ratio(flat)
    assert offset < 0 and std_mean_ratio(shifted) == pytest.approx(0.01, rel=1e-4) and float(shifted.min()) >= 0
    with pytest.raises(ValueError):
        finish_image(torch.zeros(8, 8), np.random.default_rng(0))


@pytest.mark.parametrize("kind", LOWRES_KINDS)
def test_lowres_kinds_give_nonconstant_nonnegative_images(kind):
    image, record = sample_lowres_image((64, 80), np.random.default_rng(3), kinds=(kind,))
    assert image.shape == (64, 80) and np.isfinite(image).all() and image.min() >= 0
    assert image.std() > 0 and record["kinds"] == [kind]


def test_cracks_darken_and_bad_kind_raises():
    mask = crack_mask((64, 64), np.random.default_rng(0))
    assert mask.min() < 0.31 and mask.max() == 1.0
    with pytest.raises(ValueError):
        sample_lowres_image((64, 64), np.random.default_rng(0), kinds=("clouds",))
