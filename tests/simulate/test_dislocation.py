"""The Pt [112] edge dislocation: Burgers circuit, far-field decay, projected spacings, ground truth."""
import numpy as np
import pytest

from simulate.dislocation import (
    DislocationSpecimen,
    build_edge_dislocation,
    burgers_circuit,
    column_spacings,
    period_along_beam,
)


@pytest.fixture(scope="module")
def dislocation():
    return build_edge_dislocation(DislocationSpecimen(block_A=44.0))


@pytest.fixture(scope="module")
def columns(dislocation):
    return dislocation.columns()


def test_geometry_constants():
    assert period_along_beam() == pytest.approx(4.806, abs=1e-3)
    assert column_spacings() == pytest.approx((1.387, 2.266), abs=1e-3)


@pytest.mark.parametrize("start, steps", [((-6.0, -6.0), (9, 5)), ((-12.0, -11.0), (17, 10)),
                                          ((-15.0, -4.5), (21, 4))])
def test_burgers_circuit_around_the_core_closes_with_b(dislocation, columns, start, steps):
    closure = burgers_circuit(columns, start_A=dislocation.core_position_A + np.array(start), steps=steps)
    assert np.allclose(closure, dislocation.burgers_vector_A, atol=1e-6)
    assert np.linalg.norm(closure) == pytest.approx(3.924 / np.sqrt(2), abs=1e-3)  # |½[110]| = a/√2


@pytest.mark.parametrize("start", [(3.0, 3.0), (-12.0, 4.0), (-8.0, -14.0)])
def test_circuit_not_enclosing_the_core_closes(dislocation, columns, start):
    closure = burgers_circuit(columns, start_A=dislocation.core_position_A + np.array(start), steps=(4, 3))
    assert np.allclose(closure, 0.0)


def _neighbour_misfit(columns, core):
    """|Δ(displacement)| between each column and its +x neighbour [Å], and the pair's distance to the core."""
    dx, _ = column_spacings()
    reference = columns.reference_positions_A
    displacement = columns.positions_A - reference
    lookup = {tuple(np.round(r / 0.01).astype(int)): i for i, r in enumerate(reference)}
    misfit, radius = [], []
    for i, r in enumerate(reference):
        j = lookup.get(tuple(np.round((r + [dx, 0.0]) / 0.01).astype(int)))
        if j is None:
            continue
        step = displacement[j] - displacement[i]
        step[0] -= np.round(step[0] / (2 * dx)) * 2 * dx  # across the cut the field jumps by b = 2·dx
        misfit.append(np.linalg.norm(step))
        radius.append(np.linalg.norm((columns.positions_A[i] + columns.positions_A[j]) / 2 - core))
    return np.array(misfit), np.array(radius)


def test_strain_decays_like_one_over_r(dislocation, columns):
    misfit, radius = _neighbour_misfit(columns, dislocation.core_position_A)
    near = misfit[(radius > 5) & (radius < 8)].mean()
    far = misfit[(radius > 15) & (radius < 20)].mean()
    # elastic field: relative displacement of neighbours ~ b·dx/(2πr), so far/near ≈ 6.5/17.5 ≈ 0.37
    assert 0.2 < far / near < 0.6
    assert misfit[radius > 15].max() < 0.05  # well below the 1.39 Å spacing far from the core


def test_projected_spacings_far_from_the_core(dislocation, columns):
    reference, positions = columns.reference_positions_A, columns.positions_A
    lookup = {tuple(np.round(r / 0.01).astype(int)): i for i, r in enumerate(reference)}
    far = np.linalg.norm(positions - dislocation.core_position_A, axis=1) > 12
    for step, expected in (((1.387, 0.0), 1.387), ((0.0, 2.266), 2.266)):
        step = np.array(step) * column_spacings()[0 if step[0] else 1] / expected
        pairs = [(i, lookup.get(tuple(np.round((reference[i] + step) / 0.01).astype(int))))
                 for i in np.flatnonzero(far)]
        distances = np.array([np.linalg.norm(positions[j] - positions[i]) for i, j in pairs if j is not None])
        assert len(distances) > 100
        assert np.median(distances) == pytest.approx(expected, abs=0.01)
        assert np.percentile(np.abs(distances - expected), 90) < 0.05


def test_ground_truth_counts(dislocation, columns):
    assert np.all(columns.atoms_per_column == 6)  # six periods, one atom per column per period
    assert columns.atoms_per_column.sum() == len(dislocation.atoms)
    assert dislocation.atoms.cell.lengths()[2] == pytest.approx(6 * 4.806, abs=0.01)
    core_distance = np.linalg.norm(columns.positions_A - dislocation.core_position_A, axis=1)
    assert np.array_equal(columns.core_mask, core_distance <= 5.0)
    assert 10 < columns.core_mask.sum() < 40
    z = dislocation.atoms.positions[:, 2]
    assert z.min() > 0.1 and z.max() < dislocation.atoms.cell.lengths()[2] - 0.1


def test_the_extra_half_plane_has_one_more_pair_of_columns_above_the_glide_plane(dislocation, columns):
    core = dislocation.core_position_A
    relative = columns.positions_A - core
    in_band = np.abs(relative[:, 0]) < 12
    above = np.sum(in_band & (relative[:, 1] > 0) & (relative[:, 1] < 2.5))
    below = np.sum(in_band & (relative[:, 1] < 0) & (relative[:, 1] > -2.5))
    assert abs(above - below) == 2  # b = 2 column spacings: two extra (220) half-planes on one side


def test_invalid_specimen_is_rejected():
    with pytest.raises(ValueError, match="periods"):
        DislocationSpecimen(periods=0)
    with pytest.raises(ValueError, match="elastic_constants_gpa"):
        DislocationSpecimen(elastic_constants_gpa=(100.0, 200.0, 50.0))
