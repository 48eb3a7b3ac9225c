import numpy as np
import pytest
import torch

from simulate.synthetic.radial import sample_profiles
from simulate.synthetic.render import render_atoms


def test_render_conserves_intensity_and_centroid_and_matches_direct_sum():
    rng = np.random.default_rng(1)
    profiles = sample_profiles([8, 78], rng)
    pixel = 0.05
    positions = np.array([[4.013, 5.207], [9.871, 8.333], [6.5, 10.02]])
    numbers = np.array([8, 78, 78])
    image = render_atoms(positions, numbers, profiles, pixel, (320, 300)).double().numpy()
    total = profiles.integrated_intensity()[[0, 1, 1]].sum()
    assert image.sum() * pixel**2 == pytest.approx(total, rel=1e-3)  # Riemann sum of the sampled kernel
    rows, cols = np.mgrid[0:320, 0:300]
    x, y = (cols + 0.5) * pixel, (rows + 0.5) * pixel
    near = (x - 9.871) ** 2 + (y - 8.333) ** 2 < 1.5**2
    assert (image * near * x).sum() / (image * near).sum() == pytest.approx(9.871, abs=2e-3)
    r = np.hypot(x[None] - positions[:, 0, None, None], y[None] - positions[:, 1, None, None])
    direct = sum(profiles.evaluate(r[k])[1 if z == 78 else 0] for k, z in enumerate(numbers))
    assert np.abs(direct - image).max() < 0.03 * direct.max()  # one-pixel tent of the bilinear deposit


def test_heavier_species_brighter_in_two_species_crystal():
    from simulate.synthetic.cells import random_unit_cell
    from simulate.synthetic.geometry import tile_crystal

    rng = np.random.default_rng(4)
    unit = random_unit_cell(rng, species=[6, 79], min_distance=2.5)
    positions, numbers = tile_crystal(unit.cell, unit.cartesian_positions, unit.numbers, np.eye(3),
                                      (30.0, 30.0, 6.0), rng)
    profiles = sample_profiles(numbers, rng)
    light = render_atoms(positions[numbers == 6], numbers[numbers == 6], profiles, 0.1, (300, 300))
    heavy = render_atoms(positions[numbers == 79], numbers[numbers == 79], profiles, 0.1, (300, 300))
    per_light = float(light.sum()) / max(1, int((numbers == 6).sum()))
    per_heavy = float(heavy.sum()) / max(1, int((numbers == 79).sum()))
    assert per_heavy > per_light > 0


def test_missing_profile_raises():
    profiles = sample_profiles([6], np.random.default_rng(0))
    with pytest.raises(ValueError, match="Z=\\[79\\]"):
        render_atoms(np.zeros((1, 2)), np.array([79]), profiles, 0.1, (16, 16))
    with pytest.raises(ValueError):
        render_atoms(np.zeros((1, 2)), np.array([6]), profiles, 0.0, (16, 16))


def test_render_returns_torch_on_requested_device():
    profiles = sample_profiles([6], np.random.default_rng(0))
    image = render_atoms(np.array([[1.0, 1.0]]), np.array([6]), profiles, 0.1, (20, 24), device="cpu")
    assert isinstance(image, torch.Tensor) and image.shape == (20, 24) and torch.isfinite(image).all()
