"""Pt crystal structures for the bulk [001] thickness series.

In fcc Pt viewed along [001] the four basis atoms project onto four columns per a × a cell, at (0, 0),
(a/2, 0), (0, a/2) and (a/2, a/2): a square lattice of columns a/2 = 1.962 Å apart, each holding one atom
per a = 3.924 Å of thickness. Atoms of the plane z = 0 feed the columns (0, 0) and (a/2, a/2), those of
z = a/2 the other two.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.lattice.cubic import FaceCenteredCubic

PT_LATTICE_CONSTANT_A = 3.924


def pt_unit_cell(lattice_constant: float = PT_LATTICE_CONSTANT_A) -> Atoms:
    """Conventional fcc Pt cell with [100], [010], [001] along x, y, z (z is the beam direction).

    Parameters
    ----------
    lattice_constant : float
        Cubic lattice constant a [Å], > 0.

    Returns
    -------
    ase.Atoms
        Four Pt atoms in an a × a × a cell.
    """
    if not lattice_constant > 0:
        raise ValueError(f"lattice_constant={lattice_constant!r} Å must be > 0")
    return FaceCenteredCubic(
        "Pt",
        latticeconstant=lattice_constant,
        size=(1, 1, 1),
        directions=[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        pbc=True,
    )


def pt_001_supercell(
    lateral_cells: int,
    thickness_cells: int,
    lattice_constant: float = PT_LATTICE_CONSTANT_A,
) -> Atoms:
    """Pt [001] supercell for multislice with slices of thickness a/2.

    The atoms are shifted by a/4 along the beam so that every atomic plane sits in the middle of its
    a/2 slice: thermal displacements (≈ 0.06 Å) never move an atom across a slice boundary or wrap it to
    the exit surface, so exit plane k holds exactly k atoms per column.

    Parameters
    ----------
    lateral_cells : int
        Unit cells along x and y (≥ 1); the supercell is ``lateral_cells · a`` wide.
    thickness_cells : int
        Unit cells along the beam (≥ 1) = atoms per projected column.
    lattice_constant : float
        a [Å].

    Returns
    -------
    ase.Atoms
        ``4 · lateral_cells² · thickness_cells`` atoms, periodic cell.
    """
    for name, value in (("lateral_cells", lateral_cells), ("thickness_cells", thickness_cells)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name}={value!r} must be an integer >= 1")
    atoms = pt_unit_cell(lattice_constant).repeat((int(lateral_cells), int(lateral_cells), int(thickness_cells)))
    atoms.positions[:, 2] += lattice_constant / 4.0
    return atoms


def column_positions_in_cell(lattice_constant: float = PT_LATTICE_CONSTANT_A) -> np.ndarray:
    """Return the projected column positions (x, y) of one a × a cell of Pt [001].

    Parameters
    ----------
    lattice_constant : float
        Cubic lattice constant a [Å]; default that of Pt.

    Returns
    -------
    numpy.ndarray
        Positions [Å], shape (4, 2): (0, 0), (a/2, 0), (0, a/2), (a/2, a/2).
    """
    half = lattice_constant / 2.0
    return np.array([[0.0, 0.0], [half, 0.0], [0.0, half], [half, half]])


def area_per_column(lattice_constant: float = PT_LATTICE_CONSTANT_A) -> float:
    """Return the projected area per column, a²/4.

    Parameters
    ----------
    lattice_constant : float
        Cubic lattice constant a [Å]; default that of Pt.

    Returns
    -------
    float
        Area per column [Å²] (3.85 Å² for Pt).
    """
    return lattice_constant**2 / 4.0
