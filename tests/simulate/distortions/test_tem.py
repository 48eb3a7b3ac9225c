import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from simulate.distortions import (
    ClusterParams,
    DarkCurrentParams,
    TemDistortionParams,
    apply_tem_distortions,
    sample_tem_params,
)
from simulate.distortions.tem import cluster_mask, dark_current_map, flicker_noise


def _var_bound(sample: torch.Tensor) -> float:
    """Five standard errors of the sample variance, (m4 - var²)/N estimated from the sample itself."""
    centred = sample - sample.mean()
    var = float(centred.pow(2).mean())
    return 5 * np.sqrt((float(centred.pow(4).mean()) - var**2) / sample.numel())


def test_shot_noise_counts_electrons_at_the_dose():
    """Eq. 30 in counts: n ~ P(λ), λ = dose · pixel² · intensity; the division by α is the caller's."""
    image = torch.full((4, 64, 64), 0.5, dtype=torch.float64)
    params = TemDistortionParams(pixel_size_A=0.5, dose_e_per_A2=40.0, conversion_gain=2.0)  # λ = 5
    out, record = apply_tem_distortions(image, params, 0)
    n = out / 2.0
    assert torch.equal(n, n.round())
    assert float(n.mean()) == pytest.approx(5.0, abs=5 * np.sqrt(5 / n.numel()))
    assert float(n.var()) == pytest.approx(5.0, abs=_var_bound(n))
    assert record["images"][0] == [
        {"name": "shot_noise", "equations": "30", "parameters": {"dose_e_per_A2": 40.0, "pixel_size_A": 0.5}},
        {"name": "conversion_gain", "equations": "40", "parameters": {"adu_per_electron": 2.0}},
    ]


def test_fixed_pattern_multiplies_the_counts_after_the_shot_noise():
    """Eq. 31 after eq. 30: x = n (1 + σ z), so zero counts stay 0 and var = λ(1 + σ²) + σ²λ²."""
    lam, sigma = 4.0, 0.5
    image = torch.full((4, 64, 64), lam, dtype=torch.float64)  # dose None: input is λ in electrons
    counts, _ = apply_tem_distortions(image, TemDistortionParams(pixel_size_A=1.0, dose_e_per_A2=1.0), 5)
    out, record = apply_tem_distortions(image, TemDistortionParams(pixel_size_A=1.0, dose_e_per_A2=1.0,
                                                                   fixed_pattern=sigma), 5)
    assert [s["name"] for s in record["images"][0]] == ["shot_noise", "fixed_pattern", "conversion_gain"]
    assert torch.equal(out == 0, counts == 0)  # same stream up to the FPN draw: same counts, zeros kept
    assert not torch.equal(out, out.round())
    assert float(out.mean()) == pytest.approx(lam, abs=5 * float(out.std()) / np.sqrt(out.numel()))
    # Gain noise before the Poisson draw (the old form) would give λ + σ²λ² = 8 instead of 9.
    expected_var = lam * (1 + sigma**2) + sigma**2 * lam**2
    assert float(out.var()) == pytest.approx(expected_var, abs=_var_bound(out))


def test_dark_current_body_has_the_requested_mean_and_std():
    """Eq. 32 body: log-normal with mean μ and standard deviation σ in electrons."""
    gen = torch.Generator().manual_seed(1)
    x = torch.zeros((4, 200, 200), dtype=torch.float64)
    body = dark_current_map(x, [DarkCurrentParams(mean_e=3.0, std_e=1.5, hot_fraction=0.0)] * 4, gen)
    assert float(body.min()) > 0
    assert float(body.mean()) == pytest.approx(3.0, abs=5 * 1.5 / np.sqrt(body.numel()))
    assert float(body.var()) == pytest.approx(1.5**2, abs=_var_bound(body))
    log_std = np.sqrt(np.log(1 + (1.5 / 3.0) ** 2))
    assert float(torch.log(body).std()) == pytest.approx(log_std, rel=5 / np.sqrt(2 * body.numel()))


def test_dark_current_hot_pixels_are_uniform_between_mu_plus_5_and_8_sigma():
    """Eq. 32 hot pixels: U(a, b) with a = μ + 5σ, b = μ + 8σ, on a fraction of the pixels."""
    gen = torch.Generator().manual_seed(2)
    mu, sigma, p = 10.0, 0.2, 0.01  # body std 2 % of μ: its tail beyond μ + 5σ is negligible (~1e-6)
    x = torch.zeros((4, 200, 200), dtype=torch.float64)
    dcnu = dark_current_map(x, [DarkCurrentParams(mean_e=mu, std_e=sigma, hot_fraction=p)] * 4, gen)
    hot = dcnu[dcnu >= mu + 5 * sigma]
    n = dcnu.numel()
    assert hot.numel() / n == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / n))
    assert float(hot.max()) <= mu + 8 * sigma
    width = 3 * sigma
    assert float(hot.mean()) == pytest.approx(mu + 6.5 * sigma, abs=5 * width / np.sqrt(12 * hot.numel()))
    assert float(hot.min()) < mu + 5.2 * sigma and float(hot.max()) > mu + 7.8 * sigma
    with pytest.raises(ValueError, match="mean_e > 0"):
        DarkCurrentParams(mean_e=0.0, std_e=1.0)


def test_dark_current_adds_its_shot_noise():
    """Eq. 33: x ← x + P(DCNU); on a zero image, integer counts with mean μ and variance μ + σ²."""
    params = TemDistortionParams(pixel_size_A=1.0, dark_current=DarkCurrentParams(mean_e=4.0, std_e=1.0,
                                                                                 hot_fraction=0.0))
    out, record = apply_tem_distortions(torch.zeros((4, 64, 64), dtype=torch.float64), params, 3)
    assert torch.equal(out, out.round()) and record["images"][0][0]["equations"] == "32-33"
    assert float(out.mean()) == pytest.approx(4.0, abs=5 * np.sqrt(5.0 / out.numel()))
    assert float(out.var()) == pytest.approx(5.0, abs=_var_bound(out))


def test_flicker_noise_is_a_2d_one_over_f_field_with_std_sigma():
    """Eq. 35: F(N(0, σ)/f) with f the 2-D reciprocal distance: power ∝ 1/|f|², real-space std σ."""
    gen = torch.Generator().manual_seed(2)
    batch, size = 16, 64
    x = torch.zeros((batch, size, size), dtype=torch.float64)
    noise = flicker_noise(x, torch.full((batch, 1, 1), 2.0, dtype=torch.float64), gen)
    std = noise.std(dim=(-2, -1), unbiased=False)
    assert torch.allclose(std, torch.full((batch,), 2.0, dtype=torch.float64), rtol=1e-9)
    power = (torch.fft.fft2(noise).abs() ** 2).mean(dim=0).numpy()
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(size) * size, np.fft.fftfreq(size) * size, indexing="ij"))
    radii = np.arange(4, size // 2)
    radial = np.array([power[(k >= r - 0.5) & (k < r + 0.5)].mean() for r in radii])
    slope = np.polyfit(np.log(radii), np.log(radial), 1)[0]
    # Each annulus averages >= 25 modes × 16 images of exponential |W|²: the fitted slope's spread is ~0.02.
    assert slope == pytest.approx(-2.0, abs=0.1)
    # Isotropic (2-D), not 1-D along the serial read-out (which would put its power at f_x = 0): the
    # whitened power |F|²·|f|² along the f_x and the f_y axes agrees within 5 standard errors.
    whitened = power * k**2
    along_x, along_y = whitened[0, 1:size // 2].mean(), whitened[1:size // 2, 0].mean()
    assert along_x / along_y == pytest.approx(1.0, abs=5 * np.sqrt(2 / (batch * (size // 2 - 1))))


def test_clusters_are_connected_random_walks():
    gen = torch.Generator().manual_seed(3)
    x = torch.zeros((6, 128, 128))
    single = cluster_mask(x, [ClusterParams(2e-3, 0)] * 6, gen)
    n = single.numel()
    assert abs(int(single.sum()) - 2e-3 * n) < 5 * np.sqrt(2e-3 * n)
    walks = cluster_mask(x, [ClusterParams(1e-4, 5)] * 6, gen).numpy()
    sizes = np.concatenate([np.bincount(ndimage.label(m)[0].ravel())[1:] for m in walks])
    assert sizes.size > 0 and sizes.max() <= 12 and 1 <= sizes.mean() <= 6


def test_black_clusters_are_zero_and_zingers_exceed_the_maximum():
    image = torch.rand((2, 64, 64), generator=torch.Generator().manual_seed(4), dtype=torch.float64) + 1.0
    black, _ = apply_tem_distortions(image, TemDistortionParams(pixel_size_A=1.0,
                                                                black_clusters=ClusterParams(2e-3, 3)), 6)
    changed = black != image
    assert bool(changed.any()) and bool((black[changed] == 0).all())
    zing, _ = apply_tem_distortions(image, TemDistortionParams(pixel_size_A=1.0,
                                                               zinger_clusters=ClusterParams(2e-3, 3, 1.0)), 7)
    changed = zing != image
    assert bool(changed.any()) and float(zing[changed].min()) > float(image.max())


def test_upper_clip_and_quantisation_follow_eqs_39_40():
    """Eq. 39 is min(x, T_u) only (read noise may leave values below 0); eq. 40 is round(α x)."""
    image = torch.full((2, 64, 64), 2.0, dtype=torch.float64)
    params = TemDistortionParams(pixel_size_A=1.0, thermal_noise=3.0, conversion_gain=1.5, full_scale=6.0,
                                 quantise=True)
    out, record = apply_tem_distortions(image, params, 1)
    assert torch.equal(out, out.round()) and float(out.max()) <= 6.0 and float(out.min()) < 0.0
    assert [s["name"] for s in record["images"][0]] == ["thermal_noise", "conversion_gain", "clip", "quantisation"]
    assert float((out == 6.0).double().mean()) > 0.1  # 1.5 · (2 + 3z) >= 5.5 for z >= 0.56: ~29 % clipped
    json.dumps(record)


def test_reset_row_noise_is_constant_along_rows():
    params = TemDistortionParams(pixel_size_A=1.0, reset_row_noise=2.0)
    out, _ = apply_tem_distortions(np.zeros((2, 32, 48)), params, 4)
    assert np.allclose(out, out[..., :1])
    rows = out[:, :, 0].ravel()
    assert rows.var() == pytest.approx(4.0, abs=5 * 4.0 * np.sqrt(2 / rows.size))


def test_sampled_camera_sets_run_and_are_reproducible():
    rng = np.random.default_rng(8)
    params = [sample_tem_params(rng, pixel_size_A=0.2, mean_intensity=0.05) for _ in range(4)]
    assert (sample_tem_params(3, pixel_size_A=0.2, mean_intensity=0.05)
            == sample_tem_params(3, pixel_size_A=0.2, mean_intensity=0.05))
    image = torch.full((4, 48, 48), 0.05, dtype=torch.float64)
    a, record = apply_tem_distortions(image, params, 9)
    b, _ = apply_tem_distortions(image, params, 9)
    assert torch.equal(a, b) and bool(torch.isfinite(a).all())
    assert all(steps[0]["name"] == "shot_noise" for steps in record["images"])
    json.dumps([p.to_dict() for p in params])
