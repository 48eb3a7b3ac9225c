"""The loss basket, one test (or more) per equation of Lobato et al. (2023), eqs. 2–15."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from restore.losses import (
    SIGMA_MIN,
    LossWeights,
    example_weights,
    fourier_loss,
    generator_loss,
    local_whitening,
    mean_loss,
    mlwt_loss,
    pixel_losses,
    relativistic_discriminator_loss,
    relativistic_generator_loss,
    relativistic_logits,
    std_loss,
    target_std_quantiles,
    weighted_l1,
    weighted_l2,
)

U32 = 2.0 ** -24  # unit roundoff of float32
# Tolerance of the float32 losses against their exact value: each is a sum of n ≤ 4096 non-negative
# terms, each term a few correctly rounded operations. The probabilistic rounding bound of Higham & Mary
# (SIAM J. Sci. Comput. 41, A2815, 2019), λ·√n·u relative, with λ = 40 (failure probability of order
# exp(−λ²/2), negligible) gives 40·64·2⁻²⁴ ≈ 1.5·10⁻⁴.
REL32 = 40 * math.sqrt(4096) * U32


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    y = torch.rand(3, 1, 32, 32, generator=g) * 4
    return y + 0.3 * torch.randn(3, 1, 32, 32, generator=g), y


def _mlwt(prediction, target):
    return mlwt_loss(prediction, target, sigma_min=1e-6)


PIXEL = [weighted_l1, weighted_l2, _mlwt, fourier_loss, mean_loss, std_loss]


@pytest.mark.parametrize("loss", PIXEL)
def test_zero_for_identical_and_positive_otherwise(loss, pair):
    prediction, y = pair
    assert float(loss(y, y)) == 0.0
    assert float(loss(prediction + 0.5 * (loss is mean_loss), y)) > 1e-3


@pytest.mark.parametrize("loss, power", [(weighted_l1, 0), (weighted_l2, 1), (_mlwt, 0), (fourier_loss, 0.125),
                                         (mean_loss, 1), (std_loss, 1)])
def test_response_to_a_common_gain(loss, power, pair):
    # std(y) ≈ 1.2 > σ_min: eq. 5 removes the gain from L1 and leaves one power in L2 (w_y·|Δ|²); eq. 7
    # removes it from MLWT; eqs. 9–11 are unweighted, so they scale as |Δ|^γ and |Δ|
    prediction, y = pair
    gain = 5.0
    assert float(loss(gain * prediction, gain * y)) == pytest.approx(gain ** power * float(loss(prediction, y)),
                                                                    rel=REL32)


def test_eq5_weight_is_one_over_max_sigma_min_and_std():
    y = torch.stack([torch.zeros(1, 4, 4), torch.tensor([0.0, 2.0]).repeat(8).view(1, 4, 4)])
    assert example_weights(y, sigma_min=0.1).flatten().tolist() == pytest.approx([10.0, 1.0])  # flat; std 1


def _contrast_pair(scale: float, centre: float = 0.6):
    """Example 1 and example 2 = c + s·(example 1 − c), prediction transformed the same way."""
    g = torch.Generator().manual_seed(3)
    y1 = 0.6 + 0.2 * torch.rand(1, 1, 32, 32, generator=g)
    p1 = y1 + 0.05 * torch.randn(1, 1, 32, 32, generator=g)
    return (p1, y1), (centre + scale * (p1 - centre), centre + scale * (y1 - centre))


def test_eq4_eq5_weight_equalises_examples_of_different_contrast():
    (p1, y1), (p2, y2) = _contrast_pair(0.3)
    sigma_min = 0.01
    assert min(float(y1.std()), float(y2.std())) > sigma_min  # ≈ 0.058 and 0.017
    assert float(weighted_l1(p2, y2, sigma_min)) == pytest.approx(float(weighted_l1(p1, y1, sigma_min)), rel=REL32)
    # eq. 6 as printed (w_y, not w_y², times the squared error) keeps one power of the contrast
    assert float(weighted_l2(p2, y2, sigma_min)) == pytest.approx(0.3 * float(weighted_l2(p1, y1, sigma_min)),
                                                                  rel=REL32)


def test_eq5_clamp_stops_the_equalisation_below_sigma_min():
    (p1, y1), (p2, y2) = _contrast_pair(0.3)
    sigma_min = 0.1  # above both stds: w_y = 10 for both, so the low-contrast example counts 0.3 times
    assert max(float(y1.std()), float(y2.std())) < sigma_min
    assert float(weighted_l1(p2, y2, sigma_min)) == pytest.approx(0.3 * float(weighted_l1(p1, y1, sigma_min)),
                                                                  rel=REL32)


def test_eq4_eq6_l1_and_l2_closed_form():
    y = torch.tensor([0.0, 0.5]).repeat(8).view(1, 1, 4, 4)  # std 0.25 → w_y = 4
    prediction = y + 0.5
    assert float(weighted_l1(prediction, y)) == pytest.approx(4 * 0.5)
    assert float(weighted_l2(prediction, y)) == pytest.approx(4 * 0.25)


@pytest.mark.parametrize("window", [2, 3, 4])
def test_eq7_whitening_uses_the_window_around_each_pixel(window):
    """Against a loop over pixels: rows i − S//2 … i + (S − 1)//2, reflection beyond the border."""
    image = np.random.default_rng(4).random((7, 9))
    image[2:5, 3:6] = 0.5  # a flat patch: its 2×2 windows are floored at σ_min
    sigma_min = 0.05
    before, after = window // 2, window - 1 - window // 2
    padded = np.pad(image, ((before, after), (before, after)), mode="reflect")
    expected = np.empty_like(image)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            values = padded[i:i + window, j:j + window]
            expected[i, j] = (image[i, j] - values.mean()) / max(sigma_min, values.std())
    ours = local_whitening(torch.from_numpy(image)[None, None], window_px=window, sigma_min=sigma_min)[0, 0].numpy()
    # float64 sums of ≤ 16 values in [0, 1]: rounding ≲ 32·2⁻⁵³ relative, divided by σ ≥ 0.05
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)


def test_eq8_mlwt_of_a_constant_is_zero_with_finite_gradients():
    y = torch.full((2, 1, 32, 32), 0.7)
    prediction = y.clone().requires_grad_(True)
    loss = mlwt_loss(prediction, y)
    loss.backward()
    assert float(loss.detach()) == 0.0 and bool(torch.isfinite(prediction.grad).all())
    nudged = (y + 0.01 * torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(5))).requires_grad_(True)
    mlwt_loss(nudged, y).backward()
    assert bool(torch.isfinite(nudged.grad).all()) and float(nudged.grad.abs().max()) > 0


def test_eq8_mlwt_ignores_a_constant_offset_of_both_images(pair):
    prediction, y = pair
    offset = 10.0
    assert float(mlwt_loss(prediction + offset, y + offset)) == pytest.approx(float(mlwt_loss(prediction, y)),
                                                                             rel=REL32)


def _texture(size: int, seed: int) -> torch.Tensor:
    return torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(seed))


def test_eq8_mlwt_sees_a_faint_contrast_reversal_that_weighted_l1_hides():
    """Bright texture (amplitude 1) left, faint texture (0.02) right, as a particle's thin edge.

    A: the faint texture's contrast reversed; B: the bright half perturbed by noise of the same total L1.
    L1 weighs both errors alike; MLWT, whitening each window, sees A's reversed structure as O(1).
    """
    texture = _texture(64, 6)
    y = 0.5 + texture.clone()
    y[..., 32:] = 0.5 + 0.02 * texture[..., 32:]
    a = y.clone()
    faint = y[..., 32:]
    a[..., 32:] = 2 * faint.mean() - faint
    noise = torch.randn(1, 1, 64, 32, generator=torch.Generator().manual_seed(7))
    b = y.clone()
    b[..., :32] += noise * (a - y).abs().sum() / noise.abs().sum()
    sigma_min = 1e-3  # below the faint texture's local stds (≈ 0.005 for 2×2 windows)
    assert float(weighted_l1(a, y)) == pytest.approx(float(weighted_l1(b, y)), rel=REL32)
    assert float(mlwt_loss(a, y, sigma_min=sigma_min)) > 10 * float(mlwt_loss(b, y, sigma_min=sigma_min))


def _block_mlwt(prediction, target, windows=(2, 4, 8, 16), sigma_min=1e-3):
    """Whitening over non-overlapping blocks: the reading this module replaced."""
    def whiten(image, n):
        mean = F.avg_pool2d(image, n)
        std = (F.avg_pool2d(image.square(), n) - mean.square()).clamp_min(sigma_min ** 2).sqrt()
        return (image - mean.repeat_interleave(n, -2).repeat_interleave(n, -1)) / std.repeat_interleave(
            n, -2).repeat_interleave(n, -1)
    return torch.stack([(whiten(prediction, n) - whiten(target, n)).abs().mean() for n in windows]).mean()


def test_eq8_sliding_windows_make_mlwt_shift_invariant_unlike_blocks():
    # stripes of period 4 px: a 2×2 block holds one stripe value or both depending on the alignment
    y = (torch.arange(64) % 4 >= 2).double().expand(64, 64).clone()[None, None]
    prediction = y.clone()
    prediction[..., 31, 31] += 0.3  # ≥ 16 px from the borders before and after the shift
    shifted = [torch.roll(t, shifts=(1, 1), dims=(-2, -1)) for t in (prediction, y)]
    sliding = float(mlwt_loss(prediction, y, sigma_min=1e-3))
    assert float(mlwt_loss(*shifted, sigma_min=1e-3)) == pytest.approx(sliding, rel=REL32)
    block = float(_block_mlwt(prediction, y))
    assert abs(float(_block_mlwt(*shifted)) - block) > 0.2 * block


def test_eq9_fourier_loss_closed_form_for_a_single_pixel_error():
    y = torch.tensor([0.0, 2.0]).repeat(32).view(1, 1, 8, 8)
    prediction = y.clone()
    prediction[0, 0, 3, 5] += 4.0  # orthonormal DFT of a delta of height 4: |F| = 4/8 at every frequency
    assert float(fourier_loss(prediction, y, gamma=0.125)) == pytest.approx(0.5 ** 0.125, rel=REL32)
    assert float(fourier_loss(prediction, 10 * y, gamma=0.125)) != pytest.approx(0.5 ** 0.125)
    # below the floor |F|^γ becomes floor^γ·(|F|/floor)²: continuous, 0 at 0, finite slope
    tiny = y.clone().requires_grad_(True)
    with torch.no_grad():
        tiny[0, 0, 3, 4] += 4e-5  # on a 0 of y (exact in float32): |F| = 5·10⁻⁶ < floor 10⁻⁴
    loss = fourier_loss(tiny, y, gamma=0.125, floor=1e-4)
    assert float(loss.detach()) == pytest.approx(1e-4 ** 0.125 * (5e-6 / 1e-4) ** 2, rel=REL32)
    loss.backward()
    assert bool(torch.isfinite(tiny.grad).all())


def test_eq9_fourier_loss_ignores_circular_shifts_of_the_error(pair):
    prediction, y = pair
    shifted = y + torch.roll(prediction - y, shifts=(5, -3), dims=(-2, -1))
    assert float(fourier_loss(shifted, y)) == pytest.approx(float(fourier_loss(prediction, y)), rel=REL32)


def test_eq10_eq11_mean_and_std_constraints_closed_form_and_unweighted():
    y = torch.tensor([0.0, 2.0]).repeat(8).view(1, 1, 4, 4)  # mean 1, std 1
    assert float(mean_loss(y + 0.25, y)) == pytest.approx(0.25)
    assert float(mean_loss(0.1 * (y + 0.25), 0.1 * y)) == pytest.approx(0.025)  # no 1/std weight
    assert float(std_loss(1 + 2 * (y - 1), y)) == pytest.approx(1.0)  # std doubled
    assert float(std_loss(y + 0.25, y)) == pytest.approx(0.0, abs=2 * REL32)  # two float32 stds of 1


def test_weighted_moments_cost_a_flattened_faint_example_as_much_as_a_bright_one():
    """moments_weighted: eqs. 10–11 times w_y, so halving the contrast costs 0.5 at any contrast above σ_min."""
    y = torch.tensor([0.0, 2.0]).repeat(8).view(1, 1, 4, 4)  # mean 1, std 1
    faint = 0.9 + 0.1 * (y - 1)  # std 0.1 > σ_min = 0.05
    for target in (y, faint):
        flattened = 0.5 * (target - target.mean()) + target.mean()
        assert float(std_loss(flattened, target, SIGMA_MIN)) == pytest.approx(0.5, rel=REL32)
        assert float(mean_loss(target + 0.1 * target.std(unbiased=False), target, SIGMA_MIN)) == pytest.approx(
            0.1, rel=REL32)
        assert float(std_loss(flattened, target)) == pytest.approx(0.5 * float(target.std(unbiased=False)),
                                                                   rel=REL32)  # as printed: absolute
    below = 0.9 + 0.01 * (y - 1)  # std 0.01 < σ_min: the weight stops at 1/σ_min
    assert float(std_loss(0.9 + 0.005 * (y - 1), below, SIGMA_MIN)) == pytest.approx(0.005 / SIGMA_MIN, rel=REL32)
    both = torch.cat([y, faint])  # per-example weights, then the batch mean
    assert float(std_loss(torch.cat([y, 0.9 + 0.05 * (y - 1)]), both, SIGMA_MIN)) == pytest.approx(0.25, rel=REL32)


def test_moments_weighted_reaches_the_basket_and_must_be_a_bool(pair):
    prediction, y = pair
    plain = pixel_losses(prediction, y, LossWeights())
    weighted = pixel_losses(prediction, y, LossWeights(moments_weighted=True))
    w = example_weights(y, SIGMA_MIN).flatten()
    std_error = (y.flatten(1).std(1, unbiased=False) - prediction.flatten(1).std(1, unbiased=False)).abs()
    assert float(weighted["std"]) == pytest.approx(float((std_error * w).mean()), rel=REL32)
    assert float(plain["std"]) == pytest.approx(float(std_error.mean()), rel=REL32)
    assert float(weighted["l1"]) == float(plain["l1"])
    with pytest.raises(ValueError, match="moments_weighted"):
        LossWeights(moments_weighted="yes")


@pytest.fixture
def critic_maps():
    g = torch.Generator().manual_seed(9)
    return torch.randn(4, 1, 32, 32, generator=g) + 0.5, torch.randn(4, 1, 32, 32, generator=g) - 0.5


def test_eq2_eq3_relativistic_average_outputs(critic_maps):
    real, fake = critic_maps
    d_real_fake = torch.sigmoid(relativistic_logits(real, fake))
    d_fake_real = torch.sigmoid(relativistic_logits(fake, real))
    assert torch.allclose(d_real_fake, torch.sigmoid(real - fake.mean()))  # eq. 2
    assert torch.allclose(d_fake_real, torch.sigmoid(fake - real.mean()))  # eq. 3
    assert float(d_real_fake.mean()) > 0.5 > float(d_fake_real.mean())


def test_eq12_adversarial_loss_of_the_generator(critic_maps):
    real, fake = critic_maps
    d_rf, d_fr = torch.sigmoid(real - fake.mean()).double(), torch.sigmoid(fake - real.mean()).double()
    expected = -torch.log(1 - d_rf).mean() - torch.log(d_fr).mean()
    assert float(relativistic_generator_loss(real, fake)) == pytest.approx(float(expected), rel=REL32)


def test_eq15_discriminator_loss_and_label_smoothing(critic_maps):
    real, fake = critic_maps
    d_rf, d_fr = torch.sigmoid(real - fake.mean()).double(), torch.sigmoid(fake - real.mean()).double()
    expected = -torch.log(d_rf).mean() - torch.log(1 - d_fr).mean()
    assert float(relativistic_discriminator_loss(real, fake)) == pytest.approx(float(expected), rel=REL32)
    smoothed = -(0.95 * torch.log(d_rf) + 0.05 * torch.log(1 - d_rf)).mean() - torch.log(1 - d_fr).mean()
    assert float(relativistic_discriminator_loss(real, fake, real_label=0.95)) == pytest.approx(float(smoothed),
                                                                                             rel=REL32)
    same = torch.zeros(2, 1, 3, 3)
    assert float(relativistic_discriminator_loss(same, same)) == pytest.approx(2 * math.log(2))


def test_eq13_eq14_generator_loss_sums_weighted_terms(pair):
    prediction, y = pair
    weights = LossWeights(l1=2.0, l2=0.0, mlwt=0.0, fourier=0.0, mean=1.0, std=0.0, adversarial=0.5)
    total, parts = generator_loss(prediction, y, weights, adversarial=torch.tensor(3.0))
    assert set(parts) == {"l1", "mean", "adversarial"}
    assert float(total) == pytest.approx(2 * parts["l1"] + parts["mean"] + 0.5 * 3.0, rel=REL32)
    with pytest.raises(ValueError, match="every weight is 0"):
        generator_loss(prediction, y, LossWeights(0, 0, 0, 0, 0, 0, 0))
    assert LossWeights(sigma_min=0.02).mlwt_sigma_min == LossWeights().mlwt_sigma_min  # separate floors
    assert LossWeights(**LossWeights(mlwt_sigma_min=0.005).to_dict()) == LossWeights(mlwt_sigma_min=0.005)


def test_target_std_quantiles_are_ordered_and_cover_each_window():
    result = target_std_quantiles(2, 0, size_px=64, quantiles=(0.0, 0.5, 1.0), windows=(2, 16))
    assert set(result["local_std"]) == {2, 16} and len(result["std"]) == 3
    for values in [result["std"], *result["local_std"].values()]:
        assert values == sorted(values) and values[0] >= 0
    assert result["std"][-1] > 0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="same"):
        weighted_l1(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="sigma_min"):
        example_weights(torch.zeros(1, 1, 4, 4), sigma_min=0)
    with pytest.raises(ValueError, match="larger than"):
        mlwt_loss(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="gamma"):
        fourier_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), gamma=1.5)
    with pytest.raises(ValueError, match="LossWeights.l1"):
        LossWeights(l1=-1)
    with pytest.raises(ValueError, match="mlwt_windows"):
        LossWeights(mlwt_windows=(1, 2))
    with pytest.raises(ValueError, match="n=0"):
        target_std_quantiles(0, 0)
