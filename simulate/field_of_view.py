"""Fields of view of N × M unit cells at any pixel size, built from one simulated periodic cell.

The HAADF image of a perfect crystal is periodic with the unit cell and band-limited (no frequency above
2α/λ), so its values anywhere follow exactly from the simulated samples by Fourier interpolation; an
optional Gaussian source-size blur multiplies the same Fourier coefficients. This is what the benchmarks
corrupt with noise and fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulate.structures import column_positions_in_cell
from simulate.thickness_series import ThicknessSeries

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class FieldOfView:
    """A noise-free image of N × M cells with its ground truth.

    Attributes
    ----------
    image : ndarray, shape (H, W)
        Intensity [fraction of the incident beam]; pixel [row, column] is centred at
        (x, y) = (column, row) · pixel_size_A.
    pixel_size_A : float
    column_positions_A : ndarray, shape (C, 2)
        True (x, y) of every column inside the image [Å], in the same coordinates.
    atoms_per_column : int
    scs_A2 : float
        Exact cell-integrated SCS per column [Å²] (source-size blur conserves it).
    """

    image: np.ndarray
    pixel_size_A: float
    column_positions_A: np.ndarray
    atoms_per_column: int
    scs_A2: float


def _evaluation_matrix(points_per_cell: int, coordinates: np.ndarray, period: float) -> np.ndarray:
    """Matrix E (len(coordinates), n) with f(x) = Σ_m E[x, m] F_m for the symmetric trigonometric
    interpolant of n periodic samples (the Nyquist term of even n split evenly between ±n/2)."""
    n = points_per_cell
    frequencies = np.fft.fftfreq(n, d=1.0 / n)  # integers: 0, 1, …, −1
    phase = 2j * np.pi * np.outer(coordinates / period, frequencies)
    matrix = np.exp(phase)
    if n % 2 == 0:
        matrix[:, n // 2] = np.cos(np.pi * n * coordinates / period)
    return matrix / n


def interpolate_cell(
    cell_image: np.ndarray,
    lattice_constant: float,
    *,
    x_A: np.ndarray,
    y_A: np.ndarray,
    source_size_fwhm_A: float = 0.0,
) -> np.ndarray:
    """Evaluate a periodic cell image on a rectangular grid of coordinates by Fourier interpolation.

    Parameters
    ----------
    cell_image : ndarray, shape (n, n)
        Samples of one a × a cell, pixel [row, column] at (column, row) · a/n.
    lattice_constant : float
        Cell edge a [Å].
    x_A, y_A : ndarray
        1-D coordinates [Å] of the output columns and rows.
    source_size_fwhm_A : float
        FWHM of a Gaussian effective source [Å] (0: none).

    Returns
    -------
    ndarray, shape (len(y), len(x))
    """
    cell_image = np.asarray(cell_image, dtype=float)
    if cell_image.ndim != 2 or cell_image.shape[0] != cell_image.shape[1]:
        raise ValueError(f"cell_image must be a square 2-D array, got shape {cell_image.shape}")
    if source_size_fwhm_A < 0:
        raise ValueError(f"source_size_fwhm_A={source_size_fwhm_A!r} must be >= 0 Å")
    n = cell_image.shape[0]
    coefficients = np.fft.fft2(cell_image)
    if source_size_fwhm_A > 0:
        sigma = source_size_fwhm_A / FWHM_PER_SIGMA
        k = np.fft.fftfreq(n, d=lattice_constant / n)  # 1/Å
        coefficients *= np.exp(-2.0 * np.pi**2 * sigma**2 * (k[:, None] ** 2 + k[None, :] ** 2))
    rows = _evaluation_matrix(n, np.asarray(y_A, dtype=float), lattice_constant)
    columns = _evaluation_matrix(n, np.asarray(x_A, dtype=float), lattice_constant)
    return np.real(rows @ coefficients @ columns.T)


def field_of_view(
    series: ThicknessSeries,
    *,
    atoms_per_column: int,
    cells: tuple[int, int] = (5, 5),
    pixel_size_A: float = 0.2,
    source_size_fwhm_A: float = 0.0,
) -> FieldOfView:
    """A noise-free image of ``cells = (N_x, N_y)`` unit cells at any pixel size.

    The field of view starts a/4 before a column in x and y, so every column lies at least a/4 = 0.98 Å
    from the border and the image holds ``2N_x × 2N_y`` whole columns.

    Parameters
    ----------
    series : ThicknessSeries
        Simulated cell images.
    atoms_per_column : int
        Thickness [atoms per column].
    cells : (int, int)
        Unit cells along x and y (≥ 1).
    pixel_size_A : float
        Output pixel size [Å], > 0.
    source_size_fwhm_A : float
        FWHM of the Gaussian source-size blur [Å] (0: none).

    Returns
    -------
    FieldOfView

    Raises
    ------
    ValueError
        For non-positive pixel size, cells < 1, or a thickness outside the series.
    """
    if not pixel_size_A > 0:
        raise ValueError(f"pixel_size_A={pixel_size_A!r} must be > 0 Å")
    if len(cells) != 2 or any(int(c) != c or c < 1 for c in cells):
        raise ValueError(f"cells={cells!r} must be two integers >= 1 (cells along x, y)")
    a = series.recipe.lattice_constant_A
    cell_image = series.image(atoms_per_column)
    offset = a / 4.0
    width = int(math.floor(cells[0] * a / pixel_size_A))
    height = int(math.floor(cells[1] * a / pixel_size_A))
    x = np.arange(width) * pixel_size_A - offset
    y = np.arange(height) * pixel_size_A - offset
    image = interpolate_cell(cell_image, a, x_A=x, y_A=y, source_size_fwhm_A=source_size_fwhm_A)
    in_cell = column_positions_in_cell(a)
    grid = np.array([(i * a, j * a) for j in range(cells[1]) for i in range(cells[0])])
    positions = (grid[:, None, :] + in_cell[None, :, :]).reshape(-1, 2) + offset
    positions = positions[np.lexsort((positions[:, 0], positions[:, 1]))]  # row by row
    return FieldOfView(
        image=image,
        pixel_size_A=float(pixel_size_A),
        column_positions_A=positions,
        atoms_per_column=int(atoms_per_column),
        scs_A2=float(series.scs_A2[int(atoms_per_column)]),
    )
