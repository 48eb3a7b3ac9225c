"""Synthetic Gaussian-lattice images for the fitting tests (Pt [001]-like square lattice)."""
from __future__ import annotations

import numpy as np

from fitting import render_columns

SPACING = 1.962  # Å, Pt [001] projected column spacing


def square_lattice(n_side: int, spacing: float = SPACING, margin: float | None = None) -> np.ndarray:
    """(n_side², 2) column positions (x, y) [Å] with a margin of half a spacing to the image edge."""
    margin = 0.5 * spacing if margin is None else margin
    axis = margin + spacing * np.arange(n_side)
    x, y = np.meshgrid(axis, axis)
    return np.stack([x.ravel(), y.ravel()], axis=1)


def field_shape(n_side: int, pixel_size_A: float, spacing: float = SPACING) -> tuple[int, int]:
    side = int(round(n_side * spacing / pixel_size_A))
    return side, side


def clean_image(positions, shape, pixel_size_A, height, width, background) -> np.ndarray:
    n = positions.shape[0]
    return render_columns(shape, pixel_size_A=pixel_size_A, positions=positions[None],
                          heights=np.broadcast_to(height, (1, n)).astype(float),
                          widths=np.full((1, n), float(width)), background=np.array([float(background)]))[0]


def poisson_stack(clean, dose, pixel_size_A, n_images, seed) -> np.ndarray:
    """Poisson counts with λ = dose · pixel area · intensity (the suite's dose convention)."""
    rng = np.random.default_rng(seed)
    return rng.poisson(dose * pixel_size_A ** 2 * clean, size=(n_images, *clean.shape)).astype(np.float64)
