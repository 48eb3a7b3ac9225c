import math

import pytest
import torch

from restore.losses import (LossWeights, example_weights, fourier_loss, generator_loss, mean_loss, mlwt_loss,
                            relativistic_discriminator_loss, relativistic_generator_loss, std_loss, weighted_l1,
                            weighted_l2)


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    y = torch.rand(3, 1, 32, 32, generator=g) * 4
    return y + 0.3 * torch.randn(3, 1, 32, 32, generator=g), y


PIXEL = [weighted_l1, weighted_l2, mlwt_loss, fourier_loss, mean_loss, std_loss]


@pytest.mark.parametrize("loss", PIXEL)
def test_zero_for_identical_and_positive_otherwise(loss, pair):
    prediction, y = pair
    assert float(loss(y, y)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(prediction + 0.5 * (loss in (mean_loss,)), y)) > 1e-3


@pytest.mark.parametrize("loss", PIXEL)
def test_invariant_to_a_common_intensity_scale(loss, pair):
    # std(y) ≈ 1.2 > σ_min: the 1/std(y) weight removes the scale (the brief's eqs. 4–6)
    prediction, y = pair
    assert float(loss(5 * prediction, 5 * y)) == pytest.approx(float(loss(prediction, y)), rel=1e-4)


def test_weights_follow_one_over_max_sigma_min_std():
    y = torch.stack([torch.zeros(1, 4, 4), torch.tensor([0.0, 2.0]).repeat(8).view(1, 4, 4)])
    weights = example_weights(y, sigma_min=0.1).flatten()
    assert weights.tolist() == pytest.approx([10.0, 1.0])  # flat: 1/σ_min; std 1 → 1


def test_l1_and_l2_closed_form():
    y = torch.tensor([0.0, 2.0]).repeat(8).view(1, 1, 4, 4)  # std 1 → weight 1
    prediction = y + 0.5
    assert float(weighted_l1(prediction, y)) == pytest.approx(0.5)
    assert float(weighted_l2(prediction, y)) == pytest.approx(0.25)


def test_fourier_loss_closed_form_for_a_single_pixel_error():
    y = torch.tensor([0.0, 2.0]).repeat(32).view(1, 1, 8, 8)  # std 1
    prediction = y.clone()
    prediction[0, 0, 3, 5] += 4.0  # orthonormal DFT of a delta of height 4: |F| = 4/8 at every frequency
    eps = 1e-8  # the loss is (|F|² + eps)^(γ/2) − eps^(γ/2)
    expected = (0.25 + eps) ** (0.125 / 2) - eps ** (0.125 / 2)
    assert float(fourier_loss(prediction, y, gamma=0.125, eps=eps)) == pytest.approx(expected, rel=1e-5)


def test_fourier_loss_ignores_circular_shifts_of_the_error(pair):
    prediction, y = pair
    error = prediction - y
    shifted = y + torch.roll(error, shifts=(5, -3), dims=(-2, -1))
    assert float(fourier_loss(shifted, y)) == pytest.approx(float(fourier_loss(prediction, y)), rel=1e-5)


def test_mlwt_ignores_blockwise_affine_changes_but_not_structure(pair):
    _, y = pair
    # a per-16×16-block gain and offset is removed by the whitening at n = 2…16
    gain = torch.ones_like(y)
    gain[..., :16, :16] = 3.0
    assert float(mlwt_loss(gain * y + 2.0 * (gain > 1), y, eps=1e-6)) < 1e-3
    assert float(mlwt_loss(y.flip(-1), y)) > 0.3


def test_mean_and_std_constraints_closed_form():
    y = torch.tensor([0.0, 2.0]).repeat(8).view(1, 1, 4, 4)  # mean 1, std 1
    assert float(mean_loss(y + 0.25, y)) == pytest.approx(0.25)
    assert float(std_loss(1 + 2 * (y - 1), y)) == pytest.approx(1.0)  # std doubled
    assert float(std_loss(y + 0.25, y)) == pytest.approx(0.0, abs=1e-7)


def test_relativistic_losses_closed_forms():
    same = torch.zeros(2, 1, 3, 3)
    assert float(relativistic_discriminator_loss(same, same)) == pytest.approx(2 * math.log(2))
    assert float(relativistic_generator_loss(same, same)) == pytest.approx(2 * math.log(2))
    real, fake = torch.full((2, 1, 3, 3), 3.0), torch.full((2, 1, 3, 3), -1.0)
    expected = 2 * math.log1p(math.exp(-4.0))  # σ(4) for real, 1 − σ(−4) for fake
    assert float(relativistic_discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-5)
    # the generator's loss is the discriminator's with the roles swapped
    assert float(relativistic_generator_loss(real, fake)) == pytest.approx(
        float(relativistic_discriminator_loss(fake, real)))
    assert float(relativistic_discriminator_loss(real, fake, real_label=0.95)) > expected


def test_generator_loss_sums_weighted_terms(pair):
    prediction, y = pair
    weights = LossWeights(l1=2.0, l2=0.0, mlwt=0.0, fourier=0.0, mean=1.0, std=0.0, adversarial=0.5)
    total, parts = generator_loss(prediction, y, weights, adversarial=torch.tensor(3.0))
    assert set(parts) == {"l1", "mean", "adversarial"}
    assert float(total) == pytest.approx(2 * parts["l1"] + parts["mean"] + 0.5 * 3.0, rel=1e-6)
    with pytest.raises(ValueError, match="every weight is 0"):
        generator_loss(prediction, y, LossWeights(0, 0, 0, 0, 0, 0, 0))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="same"):
        weighted_l1(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="sigma_min"):
        example_weights(torch.zeros(1, 1, 4, 4), sigma_min=0)
    with pytest.raises(ValueError, match="LossWeights.l1"):
        LossWeights(l1=-1)
