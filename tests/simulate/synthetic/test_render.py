import numpy as np
import pytest
import torch

from simulate.synthetic.radial import sample_profiles
from simulate.synthetic.render import render_atoms


def test_render_conserves_intensity_and_centroid_and_matches_direct_sum():
    rng = np.random.default_rng(1)
    profiles = sample_profiles([8, 78], rng)
    pixel = 0.05
    positions = np.array([[11.013, 12.207], [16.871, 15.333], [13.5, 17.02]])
    numbers = np.array([8, 78, 78])
    image = render_atoms(positions, numbers, profiles, pixel_size_A=pixel, shape=(600, 580)).double().numpy()
    # Each atom's kernel is f_Z sampled on the square of half-width `reach` pixels (f < 1e-3 of its peak
    # beyond the support radius): the deposit and FFT must conserve exactly that sum ...
    reach = int(np.ceil(profiles.support_radius() / pixel)) + 1
    offsets = np.arange(-reach, reach + 1) * pixel
    patch = profiles.evaluate(np.hypot(offsets[:, None], offsets[None, :]))
    sampled = patch.sum(axis=(1, 2))[[0, 1, 1]].sum()
    assert image.sum() == pytest.approx(sampled, rel=1e-4)
    # ... which differs from the analytic ∫ f_Z d²r by the Riemann sum and the cut tails (< 1 %).
    total = profiles.integrated_intensity()[[0, 1, 1]].sum()
    assert image.sum() * pixel**2 == pytest.approx(total, rel=1e-2)
    rows, cols = np.mgrid[0:600, 0:580]
    x, y = (cols + 0.5) * pixel, (rows + 0.5) * pixel
    alone = render_atoms(positions[1:2], numbers[1:2], profiles, pixel_size_A=pixel, shape=(600, 580)).double().numpy()
    assert (alone * x).sum() / alone.sum() == pytest.approx(16.871, abs=1e-4)  # bilinear deposit: exact
    assert (alone * y).sum() / alone.sum() == pytest.approx(15.333, abs=1e-4)
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
    light = render_atoms(positions[numbers == 6], numbers[numbers == 6], profiles, pixel_size_A=0.1, shape=(300, 300))
    heavy = render_atoms(positions[numbers == 79], numbers[numbers == 79], profiles, pixel_size_A=0.1,
                         shape=(300, 300))
    per_light = float(light.sum()) / max(1, int((numbers == 6).sum()))
    per_heavy = float(heavy.sum()) / max(1, int((numbers == 79).sum()))
    assert per_heavy > per_light > 0


def test_missing_profile_raises():
    profiles = sample_profiles([6], np.random.default_rng(0))
    with pytest.raises(ValueError, match="Z=\\[79\\]"):
        render_atoms(np.zeros((1, 2)), np.array([79]), profiles, pixel_size_A=0.1, shape=(16, 16))
    with pytest.raises(ValueError):
        render_atoms(np.zeros((1, 2)), np.array([6]), profiles, pixel_size_A=0.0, shape=(16, 16))


def test_render_returns_torch_on_requested_device():
    profiles = sample_profiles([6], np.random.default_rng(0))
    image = render_atoms(np.array([[1.0, 1.0]]), np.array([6]), profiles, pixel_size_A=0.1, shape=(20, 24),
                         device="cpu")
    assert isinstance(image, torch.Tensor) and image.shape == (20, 24) and torch.isfinite(image).all()
