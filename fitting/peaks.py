"""Peak finder for images without known column positions."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from fitting import _checks


def find_columns(image, *, pixel_size_A, min_distance, threshold=0.2, smoothing=None, exclude_border=0.0):
    """Find atomic columns as local maxima of a Gaussian-smoothed image, refined to sub-pixel precision.

    Parameters
    ----------
    image : array_like
        Shape (H, W) [intensity units]; pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ).
    pixel_size_A : float
        Δ [Å/px].
    min_distance : float
        Smallest allowed distance between two columns [Å] (e.g. ~0.6 × the lattice spacing).
    threshold : float, default 0.2
        Keep maxima whose smoothed height above the smoothed image's minimum is at least this fraction
        [0, 1) of the highest one.
    smoothing : float, optional
        Gaussian smoothing σ [Å] before the search; default one pixel; 0 for none.
    exclude_border : float, default 0.0
        Drop maxima whose refined position lies closer than this [Å] to the first or last pixel centre
        of either axis (those beyond them are always dropped).

    Returns
    -------
    ndarray
        Shape (N, 2): (x, y) [Å], sorted by y then x; the refinement is a 3 × 3 quadratic fit around
        each maximum (good starting values for :func:`fitting.fit_columns`, not a final estimate).

    Raises
    ------
    ValueError
        For a non-2-D or non-finite image, a bad pixel size, distance, threshold or smoothing.
    """
    stack = _checks.as_image_stack(image, name="image")
    if stack.shape[0] != 1:
        raise ValueError(f"image must be a single (H, W) image, got shape {np.shape(image)}")
    picture = stack[0]
    pixel_size_A = _checks.check_pixel_size(pixel_size_A)
    if not min_distance > 0:
        raise ValueError(f"min_distance must be a positive distance in Å, got {min_distance!r}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be a fraction in [0, 1), got {threshold!r}")
    sigma_px = 1.0 if smoothing is None else float(smoothing) / pixel_size_A
    if not sigma_px >= 0:
        raise ValueError(f"smoothing must be a non-negative σ in Å, got {smoothing!r}")
    smooth = ndimage.gaussian_filter(picture, sigma_px, mode="nearest") if sigma_px > 0 else picture
    radius = max(1, int(np.floor(min_distance / pixel_size_A)))
    footprint = np.hypot(*np.mgrid[-radius:radius + 1, -radius:radius + 1]) <= radius
    is_peak = smooth == ndimage.maximum_filter(smooth, footprint=footprint, mode="nearest")
    lifted = smooth - smooth.min()
    is_peak &= lifted >= threshold * lifted.max()
    is_peak &= lifted > 0
    rows, cols = np.nonzero(is_peak)
    # Plateaus give several equal maxima: keep the strongest of any pair closer than min_distance.
    order = np.argsort(-smooth[rows, cols], kind="stable")
    rows, cols = rows[order], cols[order]
    kept: list[int] = []
    for k in range(rows.size):
        if all((rows[k] - rows[j]) ** 2 + (cols[k] - cols[j]) ** 2 >= (min_distance / pixel_size_A) ** 2 for j in kept):
            kept.append(k)
    rows, cols = rows[kept], cols[kept]
    dy, dx = _quadratic_offsets(smooth, rows, cols)
    x, y = (cols + dx) * pixel_size_A, (rows + dy) * pixel_size_A
    height, width = picture.shape
    margin = float(exclude_border)
    inside = ((x >= margin) & (y >= margin) & (x <= (width - 1) * pixel_size_A - margin)
              & (y <= (height - 1) * pixel_size_A - margin))
    found = np.stack([x[inside], y[inside]], axis=1)
    return found[np.lexsort((found[:, 0], found[:, 1]))]


def _quadratic_offsets(values, rows, cols):
    """Sub-pixel offsets (row, col) in pixels from a separable parabola through the 3 × 3 neighbourhood."""
    padded = np.pad(values, 1, mode="edge")
    r, c = rows + 1, cols + 1
    centre = padded[r, c]

    def offset(minus, plus):
        curvature = minus - 2.0 * centre + plus
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curvature < 0, 0.5 * (minus - plus) / curvature, 0.0)
        return np.clip(shift, -0.5, 0.5)

    return offset(padded[r - 1, c], padded[r + 1, c]), offset(padded[r, c - 1], padded[r, c + 1])


def snap_to_peaks(images, positions, *, pixel_size_A, radius, smoothing=None):
    """Move each given column position to the brightest point of the smoothed image near it.

    Use it to start a fit from what the image shows when the expected positions are known only
    roughly (e.g. the undistorted lattice of a scan-distorted image): a Gaussian fit is local, and a start
    more than about one width ρ off the column's peak can lose a weak column.

    Parameters
    ----------
    images : array_like
        (H, W) or (B, H, W) [intensity units]; pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ).
    positions : array_like
        Shape (N, 2): expected (x, y) [Å], shared by all images.
    pixel_size_A : float
        Δ [Å/px].
    radius : float
        Search radius [Å] around each position (keep it below half the nearest-neighbour distance, so
        that two columns cannot snap onto the same peak).
    smoothing : float, optional
        Gaussian smoothing σ [Å] before the search; default one pixel; 0 for none.

    Returns
    -------
    ndarray
        Shape (B, N, 2): (x, y) [Å], the maximum of the smoothed image within ``radius`` of each position,
        refined by a 3 × 3 quadratic fit (clipped to ± half a pixel) and kept inside the search disc.

    Raises
    ------
    ValueError
        For non-finite images, positions outside the image, a bad pixel size, radius or smoothing.
    """
    stack = _checks.as_image_stack(images)
    pixel_size_A = _checks.check_pixel_size(pixel_size_A)
    points = _checks.shared_positions(positions, stack.shape[1:], pixel_size_A=pixel_size_A)
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive distance in Å, got {radius!r}")
    sigma_px = 1.0 if smoothing is None else float(smoothing) / pixel_size_A
    if not sigma_px >= 0:
        raise ValueError(f"smoothing must be a non-negative σ in Å, got {smoothing!r}")
    height, width = stack.shape[1:]
    reach = int(np.ceil(radius / pixel_size_A)) + 1
    di, dj = (grid.ravel() for grid in np.mgrid[-reach:reach + 1, -reach:reach + 1])
    centre_i = np.rint(points[:, 1] / pixel_size_A).astype(int)
    centre_j = np.rint(points[:, 0] / pixel_size_A).astype(int)
    rows, cols = centre_i[:, None] + di[None], centre_j[:, None] + dj[None]  # (N, K) candidate pixels
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    inside &= np.hypot(cols * pixel_size_A - points[:, :1], rows * pixel_size_A - points[:, 1:]) <= radius
    # a column always has its nearest pixel as a candidate (a radius below half a pixel finds no other)
    inside[:, np.flatnonzero((di == 0) & (dj == 0))[0]] = True
    rows, cols = np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)
    snapped = np.empty((stack.shape[0], points.shape[0], 2))
    for b, picture in enumerate(stack):
        smooth = ndimage.gaussian_filter(picture, sigma_px, mode="nearest") if sigma_px > 0 else picture
        values = np.where(inside, smooth[rows, cols], -np.inf)
        best = np.argmax(values, axis=1)
        peak_i, peak_j = rows[np.arange(rows.shape[0]), best], cols[np.arange(cols.shape[0]), best]
        dy, dx = _quadratic_offsets(smooth, peak_i, peak_j)
        found = np.stack([(peak_j + dx) * pixel_size_A, (peak_i + dy) * pixel_size_A], axis=1)
        offset = found - points
        shrink = np.minimum(1.0, radius / np.maximum(np.linalg.norm(offset, axis=1), 1e-300))
        snapped[b] = points + offset * shrink[:, None]
    return snapped
