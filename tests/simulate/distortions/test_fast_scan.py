import math

import numpy as np
import pytest
import torch
from scipy import integrate

from simulate.distortions import (
    FastScanParams,
    fast_scan_kernel,
    fast_scan_noise,
    lorentzian_psf,
    lorentzian_psf_continuous,
    readout_psf,
    readout_psf_continuous,
)
from simulate.distortions.fast_scan import psf_tail_mass


def _scalar(fn):
    return lambda t: float(fn(torch.tensor(t, dtype=torch.float64)))


@pytest.mark.parametrize("width", [0.1, 0.7, 3.0])
def test_lorentzian_is_causal_non_negative_and_integrates_to_one(width):
    f = _scalar(lambda t: lorentzian_psf_continuous(t, width))
    assert f(-0.5) == 0.0 and f(-1e-9) == 0.0
    total, _ = integrate.quad(f, 0, np.inf)
    assert total == pytest.approx(1.0, abs=1e-8)
    kernel = lorentzian_psf(width, 64)
    assert bool((kernel >= 0).all()) and float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)
    assert bool((kernel[1:] <= kernel[:-1]).all())


@pytest.mark.parametrize("frequency, damping", [(0.5, 0.3), (1.5, 0.6), (3.0, 0.9)])
def test_readout_psf_is_causal_and_its_normalisation_gives_unit_integral(frequency, damping):
    f = _scalar(lambda t: readout_psf_continuous(t, frequency, damping))
    assert f(-0.3) == 0.0
    total, _ = integrate.quad(f, 0, 200 / (damping * frequency), limit=500)
    assert total == pytest.approx(1.0, abs=1e-7)
    kernel = readout_psf(frequency, damping, 200)
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)
    # Dwell-binned weights are the exact integrals of the continuous PSF over each pixel.
    for k in range(4):
        piece, _ = integrate.quad(f, k, k + 1)
        assert float(kernel[k]) == pytest.approx(piece, rel=1e-6, abs=1e-10)


def test_underdamped_readout_rings_below_zero():
    assert float(readout_psf(2.0, 0.2, 32).min()) < 0


def test_fast_scan_is_causal_and_preserves_line_means():
    params = FastScanParams(detector_width=0.8, readout_frequency=1.2, readout_damping=0.5, kernel_length=16)
    impulse = torch.zeros((1, 3, 40), dtype=torch.float64)
    impulse[0, 1, 10] = 1.0
    out = fast_scan_noise(impulse, params)
    assert torch.equal(out[0, 1, :10], torch.zeros(10, dtype=torch.float64))
    assert torch.equal(out[0, 0], torch.zeros(40, dtype=torch.float64))
    kernel = fast_scan_kernel(params)
    assert torch.allclose(out[0, 1, 10:26], kernel, atol=1e-14)
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)
    constant = np.full((5, 30), 7.5)
    assert np.allclose(fast_scan_noise(constant, params), 7.5, atol=1e-12)


def test_zero_width_and_no_readout_is_identity_and_tail_is_reported():
    params = FastScanParams(detector_width=0.0, readout_frequency=None, kernel_length=8)
    x = torch.rand((2, 6, 20), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(fast_scan_noise(x, params), x, atol=1e-15)
    tail = psf_tail_mass(FastScanParams(detector_width=0.5, kernel_length=32))
    assert tail["detector"] == pytest.approx(1 - 2 / math.pi * math.atan(64), rel=1e-9)


def test_fast_scan_params_validate():
    with pytest.raises(ValueError, match="readout_damping"):
        FastScanParams(readout_damping=1.0)
    with pytest.raises(ValueError, match="detector_width"):
        FastScanParams(detector_width=-1)
    with pytest.raises(ValueError, match="kernel_length"):
        FastScanParams(kernel_length=1)


def test_combined_kernel_is_the_truncated_convolution_of_detector_and_readout():
    params = FastScanParams(detector_width=0.6, readout_frequency=0.9, readout_damping=0.4, kernel_length=24)
    detector = lorentzian_psf(0.6, 24).numpy()
    readout = readout_psf(0.9, 0.4, 24).numpy()
    expected = np.convolve(detector, readout)[:24]
    expected /= expected.sum()
    assert np.allclose(fast_scan_kernel(params).numpy(), expected, atol=1e-14)
