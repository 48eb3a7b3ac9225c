import math

import numpy as np
import pytest
import torch
from scipy import integrate

from simulate.distortions import (
    FastScanParams,
    fast_scan_kernel,
    fast_scan_lag_px,
    fast_scan_matched_shift_px,
    fast_scan_noise,
    lorentzian_psf,
    lorentzian_psf_continuous,
    readout_normalisation,
    readout_psf,
    readout_psf_continuous,
)
from simulate.distortions.fast_scan import MATCHED_COLUMN_SIGMA_PX, psf_tail_mass

# (beta px, gamma px, theta rad): no phase, small and large phases, and a slightly negative one.
READOUTS = [(1.5, 6.0, 0.0), (0.7, 3.0, 0.4), (4.0, 20.0, math.pi / 4), (2.0, 2.5, math.pi / 2), (3.0, 9.0, -0.2)]


def _scalar(fn):
    return lambda t: float(fn(torch.tensor(t, dtype=torch.float64)))


@pytest.mark.parametrize("alpha", [0.3, math.pi, 12.0])
def test_detector_lorentzian_is_eq48_normalised_causal_with_hwhm_alpha_over_2pi(alpha):
    f = _scalar(lambda t: lorentzian_psf_continuous(t, alpha_px=alpha))
    assert f(-0.5) == 0.0 and f(-1e-9) == 0.0
    assert f(0.8) == pytest.approx(4 * alpha / (4 * math.pi**2 * 0.8**2 + alpha**2), rel=1e-14)  # 4 x eq. 48
    total, _ = integrate.quad(f, 0, np.inf)
    assert total == pytest.approx(1.0, abs=1e-8)
    assert f(alpha / (2 * math.pi)) == pytest.approx(f(0.0) / 2, rel=1e-12)
    kernel = lorentzian_psf(alpha, 64)
    assert bool((kernel >= 0).all()) and float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)
    assert bool((kernel[1:] <= kernel[:-1]).all())


@pytest.mark.parametrize("beta, gamma, theta", READOUTS)
def test_readout_psf_with_our_eq50_normalisation_integrates_to_one(beta, gamma, theta):
    f = _scalar(lambda t: readout_psf_continuous(t, beta_px=beta, gamma_px=gamma, theta_rad=theta))
    assert f(-0.3) == 0.0
    a = readout_normalisation(beta_px=beta, gamma_px=gamma, theta_rad=theta)
    assert f(0.0) == pytest.approx(a * math.sin(theta), abs=1e-15)
    total, _ = integrate.quad(f, 0, 80 * beta, limit=2000)
    assert total == pytest.approx(1.0, abs=1e-8)
    # Dwell-binned weights are the exact integrals over each pixel (the tail beyond 200 px is < e^-50).
    kernel = readout_psf(beta_px=beta, gamma_px=gamma, theta_rad=theta, length=200)
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)
    for k in range(5):
        piece, _ = integrate.quad(f, k, k + 1)
        assert float(kernel[k]) == pytest.approx(piece, rel=1e-7, abs=1e-11)


@pytest.mark.parametrize("beta, gamma, theta", READOUTS)
def test_printed_eq50_is_the_unnormalised_integral_at_doubled_frequency(beta, gamma, theta):
    printed = beta * gamma * (gamma * math.sin(theta) + 4 * math.pi * beta * math.cos(theta)) / (
        gamma**2 + 16 * math.pi**2 * beta**2)
    doubled, _ = integrate.quad(lambda t: math.exp(-t / beta) * math.sin(4 * math.pi * t / gamma + theta),
                                0, 80 * beta, limit=2000)
    assert printed == pytest.approx(doubled, rel=1e-7)
    single, _ = integrate.quad(lambda t: math.exp(-t / beta) * math.sin(2 * math.pi * t / gamma + theta),
                               0, 80 * beta, limit=2000)
    assert readout_normalisation(beta_px=beta, gamma_px=gamma, theta_rad=theta) == pytest.approx(1 / single, rel=1e-7)
    assert abs(printed * single - 1.0) > 0.05  # the printed value does not normalise


def test_readout_with_a_non_positive_integral_is_rejected():
    with pytest.raises(ValueError, match="positive integral"):
        FastScanParams(readout_beta_px=2.0, readout_gamma_px=4.0, readout_theta_rad=-math.pi / 2)
    with pytest.raises(ValueError, match="positive integral"):
        readout_psf_continuous(torch.zeros(1), beta_px=1.0, gamma_px=2.0, theta_rad=math.pi)


def test_underdamped_readout_rings_below_zero():
    assert float(readout_psf(beta_px=3.0, gamma_px=4.0, theta_rad=0.0, length=32).min()) < 0


def test_default_kernel_is_the_earlier_oscillator_form():
    # beta = 1/(zeta w0), gamma = 2 pi / w_d with w0 = 1, zeta = 0.6, w_d = 0.8: (w0²/w_d) e^{-zeta w0 t} sin(w_d t).
    params = FastScanParams()
    t = torch.linspace(0, 20, 201, dtype=torch.float64)
    ours = readout_psf_continuous(t, beta_px=params.readout_beta_px, gamma_px=params.readout_gamma_px,
                                  theta_rad=params.readout_theta_rad)
    assert torch.allclose(ours, torch.exp(-0.6 * t) * torch.sin(0.8 * t) / 0.8, atol=1e-14)
    assert params.detector_hwhm_px == pytest.approx(0.5, rel=1e-15)


def test_fast_scan_is_causal_and_preserves_line_means():
    params = FastScanParams(detector_alpha_px=5.0, readout_beta_px=1.2, readout_gamma_px=5.0,
                            readout_theta_rad=0.3, kernel_length_px=16)
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


def _column(width=160, centre=48.3, sigma=2.0):
    xs = torch.arange(width, dtype=torch.float64)
    return xs, torch.exp(-((xs - centre) ** 2) / (2 * sigma**2)).expand(3, 5, width).clone()


def _moments(xs, profile):
    centroid = float((xs * profile).sum() / profile.sum())
    return centroid, float(((xs - centroid) ** 2 * profile).sum() / profile.sum())


# Default, long read-out with a phase, and a strong late undershoot whose centroid is negative.
SHIFT_CASES = [
    {},
    {"detector_alpha_px": 2 * math.pi * 1.5, "readout_beta_px": 4.0, "readout_gamma_px": 20.0,
     "readout_theta_rad": 1.0},
    {"detector_alpha_px": 0.5, "readout_beta_px": 5.0, "readout_gamma_px": 32.0, "readout_theta_rad": 1.55},
    {"detector_alpha_px": 6.0, "readout_beta_px": None},
]


@pytest.mark.parametrize("case", SHIFT_CASES)
def test_causal_kernel_moves_a_column_by_exactly_its_lag_and_centroid_mode_keeps_it(case):
    # A discrete convolution adds centroids exactly; the only error is the column's mass outside the
    # line (exp(-48²/8) here), so the tolerance is round-off on ~160 px.
    xs, image = _column()
    before, _ = _moments(xs, image[0, 0])
    causal = FastScanParams(**case)
    lag = fast_scan_lag_px(causal)
    after, _ = _moments(xs, fast_scan_noise(image, causal)[0, 0])
    assert after - before == pytest.approx(lag, abs=1e-9)
    centred = FastScanParams(**case, align="centroid")
    aligned = fast_scan_noise(image, centred)
    assert _moments(xs, aligned[0, 0])[0] == pytest.approx(before, abs=1e-9)
    assert float(aligned.max()) < 0.95 * float(image.max())  # still blurred
    assert float(aligned.sum()) == pytest.approx(float(image.sum()), rel=1e-12)
    # Same blur: the causal result moved back by the lag with linear interpolation.
    whole, frac = math.floor(lag), lag - math.floor(lag)
    causal_line = fast_scan_noise(image, causal)[0, 0]
    inner = slice(40, 100)
    expected = (1 - frac) * causal_line.roll(-whole) + frac * causal_line.roll(-whole - 1)
    assert torch.allclose(aligned[0, 0, inner], expected[inner], atol=1e-12)
    assert fast_scan_lag_px(centred) == lag  # the lag describes the causal kernel


def _fixed_width_fit_px(xs, line, sigma_px):
    # Least squares of a * exp(-(x - x0)²/(2 σ²)) with σ fixed: a is linear, so the fit maximises
    # (Σ line·g)² / Σ g² over x0; Σ g² does not depend on x0 far from the line ends.
    from scipy.optimize import minimize_scalar

    def cost(x0):
        g = np.exp(-((xs - x0) ** 2) / (2 * sigma_px**2))
        return -float(line @ g) ** 2 / float(g @ g)

    start = float(xs[np.argmax(line)])
    return minimize_scalar(cost, bounds=(start - 4, start + 4), method="bounded", options={"xatol": 1e-7}).x


@pytest.mark.parametrize("case", SHIFT_CASES)
def test_matched_alignment_keeps_a_fixed_width_gaussian_fit_in_place(case):
    # The shift is found on a 1e-3 px grid, so a column fit after the matched blur may move by that much
    # (2e-3 px allows the grid step twice: initial peak and refinement); the centroid alignment, which
    # the skewed kernels make over-correct, must miss by far more in the default case.
    sigma = MATCHED_COLUMN_SIGMA_PX
    xs, image = _column(sigma=sigma)
    xs = xs.numpy()
    centre = _fixed_width_fit_px(xs, image[0, 0].numpy(), sigma)
    assert centre == pytest.approx(48.3, abs=1e-5)
    matched = fast_scan_noise(image, FastScanParams(**case, align="matched"))[0, 0].numpy()
    assert _fixed_width_fit_px(xs, matched, sigma) == pytest.approx(centre, abs=2e-3)
    causal = FastScanParams(**case)
    moved = _fixed_width_fit_px(xs, fast_scan_noise(image, causal)[0, 0].numpy(), sigma) - centre
    # The applied shift also absorbs the skew of the interpolation's own blur (variance f(1 - f) <= 1/4 px²),
    # so it is close to, not equal to, how far the causal blur moves the fit.
    assert fast_scan_matched_shift_px(causal) == pytest.approx(moved, abs=0.05)
    assert float(matched.sum()) == pytest.approx(float(image[0, 0].sum()), rel=1e-12)
    if case == {}:
        centred = fast_scan_noise(image, FastScanParams(align="centroid"))[0, 0].numpy()
        assert _fixed_width_fit_px(xs, centred, sigma) - centre < -0.3


def test_matched_shift_of_a_batch_equals_single_shifts_and_needs_positive_sigma():
    params = [FastScanParams(**case) for case in SHIFT_CASES]
    batch = fast_scan_matched_shift_px(params)
    assert batch.shape == (len(SHIFT_CASES),)
    for value, p in zip(batch.tolist(), params):
        assert value == pytest.approx(fast_scan_matched_shift_px(p), abs=1e-12)
    with pytest.raises(ValueError, match="sigma_px"):
        fast_scan_matched_shift_px(params[0], sigma_px=0.0)


def test_lag_of_the_default_kernel_and_the_zero_kernel():
    assert fast_scan_lag_px(FastScanParams()) == pytest.approx(1.6499, abs=1e-4)
    identity = FastScanParams(detector_alpha_px=0.0, readout_beta_px=None, kernel_length_px=8)
    assert fast_scan_lag_px(identity) == 0.0
    x = torch.rand((2, 6, 20), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(fast_scan_noise(x, identity), x, atol=1e-15)
    assert torch.allclose(fast_scan_noise(x, FastScanParams(detector_alpha_px=0.0, readout_beta_px=None,
                                                            align="centroid")), x, atol=1e-15)


def test_tail_mass_is_reported():
    tail = psf_tail_mass(FastScanParams(detector_alpha_px=math.pi, readout_beta_px=None, kernel_length_px=32))
    assert tail["detector"] == pytest.approx(1 - 2 / math.pi * math.atan(64), rel=1e-9)
    assert tail["readout"] == 0.0


def test_fast_scan_params_validate():
    with pytest.raises(ValueError, match="detector_alpha_px"):
        FastScanParams(detector_alpha_px=-1)
    with pytest.raises(ValueError, match="kernel_length_px"):
        FastScanParams(kernel_length_px=1)
    with pytest.raises(ValueError, match="align"):
        FastScanParams(align="centre")
    with pytest.raises(ValueError, match="readout_gamma_px"):
        FastScanParams(readout_gamma_px=0.0)
    with pytest.raises(ValueError, match="increase kernel_length_px"):
        FastScanParams(detector_alpha_px=200.0, kernel_length_px=4)
    with pytest.raises(TypeError):
        FastScanParams(1.5, 0.6, 0.3)  # keyword-only


def test_combined_kernel_is_the_truncated_convolution_of_detector_and_readout():
    params = FastScanParams(detector_alpha_px=3.8, readout_beta_px=1.1, readout_gamma_px=7.0,
                            readout_theta_rad=0.5, kernel_length_px=24)
    detector = lorentzian_psf(3.8, 24).numpy()
    readout = readout_psf(beta_px=1.1, gamma_px=7.0, theta_rad=0.5, length=24).numpy()
    expected = np.convolve(detector, readout)[:24]
    expected /= expected.sum()
    assert np.allclose(fast_scan_kernel(params).numpy(), expected, atol=1e-14)
