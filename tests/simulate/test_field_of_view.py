import numpy as np
import pytest

from simulate.field_of_view import field_of_view, interpolate_cell
from simulate.recipe import COARSE_RECIPE
from simulate.thickness_series import ThicknessSeries


def _synthetic_series(n=18, atoms=3, seed=0):
    """A ThicknessSeries whose cell images are random p4mm-symmetric band-limited data (fast, exact)."""
    from simulate import p4mm

    rng = np.random.default_rng(seed)
    wedge = rng.random((1, atoms + 1, len(p4mm.irreducible_indices(n))))
    return ThicknessSeries(COARSE_RECIPE.replace(scan_points_per_cell=n), wedge)


def test_interpolation_reproduces_the_samples_and_is_periodic():
    rng = np.random.default_rng(1)
    cell = rng.random((12, 12))
    a = 3.924
    x = np.arange(24) * a / 12  # two periods on the sample grid
    values = interpolate_cell(cell, a, x_A=x, y_A=x)
    assert np.allclose(values[:12, :12], cell)
    assert np.allclose(values[12:, 12:], cell)


def test_interpolation_is_exact_for_a_band_limited_function():
    a, n = 3.924, 16
    f = lambda x, y: 1 + np.cos(2 * np.pi * 3 * x / a) * np.sin(2 * np.pi * 2 * y / a)  # noqa: E731
    grid = np.arange(n) * a / n
    cell = f(grid[None, :], grid[:, None])
    x = np.linspace(-1.3, 7.1, 37)
    y = np.linspace(0.2, 5.0, 23)
    assert np.allclose(interpolate_cell(cell, a, x_A=x, y_A=y), f(x[None, :], y[:, None]), atol=1e-12)


def test_source_blur_conserves_the_integral_and_lowers_the_peak():
    series = _synthetic_series()
    pixel = 3.924 / 20  # whole periods: the mean of the samples is the cell mean
    sharp = field_of_view(series, atoms_per_column=2, cells=(3, 3), pixel_size_A=pixel)
    blurred = field_of_view(series, atoms_per_column=2, cells=(3, 3), pixel_size_A=pixel,
                            source_size_fwhm_A=0.6)
    assert blurred.image.mean() == pytest.approx(sharp.image.mean(), rel=1e-9)
    assert blurred.image.max() < sharp.image.max()


def test_geometry_of_the_field():
    series = _synthetic_series()
    fov = field_of_view(series, atoms_per_column=1, cells=(4, 3), pixel_size_A=0.15)
    assert fov.image.shape == (int(3 * 3.924 / 0.15), int(4 * 3.924 / 0.15))
    assert len(fov.column_positions_A) == 4 * 4 * 3
    assert fov.column_positions_A.min() == pytest.approx(3.924 / 4)
    spacing = np.diff(np.unique(np.round(fov.column_positions_A[:, 0], 6)))
    assert np.allclose(spacing, 1.962)
    extent = np.array(fov.image.shape[::-1]) * 0.15
    assert np.all(fov.column_positions_A < extent)


@pytest.mark.parametrize("kwargs, message", [
    ({"pixel_size_A": 0.0}, "pixel_size_A"), ({"cells": (0, 2)}, "cells"),
    ({"source_size_fwhm_A": -1.0}, "source_size_fwhm_A"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        field_of_view(_synthetic_series(), atoms_per_column=1, **kwargs)
