"""Model-free SCS estimator: the intensity integrated over each column's Voronoi cell."""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from fitting import _checks


def voronoi_cells(shape, positions, *, pixel_size_A, max_radius=None) -> np.ndarray:
    """Label every pixel with the index of its nearest column (−1 beyond ``max_radius`` [Å]).

    No input is checked (see :func:`voronoi_scs`).

    Parameters
    ----------
    shape : tuple of int
        (H, W) image shape [px]; pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ).
    positions : array_like
        Shape (N, 2): column (x, y) [Å].
    pixel_size_A : float
        Δ [Å/px].
    max_radius : float, optional
        Cell radius cap [Å]; limits the open cells of edge columns. None (default): no cap.

    Returns
    -------
    ndarray
        Shape (H, W), int: the index 0 … N − 1 of each pixel's nearest column, or −1.
    """
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    pixels = np.stack([cols.ravel(), rows.ravel()], axis=1) * pixel_size_A
    distance, nearest = cKDTree(positions).query(pixels)
    if max_radius is not None:
        nearest = np.where(distance <= max_radius, nearest, -1)
    return nearest.reshape(shape)


def voronoi_scs(images, positions, *, pixel_size_A, background=0.0, max_radius=None) -> np.ndarray:
    """Integrate the intensity × pixel area over each column's Voronoi cell (the Voronoi SCS).

    Parameters
    ----------
    images : array_like
        (H, W) or (B, H, W) [intensity units]; pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ).
    positions : array_like
        Shape (N, 2): column (x, y) [Å], shared by all images.
    pixel_size_A : float
        Δ [Å/px].
    background : float or array_like, default 0.0
        Value subtracted from every pixel first [intensity units], scalar or (B,).
    max_radius : float, optional
        Cap on the cell radius [Å] (pixels further from every column are ignored). None (default): no cap.

    Returns
    -------
    ndarray
        Shape (B, N): SCS [intensity units × Å²; Å² for fraction-of-beam images] (B = 1 for a single
        image).

    Raises
    ------
    ValueError
        For non-finite pixels, empty or out-of-image positions, or a bad pixel size or radius.
    """
    stack = _checks.as_image_stack(images)
    pixel_size_A = _checks.check_pixel_size(pixel_size_A)
    points = _checks.shared_positions(positions, stack.shape[1:], pixel_size_A=pixel_size_A)
    if max_radius is not None and not max_radius > 0:
        raise ValueError(f"max_radius must be a positive radius in Å or None, got {max_radius!r}")
    labels = voronoi_cells(stack.shape[1:], points, pixel_size_A=pixel_size_A, max_radius=max_radius).ravel()
    offset = np.broadcast_to(np.asarray(background, dtype=np.float64), (stack.shape[0],))
    flat = stack.reshape(stack.shape[0], -1) - offset[:, None]
    inside = labels >= 0
    # One sparse (pixels × columns) membership matrix sums every image at once.

    membership = csr_matrix((np.ones(int(inside.sum())), (np.nonzero(inside)[0], labels[inside])),
                            shape=(labels.size, points.shape[0]))
    return np.asarray((membership.T @ flat.T).T) * pixel_size_A ** 2
