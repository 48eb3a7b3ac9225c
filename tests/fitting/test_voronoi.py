import numpy as np
import pytest

from fitting import voronoi_cells, voronoi_scs
from tests.fitting.lattice import clean_image, field_shape, poisson_stack, square_lattice


def test_cells_hold_the_column_volume_plus_background_area():
    truth = square_lattice(4)
    pixel, rho, eta, zeta = 0.05, 0.2, 0.6, 0.01
    shape = field_shape(4, pixel)
    image = clean_image(truth, shape, pixel, eta, rho, zeta)
    scs = voronoi_scs(image, truth, pixel_size_A=pixel)
    labels = voronoi_cells(shape, truth, pixel_size_A=pixel)
    areas = np.bincount(labels.ravel(), minlength=16) * pixel ** 2
    volume = 2 * np.pi * eta * rho ** 2
    # Narrow columns (half spacing ≈ 4.9ρ): each cell holds its own column, tails leaking < 1e-6.
    assert np.allclose(scs[0], volume + zeta * areas, rtol=1e-5)
    background_removed = voronoi_scs(image, truth, pixel_size_A=pixel, background=zeta)
    assert np.allclose(background_removed[0], volume, rtol=1e-5)
    assert scs.sum() == pytest.approx(image.sum() * pixel ** 2)


def test_stack_and_max_radius():
    truth = square_lattice(3)
    shape = field_shape(3, 0.1)
    counts = poisson_stack(clean_image(truth, shape, 0.1, 0.3, 0.45, 0.02), 1e3, 0.1, 4, seed=9)
    stacked = voronoi_scs(counts, truth, pixel_size_A=0.1)
    assert stacked.shape == (4, 9)
    assert np.allclose(stacked[2], voronoi_scs(counts[2], truth, pixel_size_A=0.1)[0])
    capped = voronoi_scs(counts, truth, pixel_size_A=0.1, max_radius=0.5)
    assert np.all(capped < stacked)


@pytest.mark.parametrize(
    "images, positions, match",
    [(np.ones((10, 10)), [[5.0, 5.0]], "outside"), (np.full((10, 10), np.nan), [[0.5, 0.5]], "NaN"),
     (np.ones((10, 10)), np.zeros((0, 2)), "empty"), (np.ones((2, 10, 10)), np.ones((2, 1, 2)) * 0.5, "shared")],
)
def test_bad_input(images, positions, match):
    with pytest.raises(ValueError, match=match):
        voronoi_scs(images, positions, pixel_size_A=0.1)
