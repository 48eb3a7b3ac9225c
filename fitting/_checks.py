"""Input validation shared by the fitting modules: clear ValueErrors naming the parameter."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def as_image_stack(images, name: str = "images") -> np.ndarray:
    """Return ``images`` as a float64 (B, H, W) stack; a single (H, W) image becomes B = 1.

    Parameters
    ----------
    images : array_like
        One (H, W) image or a (B, H, W) stack, in any intensity units.
    name : str, default "images"
        The parameter's name in error messages.

    Returns
    -------
    ndarray
        Float64 array of shape (B, H, W).

    Raises
    ------
    ValueError
        If the input cannot be stacked, is not 2-D or 3-D, holds no image or images smaller than 2×2 px,
        or contains NaN or infinite pixels.
    """
    try:
        array = np.asarray(images, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{name} must be one (H, W) image or a (B, H, W) stack of equally shaped images; "
            f"could not stack the input ({error})"
        ) from error
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ValueError(
            f"{name} must be an (H, W) image or a (B, H, W) stack, got an array of shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] < 2 or array.shape[2] < 2:
        raise ValueError(f"{name} must hold at least one image of at least 2×2 pixels, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} contains {bad} NaN or infinite pixel(s); mask or inpaint them before fitting")
    return array


def check_pixel_size(pixel_size_A) -> float:
    """Return the pixel size as a float, checked to be finite and positive.

    Parameters
    ----------
    pixel_size_A : float
        Pixel size [Å/px].

    Returns
    -------
    float
        The pixel size [Å/px].

    Raises
    ------
    ValueError
        If it is not finite or not positive.
    """
    value = float(pixel_size_A)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"pixel_size_A must be a positive number of Å per pixel, got {pixel_size_A!r}")
    return value


def as_positions(positions, n_images: int | None = None, name: str = "positions") -> np.ndarray:
    """Return positions as float64 (B, N, 2) [Å, (x, y)]; (N, 2) is broadcast over ``n_images``.

    Parameters
    ----------
    positions : array_like
        (N, 2) positions shared by all images or (B, N, 2), one set per image; (x, y) in Å.
    n_images : int, optional
        Number of images B of the stack; an (N, 2) set is repeated B times, and a (B, N, 2) input must
        match it. By default an (N, 2) set becomes B = 1 and any B is accepted.
    name : str, default "positions"
        The parameter's name in error messages.

    Returns
    -------
    ndarray
        A new float64 array of shape (B, N, 2) [Å].

    Raises
    ------
    ValueError
        If the shape is not (N, 2) or (B, N, 2), N = 0, B differs from ``n_images``, or a coordinate is
        NaN or infinite.
    """
    array = np.asarray(positions, dtype=np.float64)
    if array.ndim == 2:
        if array.shape[0] == 0:
            raise ValueError(f"{name} is empty: give at least one column position (N, 2) in Å")
        array = array[None] if n_images is None else np.broadcast_to(array, (n_images, *array.shape))
    if array.ndim != 3 or array.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) or (B, N, 2) with (x, y) in Å, got {array.shape}")
    if array.shape[1] == 0:
        raise ValueError(f"{name} is empty: give at least one column position (N, 2) in Å")
    if n_images is not None and array.shape[0] != n_images:
        raise ValueError(
            f"{name} has {array.shape[0]} position sets but the image stack has {n_images} images; "
            "give (N, 2) shared positions or one (N, 2) set per image"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite coordinates")
    return np.array(array)


def shared_positions(positions, shape: tuple[int, int], *, pixel_size_A: float) -> np.ndarray:
    """Return one (N, 2) float64 position set [Å] shared by all images, checked to lie inside the image.

    Parameters
    ----------
    positions : array_like
        (N, 2) or (1, N, 2) column positions (x, y) [Å].
    shape : tuple of int
        Image shape (H, W) [px].
    pixel_size_A : float
        Pixel size [Å/px].

    Returns
    -------
    ndarray
        Float64 array of shape (N, 2) [Å].

    Raises
    ------
    ValueError
        If the positions are not one valid set (see :func:`as_positions`) or lie outside the image
        (see :func:`check_inside`).
    """
    points = as_positions(positions)
    if points.shape[0] != 1:
        raise ValueError(f"positions must be one (N, 2) set shared by all images, got shape {np.shape(positions)}")
    check_inside(points[0], shape, pixel_size_A=pixel_size_A)
    return points[0]


def check_inside(positions: np.ndarray, shape: tuple[int, int], *, pixel_size_A: float, name: str = "positions"):
    """Raise if any (x, y) [Å] lies outside the field of view [-Δ/2, (W - 1/2)·Δ] × [-Δ/2, (H - 1/2)·Δ].

    Parameters
    ----------
    positions : ndarray
        Positions of shape (..., 2), (x, y) [Å].
    shape : tuple of int
        Image shape (H, W) [px].
    pixel_size_A : float
        Pixel size Δ [Å/px].
    name : str, default "positions"
        The parameter's name in error messages.

    Raises
    ------
    ValueError
        If any position lies outside the field of view (the message gives one and the valid ranges).
    """
    height, width = shape
    x, y = positions[..., 0], positions[..., 1]
    x_max, y_max = (width - 0.5) * pixel_size_A, (height - 0.5) * pixel_size_A
    outside = (x < -0.5 * pixel_size_A) | (x > x_max) | (y < -0.5 * pixel_size_A) | (y > y_max)
    if np.any(outside):
        index = np.argwhere(outside)[0]
        bad = positions[tuple(index)]
        raise ValueError(
            f"{name} holds {int(outside.sum())} column(s) outside the image, e.g. (x, y) = "
            f"({bad[0]:.3f}, {bad[1]:.3f}) Å; valid range x ∈ [{-0.5 * pixel_size_A:.3f}, {x_max:.3f}] Å, "
            f"y ∈ [{-0.5 * pixel_size_A:.3f}, {y_max:.3f}] Å (pixel centres at i·pixel_size_A)"
        )


def nearest_neighbour_distance(positions: np.ndarray) -> np.ndarray:
    """Return the distance from each of the (N, 2) positions to its nearest other position.

    Parameters
    ----------
    positions : ndarray
        Positions of shape (N, 2), (x, y) [Å].

    Returns
    -------
    ndarray
        Shape (N,), distances [Å]; inf when N = 1.
    """
    if positions.shape[0] < 2:
        return np.full(positions.shape[0], np.inf)

    distance, _ = cKDTree(positions).query(positions, k=2)
    return distance[:, 1]
