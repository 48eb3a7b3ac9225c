import time

import numpy as np
import pytest

from fitting import crlb_columns, crlb_positions
from tests.fitting.lattice import field_shape, square_lattice


@pytest.mark.parametrize("fit_width", [False, True])
def test_isolated_column_reproduces_closed_forms(fit_width):
    dose, volume, rho = 2e4, 0.35, 0.45
    bound = crlb_columns([[6.0, 6.0]], volume, width=rho, background=0.0, pixel_size_A=0.02, shape=(600, 600),
                         dose=dose, fit_width=fit_width,
                         fit_background=False)
    counts = dose * volume
    assert bound.expected_counts[0] == pytest.approx(counts)
    assert bound.sigma_x[0] == pytest.approx(rho / np.sqrt(counts), rel=1e-6)
    assert bound.sigma_y[0] == pytest.approx(rho / np.sqrt(counts), rel=1e-6)
    assert bound.relative_volume[0] == pytest.approx(1 / np.sqrt(counts), rel=1e-6)
    assert bound.sigma_volume[0] == pytest.approx(volume / np.sqrt(counts), rel=1e-6)


def test_bounds_scale_with_dose_and_grow_with_background():
    positions = square_lattice(3)
    shape = field_shape(3, 0.15)
    low = crlb_columns(positions, 0.4, width=0.45, background=0.02, pixel_size_A=0.15, shape=shape, dose=1e3)
    high = crlb_columns(positions, 0.4, width=0.45, background=0.02, pixel_size_A=0.15, shape=shape, dose=1e5)
    assert np.allclose(low.sigma_x / high.sigma_x, 10.0, rtol=1e-9)  # σ ∝ 1/√dose at fixed image
    clean = crlb_columns(positions, 0.4, width=0.45, background=1e-6, pixel_size_A=0.15, shape=shape, dose=1e3)
    assert np.all(low.sigma_x > clean.sigma_x) and np.all(low.relative_volume > clean.relative_volume)
    sx, sy = crlb_positions(positions, 0.4, 0.45, 0.02, pixel_size_A=0.15, shape=shape, dose=1e3)
    assert np.allclose(sx, low.sigma_x) and np.allclose(sy, low.sigma_y)
    centre = 4  # the middle column of a 3 × 3 lattice is symmetric in x and y
    assert low.sigma_x[centre] == pytest.approx(low.sigma_y[centre], rel=1e-9)


def test_sparse_assembly_handles_hundreds_of_columns():
    positions = square_lattice(20)  # 400 columns, 1203 parameters
    shape = field_shape(20, 0.2)
    started = time.perf_counter()
    bound = crlb_columns(positions, 0.4, width=0.45, background=0.01, pixel_size_A=0.2, shape=shape, dose=1e4)
    elapsed = time.perf_counter() - started
    assert bound.sigma_x.shape == (400,) and np.all(np.isfinite(bound.sigma_x))
    assert elapsed < 20.0
    # Interior columns see the same neighbourhood; only their sub-pixel offsets differ (≪ 0.1 %).
    interior = bound.sigma_x.reshape(20, 20)[5:15, 5:15]
    assert np.ptp(interior) < 1e-3 * interior.mean()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(volumes=-1.0), "volumes"),
        (dict(width=0.0), "width"),
        (dict(dose=0.0), "dose"),
        (dict(background=-0.1), "background"),
        (dict(background=0.0), "fit_background"),
        (dict(positions=[[100.0, 1.0]]), "outside"),
        (dict(positions=np.zeros((0, 2))), "empty"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(positions=[[2.0, 2.0]], volumes=0.4, width=0.45, background=0.01, pixel_size_A=0.1,
                shape=(40, 40), dose=1e3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        crlb_columns(**args)
