import numpy as np
import pytest

from simulate.structures import area_per_column, column_positions_in_cell, pt_001_supercell


def test_each_projected_column_holds_one_atom_per_cell():
    a = 3.924
    atoms = pt_001_supercell(2, 5, a)
    assert len(atoms) == 4 * 2 * 2 * 5
    xy = np.round(atoms.positions[:, :2] / (a / 2)).astype(int)
    columns, counts = np.unique(xy, axis=0, return_counts=True)
    assert len(columns) == 16  # 4 × 4 columns a/2 apart in a 2 × 2 cell supercell
    assert np.all(counts == 5)
    # atoms sit in the middle of their a/2 slice, never on a slice boundary
    z_in_slice = np.mod(atoms.positions[:, 2], a / 2)
    assert np.allclose(z_in_slice, a / 4)


def test_column_geometry():
    positions = column_positions_in_cell(3.924)
    distances = np.linalg.norm(positions[1:] - positions[0], axis=1)
    assert distances.min() == pytest.approx(1.962)
    assert area_per_column(3.924) == pytest.approx(3.924**2 / 4)


def test_bad_cell_counts():
    with pytest.raises(ValueError, match="thickness_cells"):
        pt_001_supercell(2, 0)
