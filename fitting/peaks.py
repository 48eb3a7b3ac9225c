"""Peak finder for images without known column positions."""
from __future__ import annotations

import numpy as np

from fitting import _checks


def find_columns(image, pixel_size, *, min_distance, threshold=0.2, smoothing=None, exclude_border=0.0):
    """Find atomic columns as local maxima of a Gaussian-smoothed image, refined to sub-pixel precision.

    Parameters
    ----------
    image : (H, W) array [intensity units]; pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ).
    pixel_size : Δ [Å].
    min_distance : smallest allowed distance between two columns [Å] (e.g. ~0.6 × the lattice spacing).
    threshold : keep maxima whose smoothed height above the image minimum is at least this fraction
        (0…1) of the highest one.
    smoothing : Gaussian smoothing σ [Å] before the search; default one pixel.
    exclude_border : drop maxima closer than this to the image edge [Å].

    Returns
    -------
    (N, 2) array of (x, y) [Å], sorted by y then x; the refinement is a 3 × 3 quadratic fit around
    each maximum (good starting values for :func:`fitting.fit_columns`, not a final estimate).

    Raises
    ------
    ValueError
        For a non-2-D or non-finite image, a bad pixel size, distance, threshold or smoothing.
    """
    from scipy import ndimage

    stack = _checks.as_image_stack(image, name="image")
    if stack.shape[0] != 1:
        raise ValueError(f"image must be a single (H, W) image, got shape {np.shape(image)}")
    picture = stack[0]
    pixel_size = _checks.check_pixel_size(pixel_size)
    if not min_distance > 0:
        raise ValueError(f"min_distance must be a positive distance in Å, got {min_distance!r}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be a fraction in [0, 1), got {threshold!r}")
    sigma_px = 1.0 if smoothing is None else float(smoothing) / pixel_size
    if not sigma_px >= 0:
        raise ValueError(f"smoothing must be a non-negative σ in Å, got {smoothing!r}")
    smooth = ndimage.gaussian_filter(picture, sigma_px, mode="nearest") if sigma_px > 0 else picture
    radius = max(1, int(np.floor(min_distance / pixel_size)))
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
        if all((rows[k] - rows[j]) ** 2 + (cols[k] - cols[j]) ** 2 >= (min_distance / pixel_size) ** 2 for j in kept):
            kept.append(k)
    rows, cols = rows[kept], cols[kept]
    dy, dx = _quadratic_offsets(smooth, rows, cols)
    x, y = (cols + dx) * pixel_size, (rows + dy) * pixel_size
    height, width = picture.shape
    margin = float(exclude_border)
    inside = (x >= margin) & (y >= margin) & (x <= (width - 1) * pixel_size - margin) & (y <= (height - 1) * pixel_size - margin)
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
