"""The recipe of a HAADF-STEM simulation of bulk Pt [001]: every physical parameter, with its unit.

A recipe is a frozen dataclass; its canonical JSON is hashed to key the cache, so two requests with the
same recipe (and the same abTEM/ase versions) share one result. :data:`DEFAULT_RECIPE` is the suite's
embedded default; :data:`COARSE_RECIPE` is an honest, cheap variant for tests.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any

from _shared.legacy_names import rename_legacy_keys
from simulate.debye_waller import debye_waller_b, rms_displacement
from simulate.structures import PT_LATTICE_CONSTANT_A

# Pt at 300 K, Debye model with Θ_D = 240 K (see simulate.debye_waller): B = 0.312 Å², u_x,rms = 0.0629 Å.
PT_RMS_DISPLACEMENT_300K_A = round(rms_displacement(debye_waller_b(300.0)), 4)

_FFT_FRIENDLY_PRIMES = (2, 3, 5, 7)


def electron_wavelength(energy_kv: float) -> float:
    """Return the relativistic electron wavelength λ at an acceleration voltage.

    Parameters
    ----------
    energy_kv : float
        Acceleration voltage [kV], > 0.

    Returns
    -------
    float
        λ [Å] (0.01969 Å at 300 kV).

    Raises
    ------
    ValueError
        If ``energy_kv`` is not positive.
    """
    if not energy_kv > 0:
        raise ValueError(f"energy_kv={energy_kv!r} must be > 0")
    planck, mass, charge, light = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0
    volts = energy_kv * 1e3
    momentum = math.sqrt(2 * mass * charge * volts * (1 + charge * volts / (2 * mass * light**2)))
    return planck / momentum * 1e10


def fft_friendly_size(minimum: int) -> int:
    """Return the smallest even integer ≥ ``minimum`` whose prime factors are all in 2, 3, 5, 7.

    Even, because abTEM 1.0.11 gives wrong intensities on odd grids: measured here, a probe on a Pt [001]
    column at 40 atoms gave 0.398 of the beam on a 315² grid and 0.288 on 320² and 0.287 on a wider 480²
    supercell (docs/thickness_series.md).

    Parameters
    ----------
    minimum : int
        Lower bound on the size (values below 2 are raised to 2).

    Returns
    -------
    int
        The grid size.
    """
    n = max(int(minimum), 2)
    n += n % 2
    while True:
        rest = n
        for prime in _FFT_FRIENDLY_PRIMES:
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return n
        n += 2


@dataclass(frozen=True)
class HAADFRecipe:
    """Every physical and numerical parameter of a Pt [001] HAADF thickness series.

    Attributes
    ----------
    name : str
        Label stored with the results.
    lattice_constant_A : float
        fcc lattice constant a [Å].
    energy_kv : float
        Acceleration voltage [kV].
    convergence_semiangle_mrad : float
        Probe convergence semi-angle α [mrad]; the probe is aberration-free.
    detector_inner_mrad, detector_outer_mrad : float
        HAADF annular detector [mrad]. The outer angle must lie below the simulated cutoff
        (2/3 of the Nyquist angle of the potential sampling).
    potential_sampling_A : float
        Largest allowed potential/wave sampling [Å]; the grid is rounded up to an FFT-friendly size,
        so the actual sampling is at most this.
    slices_per_cell : int
        Slices per unit cell along the beam (2 gives slices of a/2, one atomic plane each).
    lateral_cells : int
        Supercell width in unit cells; wide enough that the probe does not wrap around (docs/).
    max_thickness_atoms : int
        Thickest exit plane [atoms per column]; every thickness from 0 to this is recorded.
    phonon_rms_displacement_A : float
        Frozen-phonon rms displacement along each Cartesian direction [Å] (Pt, 300 K, Debye model).
    phonon_configurations : int
        Number of frozen-phonon configurations averaged.
    phonon_seed : int
        Seed of the frozen-phonon displacements; configuration k uses ``(phonon_seed, k)``.
    scan_points_per_cell : int
        Scan positions per unit cell edge; the scan step a/n must be at or below Nyquist, λ/(4α).
    use_p4mm_symmetry : bool
        Scan only the irreducible wedge of the p4mm cell and unfold it (≈ 6× fewer probe positions).
    parametrization : str
        abTEM atomic potential parametrisation ('lobato' or 'kirkland').
    projection : str
        abTEM potential projection ('infinite' or 'finite').
    """

    name: str = "pt001-haadf-default"
    lattice_constant_A: float = PT_LATTICE_CONSTANT_A
    energy_kv: float = 300.0
    convergence_semiangle_mrad: float = 21.5
    detector_inner_mrad: float = 60.0
    detector_outer_mrad: float = 200.0
    potential_sampling_A: float = 0.03
    slices_per_cell: int = 2
    lateral_cells: int = 4
    max_thickness_atoms: int = 75
    phonon_rms_displacement_A: float = PT_RMS_DISPLACEMENT_300K_A
    phonon_configurations: int = 16
    phonon_seed: int = 2023
    scan_points_per_cell: int = 20
    use_p4mm_symmetry: bool = True
    parametrization: str = "lobato"
    projection: str = "infinite"

    def __post_init__(self) -> None:
        """Validate the recipe with :func:`validate_recipe`.

        Raises
        ------
        ValueError
            If a field is invalid or the grid or scan cannot represent the requested detector and probe.
        """
        validate_recipe(self)

    # Derived quantities -------------------------------------------------------------------------
    @property
    def supercell_extent_A(self) -> float:
        """Lateral size of the supercell, lateral_cells · a.

        Returns
        -------
        float
            Extent along x and y [Å].
        """
        return self.lateral_cells * self.lattice_constant_A

    @property
    def grid_points(self) -> int:
        """Potential/wave grid points along x and y (FFT-friendly, sampling ≤ the requested one).

        Returns
        -------
        int
            Even number of grid points along each lateral axis.
        """
        return fft_friendly_size(math.ceil(self.supercell_extent_A / self.potential_sampling_A - 1e-9))

    @property
    def actual_sampling_A(self) -> float:
        """Potential/wave sampling on the actual grid, extent / grid_points.

        Returns
        -------
        float
            Sampling [Å], at most ``potential_sampling_A``.
        """
        return self.supercell_extent_A / self.grid_points

    @property
    def wavelength_A(self) -> float:
        """Relativistic electron wavelength at ``energy_kv``.

        Returns
        -------
        float
            λ [Å].
        """
        return electron_wavelength(self.energy_kv)

    @property
    def cutoff_angle_mrad(self) -> float:
        """Largest scattering angle the grid represents after abTEM's 2/3 antialiasing.

        Returns
        -------
        float
            Cutoff angle [mrad].
        """
        # abTEM keeps frequencies below 2/3 of the Nyquist frequency 1/(2Δx); its grid quantisation
        # (integer number of reciprocal pixels) is reproduced so that the check agrees with abTEM's.
        reciprocal_sampling = 1.0 / self.supercell_extent_A
        antialias_gpts = int(2.0 / 3.0 * self.grid_points)
        return antialias_gpts // 2 * reciprocal_sampling * self.wavelength_A * 1e3

    @property
    def scan_sampling_A(self) -> float:
        """Scan step a / scan_points_per_cell.

        Returns
        -------
        float
            Step [Å].
        """
        return self.lattice_constant_A / self.scan_points_per_cell

    @property
    def nyquist_scan_sampling_A(self) -> float:
        """Largest scan step that samples the image at Nyquist, λ/(4α).

        Returns
        -------
        float
            Step [Å]; the HAADF image holds no frequency above 2α/λ.
        """
        return self.wavelength_A / (4.0 * self.convergence_semiangle_mrad * 1e-3)

    @property
    def slice_thickness_A(self) -> float:
        """Multislice slice thickness a / slices_per_cell.

        Returns
        -------
        float
            Thickness [Å].
        """
        return self.lattice_constant_A / self.slices_per_cell

    # Serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dictionary.

        Returns
        -------
        dict
            Field name to value.
        """
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Return the canonical JSON (sorted keys): the cache key is computed from it.

        Returns
        -------
        str
            JSON of :meth:`to_dict`.
        """
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HAADFRecipe:
        """Build a recipe from a mapping.

        Parameters
        ----------
        values : dict
            Field name to value; missing fields take their defaults. Names written before the unit-suffix
            convention (``lattice_constant_angstrom`` …, :mod:`_shared.legacy_names`) are read too.

        Returns
        -------
        HAADFRecipe
            The validated recipe.

        Raises
        ------
        ValueError
            For unknown fields (the message lists the valid ones) or an invalid recipe.
        """
        values = rename_legacy_keys(values)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown recipe field(s) {unknown}; valid fields are: {', '.join(sorted(known))}"
            )
        return cls(**values)

    def replace(self, **changes: Any) -> HAADFRecipe:
        """Return a copy with some fields changed (validated like a new recipe).

        Parameters
        ----------
        **changes
            Field names and their new values.

        Returns
        -------
        HAADFRecipe
            The new recipe.

        Raises
        ------
        ValueError
            For unknown fields or an invalid recipe.
        """
        return self.from_dict({**self.to_dict(), **changes})


def _require(condition: bool, name: str, value: Any, valid: str) -> None:
    if not condition:
        raise ValueError(f"recipe field {name}={value!r} is invalid: expected {valid}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_recipe(recipe: HAADFRecipe) -> None:
    """Check every field of a recipe; raise ``ValueError`` naming the field, its value and the valid range.

    Besides the ranges of the fields, the detector's outer angle must lie within the grid's cutoff and the
    scan step at or below the Nyquist step λ/(4α).

    Parameters
    ----------
    recipe : HAADFRecipe
        Recipe to check.

    Raises
    ------
    ValueError
        For the first invalid field.
    """
    r = recipe
    _require(r.lattice_constant_A > 0, "lattice_constant_A", r.lattice_constant_A, "> 0 Å")
    _require(0 < r.energy_kv <= 1000, "energy_kv", r.energy_kv, "a voltage in (0, 1000] kV")
    _require(0 < r.convergence_semiangle_mrad <= 100, "convergence_semiangle_mrad",
             r.convergence_semiangle_mrad, "a semi-angle in (0, 100] mrad")
    _require(r.detector_inner_mrad >= 0, "detector_inner_mrad", r.detector_inner_mrad, ">= 0 mrad")
    _require(r.detector_outer_mrad > r.detector_inner_mrad, "detector_outer_mrad", r.detector_outer_mrad,
             f"> detector_inner_mrad = {r.detector_inner_mrad} mrad")
    _require(r.potential_sampling_A > 0, "potential_sampling_A", r.potential_sampling_A,
             "> 0 Å (≤ 0.03 Å for a 200 mrad detector at 300 kV)")
    _require(_is_int(r.slices_per_cell) and r.slices_per_cell >= 1, "slices_per_cell", r.slices_per_cell,
             "an integer >= 1")
    _require(_is_int(r.lateral_cells) and r.lateral_cells >= 1, "lateral_cells", r.lateral_cells,
             "an integer >= 1")
    _require(_is_int(r.max_thickness_atoms) and 1 <= r.max_thickness_atoms <= 1000, "max_thickness_atoms",
             r.max_thickness_atoms, "an integer in [1, 1000] atoms per column")
    _require(r.phonon_rms_displacement_A >= 0, "phonon_rms_displacement_A",
             r.phonon_rms_displacement_A, ">= 0 Å (0 switches frozen phonons off)")
    _require(_is_int(r.phonon_configurations) and r.phonon_configurations >= 1, "phonon_configurations",
             r.phonon_configurations, "an integer >= 1")
    _require(_is_int(r.phonon_seed) and r.phonon_seed >= 0, "phonon_seed", r.phonon_seed, "an integer >= 0")
    _require(_is_int(r.scan_points_per_cell) and r.scan_points_per_cell >= 2, "scan_points_per_cell",
             r.scan_points_per_cell, "an integer >= 2")
    if r.use_p4mm_symmetry:
        _require(r.scan_points_per_cell % 2 == 0, "scan_points_per_cell", r.scan_points_per_cell,
                 "an even number when use_p4mm_symmetry=True (the mirror lines must fall on scan points)")
    _require(r.parametrization in ("lobato", "kirkland"), "parametrization", r.parametrization,
             "'lobato' or 'kirkland'")
    _require(r.projection in ("infinite", "finite"), "projection", r.projection, "'infinite' or 'finite'")
    cutoff = r.cutoff_angle_mrad
    if r.detector_outer_mrad > cutoff:
        needed = r.wavelength_A * 1e3 / (3.0 * r.detector_outer_mrad) * 0.98
        raise ValueError(
            f"recipe field detector_outer_mrad={r.detector_outer_mrad} mrad lies beyond the simulated cutoff "
            f"{cutoff:.1f} mrad set by potential_sampling_A={r.potential_sampling_A} Å; "
            f"use potential_sampling_A <= {needed:.4f} Å or detector_outer_mrad <= {cutoff:.1f} mrad"
        )
    nyquist = r.nyquist_scan_sampling_A
    if r.scan_sampling_A > nyquist:
        raise ValueError(
            f"recipe field scan_points_per_cell={r.scan_points_per_cell} gives a scan step "
            f"{r.scan_sampling_A:.4f} Å above the Nyquist step λ/(4α) = {nyquist:.4f} Å; use "
            f"scan_points_per_cell >= {math.ceil(r.lattice_constant_A / nyquist)}"
        )


DEFAULT_RECIPE = HAADFRecipe()

# Coarse but honest: real abTEM multislice with the default probe; a smaller detector so that a 0.05 Å
# grid still represents it, a 3×3 supercell, 10 atoms, one phonon configuration, a 12-point scan.
COARSE_RECIPE = HAADFRecipe(
    name="pt001-haadf-coarse",
    detector_inner_mrad=50.0,
    detector_outer_mrad=120.0,
    potential_sampling_A=0.05,
    lateral_cells=3,
    max_thickness_atoms=10,
    phonon_configurations=1,
    scan_points_per_cell=18,
)
