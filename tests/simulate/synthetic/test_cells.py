import numpy as np
import pytest

from simulate.synthetic.cells import MAX_SPECIES, random_unit_cell, sample_species


def _brute_force_min_distance(cell, positions, images=2):
    shifts = np.array([[i, j, k] for i in range(-images, images + 1) for j in range(-images, images + 1)
                       for k in range(-images, images + 1)]) @ cell
    diff = positions[:, None, None, :] - positions[None, :, None, :] + shifts[None, None]
    distance = np.linalg.norm(diff, axis=-1)
    distance[distance < 1e-9] = np.inf  # the atom itself
    return distance.min()


def test_cells_respect_minimum_distance_and_lattice_bounds():
    rng = np.random.default_rng(11)
    for _ in range(25):
        unit = random_unit_cell(rng)
        lengths = np.linalg.norm(unit.cell, axis=1)
        assert lengths.max() <= 25.0 + 1e-9 and lengths.min() >= 3.1 - 1e-9
        assert 0.95 <= unit.min_distance <= 7.0
        if len(unit.numbers) <= 48:  # brute force stays cheap
            nearest = _brute_force_min_distance(unit.cell, unit.cartesian_positions)
            assert nearest >= unit.min_distance * (1 - 1e-6)
            # Nearest neighbours sit at the minimum distance unless the 3.1 Å lattice bound forbids it.
            assert nearest == pytest.approx(unit.min_distance, rel=1e-6) or lengths.min() == pytest.approx(3.1)
        assert 1 <= unit.spacegroup <= 230
        assert 1 <= len(set(unit.numbers.tolist())) <= MAX_SPECIES
        assert unit.numbers.min() >= 1 and unit.numbers.max() <= 103


def test_fixed_species_and_distance_are_kept():
    rng = np.random.default_rng(2)
    unit = random_unit_cell(rng, species=[8, 78], min_distance=1.5)
    assert set(unit.numbers.tolist()) <= {8, 78}
    assert unit.min_distance == 1.5


def test_sample_species_counts_and_range():
    rng = np.random.default_rng(0)
    counts = [len(sample_species(rng)) for _ in range(400)]
    assert max(counts) <= 16 and min(counts) == 1 and max(counts) > 3
    species = sample_species(rng, 16)
    assert len(set(species.tolist())) == len(species)


@pytest.mark.parametrize("kwargs", [{"min_distance": 0.5}, {"species": [0]}, {"species": [104]}])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        random_unit_cell(np.random.default_rng(0), **kwargs)
