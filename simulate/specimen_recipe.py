"""What a specimen image is, and how the shipped ones are made: the recipe of a non-periodic HAADF image
(:class:`SpecimenImageRecipe`), the image with its ground truth (:class:`SpecimenImage`), how far a recipe
departs from the faithful microscope (:func:`fidelity`), and the shipped recipes (:func:`default_recipe`).

The simulation itself is :mod:`simulate.specimen_images`; the shipped data are read and written by
:mod:`simulate.specimen_data`. Both import these types from here.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from _shared.legacy_names import rename_legacy_keys
from simulate.dislocation import ProjectedColumns
from simulate.recipe import DEFAULT_RECIPE, HAADFRecipe

KINDS = ("dislocation", "nanoparticle")


@dataclass(frozen=True)
class SpecimenImageRecipe:
    """How a non-periodic specimen is imaged.

    Attributes
    ----------
    microscope : HAADFRecipe
        Probe, detector, potential sampling, parametrisation and frozen phonons (its thickness, supercell
        and scan fields are not used).
    field_of_view_A : float
        Side of the scanned square [Å], centred on the dislocation core or the particle centre.
    scan_sampling_A : float
        Scan step [Å]; at most the Nyquist step λ/(4α).
    planes_per_slice : int
        Atomic planes per multislice slice (dislocation: planes 0.801 Å apart; particle: 1.962 Å).
    method : str
        'multislice' (one multislice run per probe position) or 'prism' (abTEM ``SMatrix``).
    prism_interpolation : int
        PRISM interpolation factor f: the probe is computed in a window of 1/f of the cell.
    """

    microscope: HAADFRecipe = DEFAULT_RECIPE
    field_of_view_A: float = 32.0
    scan_sampling_A: float = 0.2
    planes_per_slice: int = 1
    method: str = "prism"
    prism_interpolation: int = 4

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If a field is out of range, the scan step exceeds the microscope's Nyquist step λ/(4α), or the
            method is unknown.
        """
        if not 0 < self.field_of_view_A <= 400:
            raise ValueError(f"field_of_view_A={self.field_of_view_A!r} must lie in (0, 400] Å")
        nyquist = self.microscope.nyquist_scan_sampling_A
        if not 0 < self.scan_sampling_A <= nyquist + 1e-12:
            raise ValueError(f"scan_sampling_A={self.scan_sampling_A!r} must lie in (0, λ/(4α) = "
                             f"{nyquist:.4f}] Å")
        if not (isinstance(self.planes_per_slice, int) and self.planes_per_slice >= 1):
            raise ValueError(f"planes_per_slice={self.planes_per_slice!r} must be an integer >= 1")
        if self.method not in ("multislice", "prism"):
            raise ValueError(f"method={self.method!r} must be 'multislice' or 'prism'")
        if not (isinstance(self.prism_interpolation, int) and self.prism_interpolation >= 1):
            raise ValueError(f"prism_interpolation={self.prism_interpolation!r} must be an integer >= 1")

    @property
    def scan_points(self) -> int:
        """Scan positions per side: odd, so that the specimen's centre is one of them.

        Returns
        -------
        int
            2 · round(field_of_view / scan_sampling / 2) + 1.
        """
        return 2 * int(round(self.field_of_view_A / self.scan_sampling_A / 2.0)) + 1

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dictionary.

        Returns
        -------
        dict
            Field name to value, with ``microscope`` as :meth:`HAADFRecipe.to_dict`.
        """
        values = asdict(self)
        values["microscope"] = self.microscope.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SpecimenImageRecipe:
        """Build a recipe from the output of :meth:`to_dict`.

        Parameters
        ----------
        values : dict
            Field name to value; ``microscope`` is a dict for :meth:`HAADFRecipe.from_dict`. Names written
            before the unit-suffix convention (``field_of_view_angstrom`` …) are read too.

        Returns
        -------
        SpecimenImageRecipe
            The validated recipe.

        Raises
        ------
        ValueError
            If a field is unknown or invalid (``KeyError`` if ``microscope`` is missing).
        """
        values = rename_legacy_keys(values)
        return cls(**{**values, "microscope": HAADFRecipe.from_dict(values["microscope"])})


def fidelity(recipe: SpecimenImageRecipe) -> dict[str, Any]:
    """Describe how a recipe departs from the faithful microscope recipe (:data:`DEFAULT_RECIPE`).

    Only the physical fields of the microscope are compared (voltage, probe, detector, potential sampling,
    phonons, parametrisation, projection), plus the PRISM interpolation.

    Parameters
    ----------
    recipe : SpecimenImageRecipe
        Recipe to compare.

    Returns
    -------
    dict
        ``{"fidelity": "full" | "reduced", "reduced": {field: {"used": …, "faithful": …}}}``; PRISM with an
        interpolation factor > 1 counts as a reduction (the probe is cut to a window).
    """
    used, faithful = recipe.microscope.to_dict(), DEFAULT_RECIPE.to_dict()
    relevant = ("energy_kv", "convergence_semiangle_mrad", "detector_inner_mrad", "detector_outer_mrad",
                "potential_sampling_A", "phonon_rms_displacement_A", "phonon_configurations",
                "parametrization", "projection")
    reduced = {name: {"used": used[name], "faithful": faithful[name]} for name in relevant
               if used[name] != faithful[name]}
    if recipe.method == "prism" and recipe.prism_interpolation > 1:
        reduced["prism_interpolation"] = {"used": recipe.prism_interpolation, "faithful": 1}
    return {"fidelity": "reduced" if reduced else "full", "reduced": reduced}


@dataclass(frozen=True)
class SpecimenImage:
    """Noise-free HAADF image of a non-periodic specimen with its ground truth.

    Attributes
    ----------
    kind : str
        'dislocation' or 'nanoparticle'.
    specimen : dict
        Parameters of the specimen (:class:`DislocationSpecimen` or :class:`NanoparticleSpecimen` fields).
    recipe : SpecimenImageRecipe
        How the image was simulated.
    configuration_images : ndarray, shape (K, H, W)
        Detected intensity [fraction of the incident beam] per phonon configuration; pixel [row, column]
        is the probe at (x, y) = (column, row) · pixel size in image coordinates.
    columns : ProjectedColumns
        Column positions [Å] in image coordinates, atoms per column, core-region mask.
    metadata : dict
        Versions, timing, hardware, fidelity.
    """

    kind: str
    specimen: dict[str, Any]
    recipe: SpecimenImageRecipe
    configuration_images: np.ndarray
    columns: ProjectedColumns
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> np.ndarray:
        """Phonon-averaged image (H, W) [fraction of the incident beam].

        Returns
        -------
        numpy.ndarray
            Mean of the configuration images, shape (H, W).
        """
        return self.configuration_images.mean(axis=0)

    @property
    def pixel_size_A(self) -> float:
        """Pixel size of the image, the recipe's scan step.

        Returns
        -------
        float
            Pixel size [Å].
        """
        return self.recipe.scan_sampling_A


# The shipped recipes: the bulk microscope at reduced fidelity (CPU-only budget, see docs/specimens.md).
REDUCED_MICROSCOPE = DEFAULT_RECIPE.replace(
    name="haadf-reduced-cpu", potential_sampling_A=0.05, detector_outer_mrad=130.0,
    phonon_configurations=1,
)
# The shipped particle averages 16 configurations (≈ 240 s CPU each on one core); the dislocation has one.
NANOPARTICLE_PHONON_CONFIGURATIONS = 16


def default_recipe(kind: str) -> SpecimenImageRecipe:
    """Return the shipped imaging recipe of a kind.

    Nyquist scan step (rounded down to 0.1 pm), PRISM with a ≈ 12 Å probe window (f = 3 for the 36 Å
    dislocation cell, f = 4 for the 44.8 Å particle cell), reduced microscope (one phonon configuration for
    the dislocation, :data:`NANOPARTICLE_PHONON_CONFIGURATIONS` for the particle).

    Parameters
    ----------
    kind : {'dislocation', 'nanoparticle'}
        Specimen kind.

    Returns
    -------
    SpecimenImageRecipe
        The recipe (dislocation: 24 Å field, 3 planes per slice; particle: 43 Å field, 2 planes per slice).

    Raises
    ------
    ValueError
        If ``kind`` is unknown.
    """
    nyquist = math.floor(REDUCED_MICROSCOPE.nyquist_scan_sampling_A * 1e4) / 1e4
    if kind == "dislocation":
        # three atomic planes (2.40 Å) per slice: each slice holds at most one atom of every column
        return SpecimenImageRecipe(REDUCED_MICROSCOPE, field_of_view_A=24.0, scan_sampling_A=nyquist,
                                   planes_per_slice=3, method="prism", prism_interpolation=3)
    if kind == "nanoparticle":
        microscope = REDUCED_MICROSCOPE.replace(phonon_configurations=NANOPARTICLE_PHONON_CONFIGURATIONS)
        return SpecimenImageRecipe(microscope, field_of_view_A=43.0, scan_sampling_A=nyquist,
                                   planes_per_slice=2, method="prism", prism_interpolation=4)
    raise ValueError(f"kind={kind!r} must be one of {KINDS}")
