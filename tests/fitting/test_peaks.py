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

    found = find_columns(clean, pixel_size_A=0.12, min_distance=0.6 * SPACING)
    assert worst_miss(found) < 0.02  # sub-pixel refinement
    noisy = poisson_stack(clean, 5e3, 0.12, 1, seed=4)[0]  # ≈ 23 counts at a column peak
    found = find_columns(noisy, pixel_size_A=0.12, min_distance=0.6 * SPACING)
    assert worst_miss(found) < 0.25  # Å: starting values only …
    fit = fit_columns(noisy, found, pixel_size_A=0.12)
    assert fit.converged.all() and worst_miss(fit.positions[0]) < 0.05  # … that the fit then corrects


def test_threshold_drops_weak_maxima_and_border_exclusion():
    truth = square_lattice(3)
    shape = field_shape(3, 0.1)
    heights = np.full(9, 1.0)
    heights[4] = 0.2  # a weak column
    image = clean_image(truth, shape, 0.1, heights, 0.4, 0.0)
    assert len(find_columns(image, pixel_size_A=0.1, min_distance=1.0, threshold=0.3)) == 8
    assert len(find_columns(image, pixel_size_A=0.1, min_distance=1.0, threshold=0.1)) == 9
    assert len(find_columns(image, pixel_size_A=0.1, min_distance=1.0, threshold=0.1, exclude_border=1.5)) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(min_distance=0.0), "min_distance"), (dict(threshold=1.5), "threshold"),
     (dict(pixel_size_A=0.0), "pixel_size_A"), (dict(image=np.ones((2, 5, 5))), "single")],
)
def test_bad_input(kwargs, match):
    args = dict(image=np.ones((10, 10)), pixel_size_A=0.1, min_distance=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        find_columns(**args)


def test_snap_to_peaks_moves_expected_positions_onto_the_shifted_columns():
    from fitting import snap_to_peaks

    truth = square_lattice(4)
    shape = field_shape(4, 0.2)
    shifted = truth + np.array([0.3, -0.1])  # e.g. a fast-scan delay of about one column width
    clean = clean_image(shifted, shape, 0.2, 0.3, 0.3, 0.02)
    stack = np.stack([clean, poisson_stack(clean, 5e4, 0.2, 1, seed=9)[0]])
    snapped = snap_to_peaks(stack, truth, pixel_size_A=0.2, radius=0.49)
    assert snapped.shape == (2, 16, 2)
    assert np.abs(snapped[0] - shifted).max() < 0.05  # Å, noise-free: parabolic sub-pixel refinement
    assert np.abs(snapped[1] - shifted).max() < 0.1
    # every position stays inside its search disc, so two columns cannot take the same peak
    tight = snap_to_peaks(clean, truth, pixel_size_A=0.2, radius=0.15)
    assert np.all(np.linalg.norm(tight[0] - truth, axis=-1) <= 0.15 + 1e-12)
    with pytest.raises(ValueError, match="radius"):
        snap_to_peaks(clean, truth, pixel_size_A=0.2, radius=0.0)
    with pytest.raises(ValueError, match="one \\(N, 2\\) set"):
        snap_to_peaks(clean, np.stack([truth, truth]), pixel_size_A=0.2, radius=0.4)
