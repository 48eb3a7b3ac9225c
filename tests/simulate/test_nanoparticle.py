"""The spherical Pt nanoparticle along [100]: direct column count, atoms per column, 4mm symmetry."""
import numpy as np
import pytest

from simulate.nanoparticle import NanoparticleSpecimen, build_nanoparticle


@pytest.fixture(scope="module")
def particle():
    return build_nanoparticle()


def _direct_count(diameter_cells, a=3.924):
    """Brute force: every fcc site of a large cube within the sphere, counted per (x, y) column."""
    counts = {}
    n = int(diameter_cells) + 2
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.array([(i, j, k) for i in range(-n, n) for j in range(-n, n) for k in range(-n, n)])
    sites = (cells[:, None, :] + basis[None]).reshape(-1, 3) * a
    inside = sites[np.linalg.norm(sites, axis=1) <= diameter_cells * a / 2 + 1e-6]
    for x, y, _ in np.round(inside, 4):
        counts[(x, y)] = counts.get((x, y), 0) + 1
    return counts


def test_columns_and_atoms_match_a_direct_count(particle):
    columns = particle.columns()
    direct = _direct_count(11)
    assert len(columns.atoms_per_column) == len(direct) == 373
    assert columns.atoms_per_column.sum() == sum(direct.values()) == len(particle.atoms) == 2779
    relative = np.round(columns.positions_A - particle.centre_A[:2], 4)
    ours = {tuple(p): int(n) for p, n in zip(relative, columns.atoms_per_column)}
    assert ours == direct
    assert columns.atoms_per_column.max() == 11  # the central column spans the diameter: 2·5 + 1 atoms


def test_projection_is_4mm_symmetric(particle):
    columns = particle.columns()
    relative = columns.positions_A - particle.centre_A[:2]
    table = {tuple(np.round(p, 3)): n for p, n in zip(relative, columns.atoms_per_column)}
    for x, y in list(table):
        for image in ((-y, x), (x, -y), (-x, y), (y, x)):  # 90° rotation and mirrors
            assert table[tuple(np.round(image, 3) + 0.0)] == table[(x, y)]


def test_particle_fits_in_its_cell_with_planes_mid_slice(particle):
    positions, lengths = particle.atoms.positions, particle.atoms.cell.lengths()
    assert positions[:, :2].min() >= 2.8 - 1e-9 and np.all(positions[:, :2].max(axis=0) <= lengths[:2] - 2.8 + 1e-9)
    planes = np.unique(np.round(positions[:, 2] / (3.924 / 2) - 0.5, 6))
    assert np.allclose(planes, np.round(planes)) and planes.min() == 0
    assert lengths[2] == pytest.approx((planes.max() + 1) * 3.924 / 2)


def test_smaller_particle_and_invalid_input():
    small = build_nanoparticle(NanoparticleSpecimen(diameter_cells=3.0))
    direct = _direct_count(3)
    assert len(small.columns().atoms_per_column) == len(direct)
    with pytest.raises(ValueError, match="diameter_cells"):
        NanoparticleSpecimen(diameter_cells=0.5)
