"""Blind-spot masking of Noise2Void-type training (N2V, N2V2, structN2V) on batches of normalised patches.

A blind-spot network learns to predict a pixel from its neighbourhood only: some pixels of each training
patch are replaced before the patch enters the network, and the loss compares the network's output at those
pixels with their original (noisy) values. With noise independent between pixels the best such prediction
is the noise-free value (Krull et al., CVPR 2019).

- **Where.** One masked pixel in every cell of a :data:`MASK_GRID_PX` grid, at a random place in its cell
  (N2V's stratified sampling): 6.25 % of the pixels, far more than N2V2's 0.2 %, because the budgets here
  are a few hundred steps and every masked pixel is a term of the loss. On the denoise study's abstract
  scenario, 600 steps with an 8 × 8 grid (1.6 %) gave 29–31 dB between seeds, a 4 × 4 grid 34–36 dB.
- **With what** (N2V2, Höck et al. 2022): the median of the :data:`WINDOW_PX` × :data:`WINDOW_PX` window
  around the masked pixel *without* the masked pixels, so that the replacement carries no trace of the
  value it hides (N2V's replacement by a random neighbour can pick the pixel itself).
- **structN2V** (Broaddus et al., ISBI 2020): noise correlated along the fast-scan axis (axis −1: the scan
  lines of STEM, the detector's causal read-out) leaks a pixel's noise into its neighbours on the same line,
  so the whole line segment of ``line_px`` pixels centred on the masked pixel is replaced (by the same
  median, taken without that segment); the loss is still taken at the centre only.
"""
from __future__ import annotations

import numpy as np

MASK_GRID_PX = 4  # one masked pixel per 4 × 4 cell
WINDOW_PX = 5  # the window whose median replaces a masked pixel


def mask_positions(batch: int, *, patch_px: int, rng: np.random.Generator,
                   grid_px: int = MASK_GRID_PX) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random pixel in each ``grid_px`` cell of every patch: (image, row, column) index arrays.

    Parameters
    ----------
    batch : int
        Patches in the batch.
    patch_px : int
        Side of the square patches [px], ≥ ``grid_px``.
    rng : numpy.random.Generator
        Where the positions come from.
    grid_px : int
        Side of the cells [px].

    Returns
    -------
    tuple of ndarray
        Indices (b, r, c) of the masked pixels.

    Raises
    ------
    ValueError
        If the patch is smaller than one cell.
    """
    if patch_px < grid_px:
        raise ValueError(f"patch_px={patch_px} must be at least the masking grid of {grid_px} px")
    cells = patch_px // grid_px
    b, cell_r, cell_c = np.meshgrid(np.arange(batch), np.arange(cells), np.arange(cells), indexing="ij")
    b, cell_r, cell_c = b.ravel(), cell_r.ravel(), cell_c.ravel()
    rows = cell_r * grid_px + rng.integers(0, grid_px, size=b.size)
    cols = cell_c * grid_px + rng.integers(0, grid_px, size=b.size)
    return b, rows, cols


def masked_inputs(patches: np.ndarray, positions: tuple[np.ndarray, np.ndarray, np.ndarray], *,
                  line_px: int = 1) -> np.ndarray:
    """The patches with every masked pixel (and its fast-scan line segment) replaced by a blind median.

    Parameters
    ----------
    patches : ndarray
        (B, P, P) normalised patches; left unchanged.
    positions : tuple of ndarray
        (b, r, c) of the masked pixels (:func:`mask_positions`).
    line_px : int
        Length of the masked segment along axis −1 [px], odd: 1 for N2V2, > 1 for structN2V.

    Returns
    -------
    ndarray
        A copy of ``patches`` with the masked pixels replaced (see the module docstring).

    Raises
    ------
    ValueError
        For an even or non-positive ``line_px``.
    """
    if int(line_px) != line_px or line_px < 1 or line_px % 2 == 0:
        raise ValueError(f"line_px={line_px!r} must be an odd number of pixels >= 1")
    b, r, c = positions
    half, reach = WINDOW_PX // 2, int(line_px) // 2
    height, width = patches.shape[-2:]
    values = []
    for dy in range(-half, half + 1):
        for dx in range(-half, half + 1):
            # mirrored at the patch edge; a mirrored neighbour can be a masked pixel itself, which must not count
            rows, cols = _mirror(r + dy, height), _mirror(c + dx, width)
            hidden = (rows == r) & (np.abs(cols - c) <= reach)
            values.append(np.where(hidden, np.nan, patches[b, rows, cols]))
    replacement = np.nanmedian(np.stack(values, axis=-1), axis=-1)
    out = np.array(patches, copy=True)
    for dx in range(-reach, reach + 1):
        column = c + dx
        inside = (column >= 0) & (column < width)
        out[b[inside], r[inside], column[inside]] = replacement[inside]
    return out


def _mirror(index: np.ndarray, size: int) -> np.ndarray:
    """Indices mirrored into 0 … size − 1 at the edges (−1 → 1, size → size − 2)."""
    index = np.abs(index)
    return np.where(index > size - 1, 2 * (size - 1) - index, index)
