"""A Pt [112] edge dislocation, b = ½[1-10] in (111), and its projected ground truth.

The dislocation is built with matscipy's ``FCCEdge110Dislocation`` (undissociated: ``partial_distance=0``)
from the anisotropic linear-elastic displacement field of a straight dislocation (matscipy's own Stroh
solver, ``method='adsl'``), optionally followed by a core relaxation with ase's EMT potential.

Axes (matscipy's): x = [1-10] ∥ b, y = [111] (glide-plane normal), z = [-1-12] (the dislocation line and
the beam). One period along the beam is a√6/2 = 4.806 Å and holds six atoms, one in each of six projected
columns; the projected columns form a rectangular lattice 1.387 Å (= |b|/2, along x) by 2.266 Å (along y).
"Six periods thick" means six of these 4.806 Å repeats: 28.8 Å, six atoms in every column.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.optimize import FIRE
from matscipy.dislocation import FCCEdge110Dislocation

from simulate.structures import PT_LATTICE_CONSTANT_A

# Room-temperature Pt single-crystal elastic constants [GPa] (Macfarlane, Rayne & Jones, Phys. Lett. 18
# (1965) 91, as commonly quoted): C11 = 346.7, C12 = 250.7, C44 = 76.5.
PT_ELASTIC_CONSTANTS_GPA = (346.7, 250.7, 76.5)


def period_along_beam(lattice_constant: float = PT_LATTICE_CONSTANT_A) -> float:
    """Return the repeat distance along [112], a√6/2 (4.806 Å for Pt).

    Parameters
    ----------
    lattice_constant : float
        fcc lattice constant a [Å]; default that of Pt.

    Returns
    -------
    float
        Period along the beam [Å].
    """
    return lattice_constant * math.sqrt(6.0) / 2.0


def column_spacings(lattice_constant: float = PT_LATTICE_CONSTANT_A) -> tuple[float, float]:
    """Return the projected column spacings along b = [1-10] and along [111]: a/(2√2) and a/√3.

    Parameters
    ----------
    lattice_constant : float
        fcc lattice constant a [Å]; default that of Pt.

    Returns
    -------
    tuple of (float, float)
        Spacing along x = [1-10] and along y = [111] [Å] (1.387 Å and 2.266 Å for Pt).
    """
    return lattice_constant / (2.0 * math.sqrt(2.0)), lattice_constant / math.sqrt(3.0)


@dataclass(frozen=True)
class DislocationSpecimen:
    """Parameters of the edge-dislocation specimen.

    Attributes
    ----------
    periods : int
        Repeats of the a√6/2 = 4.806 Å [112] period along the beam = atoms per column.
    block_A : float
        Side of the square block of crystal kept around the core [Å]; columns are kept whole, selected by
        their undisplaced projected position.
    lattice_constant_A : float
        fcc lattice constant a [Å].
    elastic_constants_gpa : (float, float, float)
        Cubic C11, C12, C44 [GPa] of the anisotropic elastic field.
    relax_core : bool
        Relax the atoms with ase's EMT potential (outer 10 Å shell of the cylinder held fixed).
    relax_fmax_ev_per_A : float
        Force tolerance of the relaxation [eV/Å].
    core_radius_A : float
        Columns whose displaced position lies within this distance of the core form the core region.
    """

    periods: int = 6
    block_A: float = 34.0
    lattice_constant_A: float = PT_LATTICE_CONSTANT_A
    elastic_constants_gpa: tuple[float, float, float] = PT_ELASTIC_CONSTANTS_GPA
    relax_core: bool = False
    relax_fmax_ev_per_A: float = 0.01
    core_radius_A: float = 5.0

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If a field is out of range or the elastic constants are not those of a stable cubic crystal.
        """
        if not (isinstance(self.periods, int) and 1 <= self.periods <= 100):
            raise ValueError(f"periods={self.periods!r} must be an integer in [1, 100]")
        if not 10.0 <= self.block_A <= 400.0:
            raise ValueError(f"block_A={self.block_A!r} must lie in [10, 400] Å")
        if not self.lattice_constant_A > 0:
            raise ValueError(f"lattice_constant_A={self.lattice_constant_A!r} must be > 0 Å")
        c11, c12, c44 = self.elastic_constants_gpa
        if not (c44 > 0 and c11 > abs(c12) and c11 + 2 * c12 > 0):
            raise ValueError(f"elastic_constants_gpa={self.elastic_constants_gpa!r} are not those of a stable "
                             "cubic crystal (need C44 > 0, C11 > |C12|, C11 + 2·C12 > 0)")
        if not self.relax_fmax_ev_per_A > 0:
            raise ValueError(f"relax_fmax_ev_per_A={self.relax_fmax_ev_per_A!r} must be > 0 eV/Å")
        if not 0 < self.core_radius_A < self.block_A / 2:
            raise ValueError(f"core_radius_A={self.core_radius_A!r} must lie in "
                             f"(0, block_A/2 = {self.block_A / 2}) Å")

    def to_dict(self) -> dict:
        """Return the fields as a JSON-serialisable dictionary.

        Returns
        -------
        dict
            Field name to value, with ``elastic_constants_gpa`` as a list.
        """
        values = asdict(self)
        values["elastic_constants_gpa"] = list(self.elastic_constants_gpa)
        return values


@dataclass(frozen=True)
class ProjectedColumns:
    """Ground truth of a specimen seen along the beam.

    Attributes
    ----------
    positions_A : ndarray, shape (C, 2)
        (x, y) of every column [Å] (mean over its atoms), in the specimen's coordinates.
    atoms_per_column : ndarray of int, shape (C,)
        Number of atoms in each column.
    reference_positions_A : ndarray, shape (C, 2)
        (x, y) of the column in the perfect crystal before any displacement [Å].
    core_mask : ndarray of bool, shape (C,)
        Columns of the core region (all False for specimens without one).
    """

    positions_A: np.ndarray
    atoms_per_column: np.ndarray
    reference_positions_A: np.ndarray
    core_mask: np.ndarray


@dataclass(frozen=True)
class EdgeDislocation:
    """The built specimen: atoms in an orthogonal cell, the core and the Burgers vector (x, y) [Å].

    Parameters
    ----------
    specimen : DislocationSpecimen
        Description it was built from.
    atoms : ase.Atoms
        Displaced (and optionally relaxed) atoms, positions [Å], periodic orthogonal cell.
    reference_positions : ndarray, shape (N, 3)
        Perfect-crystal positions of the same atoms [Å], in the cell's coordinates.
    core_position_A : ndarray, shape (2,)
        (x, y) of the dislocation core [Å] in the cell's coordinates.
    burgers_vector_A : ndarray, shape (2,)
        (x, y) of the Burgers vector [Å]: (a/√2, 0).
    """

    specimen: DislocationSpecimen
    atoms: Atoms
    reference_positions: np.ndarray
    core_position_A: np.ndarray
    burgers_vector_A: np.ndarray

    def columns(self) -> ProjectedColumns:
        """Return the projected columns of the specimen (see :func:`project_columns`).

        Returns
        -------
        ProjectedColumns
            Columns with their core mask for ``specimen.core_radius_A``.
        """
        return project_columns(self.atoms.positions, self.reference_positions,
                               core_position_A=self.core_position_A, core_radius_A=self.specimen.core_radius_A)


def project_columns(
    positions: np.ndarray,
    reference_positions: np.ndarray,
    *,
    core_position_A: np.ndarray | None = None,
    core_radius_A: float = 0.0,
) -> ProjectedColumns:
    """Group atoms into projected columns by their undisplaced (x, y) and average their displaced (x, y).

    Parameters
    ----------
    positions, reference_positions : ndarray, shape (N, 3)
        Displaced and perfect-crystal atom positions [Å] (same atom order).
    core_position_A : ndarray (2,), optional
        Core (x, y) [Å]; with ``core_radius_A`` it defines :attr:`ProjectedColumns.core_mask`.
    core_radius_A : float
        Radius of the core region [Å].

    Returns
    -------
    ProjectedColumns
        Columns sorted by row (y) then x of their reference position.

    Raises
    ------
    ValueError
        If the two position arrays do not both have shape (N, 3).
    """
    positions = np.asarray(positions, dtype=float)
    reference = np.asarray(reference_positions, dtype=float)
    if positions.shape != reference.shape or positions.ndim != 2 or positions.shape[1] != 3:
        raise ValueError(f"positions {positions.shape} and reference_positions {reference.shape} must both "
                         "have shape (N, 3)")
    keys = np.round(reference[:, :2] / 0.01).astype(np.int64)  # columns differ by ≥ 1.3 Å in projection
    unique, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    sums = np.zeros((len(unique), 2))
    np.add.at(sums, inverse, positions[:, :2])
    reference_sums = np.zeros((len(unique), 2))
    np.add.at(reference_sums, inverse, reference[:, :2])
    column_positions = sums / counts[:, None]
    column_reference = reference_sums / counts[:, None]
    order = np.lexsort((column_reference[:, 0], np.round(column_reference[:, 1], 2)))
    column_positions, column_reference, counts = column_positions[order], column_reference[order], counts[order]
    if core_position_A is None:
        core = np.zeros(len(counts), dtype=bool)
    else:
        distance = np.linalg.norm(column_positions - np.asarray(core_position_A)[:2], axis=1)
        core = distance <= core_radius_A
    return ProjectedColumns(column_positions, counts.astype(int), column_reference, core)


def _relax_core(dislocation: Atoms, fmax: float) -> Atoms:
    relaxed = dislocation.copy()
    relaxed.set_constraint(dislocation.constraints)
    relaxed.pbc = (False, False, True)
    relaxed.calc = EMT()
    FIRE(relaxed, logfile=None).run(fmax=fmax, steps=2000)
    return relaxed


def build_edge_dislocation(specimen: DislocationSpecimen = DislocationSpecimen()) -> EdgeDislocation:
    """Build the Pt [112] edge dislocation of a specimen description.

    The elastic field is applied to a cylinder one period thick, which is optionally relaxed, cut to a
    square block of whole columns centred on the core, repeated ``periods`` times along the beam and
    placed in an orthogonal cell with 1 Å of vacuum on each side. Atomic planes are shifted by half their
    spacing so that no atom lies on the entrance or exit surface.

    Parameters
    ----------
    specimen : DislocationSpecimen
        Size, material and relaxation settings; default the 6-period, 34 Å unrelaxed Pt block.

    Returns
    -------
    EdgeDislocation
        Atoms (positions [Å]), their perfect-crystal positions, the core (x, y) and b (x, y) [Å] in the
        cell's coordinates.
    """
    c11, c12, c44 = specimen.elastic_constants_gpa
    builder = FCCEdge110Dislocation(specimen.lattice_constant_A, C11=c11, C12=c12, C44=c44, symbol="Pt")
    radius = specimen.block_A / math.sqrt(2.0) + 12.0  # the block's corners, plus the fixed shell
    bulk, dislocation = builder.build_cylinder(radius, partial_distance=0, method="adsl",
                                               self_consistent=True, verbose=False)
    if specimen.relax_core:
        dislocation = _relax_core(dislocation, specimen.relax_fmax_ev_per_A)
    core = np.asarray(dislocation.info["core_positions"][0], dtype=float)
    half = specimen.block_A / 2.0
    inside = np.all(np.abs(bulk.positions[:, :2] - core[:2]) <= half, axis=1)
    period = period_along_beam(specimen.lattice_constant_A)
    plane_spacing = period / 6.0
    shifts = np.arange(specimen.periods)[:, None, None] * np.array([0.0, 0.0, period])
    displaced = (dislocation.positions[inside][None] + shifts).reshape(-1, 3)
    reference = (bulk.positions[inside][None] + shifts).reshape(-1, 3)
    vacuum = 1.0
    origin = np.array([core[0] - half - vacuum, core[1] - half - vacuum, -plane_spacing / 2.0])
    displaced, reference = displaced - origin, reference - origin
    side = specimen.block_A + 2.0 * vacuum
    atoms = Atoms("Pt" * len(displaced), positions=displaced, cell=[side, side, specimen.periods * period],
                  pbc=True)
    burgers = np.array([2.0 * column_spacings(specimen.lattice_constant_A)[0], 0.0])
    return EdgeDislocation(specimen, atoms, reference, core[:2] - origin[:2], burgers)


def burgers_circuit(columns: ProjectedColumns, *, start_A: np.ndarray, steps: tuple[int, int],
                    lattice_constant: float = PT_LATTICE_CONSTANT_A) -> np.ndarray:
    """Closure failure [Å] of a rectangular Burgers circuit walked column to column in the real crystal.

    Starting at the column nearest ``start_A``, the walk makes ``steps[0]`` nearest-neighbour steps
    along +x (1.387 Å each), ``steps[1]`` along +y (2.266 Å), then as many along −x and −y, each step going
    to the real column nearest the expected spot. The same sequence closes in a perfect crystal; around a
    dislocation it misses the start by two columns: the perfect-crystal vector from the start column to the end
    column is the Burgers vector (FS/RH convention, the circuit running counter-clockwise).

    Parameters
    ----------
    columns : ProjectedColumns
        Projected columns of the specimen (displaced and reference positions).
    start_A : ndarray (2,)
        Where the circuit starts [Å].
    steps : (int, int)
        Steps along x and along y (≥ 1 each).
    lattice_constant : float
        a [Å].

    Returns
    -------
    ndarray (2,)
        reference(end) − reference(start) [Å]: b for a circuit around the core, zero otherwise.

    Raises
    ------
    ValueError
        If ``steps`` is not two integers ≥ 1, or the walk leaves the specimen (no column within half a step).
    """
    if len(steps) != 2 or min(steps) < 1:
        raise ValueError(f"steps={steps!r} must be two integers >= 1")
    dx, dy = column_spacings(lattice_constant)
    positions = columns.positions_A
    start = int(np.argmin(np.linalg.norm(positions - np.asarray(start_A), axis=1)))
    current = start
    for vector, count in (((dx, 0.0), steps[0]), ((0.0, dy), steps[1]), ((-dx, 0.0), steps[0]),
                          ((0.0, -dy), steps[1])):
        for _ in range(count):
            target = positions[current] + np.asarray(vector)
            distances = np.linalg.norm(positions - target, axis=1)
            current = int(np.argmin(distances))
            if distances[current] > 0.5 * dx:
                raise ValueError(f"the Burgers circuit left the specimen near {target.round(2).tolist()} Å; "
                                 "choose a start and steps inside the block")
    return columns.reference_positions_A[current] - columns.reference_positions_A[start]
