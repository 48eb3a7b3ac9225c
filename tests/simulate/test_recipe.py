import pytest

from simulate.recipe import COARSE_RECIPE, DEFAULT_RECIPE, HAADFRecipe, electron_wavelength


def test_default_recipe_meets_the_physical_requirements():
    r = DEFAULT_RECIPE
    assert r.energy_kv == 300 and 21 <= r.convergence_semiangle_mrad <= 22
    assert r.actual_sampling_A <= 0.03
    assert r.cutoff_angle_mrad >= r.detector_outer_mrad == 200
    assert r.scan_sampling_A <= r.nyquist_scan_sampling_A
    assert r.slice_thickness_A == pytest.approx(3.924 / 2)
    assert r.max_thickness_atoms == 75


def test_wavelength_at_300_kv():
    assert electron_wavelength(300.0) == pytest.approx(0.019687, abs=2e-6)


def test_cutoff_agrees_with_abtem():
    import abtem

    for recipe in (DEFAULT_RECIPE, COARSE_RECIPE):
        probe = abtem.Probe(energy=recipe.energy_kv * 1e3, semiangle_cutoff=recipe.convergence_semiangle_mrad,
                            gpts=recipe.grid_points, extent=recipe.supercell_extent_A)
        assert probe.cutoff_angles[0] == pytest.approx(recipe.cutoff_angle_mrad, rel=1e-6)


def test_unknown_fields_are_named():
    with pytest.raises(ValueError, match=r"unknown recipe field\(s\) \['voltage'\].*energy_kv"):
        HAADFRecipe.from_dict({"voltage": 300})


def test_detector_beyond_cutoff_is_rejected_with_the_fix():
    with pytest.raises(ValueError, match=r"detector_outer_mrad=200.*cutoff.*potential_sampling_A <= 0\.03"):
        DEFAULT_RECIPE.replace(potential_sampling_A=0.05)


@pytest.mark.parametrize("field, value", [
    ("max_thickness_atoms", 0), ("potential_sampling_A", -0.01), ("potential_sampling_A", 0.0),
    ("scan_points_per_cell", 10), ("energy_kv", 0), ("phonon_configurations", 0), ("lateral_cells", 0),
])
def test_bad_values_name_the_parameter(field, value):
    with pytest.raises(ValueError, match=rf"{field}"):
        DEFAULT_RECIPE.replace(**{field: value})


def test_json_round_trip_is_canonical():
    again = HAADFRecipe.from_dict(__import__("json").loads(DEFAULT_RECIPE.to_json()))
    assert again == DEFAULT_RECIPE and again.to_json() == DEFAULT_RECIPE.to_json()


def test_grids_are_even_and_fft_friendly():
    # abTEM 1.0.11 is wrong on odd grids (docs/thickness_series.md): the recipe must never produce one
    from simulate.recipe import fft_friendly_size

    for minimum in (1, 313, 314, 315, 521, 524, 525, 799):
        n = fft_friendly_size(minimum)
        assert n >= minimum and n % 2 == 0
        rest = n
        for prime in (2, 3, 5, 7):
            while rest % prime == 0:
                rest //= prime
        assert rest == 1
    for cells in range(1, 8):
        assert DEFAULT_RECIPE.replace(lateral_cells=cells).grid_points % 2 == 0
