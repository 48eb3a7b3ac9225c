"""HAADF-STEM images of non-periodic specimens (edge dislocation, nanoparticle) with abTEM.

The microscope (probe, detector, potential sampling, frozen phonons) is the bulk series' :class:`HAADFRecipe`;
:class:`SpecimenImageRecipe` adds what a non-periodic field of view needs: the scanned square, the scan
step, the slicing and the propagation method (plain multislice or PRISM, abTEM's ``SMatrix``). Each
frozen-phonon configuration is a unit of work kept in the ``partial/`` folder of a cache entry whose key
leaves out the number of configurations (configuration k's seed depends only on k), so an interrupted run
resumes and a run with more configurations reuses those already computed; work runs locally with dask
threads or on a dask.distributed cluster.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from _shared.provenance import SIMULATION_PACKAGES, hardware, library_versions
from simulate.cache import cache_entry
from simulate.dislocation import DislocationSpecimen, ProjectedColumns, build_edge_dislocation, period_along_beam
from simulate.nanoparticle import NanoparticleSpecimen, build_nanoparticle
from simulate.phonon_configurations import configuration_seed, configurations_entry, run_configurations
from simulate.recipe import fft_friendly_size
from simulate.specimen_data import load_shipped, shipped_path
from simulate.specimen_recipe import KINDS, SpecimenImage, SpecimenImageRecipe, default_recipe, fidelity


@dataclass(frozen=True)
class Specimen:
    """A built specimen ready for abTEM: atoms, plane spacing along the beam and its projected truth.

    Parameters
    ----------
    kind : str
        'dislocation' or 'nanoparticle'.
    parameters : dict
        The specimen description's ``to_dict()``.
    atoms : ase.Atoms
        Atoms in a periodic orthogonal cell, positions [Å]; z is the beam direction.
    plane_spacing_A : float
        Distance between atomic planes along the beam [Å].
    centre_A : numpy.ndarray
        (x, y) of the dislocation core or the particle centre [Å], shape (2,); the scan is centred on it.
    columns : ProjectedColumns
        Projected columns of the whole specimen, in the cell's coordinates.
    """

    kind: str
    parameters: dict[str, Any]
    atoms: Any
    plane_spacing_A: float
    centre_A: np.ndarray
    columns: ProjectedColumns


def build_specimen(kind: str, parameters: DislocationSpecimen | NanoparticleSpecimen | None = None) -> Specimen:
    """Build a specimen of a kind with default or given parameters.

    Parameters
    ----------
    kind : {'dislocation', 'nanoparticle'}
        Specimen kind.
    parameters : DislocationSpecimen or NanoparticleSpecimen, optional
        Specimen description matching ``kind``; default the class defaults.

    Returns
    -------
    Specimen
        Atoms, plane spacing (a√6/12 for the dislocation, a/2 for the particle), centre and columns.

    Raises
    ------
    ValueError
        If ``kind`` is unknown.
    """
    if kind == "dislocation":
        parameters = parameters or DislocationSpecimen()
        built = build_edge_dislocation(parameters)
        spacing = period_along_beam(parameters.lattice_constant_A) / 6.0
        centre = built.core_position_A
    elif kind == "nanoparticle":
        parameters = parameters or NanoparticleSpecimen()
        built = build_nanoparticle(parameters)
        spacing = parameters.lattice_constant_A / 2.0
        centre = built.centre_A[:2]
    else:
        raise ValueError(f"kind={kind!r} must be one of {KINDS}")
    return Specimen(kind, parameters.to_dict(), built.atoms, spacing, np.asarray(centre, dtype=float),
                    built.columns())


def scan_origin(specimen: Specimen, recipe: SpecimenImageRecipe) -> np.ndarray:
    """Return the (x, y) of the first scan position.

    The scan grid is symmetric about the specimen's centre (the centre is a scan position when the number
    of scan points is odd).

    Parameters
    ----------
    specimen : Specimen
        The built specimen.
    recipe : SpecimenImageRecipe
        Imaging settings.

    Returns
    -------
    numpy.ndarray
        (x, y) [Å], shape (2,), in the cell's coordinates.
    """
    half = (recipe.scan_points - 1) * recipe.scan_sampling_A / 2.0
    return specimen.centre_A - half


def grid_points(specimen: Specimen, recipe: SpecimenImageRecipe) -> tuple[int, int]:
    """Return the FFT-friendly potential grid (nx, ny) with sampling at most the microscope's.

    With PRISM the grid is a multiple of the interpolation factor, so the probe window is a whole number
    of pixels and abTEM preserves the normalisation exactly.

    Parameters
    ----------
    specimen : Specimen
        The built specimen.
    recipe : SpecimenImageRecipe
        Imaging settings.

    Returns
    -------
    tuple of (int, int)
        Grid points along x and y.
    """
    extent = specimen.atoms.cell.lengths()[:2]
    step = recipe.microscope.potential_sampling_A
    factor = recipe.prism_interpolation if recipe.method == "prism" else 1
    return tuple(factor * fft_friendly_size(math.ceil(e / step / factor - 1e-9)) for e in extent)


def potential_sampling_A(specimen: Specimen, recipe: SpecimenImageRecipe) -> float:
    """Return the actual potential sampling of the simulation (the coarser of x and y).

    The HAADF intensity depends on it by several % at these samplings, so a counting library must be
    simulated on the same one.

    Parameters
    ----------
    specimen : Specimen
        The built specimen.
    recipe : SpecimenImageRecipe
        Imaging settings.

    Returns
    -------
    float
        Sampling [Å].
    """
    extent = specimen.atoms.cell.lengths()[:2]
    return float(max(e / g for e, g in zip(extent, grid_points(specimen, recipe))))


def check_geometry(specimen: Specimen, recipe: SpecimenImageRecipe) -> None:
    """Raise ``ValueError`` if the scan leaves the cell or the detector lies beyond the simulated cutoff.

    Parameters
    ----------
    specimen : Specimen
        The built specimen.
    recipe : SpecimenImageRecipe
        Imaging settings.

    Raises
    ------
    ValueError
        If the field of view does not fit in the cell, or the detector's outer angle exceeds the 2/3
        antialiasing cutoff of the grid (the smaller of x and y).
    """
    extent = specimen.atoms.cell.lengths()[:2]
    start = scan_origin(specimen, recipe)
    end = start + (recipe.scan_points - 1) * recipe.scan_sampling_A
    if np.any(start < 0) or np.any(end > extent):
        raise ValueError(f"field_of_view_A={recipe.field_of_view_A} does not fit in the "
                         f"{extent[0]:.1f} × {extent[1]:.1f} Å cell of the {specimen.kind}; enlarge the specimen")
    gpts = grid_points(specimen, recipe)
    wavelength = recipe.microscope.wavelength_A
    cutoff = min(int(2.0 / 3.0 * g) // 2 / e for g, e in zip(gpts, extent)) * wavelength * 1e3
    if recipe.microscope.detector_outer_mrad > cutoff:
        raise ValueError(f"detector_outer_mrad={recipe.microscope.detector_outer_mrad} lies beyond the "
                         f"simulated cutoff {cutoff:.1f} mrad of potential_sampling_A="
                         f"{recipe.microscope.potential_sampling_A} Å; lower one of them")


def slice_thicknesses(specimen: Specimen, recipe: SpecimenImageRecipe) -> list[float]:
    """Return explicit slice thicknesses covering the cell height (the last slice takes the remaining planes).

    Parameters
    ----------
    specimen : Specimen
        The built specimen.
    recipe : SpecimenImageRecipe
        Imaging settings.

    Returns
    -------
    list of float
        Slice thicknesses [Å], ``planes_per_slice`` plane spacings each.
    """
    planes = int(round(specimen.atoms.cell.lengths()[2] / specimen.plane_spacing_A))
    full, rest = divmod(planes, recipe.planes_per_slice)
    thicknesses = [recipe.planes_per_slice * specimen.plane_spacing_A] * full
    return thicknesses + ([rest * specimen.plane_spacing_A] if rest else [])


def phonon_seed(recipe: SpecimenImageRecipe, configuration: int) -> int:
    """Return the seed of frozen-phonon configuration ``configuration`` (independent streams per configuration).

    Parameters
    ----------
    recipe : SpecimenImageRecipe
        Imaging settings; its microscope's ``phonon_seed`` is used.
    configuration : int
        Configuration index k.

    Returns
    -------
    int
        Seed from ``numpy.random.SeedSequence([phonon_seed, k])``; it does not depend on the count.
    """
    return configuration_seed(recipe.microscope.phonon_seed, configuration)


def build_measurement(specimen: Specimen, recipe: SpecimenImageRecipe, configuration: int,
                      scan_points: tuple[int, int] | None = None):
    """Build the lazy abTEM HAADF measurement of one phonon configuration (array indexed [x, y]).

    Parameters
    ----------
    specimen : Specimen
        The built specimen.
    recipe : SpecimenImageRecipe
        Imaging settings.
    configuration : int
        Phonon configuration index k (sets the seed of the displacements).
    scan_points : tuple of (int, int), optional
        Limits the scan to its first (nx, ny) positions (a small piece, for timing and tests); default the
        whole field of view.

    Returns
    -------
    abtem.measurements.BaseMeasurements
        Lazy annular-detector measurement (PRISM ``SMatrix`` or plain multislice scan), intensity as a
        fraction of the incident beam.

    Raises
    ------
    ValueError
        If the geometry check fails (see :func:`check_geometry`).
    """
    import abtem

    micro = recipe.microscope
    check_geometry(specimen, recipe)
    atoms = specimen.atoms
    if micro.phonon_rms_displacement_A > 0:
        atoms = abtem.FrozenPhonons(atoms, num_configs=1, sigmas=micro.phonon_rms_displacement_A,
                                    seed=(phonon_seed(recipe, configuration),))
    potential = abtem.Potential(atoms, gpts=grid_points(specimen, recipe),
                                slice_thickness=slice_thicknesses(specimen, recipe),
                                parametrization=micro.parametrization, projection=micro.projection)
    start = scan_origin(specimen, recipe)
    points = np.array(scan_points or (recipe.scan_points, recipe.scan_points))
    scan = abtem.GridScan(start=tuple(start), end=tuple(start + points * recipe.scan_sampling_A),
                          gpts=tuple(int(p) for p in points), endpoint=False)
    detector = abtem.AnnularDetector(inner=micro.detector_inner_mrad, outer=micro.detector_outer_mrad)
    if recipe.method == "prism":
        s_matrix = abtem.SMatrix(potential=potential, energy=micro.energy_kv * 1e3,
                                 semiangle_cutoff=micro.convergence_semiangle_mrad,
                                 interpolation=recipe.prism_interpolation)
        return s_matrix.scan(scan=scan, detectors=detector)
    probe = abtem.Probe(energy=micro.energy_kv * 1e3, semiangle_cutoff=micro.convergence_semiangle_mrad)
    probe.grid.match(potential)
    return probe.scan(potential, scan=scan, detectors=detector)


def _columns_in_image(specimen: Specimen, recipe: SpecimenImageRecipe) -> ProjectedColumns:
    """The specimen's columns inside the scanned square, in image coordinates (origin = first pixel)."""
    origin = scan_origin(specimen, recipe)
    side = (recipe.scan_points - 1) * recipe.scan_sampling_A
    c = specimen.columns
    shifted = c.positions_A - origin
    inside = np.all((shifted >= 0) & (shifted <= side), axis=1)
    return ProjectedColumns(shifted[inside], c.atoms_per_column[inside],
                            c.reference_positions_A[inside] - origin, c.core_mask[inside])


def _cache_payload(kind: str, specimen: Specimen, recipe: SpecimenImageRecipe) -> str:
    return json.dumps({"kind": kind, "specimen": specimen.parameters, "imaging": recipe.to_dict()},
                      sort_keys=True)


def simulate_specimen_image(
    kind: str,
    recipe: SpecimenImageRecipe | None = None,
    parameters: DislocationSpecimen | NanoparticleSpecimen | None = None,
    *,
    scheduler: str | None = None,
    cache_dir=None,
    use_cache: bool = True,
    progress: bool = True,
) -> SpecimenImage:
    """Simulate (or load from the cache or the shipped data) the HAADF image of a specimen.

    Parameters
    ----------
    kind : str
        'dislocation' or 'nanoparticle'.
    recipe : SpecimenImageRecipe, optional
        Imaging settings (default: the kind's shipped recipe, :func:`default_recipe`).
    parameters : DislocationSpecimen or NanoparticleSpecimen, optional
        Specimen settings (default: the class defaults).
    scheduler : str, optional
        Address of a dask.distributed scheduler; ``None`` computes locally with dask threads.
    cache_dir : path, optional
        Cache root (default ``$STEM_BENCH_CACHE`` or ``~/.cache/stem-restore-bench``).
    use_cache : bool
        Reuse a matching cached or shipped result and finished configurations; ``False`` recomputes them.
    progress : bool
        Show a progress bar over phonon configurations.

    Returns
    -------
    SpecimenImage
        Per-configuration images (float32) and the columns inside the scanned square, in image coordinates.

    Raises
    ------
    ValueError
        For an unknown kind, or a field of view or detector the geometry cannot hold.
    """
    recipe = recipe or default_recipe(kind)
    specimen = build_specimen(kind, parameters)
    payload = _cache_payload(kind, specimen, recipe)
    if use_cache and shipped_path(kind).exists():
        shipped = load_shipped(kind)
        if _cache_payload(kind, specimen, shipped.recipe) == payload and shipped.specimen == specimen.parameters:
            return shipped
    check_geometry(specimen, recipe)
    columns = _columns_in_image(specimen, recipe)
    entry = cache_entry(f"{kind}-haadf", payload, cache_dir)
    if use_cache:
        cached = entry.load()
        if cached is not None:
            arrays, meta = cached
            return SpecimenImage(kind, specimen.parameters, recipe, arrays["configuration_images"], columns,
                                 meta.get("metadata", {}))
    pieces = configurations_entry(f"{kind}-haadf", {"kind": kind, "specimen": specimen.parameters,
                                                   "imaging": recipe.to_dict()}, cache_dir)
    start = time.perf_counter()
    run = run_configurations(lambda k: build_measurement(specimen, recipe, k), recipe.microscope.phonon_configurations,
                             pieces, (recipe.scan_points, recipe.scan_points), scheduler=scheduler, progress=progress,
                             description=f"{kind} phonon configurations", orient=np.transpose,  # [x, y] → [row, column]
                             reuse=use_cache)  # use_cache=False recomputes (and overwrites) every one
    images = run.images.astype(np.float32)
    metadata = _run_metadata(time.perf_counter() - start, scheduler, run.resumed, run.seconds)
    metadata.update(fidelity(recipe))
    metadata["grid_points"] = list(grid_points(specimen, recipe))
    metadata["slice_thicknesses_A"] = [round(t, 4) for t in slice_thicknesses(specimen, recipe)]
    entry.store({"configuration_images": images},
                {"kind": kind, "specimen": specimen.parameters, "recipe": recipe.to_dict(), "metadata": metadata})
    return SpecimenImage(kind, specimen.parameters, recipe, images, columns, metadata)


def _run_metadata(wall_seconds: float, scheduler: str | None, resumed: int,
                  seconds: dict[int, float]) -> dict[str, Any]:
    return {
        "versions": library_versions(SIMULATION_PACKAGES),
        "wall_time_s": round(wall_seconds, 1),
        "wall_time_per_configuration_s": {str(k): v for k, v in seconds.items()},
        "configurations_resumed_from_partial": resumed,
        "scheduler": scheduler or "local threads",
        "hardware": hardware(device="cpu"),
    }
