import numpy as np
import pytest

from simulate.synthetic.radial import RadialProfiles, projected_potential_rms_radius, sample_profiles


def test_lobato_table_matches_abtem_and_rms_radius_matches_numerical_moment():
    from abtem.parametrizations import LobatoParametrization

    parametrization = LobatoParametrization()
    r = np.geomspace(1e-6, 200.0, 200_000)
    for symbol, z in (("C", 6), ("Si", 14), ("Pt", 78), ("U", 92)):
        v = parametrization.projected_potential(symbol)(r).astype(float)
        numerical = np.sqrt(np.trapezoid(r**3 * v, r) / np.trapezoid(r * v, r))
        assert projected_potential_rms_radius(z) == pytest.approx(numerical, rel=1e-4)


def test_each_term_has_the_requested_rms_radius_and_integral():
    r = np.linspace(0, 40, 400_001)
    for weights in np.eye(3):
        profiles = RadialProfiles(np.array([50]), np.array([0.8]), np.array([1.0]), weights, 6, 1.0)
        f = profiles.evaluate(r)[0]
        assert f[0] == pytest.approx(1.0)
        integral = np.trapezoid(2 * np.pi * r * f, r)
        assert integral == pytest.approx(profiles.unit_integrals()[0], rel=1e-4)
        rms = np.sqrt(np.trapezoid(2 * np.pi * r**3 * f, r) / integral)
        assert rms == pytest.approx(0.8, rel=1e-3)


def test_integrated_intensity_increases_with_z_and_heights_bounded():
    rng = np.random.default_rng(0)
    for _ in range(50):
        numbers = rng.choice(np.arange(1, 104), size=rng.integers(1, 9), replace=False)
        profiles = sample_profiles(numbers, rng)
        assert np.all(np.diff(profiles.numbers) > 0)
        assert np.all(np.diff(profiles.integrated_intensity()) > 0)
        assert profiles.heights.max() <= 1.0 + 1e-12 and profiles.heights.min() > 0
        assert 0.75 <= profiles.alpha <= 1.25 and 4 <= profiles.butterworth_order <= 16


def test_support_radius_bounds_the_profile():
    profiles = sample_profiles([6, 79], np.random.default_rng(3))
    radius = profiles.support_radius()
    values = profiles.evaluate(np.array([radius]))[:, 0] / profiles.heights
    assert np.all(values <= 1e-3)


def test_invalid_atomic_number_raises():
    with pytest.raises(ValueError):
        projected_potential_rms_radius(104)
