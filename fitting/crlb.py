"""Poisson Cramér–Rao lower bounds for Gaussian column parameters, with sparse Fisher assembly.

Expected counts in pixel k: λ_k = D · Δ² · f(x_k; θ), with the image model in fraction of the beam

    f = ζ + Σ_n V_n / (2πρ_n²) · exp(−r_n² / 2ρ_n²),

parametrised by the column volume V_n (the SCS, Å²) instead of the height so that σ_V comes out
directly. Fisher information F_rs = Σ_k (1/λ_k) ∂λ_k/∂θ_r ∂λ_k/∂θ_s; the bound is diag(F⁻¹). For an
isolated column without background on a fine grid, σ_x = σ_y = ρ/√N and σ_V/V = 1/√N with N = D·V.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix, diags

from fitting import _checks


@dataclass(frozen=True)
class CramerRaoBound:
    """Lower bounds on the standard deviation of unbiased estimators (Poisson data).

    Parameters
    ----------
    sigma_x : ndarray
        Shape (N,): bound on each column's x [Å].
    sigma_y : ndarray
        Shape (N,): bound on each column's y [Å].
    sigma_volume : ndarray
        Shape (N,): bound on each column's SCS V [Å²].
    relative_volume : ndarray
        Shape (N,): σ_V / V.
    sigma_width : ndarray or float
        Bound on ρ [Å]: a scalar for one shared width, (N,) for per-column widths; NaN (a scalar, or a
        (1,) array for per-column widths) when the width is taken as known.
    sigma_background : float
        Bound on ζ [fraction of the beam], NaN when the background is taken as known.
    expected_counts : ndarray
        Shape (N,): N = D·V, the counts scattered into each column.
    covariance : ndarray
        Shape (P, P): F⁻¹ over (x_1…x_N, y_1…y_N, V_1…V_N, [ρ…], [ζ]).
    """

    sigma_x: np.ndarray
    sigma_y: np.ndarray
    sigma_volume: np.ndarray
    relative_volume: np.ndarray
    sigma_width: np.ndarray
    sigma_background: float
    expected_counts: np.ndarray
    covariance: np.ndarray


def crlb_columns(positions, volumes, *, width, background, pixel_size_A, shape, dose, fit_width=True,
                 fit_background=True, reach=8.0) -> CramerRaoBound:
    """Compute the Poisson CRLB of column positions and volumes (SCS) for an image of ``shape`` pixels.

    Parameters
    ----------
    positions : array_like
        Shape (N, 2): column (x, y) [Å]; pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ).
    volumes : float or array_like
        Scalar or (N,): column volumes V = 2πηρ² [Å², image in fraction of the beam]; > 0.
    width : float or array_like
        Gaussian width ρ [Å], a scalar (one shared width) or (N,).
    background : float
        Constant background ζ [fraction of the beam], ≥ 0.
    pixel_size_A : float
        Δ [Å/px].
    shape : tuple of int
        (H, W) pixels of the image, at least 2 × 2.
    dose : float
        Electron dose D [e⁻/Å²].
    fit_width : bool, default True
        Treat ρ as estimated (one shared parameter for a scalar width, else one per column).
    fit_background : bool, default True
        Treat ζ as estimated (requires ζ > 0).
    reach : float, default 8.0
        Columns are evaluated out to ``reach``·ρ (8ρ loses < 1e-13 of the volume).

    Returns
    -------
    CramerRaoBound
        The bounds and the full covariance F⁻¹.

    Raises
    ------
    ValueError
        For empty or out-of-image positions, a shape below 2 × 2, non-positive volumes, width, dose or
        pixel size, a negative background, ``fit_background`` with ζ = 0 (infinite information), or a
        singular Fisher matrix (a column without signal, coinciding columns).
    """
    pixel_size_A = _checks.check_pixel_size(pixel_size_A)
    points = _checks.as_positions(positions)[0]
    n_columns = points.shape[0]
    height, width_px = (int(v) for v in shape)
    if height < 2 or width_px < 2:
        raise ValueError(f"shape must be (H, W) with at least 2×2 pixels, got {shape!r}")
    _checks.check_inside(points, (height, width_px), pixel_size_A=pixel_size_A)
    volume = np.broadcast_to(np.asarray(volumes, dtype=np.float64), (n_columns,))
    if np.any(~np.isfinite(volume)) or np.any(volume <= 0):
        raise ValueError("volumes must be positive SCS values in Å² (one per column)")
    shared = np.ndim(width) == 0
    rho = np.broadcast_to(np.asarray(width, dtype=np.float64), (n_columns,))
    if np.any(~np.isfinite(rho)) or np.any(rho <= 0):
        raise ValueError(f"width must be a positive ρ in Å (scalar or one per column), got {width!r}")
    if not (np.isfinite(dose) and dose > 0):
        raise ValueError(f"dose must be a positive number of e⁻/Å², got {dose!r}")
    if not (np.isfinite(background) and background >= 0):
        raise ValueError(f"background must be a non-negative fraction of the beam, got {background!r}")
    if fit_background and background == 0:
        raise ValueError("fit_background=True needs background > 0 (a zero background has infinite "
                         "Fisher information); pass fit_background=False for a known zero background")

    scale = dose * pixel_size_A ** 2
    n_width = (1 if shared else n_columns) if fit_width else 0
    n_params = 3 * n_columns + n_width + (1 if fit_background else 0)
    rows_list, cols_list, values_list = [], [], []
    rate = np.full(height * width_px, scale * background)
    for n in range(n_columns):
        pixels, dx, dy = _window(points[n], reach * rho[n], pixel_size_A, height, width_px)
        r2 = dx * dx + dy * dy
        counts = scale * volume[n] / (2.0 * np.pi * rho[n] ** 2) * np.exp(-0.5 * r2 / rho[n] ** 2)
        rate[pixels] += counts
        derivatives = [counts * dx / rho[n] ** 2, counts * dy / rho[n] ** 2, counts / volume[n]]
        columns = [n, n_columns + n, 2 * n_columns + n]
        if fit_width:
            derivatives.append(counts * (r2 / rho[n] ** 3 - 2.0 / rho[n]))
            columns.append(3 * n_columns + (0 if shared else n))
        for column, derivative in zip(columns, derivatives):
            rows_list.append(pixels)
            cols_list.append(np.full(pixels.size, column))
            values_list.append(derivative)
    if fit_background:
        rows_list.append(np.arange(height * width_px))
        cols_list.append(np.full(height * width_px, n_params - 1))
        values_list.append(np.full(height * width_px, scale))

    jacobian = coo_matrix((np.concatenate(values_list), (np.concatenate(rows_list), np.concatenate(cols_list))),
                          shape=(height * width_px, n_params)).tocsr()
    seen = rate > 0
    weights = np.zeros_like(rate)
    weights[seen] = 1.0 / rate[seen]
    fisher = (jacobian.T @ diags(weights) @ jacobian).toarray()
    covariance = _invert(fisher)
    sigma = np.sqrt(np.diag(covariance))
    sigma_volume = sigma[2 * n_columns:3 * n_columns]
    sigma_width = sigma[3 * n_columns:3 * n_columns + n_width] if fit_width else np.array([np.nan])
    return CramerRaoBound(
        sigma_x=sigma[:n_columns], sigma_y=sigma[n_columns:2 * n_columns], sigma_volume=sigma_volume,
        relative_volume=sigma_volume / volume, sigma_width=sigma_width[0] if shared else sigma_width,
        sigma_background=float(sigma[-1] / 1.0) if fit_background else float("nan"),
        expected_counts=dose * volume, covariance=covariance)


def crlb_positions(positions, volumes, width, background, *, pixel_size_A, shape, dose, **options):
    """Return the position bounds (σ_x, σ_y) of :func:`crlb_columns`.

    Parameters
    ----------
    positions : array_like
        Shape (N, 2): column (x, y) [Å].
    volumes : float or array_like
        Scalar or (N,): column volumes V [Å²]; > 0.
    width : float or array_like
        Gaussian width ρ [Å], a scalar or (N,).
    background : float
        Constant background ζ [fraction of the beam], ≥ 0.
    pixel_size_A : float
        Δ [Å/px].
    shape : tuple of int
        (H, W) pixels of the image.
    dose : float
        Electron dose D [e⁻/Å²].
    **options
        ``fit_width``, ``fit_background`` and ``reach`` of :func:`crlb_columns`.

    Returns
    -------
    sigma_x : ndarray
        Shape (N,): bound on x [Å].
    sigma_y : ndarray
        Shape (N,): bound on y [Å].

    Raises
    ------
    ValueError
        As :func:`crlb_columns`.
    """
    bound = crlb_columns(positions, volumes, width=width, background=background, pixel_size_A=pixel_size_A, shape=shape,
                         dose=dose, **options)
    return bound.sigma_x, bound.sigma_y


def _window(centre, radius, pixel_size_A, height, width):
    """Flat indices and (x, y) offsets [Å] of the pixels within ``radius`` [Å] of ``centre``."""
    x0, y0 = centre
    j = np.arange(max(0, int(np.floor((x0 - radius) / pixel_size_A))),
                  min(width, int(np.ceil((x0 + radius) / pixel_size_A)) + 1))
    i = np.arange(max(0, int(np.floor((y0 - radius) / pixel_size_A))),
                  min(height, int(np.ceil((y0 + radius) / pixel_size_A)) + 1))
    dx = j[None, :] * pixel_size_A - x0
    dy = i[:, None] * pixel_size_A - y0
    inside = dx * dx + dy * dy <= radius * radius
    flat = (i[:, None] * width + j[None, :])[inside]
    return flat, np.broadcast_to(dx, inside.shape)[inside], np.broadcast_to(dy, inside.shape)[inside]


def _invert(fisher):
    try:
        factor = np.linalg.cholesky(fisher)
    except np.linalg.LinAlgError as error:
        raise ValueError("the Fisher information is singular: a column has no signal or two columns "
                         "coincide; check positions, volumes and width") from error
    inverse_factor = np.linalg.inv(factor)
    return inverse_factor.T @ inverse_factor
