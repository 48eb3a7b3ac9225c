"""Random crystal unit cells built with ase's space-group machinery.

The paper draws crystalline specimens from random space groups (1–230), up to 16 atomic species with
Z in [1, 103], lattice parameters in [3.1, 25] Å, cell angles in [45°, 120°] and a minimum interatomic
distance in [0.95, 7] Å; a cell that violates the minimum distance is regenerated. The lattice
parameters here obey the metric constraints of the space group's crystal system (a = b for tetragonal,
γ = 120° for trigonal/hexagonal in the hexagonal setting, a = b = c for cubic), so that ase's symmetry
operations generate a genuinely symmetric crystal.

Ours (the paper places the asymmetric unit's atoms "randomly within the volume allowed by the space
group"): basis coordinates are drawn uniformly in [0, 1) and each one is snapped with probability 1/2
to a common special value (0, 1/4, 1/3, 1/2, 2/3, 3/4), so that special Wyckoff positions (e.g. fcc
metals) occur as well as general ones. Each cell is then scaled isotropically so that its
nearest-neighbour distance equals the drawn minimum distance (as for bonded atoms; a uniformly drawn
cell with few atoms would otherwise be unrealistically sparse), unless that would bring a lattice
parameter below 3.1 Å (then the nearest neighbours are farther apart); a cell that would need a
lattice parameter above 25 Å is regenerated. The number of species k follows p(k) ∝ 1/k² on 1..16
(the paper: "up to 16", no distribution given): simple compounds are the common case, every k still
occurs, and rendering costs one FFT per species, so a uniform k (mean 8.5 species against 2.1 here)
would multiply the rendering cost by about four.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from ase.spacegroup import Spacegroup, crystal
from matscipy.neighbours import neighbour_list

LATTICE_PARAMETER_RANGE_A = (3.1, 25.0)
CELL_ANGLE_RANGE_DEG = (45.0, 120.0)
MIN_DISTANCE_RANGE_A = (0.95, 7.0)
ATOMIC_NUMBER_RANGE = (1, 103)
MAX_SPECIES = 16
_SPECIAL_COORDINATES = np.array([0.0, 0.25, 1 / 3, 0.5, 2 / 3, 0.75])


@cache
def _spacegroup(number: int) -> Spacegroup:
    # ase parses its space-group table on every Spacegroup(); the 230 groups are immutable, so cache them.
    return Spacegroup(number)


@dataclass(frozen=True)
class UnitCell:
    """A periodic crystal cell.

    Attributes
    ----------
    cell : ndarray, shape (3, 3)
        Lattice vectors as rows [Å].
    scaled_positions : ndarray, shape (n, 3)
        Fractional coordinates of the basis atoms.
    numbers : ndarray, shape (n,)
        Atomic numbers Z.
    spacegroup : int
        International space-group number, 1–230.
    min_distance : float
        Smallest interatomic distance in the periodic crystal [Å].
    """

    cell: np.ndarray
    scaled_positions: np.ndarray
    numbers: np.ndarray
    spacegroup: int
    min_distance: float

    @property
    def cartesian_positions(self) -> np.ndarray:
        """Cartesian positions of the basis atoms.

        Returns
        -------
        numpy.ndarray
            Positions [Å], shape (n, 3).
        """
        return self.scaled_positions @ self.cell

    @property
    def volume(self) -> float:
        """Volume of the cell.

        Returns
        -------
        float
            Volume [Å³].
        """
        return float(abs(np.linalg.det(self.cell)))


def _crystal_system_cellpar(spacegroup: int, generator: np.random.Generator) -> list[float]:
    low, high = LATTICE_PARAMETER_RANGE_A
    a, b, c = generator.uniform(low, high, size=3)
    alpha, beta, gamma = generator.uniform(*CELL_ANGLE_RANGE_DEG, size=3)
    if spacegroup <= 2:  # triclinic
        return [a, b, c, alpha, beta, gamma]
    if spacegroup <= 15:  # monoclinic, unique axis b
        return [a, b, c, 90.0, beta, 90.0]
    if spacegroup <= 74:  # orthorhombic
        return [a, b, c, 90.0, 90.0, 90.0]
    if spacegroup <= 142:  # tetragonal
        return [a, a, c, 90.0, 90.0, 90.0]
    if spacegroup <= 194:  # trigonal and hexagonal, hexagonal axes
        return [a, a, c, 90.0, 90.0, 120.0]
    return [a, a, a, 90.0, 90.0, 90.0]  # cubic


def _valid_triclinic(cellpar: list[float]) -> bool:
    cos = np.cos(np.radians(cellpar[3:]))
    gram = 1 - (cos**2).sum() + 2 * cos.prod()
    return gram > 0.05  # keeps the cell away from degenerate (flat) shapes


def _min_periodic_distance(cell: np.ndarray, positions: np.ndarray, cutoff: float) -> float:
    """Smallest interatomic distance below ``cutoff`` (or ``cutoff`` if none is shorter) [Å]."""
    distances = neighbour_list("d", positions=positions, cell=cell, pbc=[True, True, True], cutoff=cutoff)
    return float(distances.min()) if len(distances) else float(cutoff)


def sample_species(generator: np.random.Generator, max_species: int = MAX_SPECIES) -> np.ndarray:
    """Draw distinct atomic numbers for a specimen.

    The number of species k follows p(k) ∝ 1/k² on 1..max_species (assumption: simple compounds are
    more common than 16-component ones, yet every k occurs).

    Parameters
    ----------
    generator : numpy.random.Generator
        Source of randomness.
    max_species : int
        Largest number of species, 1–16.

    Returns
    -------
    ndarray of int
        Distinct atomic numbers in [1, 103], ascending.

    Raises
    ------
    ValueError
        If ``max_species`` is outside 1–16.
    """
    if not 1 <= max_species <= MAX_SPECIES:
        raise ValueError(f"max_species={max_species!r} must be in [1, {MAX_SPECIES}]")
    k_values = np.arange(1, max_species + 1)
    weights = 1.0 / k_values**2
    k = int(generator.choice(k_values, p=weights / weights.sum()))
    z_low, z_high = ATOMIC_NUMBER_RANGE
    return np.sort(generator.choice(np.arange(z_low, z_high + 1), size=k, replace=False))


def random_unit_cell(
    generator: np.random.Generator,
    species: np.ndarray | None = None,
    min_distance: float | None = None,
    max_attempts: int = 200,
) -> UnitCell:
    """Draw a random crystal cell from a random space group.

    Parameters
    ----------
    generator : numpy.random.Generator
        Source of randomness.
    species : array of int, optional
        Atomic numbers to place (one basis site each); drawn with :func:`sample_species` if omitted.
    min_distance : float, optional
        Minimum interatomic distance [Å], in [0.95, 7]; drawn uniformly in that range if omitted.
    max_attempts : int
        Regenerations allowed before giving up.

    Returns
    -------
    UnitCell
        Cell whose periodic crystal has no two atoms closer than ``min_distance`` and lattice
        parameters ≤ 25 Å.

    Raises
    ------
    ValueError
        If ``min_distance`` or an atomic number is out of range.
    RuntimeError
        If no valid cell was found in ``max_attempts`` attempts.
    """
    fixed_species, fixed_distance = species, min_distance
    if species is not None:
        species = np.asarray(species, dtype=int)
        if species.ndim != 1 or len(species) == 0 or len(species) > MAX_SPECIES:
            raise ValueError(f"species={species!r} must list 1–{MAX_SPECIES} atomic numbers")
        if species.min() < ATOMIC_NUMBER_RANGE[0] or species.max() > ATOMIC_NUMBER_RANGE[1]:
            raise ValueError(f"species={species.tolist()} must have Z in {list(ATOMIC_NUMBER_RANGE)}")
    low_d, high_d = MIN_DISTANCE_RANGE_A
    if min_distance is not None and not low_d <= min_distance <= high_d:
        raise ValueError(f"min_distance={min_distance!r} Å must be in [{low_d}, {high_d}] Å")

    for _ in range(max_attempts):
        # "Regenerate": whatever the caller did not fix is redrawn on every attempt, so that infeasible
        # combinations (many species with a large minimum distance) are replaced rather than forced.
        species = sample_species(generator) if fixed_species is None else np.asarray(fixed_species, dtype=int)
        if fixed_distance is None:
            min_distance = float(generator.uniform(low_d, high_d))
        spacegroup = int(generator.integers(1, 231))
        cellpar = _crystal_system_cellpar(spacegroup, generator)
        if spacegroup <= 2 and not _valid_triclinic(cellpar):
            continue
        basis = generator.random((len(species), 3))
        snap = generator.random(basis.shape) < 0.5
        basis[snap] = generator.choice(_SPECIAL_COORDINATES, size=int(snap.sum()))
        atoms = crystal(
            symbols=[int(z) for z in species],
            basis=basis,
            spacegroup=_spacegroup(spacegroup),
            cellpar=cellpar,
            onduplicates="replace",
            symprec=1e-3,
        )
        cell = np.array(atoms.cell)
        scaled = atoms.get_scaled_positions(wrap=True)
        lengths = np.linalg.norm(cell, axis=1)
        # The nearest-neighbour distance never exceeds the shortest cell vector (an atom and its image).
        typical = 2.0 * (abs(np.linalg.det(cell)) / len(scaled)) ** (1 / 3)
        found = _min_periodic_distance(cell, scaled @ cell, cutoff=min(lengths.min(), typical))
        if found >= min(lengths.min(), typical):
            found = _min_periodic_distance(cell, scaled @ cell, cutoff=lengths.min() * (1 + 1e-9))
        if found < 1e-3 * lengths.min():
            continue  # coincident sites: regenerate
        # Scale isotropically so that the nearest neighbours sit at min_distance, as bonded atoms do,
        # unless that would push a cell edge below 3.1 Å; regenerate if an edge would exceed 25 Å.
        scale = max(min_distance / found, LATTICE_PARAMETER_RANGE_A[0] / lengths.min())
        if scale * lengths.max() > LATTICE_PARAMETER_RANGE_A[1]:
            continue
        cell = cell * scale
        return UnitCell(
            cell=cell,
            scaled_positions=scaled,
            numbers=atoms.numbers.copy(),
            spacegroup=spacegroup,
            min_distance=float(min_distance),
        )
    raise RuntimeError(
        f"no crystal cell with min_distance={fixed_distance} Å and species={fixed_species} found in "
        f"{max_attempts} attempts; lower min_distance or use fewer species"
    )
