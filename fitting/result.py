"""The result of a batched column fit: arrays per image and column, flags, and a tidy table."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ColumnFit:
    """Fitted Gaussian columns for a stack of B images with N columns each.

    Attributes
    ----------
    positions : (B, N, 2) fitted (x, y) [Å]; pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ).
    heights : (B, N) peak heights η [image units].
    widths : (B, N) Gaussian widths ρ [Å] (equal within a width type).
    background : (B,) constant background ζ [image units].
    scs : (B, N) scattering cross sections 2πηρ² [image units × Å²; Å² for fraction-of-beam images].
    converged : (B,) the iteration met its tolerances before ``max_iterations``.
    negative_height : (B, N) η ≤ 0 (an unphysical column).
    left_cell : (B, N) the fitted position is closer to another column's start than to its own, or
        lies outside the image.
    iterations : (B,) iterations used (least squares plus, for Poisson, the likelihood iterations).
    objective : (B,) final ½·Σ residual² (least squares) or Σ(λ − I·ln λ) (Poisson).
    start_positions : (B, N, 2) the starting positions [Å].
    method : "least_squares" or "poisson".
    pixel_size : Δ [Å].
    """

    positions: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    background: np.ndarray
    scs: np.ndarray
    converged: np.ndarray
    negative_height: np.ndarray
    left_cell: np.ndarray
    iterations: np.ndarray
    objective: np.ndarray
    start_positions: np.ndarray
    method: str
    pixel_size: float

    @property
    def n_images(self) -> int:
        return int(self.heights.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.heights.shape[1])

    @property
    def flagged(self) -> np.ndarray:
        """(B, N) True where the column should not be trusted: not converged, negative height or left its cell."""
        return self.negative_height | self.left_cell | ~self.converged[:, None]

    def to_dataframe(self):
        """One row per (image, column): position [Å], height, width [Å], background, SCS and flags."""
        import pandas as pd

        n_images, n_columns = self.heights.shape
        image = np.repeat(np.arange(n_images), n_columns)
        column = np.tile(np.arange(n_columns), n_images)
        return pd.DataFrame({
            "image": image,
            "column": column,
            "x_A": self.positions[..., 0].ravel(),
            "y_A": self.positions[..., 1].ravel(),
            "x0_A": self.start_positions[..., 0].ravel(),
            "y0_A": self.start_positions[..., 1].ravel(),
            "height": self.heights.ravel(),
            "width_A": self.widths.ravel(),
            "background": np.repeat(self.background, n_columns),
            "scs": self.scs.ravel(),
            "converged": np.repeat(self.converged, n_columns),
            "negative_height": self.negative_height.ravel(),
            "left_cell": self.left_cell.ravel(),
            "flagged": self.flagged.ravel(),
            "iterations": np.repeat(self.iterations, n_columns),
            "method": self.method,
        })
