"""How the specimen studies (dislocation, atom counting) fit the columns of a distorted image.

A user fits from the columns the image shows, not from the undistorted truth. The causal fast-scan PSF of
the benchmark distortions delays every column by ≈ 0.3 Å along x, about one Gaussian width, and from the
undistorted positions the first Gauss–Newton steps can throw a weak column Ångströms away; with hundreds of
columns in one image the step is accepted on the whole image's cost, so such a column never settles and the
whole image is reported unconverged (see docs/studies.md). The protocol:

- start from the true positions moved onto the brightest point of the smoothed image within a fraction
  (default a quarter) of the nearest-neighbour distance (:func:`fitting.snap_to_peaks`; each column keeps
  its identity, so scores compare with its own true position);
- keep heights non-negative and every column within that radius of its start, hence within half a spacing
  of its true position (a column held on the rim is flagged ``left_cell``, one at η = 0 ``negative_height``);
- converge on the step tolerances or on a cost decrease below ``objective_tolerance`` of one pixel's noise.
"""
from __future__ import annotations

import numpy as np


def search_radius(truth: np.ndarray, fraction: float) -> float:
    """Return ``fraction`` × the smallest nearest-neighbour distance of the true positions.

    Parameters
    ----------
    truth : ndarray, shape (N, 2)
        True column positions (x, y) [Å], N ≥ 2.
    fraction : float
        Fraction of the spacing, in (0, 0.5).

    Returns
    -------
    float
        The search radius [Å].

    Raises
    ------
    ValueError
        For ``fraction`` outside (0, 0.5) or fewer than two columns.
    """
    from scipy.spatial import cKDTree

    if not 0 < fraction < 0.5:
        raise ValueError(f"search_radius_fraction={fraction!r} must lie in (0, 0.5): a larger radius lets two "
                         "columns start on the same peak")
    if truth.shape[0] < 2:
        raise ValueError("the fit protocol needs at least two columns (the radius is a fraction of their spacing)")
    spacing = float(np.min(cKDTree(truth).query(truth, k=2)[0][:, 1]))
    return fraction * spacing


def fit_options(truth: np.ndarray, *, fraction: float, objective_tolerance: float, max_iterations: int) -> dict:
    """Return the keyword options of :func:`fitting.fit_columns` for the protocol.

    Parameters
    ----------
    truth : ndarray, shape (N, 2)
        True column positions (x, y) [Å].
    fraction : float
        Search radius as a fraction of the smallest column spacing, in (0, 0.5).
    objective_tolerance : float
        Converged when a step lowers the cost by less than this many units of one pixel's noise.
    max_iterations : int
        Iteration cap of the fit.

    Returns
    -------
    dict
        ``max_displacement`` (the search radius [Å]), ``nonnegative`` (True), ``objective_tolerance`` and
        ``max_iterations``.
    """
    return {"max_displacement": search_radius(truth, fraction), "nonnegative": True,
            "objective_tolerance": float(objective_tolerance), "max_iterations": int(max_iterations)}


def fit_from_peaks(images, truth: np.ndarray, *, pixel_size_A: float, fraction: float, objective_tolerance: float,
                   max_iterations: int, width=None):
    """Fit images by the protocol: start on the peaks near the true positions, fit within the search radius.

    Parameters
    ----------
    images : ndarray, shape (H, W) or (B, H, W)
        The images.
    truth : ndarray, shape (N, 2)
        True column positions (x, y) [Å].
    pixel_size_A : float
        Pixel size [Å].
    fraction : float
        Search radius as a fraction of the smallest column spacing, in (0, 0.5).
    objective_tolerance : float
        Converged when a step lowers the cost by less than this many units of one pixel's noise.
    max_iterations : int
        Iteration cap of the fit.
    width : float, optional
        Starting Gaussian width ρ [Å]; None lets :func:`fitting.fit_columns` search for it.

    Returns
    -------
    fitting.ColumnFit
        The fit, with leading dimension B (1 for a single image).
    """
    from fitting import fit_columns, snap_to_peaks

    options = fit_options(truth, fraction=fraction, objective_tolerance=objective_tolerance,
                          max_iterations=max_iterations)
    starts = snap_to_peaks(images, truth, pixel_size_A=pixel_size_A, radius=options["max_displacement"])
    return fit_columns(images, starts, pixel_size_A=pixel_size_A, width=width, **options)
