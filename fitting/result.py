"""The result of a batched column fit: arrays per image and column, flags, and a tidy table."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ColumnFit:
    """Fitted Gaussian columns for a stack of B images with N columns each.

    Parameters
    ----------
    positions : ndarray
        Shape (B, N, 2): fitted (x, y) [Å]; pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ).
    heights : ndarray
        Shape (B, N): peak heights η [image units].
    widths : ndarray
        Shape (B, N): Gaussian widths ρ [Å] (equal within a width type).
    background : ndarray
        Shape (B,): constant background ζ [image units].
    scs : ndarray
        Shape (B, N): scattering cross sections 2πηρ² [image units × Å²; Å² for fraction-of-beam images].
    converged : ndarray
        Shape (B,), bool: the iteration met its tolerances before ``max_iterations``.
    negative_height : ndarray
        Shape (B, N), bool: η ≤ 0 (an unphysical column).
    left_cell : ndarray
        Shape (B, N), bool: the fitted position is closer to another column's start than to its own, or
        lies outside the image, or (with ``max_displacement``) ended on the rim of its allowed disc.
    iterations : ndarray
        Shape (B,), int: iterations used (least squares plus, for Poisson, the likelihood iterations;
        model evaluations for the lmfit reference).
    objective : ndarray
        Shape (B,): final ½·Σ residual² (least squares) or Σ(λ − I·ln λ) (Poisson); NaN for the lmfit
        reference.
    start_positions : ndarray
        Shape (B, N, 2): the starting positions [Å].
    estimator : str
        "least_squares", "poisson" (:func:`fitting.fit_columns`) or "lmfit_per_column"
        (:func:`fitting.reference.fit_columns_lmfit`).
    pixel_size_A : float
        Δ [Å/px].
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
    estimator: str
    pixel_size_A: float

    @property
    def n_images(self) -> int:
        """Number of images B.

        Returns
        -------
        int
            B.
        """
        return int(self.heights.shape[0])

    @property
    def n_columns(self) -> int:
        """Number of columns N per image.

        Returns
        -------
        int
            N.
        """
        return int(self.heights.shape[1])

    @property
    def flagged(self) -> np.ndarray:
        """Mark the columns that should not be trusted: not converged, negative height or left their cell.

        Returns
        -------
        ndarray
            Shape (B, N), bool.
        """
        return self.negative_height | self.left_cell | ~self.converged[:, None]

    def to_dataframe(self):
        """Tabulate the fit: one row per (image, column).

        Returns
        -------
        pandas.DataFrame
            Columns ``image``, ``column``, ``x_A``, ``y_A``, ``x0_A``, ``y0_A`` (fitted and start
            positions [Å]), ``height``, ``width_A`` [Å], ``background``, ``scs``, the flags ``converged``,
            ``negative_height``, ``left_cell``, ``flagged``, then ``iterations`` and ``estimator``.
        """
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
            "estimator": self.estimator,
        })
