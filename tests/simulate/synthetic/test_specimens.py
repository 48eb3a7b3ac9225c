import numpy as np
import pytest
from ase.data import covalent_radii
from scipy.spatial import cKDTree

from simulate.synthetic.cells import random_unit_cell
from simulate.synthetic.geometry import apply_defects, apply_shape, apply_wedges, sample_orientation, tile_crystal
from simulate.synthetic.specimens import (
    PIXEL_SIZE_RANGE_A,
    amorphous_layer,
    individual_points,
    number_density_per_a3,
    sample_pixel_size_A,
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


def test_points_keep_minimum_distance_in_3d_inside_the_box():
    rng = np.random.default_rng(4)
    positions, _, record = individual_points((20.0, 20.0, 20.0), pixel_size_A=0.2, generator=rng)
    d = record["min_distance_px"] * 0.2
    assert 1.0 <= record["min_distance_px"] <= 20.0
    assert len(cKDTree(positions).query_pairs(d)) == 0
    assert np.all((positions >= 0) & (positions < 20.0)) and np.ptp(positions[:, 2]) > 0


def test_pixel_size_is_uniform():
    rng = np.random.default_rng(0)
    draws = np.array([sample_pixel_size_A(rng) for _ in range(4000)])
    low, high = PIXEL_SIZE_RANGE_A
    assert draws.min() >= low and draws.max() <= high
    # 5-sigma bounds on the sample mean and on the fraction below 0.1 Å (log-uniform would give 0.39).
    assert abs(draws.mean() - (low + high) / 2) < 5 * (high - low) / np.sqrt(12 * len(draws))
    p = (0.1 - low) / (high - low)
    assert abs(np.mean(draws < 0.1) - p) < 5 * np.sqrt(p * (1 - p) / len(draws))


@pytest.mark.parametrize("kind", ["crystalline", "amorphous", "points"])
def test_sample_specimen_box_and_record(kind):
    rng = np.random.default_rng(7)
    specimen = sample_specimen(rng, 64, pixel_size_A=0.2, kind=kind, margin_px=10)
    side = (64 + 20) * 0.2
    assert specimen.box[0] == pytest.approx(side) and specimen.record["box_side_A"] == pytest.approx(side)
    assert specimen.kind == kind and specimen.record["kind"] == kind
    assert len(specimen.numbers) == len(specimen.positions) > 0
    inside = (specimen.positions[:, :2] > -10) & (specimen.positions[:, :2] < side + 10)  # defects: N(0, r_cov)
    assert inside.all()


def test_specimen_fills_the_cubic_box_unless_the_atom_budget_thins_it():
    rng = np.random.default_rng(3)
    side = (24 + 8) * 0.25
    for kind, key in (("crystalline", "crystal"), ("amorphous", "amorphous")):
        specimen = sample_specimen(rng, 24, pixel_size_A=0.25, kind=kind, margin_px=4)
        layer = specimen.record[key]
        assert layer["thickness_requested"] == pytest.approx(side)  # l_z = n_z^e · dr
        assert layer["thickness"] <= side + 1e-9
        side_thin = (64 + 8) * 0.5
        thin = sample_specimen(rng, 64, pixel_size_A=0.5, kind=kind, margin_px=4, max_atoms=20)
        assert thin.record[key]["thickness_requested"] == pytest.approx(side_thin)
        assert thin.record[key]["thickness"] < side_thin
        support = 0 if thin.record["support"] is None else 10
        assert len(thin.numbers) <= 3 * (20 + support)  # budget, up to the crystal's partial cells


@pytest.mark.parametrize("kwargs", [{"pixel_size_A": 0.01}, {"pixel_size_A": 1.0}, {"kind": "liquid"}, {"size": 4}])
def test_sample_specimen_rejects_bad_arguments(kwargs):
    arguments = {"size": 64} | kwargs
    with pytest.raises(ValueError):
        sample_specimen(np.random.default_rng(0), **arguments)


def test_support_layer_any_element_thickness_and_probability():
    rng = np.random.default_rng(12)
    seen, kinds, elements = 0, set(), set()
    for _ in range(40):
        specimen = sample_specimen(rng, 16, pixel_size_A=0.25, kind="amorphous", margin_px=2)
        support = specimen.record["support"]
        if support is None:
            continue
        seen += 1
        kinds.add(support["kind"])
        assert 10.0 <= support["thickness_requested"] <= 300.0
        assert "shape" not in support
        species = support["species"] if support["kind"] == "crystalline" else [support["Z"]]
        elements.update(species)
    # p = 0.95: 5-sigma lower bound on the count in 40 draws.
    assert seen >= 40 * 0.95 - 5 * np.sqrt(40 * 0.95 * 0.05)
    assert kinds == {"crystalline", "amorphous"}
    assert max(elements) > 14  # not restricted to light support-film elements


def test_shapes_follow_the_papers_ranges():
    rng = np.random.default_rng(5)
    positions = rng.random((4000, 3)) * [40, 40, 40]
    seen = set()
    for _ in range(300):
        keep, record = apply_shape(positions, (40, 40, 40), rng, length_scale_A=30.0)
        shape = record["shape"]
        if shape is None:
            assert keep.all()
            continue
        seen.add(shape["kind"])
        if shape["kind"] == "polygon_rod":
            assert 3 <= shape["n_vertices"] <= 15 and 0.3 <= shape["radius_A"] <= 15.0
        elif shape["kind"] == "convex_polyhedron":
            assert 4 <= shape["n_vertices"] <= 20 and 0.3 <= shape["radius_A"] <= 15.0
        else:
            assert shape["normal"][2] == 0.0  # the cutting plane is parallel to z
            along = positions[:, :2] @ np.array(shape["normal"][:2])  # kept atoms: one side of the plane
            if 0 < keep.sum() < len(keep):
                assert along[keep].max() <= along[~keep].min() or along[keep].min() >= along[~keep].max()
    assert seen == {"polygon_rod", "convex_polyhedron", "half_space"}


def test_defects_select_at_most_a_quarter_and_displace_by_the_atomic_radius():
    rng = np.random.default_rng(6)
    positions = rng.random((2000, 3)) * 50
    numbers = np.full(2000, 78)
    actions = set()
    for _ in range(60):
        moved, keep, record = apply_defects(positions, numbers, rng)
        if record["defects"] is None:
            assert keep.all() and moved is positions
            continue
        n_selected = record["defects"]["n_selected"]
        assert 0 <= n_selected <= 500
        actions.add(record["defects"]["action"])
        if record["defects"]["action"] == "remove":
            assert (~keep).sum() == n_selected
        else:
            shift = (moved - positions)[np.any(moved != positions, axis=1)]
            assert len(shift) == n_selected
            if n_selected > 200:  # per-coordinate std = covalent radius of Pt; 5-sigma on the variance
                variance = (shift**2).mean()
                radius = covalent_radii[78]
                assert abs(variance / radius**2 - 1) < 5 * np.sqrt(2 / shift.size)
    assert actions == {"displace", "remove"}
