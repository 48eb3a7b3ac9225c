import numpy as np
import pytest
from scipy.integrate import quad

from simulate.synthetic.radial import (
    PROFILE_REACH_BOUND_A,
    RadialProfiles,
    profile_width_A,
    projected_potential_rms_radius,
    radius_map_coefficients,
    sample_profiles,
    scale_profile_widths,
    unit_term_integrals_A2,
)


def test_lobato_table_matches_abtem_and_rms_radius_matches_numerical_moment():
    from abtem.parametrizations import LobatoParametrization

    parametrization = LobatoParametrization()
    r = np.geomspace(1e-6, 200.0, 200_000)
    for symbol, z in (("C", 6), ("Si", 14), ("Pt", 78), ("U", 92)):
        v = parametrization.projected_potential(symbol)(r).astype(float)
        numerical = np.sqrt(np.trapezoid(r**3 * v, r) / np.trapezoid(r * v, r))
        assert projected_potential_rms_radius(z) == pytest.approx(numerical, rel=1e-4)


@pytest.mark.parametrize("order", [4.0, 5.37, 9.5, 15.9])
def test_term_integrals_match_quadrature_for_non_integer_order(order):
    r_m = 0.83
    f = [
        lambda r: np.exp(-(r**2) / (2 * r_m**2)),
        lambda r: np.exp(-r / r_m),
        lambda r: 1 / (1 + (r / r_m) ** (2 * order)),
    ]
    analytic = unit_term_integrals_A2(r_m, order)
    for term, expected in zip(f, analytic):
        numerical = quad(lambda r, term=term: 2 * np.pi * r * term(r), 0, np.inf, limit=200)[0]
        assert expected == pytest.approx(numerical, rel=1e-7)


def test_profile_is_eq17_with_one_shared_width_and_peak_h1_plus_h2_plus_h3():
    heights = np.array([[0.6, 0.9, 0.7]])
    profiles = RadialProfiles(np.array([50]), np.array([0.8]), heights, 6.3, 1.0)
    r = np.array([0.0, 0.4, 0.8, 2.0])
    u = r / 0.8
    expected = 0.6 * np.exp(-(u**2) / 2) + 0.9 * np.exp(-u) + 0.7 / (1 + u**12.6)
    assert np.allclose(profiles.evaluate(r)[0], expected, rtol=1e-12)
    assert profiles.evaluate(np.array([0.0]))[0, 0] == pytest.approx(0.6 + 0.9 + 0.7)
    radial = np.linspace(0, 60, 600_001)
    integral = np.trapezoid(2 * np.pi * radial * profiles.evaluate(radial)[0], radial)
    assert integral == pytest.approx(profiles.integrated_intensity()[0], rel=1e-6)


@pytest.mark.parametrize("alpha", [0.75, 0.9, 1.0, 1.13, 1.25])
def test_radius_map_keeps_table_mean_and_std(alpha):
    table = np.array([projected_potential_rms_radius(z) for z in range(1, 104)])
    a, b = radius_map_coefficients(alpha)
    mapped = a * table**alpha + b
    assert mapped.mean() == pytest.approx(table.mean(), rel=1e-12)
    assert mapped.std() == pytest.approx(table.std(), rel=1e-12)
    assert np.allclose(profile_width_A(np.arange(1, 104), alpha), mapped)
    if alpha == 1.0:
        assert (a, b) == pytest.approx((1.0, 0.0), abs=1e-12)


def _random_species(rng):
    return rng.choice(np.arange(1, 104), size=rng.integers(1, 9), replace=False)


@pytest.mark.parametrize("numbers", [[6, 55, 78], [55, 78], [1, 55], [6, 14, 55, 78, 92], None])
def test_integrated_intensity_increases_with_z(numbers):
    rng = np.random.default_rng(0)
    paths = set()
    for _ in range(60):
        species = _random_species(rng) if numbers is None else numbers
        profiles = sample_profiles(species, rng)
        paths.add(profiles.ordering)
        assert np.all(np.diff(profiles.numbers) > 0)
        assert np.all(np.diff(profiles.integrated_intensity()) > 0)
        assert profiles.heights.shape == (len(profiles.numbers), 3)
        assert profiles.heights.max() <= 1.0 + 1e-12 and profiles.heights.min() > 0
        if profiles.ordering == "rejection":
            assert profiles.heights.min() >= 0.5
    if numbers == [55, 78]:
        assert paths == {"rescaled"}  # Cs's r_m is twice Pt's: no heights in [0.5, 1] order them


def test_scaling_the_widths_keeps_heights_and_the_z_ordering():
    rng = np.random.default_rng(3)
    for _ in range(20):
        profiles = sample_profiles(_random_species(rng), rng)
        scaled = scale_profile_widths(scale_profile_widths(profiles, 0.5), 0.6)
        assert np.allclose(scaled.r_m_A, 0.3 * profiles.r_m_A, rtol=1e-12)
        assert np.array_equal(scaled.heights, profiles.heights)
        assert scaled.width_factor == pytest.approx(0.3, rel=1e-12)
        assert np.allclose(scaled.integrated_intensity(), 0.09 * profiles.integrated_intensity(), rtol=1e-12)
        assert np.all(np.diff(scaled.integrated_intensity()) > 0)
        assert scaled.to_record()["width_factor"] == pytest.approx(0.3) and "width_factor" not in profiles.to_record()
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="factor"):
            scale_profile_widths(profiles, bad)


def test_order_and_alpha_are_continuous_uniform():
    rng = np.random.default_rng(1)
    draws = [sample_profiles([29], rng) for _ in range(400)]
    orders = np.array([p.butterworth_order for p in draws])
    alphas = np.array([p.alpha for p in draws])
    assert orders.min() >= 4 and orders.max() <= 16 and alphas.min() >= 0.75 and alphas.max() <= 1.25
    assert np.mean(orders != np.round(orders)) == 1.0
    # Uniform on [4, 16]: mean 10, std 12/√12; 5-sigma bound on the sample mean of 400 draws.
    assert abs(orders.mean() - 10.0) < 5 * (12 / np.sqrt(12)) / np.sqrt(400)


def test_support_radius_bounds_the_profile_and_the_global_reach_bound():
    rng = np.random.default_rng(3)
    for _ in range(40):
        profiles = sample_profiles(_random_species(rng), rng)
        radius = profiles.support_radius()
        values = profiles.evaluate(np.array([radius]))[:, 0] / profiles.peak
        assert np.all(values <= 1e-3 * (1 + 1e-9))
        assert radius <= PROFILE_REACH_BOUND_A
    alphas = np.linspace(0.75, 1.25, 101)
    widest = max(profile_width_A(np.arange(1, 104), alpha).max() for alpha in alphas)
    assert widest * np.log(0.5 * 3 / 1e-3) <= PROFILE_REACH_BOUND_A


def test_invalid_atomic_number_raises():
    with pytest.raises(ValueError):
        projected_potential_rms_radius(104)
    with pytest.raises(ValueError, match="must be in"):
        sample_profiles([0, 6], np.random.default_rng(0))
    with pytest.raises(ValueError, match="empty"):
        sample_profiles([], np.random.default_rng(0))
