import numpy as np
import pytest
from scipy.spatial import cKDTree

from simulate.synthetic.cells import random_unit_cell
from simulate.synthetic.geometry import apply_wedges, sample_orientation, tile_crystal
from simulate.synthetic.specimens import (
    amorphous_layer,
    individual_points,
    number_density_per_a3,
    sample_specimen,
)


def test_amorphous_layer_density_and_minimum_distance():
    rng = np.random.default_rng(5)
    # Pt at 5 g/cm³ with d = 1.2 Å is a loose packing, so the requested density must be reached.
    positions, numbers, record = amorphous_layer((40.0, 40.0, 30.0), rng, atomic_number=78, min_distance=1.2,
                                                 density=5.0)
    assert set(numbers.tolist()) == {78}
    assert len(cKDTree(positions).query_pairs(1.2)) == 0
    assert record["density"] == pytest.approx(5.0, rel=0.02)
    expected = number_density_per_a3(5.0, 78) * 40 * 40 * 30
    assert len(positions) == pytest.approx(expected, rel=0.02)
    assert np.all((positions >= 0) & (positions <= [40, 40, 30]))


def test_amorphous_light_element_density_is_capped_not_violated():
    rng = np.random.default_rng(1)
    positions, _, record = amorphous_layer((20.0, 20.0, 20.0), rng, atomic_number=1, min_distance=1.5, density=7.0)
    assert len(cKDTree(positions).query_pairs(1.5)) == 0
    assert record["density"] < record["density_requested"]


def test_tiled_crystal_fills_box_at_crystal_density():
    rng = np.random.default_rng(3)
    unit = random_unit_cell(rng, species=[29], min_distance=2.0)
    rotation, _ = sample_orientation(unit.cell, rng)
    box = (60.0, 50.0, 40.0)
    positions, numbers = tile_crystal(unit.cell, unit.cartesian_positions, unit.numbers, rotation, box, rng)
    assert np.all((positions >= 0) & (positions < box))
    expected = len(unit.numbers) / unit.volume * np.prod(box)
    assert len(positions) == pytest.approx(expected, rel=0.1)
    assert cKDTree(positions).query_pairs(unit.min_distance * (1 - 1e-6)) == set()


def test_zone_axis_orientation_aligns_lattice_direction_with_beam():
    rng = np.random.default_rng(0)
    unit = random_unit_cell(rng, species=[14], min_distance=2.0)
    for _ in range(20):
        rotation, record = sample_orientation(unit.cell, rng)
        if record["orientation"] == "zone_axis":
            direction = rotation @ (np.array(record["zone_axis"]) @ unit.cell)
            tilt = np.degrees(np.arccos(direction[2] / np.linalg.norm(direction)))
            assert tilt <= np.hypot(*record["mistilt_deg"]) + 1e-6


def test_wedge_thins_the_specimen_along_its_direction():
    rng = np.random.default_rng(0)
    positions = rng.random((20000, 3)) * [100, 100, 50]
    for _ in range(10):
        keep, record = apply_wedges(positions, (100, 100, 50), rng)
        if record["wedge"] is not None:
            assert 0 < keep.sum() < len(keep)
            break
    else:
        pytest.fail("no wedge drawn in 10 tries at p = 0.75")


def test_points_keep_minimum_distance_in_pixels():
    rng = np.random.default_rng(4)
    positions, _, record = individual_points((50.0, 50.0), 0.2, rng)
    d = record["min_distance_px"] * 0.2
    assert len(cKDTree(positions[:, :2]).query_pairs(d)) == 0
    assert np.all(positions[:, 2] == 0)


@pytest.mark.parametrize("kind", ["crystalline", "amorphous", "points"])
def test_sample_specimen_box_and_record(kind):
    rng = np.random.default_rng(7)
    specimen = sample_specimen(rng, 64, pixel_size=0.2, kind=kind, margin_px=10)
    side = (64 + 20) * 0.2
    assert specimen.box[0] == pytest.approx(side)
    assert specimen.kind == kind and specimen.record["kind"] == kind
    assert len(specimen.numbers) == len(specimen.positions) > 0
    inside = (specimen.positions[:, :2] > -3) & (specimen.positions[:, :2] < side + 3)  # defects move ≤ r_cov
    assert inside.all()


@pytest.mark.parametrize("kwargs", [{"pixel_size": 0.01}, {"pixel_size": 1.0}, {"kind": "liquid"}, {"size": 4}])
def test_sample_specimen_rejects_bad_arguments(kwargs):
    arguments = {"size": 64} | kwargs
    with pytest.raises(ValueError):
        sample_specimen(np.random.default_rng(0), **arguments)


def test_support_layer_is_light_and_below_the_specimen():
    rng = np.random.default_rng(12)
    seen = 0
    for _ in range(12):
        specimen = sample_specimen(rng, 32, pixel_size=0.3, kind="crystalline", margin_px=4)
        support = specimen.record["support"]
        if support is None:
            continue
        seen += 1
        thickness = specimen.record["crystal"]["thickness"]
        below = specimen.positions[:, 2] > thickness + 2.5  # beyond any defect displacement (covalent radius)
        assert set(specimen.numbers[below].tolist()) <= {5, 6, 7, 8, 12, 13, 14}
    assert seen >= 8  # p = 0.95
