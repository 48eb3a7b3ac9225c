"""Per-column lmfit reference fitter of the Atomap kind: one 2-D Gaussian plus background per window.

Each column is fitted on its own, in a disc of ``window_fraction`` × nearest-neighbour distance around its
starting position, with neighbours' tails left in the data (as Atomap's ``refine_position_using_2d_gaussian``
does). It is slow and biased by the neighbours' tails on a dense lattice; it exists to check the fast
joint fitter on isolated columns and as the speed baseline of the benchmarks.
"""
from __future__ import annotations

import numpy as np

from fitting import _checks
from fitting.result import ColumnFit


def _gaussian(x, y, x0, y0, eta, rho, zeta):
    return zeta + eta * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2.0 * rho * rho))


def fit_columns_lmfit(images, positions, *, pixel_size_A, width=None, window_fraction=0.5, window_radius=None,
                      max_nfev=2000) -> ColumnFit:
    """Fit each column separately with ``lmfit`` (Levenberg–Marquardt) on a disc-shaped window.

    Parameters
    ----------
    images : array_like
        (H, W) or (B, H, W) [intensity units]; pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ).
    positions : array_like
        (N, 2) or (B, N, 2) starting (x, y) [Å].
    pixel_size_A : float
        Δ [Å/px].
    width : float, optional
        Starting ρ [Å]; default a quarter of each column's window radius. The fit keeps ρ ≥ 0.1·Δ.
    window_fraction : float, default 0.5
        Window radius as a fraction of each column's nearest-neighbour distance in the first image
        (ignored when ``window_radius`` is given).
    window_radius : float, optional
        Window radius [Å] for every column; required for a single column (no nearest neighbour).
    max_nfev : int, default 2000
        Cap on model evaluations per column.

    Returns
    -------
    ColumnFit
        Per-column widths; ``background`` is the mean of the columns' ζ per image, ``converged`` is True
        for an image when every column fit succeeded, ``iterations`` counts model evaluations summed over
        the columns, ``objective`` is NaN and ``estimator`` is ``"lmfit_per_column"``.

    Raises
    ------
    ValueError
        For non-finite images, empty or out-of-image positions, a bad pixel size, a non-positive
        ``window_radius``, or a single column without ``window_radius``.
    """
    import lmfit

    stack = _checks.as_image_stack(images)
    pixel_size_A = _checks.check_pixel_size(pixel_size_A)
    start = _checks.as_positions(positions, n_images=stack.shape[0])
    _checks.check_inside(start, stack.shape[1:], pixel_size_A=pixel_size_A)
    if window_radius is None:
        nearest = _checks.nearest_neighbour_distance(start[0])
        if not np.all(np.isfinite(nearest)):
            raise ValueError("window_radius [Å] is required for a single column (no nearest neighbour)")
        radii = window_fraction * nearest
    else:
        if not window_radius > 0:
            raise ValueError(f"window_radius must be positive in Å, got {window_radius!r}")
        radii = np.full(start.shape[1], float(window_radius))
    n_images, n_columns = start.shape[:2]
    height, width_px = stack.shape[1:]
    yy, xx = np.mgrid[0:height, 0:width_px] * pixel_size_A
    model = lmfit.Model(_gaussian, independent_vars=("x", "y"))
    out = {key: np.zeros((n_images, n_columns)) for key in ("x", "y", "eta", "rho", "zeta")}
    success = np.ones(n_images, dtype=bool)
    iterations = np.zeros(n_images, dtype=np.int64)
    for b in range(n_images):
        for n in range(n_columns):
            x0, y0 = start[b, n]
            mask = (xx - x0) ** 2 + (yy - y0) ** 2 <= radii[n] ** 2
            data = stack[b][mask]
            rho0 = width if width is not None else 0.25 * radii[n]
            params = model.make_params(x0=x0, y0=y0, eta=max(data.max() - data.min(), 1e-12),
                                       rho=rho0, zeta=data.min())
            params["rho"].set(min=0.1 * pixel_size_A)
            result = model.fit(data, params, x=xx[mask], y=yy[mask], max_nfev=max_nfev)
            values = result.params
            out["x"][b, n], out["y"][b, n] = values["x0"].value, values["y0"].value
            out["eta"][b, n], out["rho"][b, n] = values["eta"].value, values["rho"].value
            out["zeta"][b, n] = values["zeta"].value
            success[b] &= bool(result.success)
            iterations[b] += int(result.nfev)
    fitted = np.stack([out["x"], out["y"]], axis=-1)
    distance = np.linalg.norm(fitted[:, :, None, :] - start[:, None, :, :], axis=-1)
    return ColumnFit(
        positions=fitted, heights=out["eta"], widths=out["rho"], background=out["zeta"].mean(axis=1),
        scs=2.0 * np.pi * out["eta"] * out["rho"] ** 2, converged=success,
        negative_height=out["eta"] <= 0, left_cell=np.argmin(distance, axis=2) != np.arange(n_columns),
        iterations=iterations, objective=np.full(n_images, np.nan), start_positions=start,
        estimator="lmfit_per_column", pixel_size_A=pixel_size_A)
