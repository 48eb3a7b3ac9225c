import numpy as np
import pytest

from fitting import find_columns, fit_columns
from tests.fitting.lattice import SPACING, clean_image, field_shape, poisson_stack, square_lattice


def test_finds_every_lattice_column_near_its_true_position():
    truth = square_lattice(5)
    shape = field_shape(5, 0.12)
    clean = clean_image(truth, shape, 0.12, 0.3, 0.45, 0.02)

    def worst_miss(found):
        assert found.shape == truth.shape
        return np.linalg.norm(found[:, None, :] - truth[None, :, :], axis=-1).min(axis=1).max()

    assert worst_miss(find_columns(clean, 0.12, min_distance=0.6 * SPACING)) < 0.02  # sub-pixel refinement
    noisy = poisson_stack(clean, 5e3, 0.12, 1, seed=4)[0]  # ≈ 23 counts at a column peak
    found = find_columns(noisy, 0.12, min_distance=0.6 * SPACING)
    assert worst_miss(found) < 0.25  # Å: starting values only …
    fit = fit_columns(noisy, found, 0.12)
    assert fit.converged.all() and worst_miss(fit.positions[0]) < 0.05  # … that the fit then corrects


def test_threshold_drops_weak_maxima_and_border_exclusion():
    truth = square_lattice(3)
    shape = field_shape(3, 0.1)
    heights = np.full(9, 1.0)
    heights[4] = 0.2  # a weak column
    image = clean_image(truth, shape, 0.1, heights, 0.4, 0.0)
    assert len(find_columns(image, 0.1, min_distance=1.0, threshold=0.3)) == 8
    assert len(find_columns(image, 0.1, min_distance=1.0, threshold=0.1)) == 9
    assert len(find_columns(image, 0.1, min_distance=1.0, threshold=0.1, exclude_border=1.5)) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(min_distance=0.0), "min_distance"), (dict(threshold=1.5), "threshold"),
     (dict(pixel_size=0.0), "pixel_size"), (dict(image=np.ones((2, 5, 5))), "single")],
)
def test_bad_input(kwargs, match):
    args = dict(image=np.ones((10, 10)), pixel_size=0.1, min_distance=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        find_columns(**args)
