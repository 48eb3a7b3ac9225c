"""Exact linear part of the column model: heights η and background ζ for given positions and widths."""
from __future__ import annotations

import numpy as np

from fitting._checks import nearest_neighbour_distance
from fitting.model import gaussian_factor, normal_matrix, projections


def _normal_equations(images, x, y, widths, rows, cols):
    y_factors = gaussian_factor(rows, y, widths)
    x_factors = gaussian_factor(cols, x, widths)
    heights = np.ones_like(x)  # η enters linearly; its Jacobian column does not depend on η
    matrix = normal_matrix(y_factors, x_factors, heights, ("eta",))
    right = projections(images, y_factors, x_factors, heights, ("eta",))
    return matrix, right


def _solve(matrix, right):
    try:
        return np.linalg.solve(matrix, right[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(matrix, right)])


def linear_heights(images, x, y, widths, rows, cols):
    """Solve for the least-squares heights and background of fixed columns.

    Parameters
    ----------
    images : ndarray
        Shape (B, H, W): the image stack [image units].
    x : ndarray
        Shape (B, N): column x positions [Å].
    y : ndarray
        Shape (B, N): column y positions [Å].
    widths : ndarray
        Shape (B, N): Gaussian widths ρ [Å].
    rows : ndarray
        Shape (H,): pixel-centre y coordinates [Å].
    cols : ndarray
        Shape (W,): pixel-centre x coordinates [Å].

    Returns
    -------
    heights : ndarray, shape (B, N)
        η minimising Σ (I − ζ − Σ η_n g_n)².
    background : ndarray, shape (B,)
        ζ of the same minimum.
    """
    matrix, right = _normal_equations(images, x, y, widths, rows, cols)
    solution = _solve(matrix, right)
    return solution[:, :-1], solution[:, -1]


def search_width(images, start, rows, cols, *, pixel_size_A, n_candidates=16):
    """Search a shared width ρ per image: the candidate with the least linear-fit residual.

    Candidates are log-spaced from half a pixel to half the nearest-neighbour distance of the first
    image's starting positions (or a quarter of the field of view for a single column); heights and
    background are solved exactly (:func:`linear_heights`) for each.

    Parameters
    ----------
    images : ndarray
        Shape (B, H, W): the image stack [image units].
    start : ndarray
        Shape (B, N, 2): column (x, y) positions [Å].
    rows : ndarray
        Shape (H,): pixel-centre y coordinates [Å].
    cols : ndarray
        Shape (W,): pixel-centre x coordinates [Å].
    pixel_size_A : float
        Δ [Å/px].
    n_candidates : int, default 16
        Number of candidate widths.

    Returns
    -------
    ndarray
        Shape (B,): the best candidate width per image [Å].

    Raises
    ------
    ValueError
        If half the nearest-neighbour distance is not above half a pixel (columns not resolved).
    """
    nearest = float(np.min(nearest_neighbour_distance(start[0])))
    field = min(len(rows), len(cols)) * pixel_size_A
    upper = 0.5 * nearest if np.isfinite(nearest) else 0.25 * field
    lower = 0.5 * pixel_size_A
    if upper <= lower:
        raise ValueError(
            f"columns {nearest:.3f} Å apart are not resolved at pixel_size_A {pixel_size_A:.3f} Å; "
            "give width=ρ [Å] explicitly or use a finer pixel size"
        )
    candidates = np.geomspace(lower, upper, n_candidates)
    energy = np.einsum("bij,bij->b", images, images)
    residuals = []
    for rho in candidates:
        widths = np.full(start.shape[:2], rho)
        matrix, right = _normal_equations(images, start[..., 0], start[..., 1], widths, rows, cols)
        residuals.append(energy - np.einsum("bp,bp->b", right, _solve(matrix, right)))
    best = np.argmin(np.stack(residuals), axis=0)
    return candidates[best]
