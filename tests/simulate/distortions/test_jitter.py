import numpy as np
import pytest
import torch
import torch.nn.functional as F

from simulate.distortions import JitterParams, ar1_series, displace_lines, scan_jitter


def _lag1(series: torch.Tensor) -> float:
    centred = series - series.mean()
    return float((centred[:, 1:] * centred[:, :-1]).mean() / (centred**2).mean())


@pytest.mark.parametrize("phi", [0.0, 0.35, 0.7])
def test_ar1_recovers_phi_and_stationary_variance(phi):
    sigma, n, length = 0.3, 2000, 256
    series = ar1_series(sigma, phi, length, 11, batch=n)
    # Yule-Walker: lag-1 autocorrelation = phi; SE ~ sqrt((1 - phi²) / N).
    assert abs(_lag1(series) - phi) < 5 * np.sqrt((1 - phi**2) / (n * length)) + 1e-3
    stationary = sigma**2 / (1 - phi**2)
    n_eff = n * length * (1 - phi**2) / (1 + phi**2)
    assert float(series.var()) == pytest.approx(stationary, rel=5 * np.sqrt(2 / n_eff))
    # Stationary from the first line on: the variance at t = 0 equals the one at the last line.
    se_single = 5 * np.sqrt(2 / n)
    assert float(series[:, 0].var()) == pytest.approx(stationary, rel=se_single)
    assert float(series[:, -1].var()) == pytest.approx(stationary, rel=se_single)


def test_ar1_rejects_non_stationary_phi_and_negative_sigma():
    with pytest.raises(ValueError, match="phi"):
        ar1_series(0.1, 1.0, 10, 0, batch=2)
    with pytest.raises(ValueError, match="sigma"):
        ar1_series(-0.1, 0.5, 10, 0, batch=2)
    with pytest.raises(ValueError, match="phi_fast"):
        JitterParams(sigma_fast=0.1, phi_fast=1.2)


def test_displace_lines_matches_torch_bicubic_and_zero_is_identity():
    gen = torch.Generator().manual_seed(3)
    x = torch.rand((3, 40, 50), generator=gen, dtype=torch.float64)
    dx = 2 * torch.randn((3, 40), generator=gen, dtype=torch.float64)
    dy = 2 * torch.randn((3, 40), generator=gen, dtype=torch.float64)
    ours = displace_lines(x, dx, dy)
    cols = torch.arange(50, dtype=x.dtype)[None, None, :] + dx[:, :, None]
    rows = (torch.arange(40, dtype=x.dtype)[None, :] + dy)[:, :, None].expand(3, 40, 50)
    grid = torch.stack((2 * cols.expand(3, 40, 50) / 49 - 1, 2 * rows / 39 - 1), dim=-1)
    reference = F.grid_sample(x[:, None], grid, mode="bicubic", padding_mode="border", align_corners=True)[:, 0]
    assert torch.allclose(ours, reference, atol=1e-12)
    assert torch.equal(displace_lines(x, torch.zeros_like(dx), torch.zeros_like(dy)), x)
    shifted = displace_lines(x, torch.ones_like(dx), torch.zeros_like(dy))
    assert torch.allclose(shifted[..., :-1], x[..., 1:], atol=1e-12)


def test_scan_jitter_x_moves_whole_lines_along_x_only():
    image = np.tile(np.sin(np.arange(64) / 3.0), (32, 1)) + 2.0  # identical lines
    out = scan_jitter(image, JitterParams(sigma_fast=0.2, phi_fast=0.5), pixel_size_A=0.1, generator=5)
    assert isinstance(out, np.ndarray) and out.shape == image.shape
    assert not np.allclose(out, image)
    # Y jitter on identical lines changes nothing (lines are mixed with copies of themselves).
    out_y = scan_jitter(image, JitterParams(sigma_slow=0.2, phi_slow=0.5), pixel_size_A=0.1, generator=5)
    assert np.allclose(out_y, image, atol=1e-12)


def test_scan_jitter_is_seeded_and_validates_input():
    image = torch.rand((2, 16, 16), generator=torch.Generator().manual_seed(0))
    params = JitterParams(0.1, 0.3, 0.1, 0.3)
    first = scan_jitter(image, params, pixel_size_A=0.2, generator=7)
    assert torch.equal(first, scan_jitter(image, params, pixel_size_A=0.2, generator=7))
    assert not torch.equal(first, scan_jitter(image, params, pixel_size_A=0.2, generator=8))
    with pytest.raises(ValueError, match="pixel_size_A"):
        scan_jitter(image, params, pixel_size_A=0.0, generator=7)
    with pytest.raises(ValueError, match="shape"):
        scan_jitter(image[None], params, pixel_size_A=0.2, generator=7)
    with pytest.raises(ValueError, match="generator"):
        scan_jitter(image, params, pixel_size_A=0.2, generator="seven")
