"""Irreducible scan wedge of a square p4mm cell, and unfolding it back to the full cell.

A probe scan over one a × a cell of Pt [001] on an n × n grid (positions i·a/n, origin on a column) is
invariant under the eight operations of 4mm about the origin: i → −i (mod n), j → −j, and i ↔ j. Only the
wedge 0 ≤ j ≤ i ≤ n/2 has to be simulated: (n/2 + 1)(n/2 + 2)/2 positions instead of n² (66 for n = 20).
The frozen-phonon average is symmetric; a finite number of configurations is averaged over one wedge only,
which the convergence check accounts for.
"""
from __future__ import annotations

import numpy as np


def _check_grid(points_per_cell: int) -> int:
    if int(points_per_cell) != points_per_cell or points_per_cell < 2 or points_per_cell % 2:
        raise ValueError(f"points_per_cell={points_per_cell!r} must be an even integer >= 2")
    return int(points_per_cell)


def irreducible_indices(points_per_cell: int) -> np.ndarray:
    """Return the grid indices (i, j) of the wedge 0 ≤ j ≤ i ≤ n/2, i along x, j along y.

    Parameters
    ----------
    points_per_cell : int
        Scan points n per cell edge, an even integer ≥ 2.

    Returns
    -------
    numpy.ndarray
        Integer indices, shape (m, 2) with m = (n/2 + 1)(n/2 + 2)/2, ordered by i then j.

    Raises
    ------
    ValueError
        If ``points_per_cell`` is not an even integer ≥ 2.
    """
    n = _check_grid(points_per_cell)
    return np.array([(i, j) for i in range(n // 2 + 1) for j in range(i + 1)], dtype=int)


def fold_index_map(points_per_cell: int) -> np.ndarray:
    """Return, for each full-grid pixel [row=j, column=i], the index into :func:`irreducible_indices`.

    Parameters
    ----------
    points_per_cell : int
        Scan points n per cell edge, an even integer ≥ 2.

    Returns
    -------
    numpy.ndarray
        Integer map, shape (n, n).

    Raises
    ------
    ValueError
        If ``points_per_cell`` is not an even integer ≥ 2.
    """
    n = _check_grid(points_per_cell)
    wedge = {tuple(ij): k for k, ij in enumerate(irreducible_indices(n))}
    fold = np.minimum(np.arange(n), n - np.arange(n))  # i → min(i, n − i): the two mirror lines
    mapping = np.empty((n, n), dtype=int)
    for row in range(n):
        for column in range(n):
            a, b = fold[column], fold[row]
            mapping[row, column] = wedge[(max(a, b), min(a, b))]
    return mapping


def unfold(wedge_values: np.ndarray, points_per_cell: int) -> np.ndarray:
    """Unfold values on the wedge into full n × n images.

    Parameters
    ----------
    wedge_values : numpy.ndarray
        Values at the wedge positions of :func:`irreducible_indices` along the last axis, shape (..., m).
    points_per_cell : int
        Scan points n per cell edge, an even integer ≥ 2.

    Returns
    -------
    numpy.ndarray
        Images, shape (..., n, n), pixel [row=j, column=i].

    Raises
    ------
    ValueError
        If the last axis does not have one value per wedge position, or the grid is invalid.
    """
    mapping = fold_index_map(points_per_cell)
    wedge_values = np.asarray(wedge_values)
    if wedge_values.shape[-1] != len(irreducible_indices(points_per_cell)):
        raise ValueError(
            f"wedge_values has {wedge_values.shape[-1]} positions on its last axis; the wedge of a "
            f"{points_per_cell}-point grid has {len(irreducible_indices(points_per_cell))}"
        )
    return wedge_values[..., mapping]
