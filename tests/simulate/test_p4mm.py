import numpy as np
import pytest

from simulate import p4mm


def test_wedge_size_and_unfold_reproduce_a_symmetric_image():
    n = 20
    assert len(p4mm.irreducible_indices(n)) == 66
    y, x = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    # a p4mm-symmetric periodic function sampled on the grid
    cx, cy = np.cos(2 * np.pi * x / n), np.cos(2 * np.pi * y / n)
    image = cx + cy + 0.3 * cx * cy + 0.1 * (np.cos(4 * np.pi * x / n) * cy + cx * np.cos(4 * np.pi * y / n))
    wedge = np.array([image[j, i] for i, j in p4mm.irreducible_indices(n)])
    assert np.allclose(p4mm.unfold(wedge, n), image)


def test_unfolded_images_have_all_eight_symmetries():
    rng = np.random.default_rng(0)
    n = 12
    full = p4mm.unfold(rng.random(len(p4mm.irreducible_indices(n))), n)
    flip = lambda a: np.roll(a[::-1], 1, axis=0)  # noqa: E731  i → −i (mod n)
    assert np.allclose(full, full.T)
    assert np.allclose(full, flip(full))
    assert np.allclose(full, flip(full.T).T)


def test_odd_grids_are_rejected():
    with pytest.raises(ValueError, match="even"):
        p4mm.irreducible_indices(7)
