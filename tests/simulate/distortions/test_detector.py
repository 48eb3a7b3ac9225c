import numpy as np
import pytest
import torch

from simulate.distortions import PmtParams, apply_dose, detector_noise, pmt_noise, poisson_noise


def test_dose_scaling_is_exact():
    intensity = np.random.default_rng(0).uniform(0, 0.1, (3, 8, 9))
    lam = apply_dose(intensity, dose_e_per_A2=500.0, pixel_size_A=0.25)
    assert np.array_equal(lam, 500.0 * 0.25 * 0.25 * intensity)
    assert np.allclose(apply_dose(intensity, dose_e_per_A2=1000.0, pixel_size_A=0.25), 2 * lam, rtol=1e-15, atol=0)
    per_image = apply_dose(intensity, dose_e_per_A2=[1.0, 2.0, 4.0], pixel_size_A=0.5)
    for i, dose in enumerate([1.0, 2.0, 4.0]):
        assert np.array_equal(per_image[i], dose * 0.5 * 0.5 * intensity[i])


def test_poisson_mean_and_variance_match_lambda():
    intensity = torch.full((4, 200, 250), 0.5)
    # lambda = 100 * 0.04 * 0.5 = 2
    counts = poisson_noise(intensity, dose_e_per_A2=100.0, pixel_size_A=0.2, generator=1)
    n = counts.numel()
    assert torch.equal(counts, counts.round())
    assert float(counts.mean()) == pytest.approx(2.0, abs=5 * np.sqrt(2.0 / n))
    assert float(counts.var()) == pytest.approx(2.0, rel=5 * np.sqrt(2.0 / n) * 1.5)


def test_sigma_counts_is_eq44_in_units_of_the_mean_pulse_and_fwhm_is_eq43():
    pmt = PmtParams(photons_per_electron=80.0, photons_variance=120.0, quantum_efficiency=0.25, dynode_gain=5.0)
    m_c, var_c, eta, delta, gain = 80.0, 120.0, 0.25, 5.0, 3.7e6  # G is arbitrary: it cancels
    sigma_anode = m_c * eta * gain * np.sqrt((1 - eta + 1 / (delta - 1)) / (m_c * eta) + var_c / m_c**2)
    assert pmt.sigma_counts == pytest.approx(sigma_anode / (m_c * eta * gain), rel=1e-12)
    assert pmt.fwhm_counts == pytest.approx(2 * np.sqrt(2 * np.log(2)) * pmt.sigma_counts, rel=1e-12)
    # Paper defaults (m_c = 100 "around 100" photons, Poisson flash, eta = 0.2, delta = 4).
    assert PmtParams().sigma_counts == pytest.approx(np.sqrt((0.8 + 1 / 3) / 20 + 0.01), rel=1e-12)


def test_pmt_noise_is_signal_independent_with_variance_sigma_squared():
    pmt = PmtParams(photons_per_electron=50.0, photons_variance=150.0, quantum_efficiency=0.1, dynode_gain=3.0)
    sigma2, n = pmt.sigma_counts**2, 200_000
    residuals = []
    for level in (0.0, 1000.0):
        counts = torch.full((8, 100, 250), level, dtype=torch.float64)
        residual = pmt_noise(counts, pmt, int(level) + 1) - counts
        residuals.append(residual)
        assert float(residual.mean()) == pytest.approx(0.0, abs=5 * np.sqrt(sigma2 / n))
        assert float(residual.var()) == pytest.approx(sigma2, rel=5 * np.sqrt(2.0 / n))
    # Same variance at n = 0 and n = 1000: the difference of two sample variances has sd sigma² sqrt(4/n).
    difference = float(residuals[1].var() - residuals[0].var())
    assert abs(difference) < 5 * sigma2 * np.sqrt(4.0 / n)


def test_detector_noise_mean_is_lambda_and_variance_lambda_plus_sigma_squared():
    pmt = PmtParams()
    lam, n = 20.0, 400_000
    intensity = torch.full((n // 1000, 25, 40), lam / (100.0 * 0.04), dtype=torch.float64)
    signal = detector_noise(intensity, dose_e_per_A2=100.0, pixel_size_A=0.2, params=pmt, generator=3)
    expected_var = lam + pmt.sigma_counts**2
    assert float(signal.mean()) == pytest.approx(lam, abs=5 * np.sqrt(expected_var / n))
    assert float(signal.var()) == pytest.approx(expected_var, rel=5 * np.sqrt(2.0 / n) * 1.5)


def test_sigma_squared_is_the_relative_variance_of_one_electrons_simulated_pulse():
    # Eq. 44 / (m_c eta G) is the relative spread of the anode pulse of a single detected electron.
    pmt = PmtParams(photons_per_electron=12.0, photons_variance=12.0, quantum_efficiency=0.3, dynode_gain=4.0)
    rng = np.random.default_rng(4)
    electrons, stages = 200_000, 12
    photons = rng.poisson(pmt.photons_per_electron, electrons)
    charge = rng.binomial(photons, pmt.quantum_efficiency).astype(np.int64)
    for _ in range(stages):  # each electron at a dynode releases Poisson(delta) secondaries
        charge = rng.poisson(pmt.dynode_gain * charge)
    relative = charge / (pmt.quantum_efficiency * pmt.photons_per_electron * pmt.dynode_gain**stages)
    assert relative.mean() == pytest.approx(1.0, abs=0.01)
    assert relative.var() == pytest.approx(pmt.sigma_counts**2, rel=0.03)


def test_pmt_validates_parameters_and_counts():
    with pytest.raises(ValueError, match="dynode_gain"):
        PmtParams(dynode_gain=1.0)
    with pytest.raises(ValueError, match="quantum_efficiency"):
        PmtParams(quantum_efficiency=0.0)
    with pytest.raises(ValueError, match="photons_variance"):
        PmtParams(photons_variance=-1.0)
    with pytest.raises(TypeError):
        PmtParams(100.0)  # keyword-only: the paper's symbols must be named
    with pytest.raises(ValueError, match="counts"):
        pmt_noise(-np.ones((4, 4)), PmtParams(), 0)


@pytest.mark.parametrize(
    "intensity, dose, pixel, match",
    [
        (np.full((4, 4), np.nan), 10.0, 0.2, "NaN"),
        (-np.ones((4, 4)), 10.0, 0.2, ">= 0"),
        (np.ones(4), 10.0, 0.2, "shape"),
        (np.ones((1, 1, 4, 4)), 10.0, 0.2, "shape"),
        (np.ones((4, 4)), 10.0, 0.0, "pixel_size_A"),
        (np.ones((4, 4)), 0.0, 0.2, "dose_e_per_A2"),
        (np.ones((4, 4)), -5.0, 0.2, "dose_e_per_A2"),
    ],
)
def test_bad_input_raises_clear_errors(intensity, dose, pixel, match):
    with pytest.raises(ValueError, match=match):
        poisson_noise(intensity, dose_e_per_A2=dose, pixel_size_A=pixel, generator=0)


def test_types_shapes_and_seeds():
    image = np.full((6, 7), 0.3)
    out = poisson_noise(image, dose_e_per_A2=50.0, pixel_size_A=0.5, generator=9)
    assert isinstance(out, np.ndarray) and out.shape == (6, 7)
    assert np.array_equal(out, poisson_noise(image, dose_e_per_A2=50.0, pixel_size_A=0.5, generator=9))
    tensor = poisson_noise(torch.full((2, 6, 7), 0.3), dose_e_per_A2=50.0, pixel_size_A=0.5,
                           generator=torch.Generator().manual_seed(1))
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (2, 6, 7)
