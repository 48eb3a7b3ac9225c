import numpy as np
import pytest
import torch
from scipy import ndimage

from simulate.distortions import (
    ClusterParams,
    DarkCurrentParams,
    MtfParams,
    TemDistortionParams,
    apply_tem_distortions,
    check_mtf,
    mtf_radial,
    sample_tem_params,
)
from simulate.distortions.tem import cluster_mask, dark_current_map, flicker_noise, mtf_blur_batch, mtf_transfer


def test_sampled_mtf_is_positive_decreasing_and_one_at_zero():
    g = np.linspace(0, np.sqrt(0.5), 400)
    for seed in range(100):
        mtf = sample_tem_params(seed, 0.1, dose_per_area=100.0).mtf
        values = mtf_radial(g, mtf.sigma_1, mtf.sigma_2, mtf.weight)
        assert values[0] == pytest.approx(1.0)
        assert np.all(values > 0) and np.all(np.diff(values) <= 0)
        check_mtf(mtf)
    with pytest.raises(ValueError, match="weight"):
        MtfParams(weight=1.5)


def test_mtf_includes_pixel_sinc_and_preserves_the_mean():
    params = [MtfParams(0.3, 0.05, 0.2)]
    transfer = mtf_transfer((16, 16), params)
    assert float(transfer[0, 0, 0]) == pytest.approx(1.0)
    # At the Nyquist frequency along x (g = 0.5, g_y = 0) the pixel aperture contributes sinc(0.5) = 2/pi.
    radial = mtf_radial(0.5, 0.3, 0.05, 0.2)
    assert float(transfer[0, 0, 8]) == pytest.approx(radial * 2 / np.pi, rel=1e-12)
    x = torch.rand((1, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(mtf_blur_batch(x, params).mean()) == pytest.approx(float(x.mean()), rel=1e-12)


def test_dark_current_body_has_the_requested_mean_and_hot_pixel_fraction():
    gen = torch.Generator().manual_seed(1)
    x = torch.zeros((4, 200, 200), dtype=torch.float64)
    body = dark_current_map(x, [DarkCurrentParams(3.0, 0.5, 0.0, 3.0)] * 4, gen)
    assert float(body.mean()) == pytest.approx(3.0, rel=0.01)
    assert float(torch.log(body).std()) == pytest.approx(0.5, rel=0.01)
    hot = dark_current_map(x, [DarkCurrentParams(1.0, 0.0, 0.01, 500.0)] * 4, gen)
    fraction = float((hot > 1.0 + 1e-9).double().mean())
    assert fraction == pytest.approx(0.01, abs=5 * np.sqrt(0.01 / hot.numel()))
    assert float(hot.max()) <= 500.0


def test_flicker_noise_has_the_requested_std_and_a_red_spectrum():
    gen = torch.Generator().manual_seed(2)
    x = torch.zeros((8, 64, 64), dtype=torch.float64)
    noise = flicker_noise(x, torch.full((8, 1, 1), 2.0, dtype=torch.float64), gen)
    assert float(noise.reshape(8, -1).std(dim=1).mean()) == pytest.approx(2.0, rel=1e-6)
    power = (torch.fft.rfft(noise.reshape(8, -1)).abs() ** 2).mean(dim=0)
    assert float(power[1:40].mean()) > 20 * float(power[-400:].mean())


def test_clusters_are_connected_random_walks():
    gen = torch.Generator().manual_seed(3)
    x = torch.zeros((6, 128, 128))
    single = cluster_mask(x, [ClusterParams(2e-3, 0)] * 6, gen)
    n = single.numel()
    assert abs(int(single.sum()) - 2e-3 * n) < 5 * np.sqrt(2e-3 * n)
    walks = cluster_mask(x, [ClusterParams(1e-4, 5)] * 6, gen).numpy()
    sizes = [np.bincount(ndimage.label(m)[0].ravel())[1:] for m in walks]
    sizes = np.concatenate(sizes)
    assert sizes.size > 0 and sizes.max() <= 12 and 1 <= sizes.mean() <= 6


def test_tem_pipeline_statistics_and_record():
    image = torch.full((4, 64, 64), 0.5, dtype=torch.float64)
    params = TemDistortionParams(pixel_size=0.5, dose_per_area=40.0, conversion_gain=2.0)  # lambda = 5
    out, record = apply_tem_distortions(image, params, 0)
    assert float(out.mean()) == pytest.approx(10.0, abs=5 * 2 * np.sqrt(5 / out.numel()))
    assert float(out.var()) == pytest.approx(4 * 5.0, rel=0.1)
    assert [s["name"] for s in record["images"][0]] == ["shot_noise", "conversion_gain"]
    full = TemDistortionParams(pixel_size=0.5, dose_per_area=40.0, reset_row_noise=3.0, thermal_noise=1.0,
                               full_scale=12.0, quantise=True)
    out, record = apply_tem_distortions(image, full, 1)
    assert torch.equal(out, out.round()) and float(out.min()) >= 0 and float(out.max()) <= 12
    names = [s["name"] for s in record["images"][0]]
    assert names == ["shot_noise", "thermal_noise", "reset_row_noise", "conversion_gain", "clip", "quantisation"]


def test_reset_row_noise_is_constant_along_rows():
    params = TemDistortionParams(pixel_size=1.0, reset_row_noise=2.0)
    out, _ = apply_tem_distortions(np.zeros((2, 32, 48)), params, 4)
    assert np.allclose(out, out[..., :1])
    assert out[:, :, 0].std() == pytest.approx(2.0, rel=0.3)
