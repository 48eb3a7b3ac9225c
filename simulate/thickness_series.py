"""HAADF-STEM thickness series of bulk Pt [001], simulated with abTEM multislice and frozen phonons.

One multislice run records every thickness from 0 to ``max_thickness_atoms`` atoms per column through
abTEM's ``exit_planes``. Each frozen-phonon configuration is a unit of work: finished configurations are
kept in the cache's ``partial/`` folder, so an interrupted run resumes where it stopped, and their spread
gives the standard error of the phonon average (the convergence check). Work runs through dask: locally
by default, or on an existing dask.distributed cluster given its address.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from _shared.provenance import SIMULATION_PACKAGES, hardware, library_versions
from simulate import p4mm
from simulate.cache import cache_entry, read_shipped_arrays, write_shipped_arrays
from simulate.phonon_configurations import configuration_seed, run_configurations
from simulate.recipe import DEFAULT_RECIPE, HAADFRecipe
from simulate.structures import area_per_column, column_positions_in_cell, pt_001_supercell

KIND = "pt001-thickness-series"
DATA_DIRECTORY = Path(__file__).parent / "data"
EMBEDDED_DEFAULT = DATA_DIRECTORY / "pt001_haadf_default"
# Series shipped with the package, so that nobody has to simulate them before a study (file stem -> the
# command that regenerates it). A request whose recipe equals a shipped one's is served from the file.
SHIPPED_SERIES = {
    "pt001_haadf_default": "bench simulate thickness-series --force --write-default",
    # the atom-counting study's library: the nanoparticle's microscope and sampling, 0-13 atoms, 128 phonon
    # configurations (≈ 8 min on 2 cores the first time otherwise)
    "pt001_haadf_library_nanoparticle": "python -m bench.library --write-shipped-library",
}


@dataclass(frozen=True)
class ThicknessSeries:
    """Noise-free HAADF images of one Pt [001] unit cell for every thickness.

    Attributes
    ----------
    recipe : HAADFRecipe
        The recipe that produced the series.
    configuration_intensities : ndarray, shape (K, T, P)
        Detected intensity [fraction of the incident beam] for each phonon configuration k, thickness t
        and simulated scan position p (the p4mm wedge, or the full grid without symmetry).
    metadata : dict
        Library versions, run time, hardware and scheduler of the run.
    """

    recipe: HAADFRecipe
    configuration_intensities: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def images(self) -> np.ndarray:
        """Phonon-averaged images of the unit cell for every thickness.

        Returns
        -------
        numpy.ndarray
            Read-only, shape (T, n, n) [fraction of the incident beam]; ``images[t, row, column]`` is the
            probe at (x, y) = (column, row) · pixel size from a column at the origin. Computed once.
        """
        mean = self.configuration_intensities.mean(axis=0)
        n = self.recipe.scan_points_per_cell
        images = p4mm.unfold(mean, n) if self.recipe.use_p4mm_symmetry else mean.reshape(mean.shape[0], n, n)
        images.flags.writeable = False
        return images

    @property
    def atoms_per_column(self) -> np.ndarray:
        """Atoms per column of each exit plane.

        Returns
        -------
        numpy.ndarray
            Integers 0 … max_thickness_atoms, shape (T,).
        """
        return np.arange(self.configuration_intensities.shape[1])

    @property
    def thickness_A(self) -> np.ndarray:
        """Specimen thickness of each exit plane, atoms per column × a.

        Returns
        -------
        numpy.ndarray
            Thickness [Å], shape (T,).
        """
        return self.atoms_per_column * self.recipe.lattice_constant_A

    @property
    def pixel_size_A(self) -> float:
        """Pixel size of the images, the recipe's scan step a / n.

        Returns
        -------
        float
            Pixel size [Å].
        """
        return self.recipe.scan_sampling_A

    @property
    def column_positions_A(self) -> np.ndarray:
        """True (x, y) column positions in the cell.

        Returns
        -------
        numpy.ndarray
            Positions [Å], shape (4, 2).
        """
        return column_positions_in_cell(self.recipe.lattice_constant_A)

    @cached_property
    def _cell_means(self) -> np.ndarray:
        """Mean intensity over the unit cell for each configuration, shape (K, T)."""
        values = self.configuration_intensities
        n = self.recipe.scan_points_per_cell
        if self.recipe.use_p4mm_symmetry:
            weights = np.bincount(p4mm.fold_index_map(n).ravel(), minlength=values.shape[-1]) / n**2
            return values @ weights
        return values.mean(axis=-1)

    @property
    def configuration_scs_A2(self) -> np.ndarray:
        """Cell-integrated SCS per column of each phonon configuration.

        Returns
        -------
        numpy.ndarray
            SCS [Å²], shape (K, T).
        """
        return self._cell_means * area_per_column(self.recipe.lattice_constant_A)

    @property
    def scs_A2(self) -> np.ndarray:
        """Exact cell-integrated scattering cross section per column: mean cell intensity × a²/4.

        Returns
        -------
        numpy.ndarray
            Phonon-averaged SCS [Å²], shape (T,).
        """
        return self.configuration_scs_A2.mean(axis=0)

    @property
    def scs_standard_error_A2(self) -> np.ndarray:
        """Standard error of :attr:`scs_A2` from the spread over phonon configurations.

        Returns
        -------
        numpy.ndarray
            Standard error [Å²], shape (T,); NaN with a single configuration.
        """
        scs = self.configuration_scs_A2
        k = scs.shape[0]
        if k < 2:
            return np.full(scs.shape[1], np.nan)
        return scs.std(axis=0, ddof=1) / np.sqrt(k)

    def image(self, atoms_per_column: int) -> np.ndarray:
        """Return the noise-free image of one unit cell at a thickness given in atoms per column.

        Parameters
        ----------
        atoms_per_column : int
            Thickness [atoms per column], 0 … max_thickness_atoms.

        Returns
        -------
        numpy.ndarray
            Read-only image, shape (n, n) [fraction of the incident beam].

        Raises
        ------
        ValueError
            If ``atoms_per_column`` is not an integer in range.
        """
        maximum = self.atoms_per_column[-1]
        if int(atoms_per_column) != atoms_per_column or not 0 <= atoms_per_column <= maximum:
            raise ValueError(f"atoms_per_column={atoms_per_column!r} must be an integer in [0, {maximum}]")
        return self.images[int(atoms_per_column)]


def scan_positions(recipe: HAADFRecipe) -> np.ndarray:
    """Return the probe positions (x, y) of the simulated scan.

    The scanned cell starts at a column near the middle of the supercell, so that the probe sits as far
    from the supercell edges as the periodic boundary allows.

    Parameters
    ----------
    recipe : HAADFRecipe
        Recipe (scan points, symmetry, supercell size).

    Returns
    -------
    numpy.ndarray
        Positions [Å], shape (P, 2): the p4mm wedge, or the full n × n grid row by row.
    """
    n = recipe.scan_points_per_cell
    if recipe.use_p4mm_symmetry:
        indices = p4mm.irreducible_indices(n)
    else:
        rows, columns = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        indices = np.stack([columns.ravel(), rows.ravel()], axis=-1)
    origin = (recipe.lateral_cells // 2) * recipe.lattice_constant_A
    return origin + indices * recipe.scan_sampling_A


def phonon_seed(recipe: HAADFRecipe, configuration: int) -> int:
    """Return the seed of frozen-phonon configuration ``configuration`` (independent streams per configuration).

    Parameters
    ----------
    recipe : HAADFRecipe
        Recipe; its ``phonon_seed`` is used.
    configuration : int
        Configuration index k.

    Returns
    -------
    int
        Seed from ``numpy.random.SeedSequence([phonon_seed, k])``; it does not depend on the count.
    """
    return configuration_seed(recipe.phonon_seed, configuration)


def build_configuration(recipe: HAADFRecipe, configuration: int):
    """Build the lazy abTEM measurement of one phonon configuration.

    Parameters
    ----------
    recipe : HAADFRecipe
        Physical and numerical settings.
    configuration : int
        Phonon configuration index k (sets the seed of the displacements).

    Returns
    -------
    abtem.measurements.BaseMeasurements
        Lazy annular-detector measurement, intensity [fraction of the incident beam] of shape (T, P): every
        exit plane 0 … max_thickness_atoms at every position of :func:`scan_positions`.
    """
    import abtem

    atoms = pt_001_supercell(recipe.lateral_cells, recipe.max_thickness_atoms, recipe.lattice_constant_A)
    if recipe.phonon_rms_displacement_A > 0:
        atoms = abtem.FrozenPhonons(
            atoms, num_configs=1, sigmas=recipe.phonon_rms_displacement_A,
            seed=(phonon_seed(recipe, configuration),),
        )
    slices = recipe.slices_per_cell * recipe.max_thickness_atoms
    potential = abtem.Potential(
        atoms,
        gpts=recipe.grid_points,
        # explicit per-slice thicknesses: a float is divided into the cell height with round-off
        slice_thickness=[recipe.slice_thickness_A] * slices,
        exit_planes=recipe.slices_per_cell,
        parametrization=recipe.parametrization,
        projection=recipe.projection,
    )
    probe = abtem.Probe(energy=recipe.energy_kv * 1e3, semiangle_cutoff=recipe.convergence_semiangle_mrad)
    probe.grid.match(potential)
    detector = abtem.AnnularDetector(inner=recipe.detector_inner_mrad, outer=recipe.detector_outer_mrad)
    return probe.scan(potential, scan=abtem.CustomScan(scan_positions(recipe)), detectors=detector)


def _cache_payload(recipe: HAADFRecipe) -> str:
    """The recipe plus the grid derived from it: a change in how the grid is derived is a new entry."""
    return json.dumps({**recipe.to_dict(), "derived_grid_points": recipe.grid_points}, sort_keys=True)


def simulate_thickness_series(
    recipe: HAADFRecipe = DEFAULT_RECIPE,
    *,
    scheduler: str | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    progress: bool = True,
    device: str = "auto",
) -> ThicknessSeries:
    """Simulate (or load from the cache) the HAADF thickness series of a recipe.

    Parameters
    ----------
    recipe : HAADFRecipe
        Physical and numerical settings; validated on construction.
    scheduler : str, optional
        Address of an existing dask.distributed scheduler (``tcp://host:8786``). ``None`` computes locally
        with dask's threaded scheduler.
    cache_dir : path, optional
        Cache root (default ``$STEM_BENCH_CACHE`` or ``~/.cache/stem-restore-bench``).
    use_cache : bool
        Reuse a matching cached or embedded result; ``False`` recomputes (and overwrites the entry).
    progress : bool
        Show a progress bar over phonon configurations.
    device : {'auto', 'cpu', 'gpu'}
        Where abTEM computes: 'auto' takes the GPU (CuPy) when one is available.

    Returns
    -------
    ThicknessSeries
        The series with its per-configuration intensities and run metadata.

    Raises
    ------
    ValueError
        If the recipe is invalid (raised when it is built).
    """
    if use_cache:
        shipped = load_shipped_series(recipe)
        if shipped is not None:
            return shipped
    entry = cache_entry(KIND, _cache_payload(recipe), cache_dir)
    if use_cache:
        cached = entry.load()
        if cached is not None:
            arrays, meta = cached
            return ThicknessSeries(recipe, arrays["configuration_intensities"], meta.get("metadata", {}))

    shape = (recipe.max_thickness_atoms + 1, len(scan_positions(recipe)))
    start, cpu_start = time.perf_counter(), time.process_time()
    device = resolve_device(device)
    # the pieces live in the result's own entry (removed once the result is stored)
    run = run_configurations(lambda k: build_configuration(recipe, k), recipe.phonon_configurations, entry, shape,
                             scheduler=scheduler, progress=progress, settings={"device": device})
    intensities = run.images
    metadata = _run_metadata(time.perf_counter() - start, time.process_time() - cpu_start, scheduler,
                             resumed=run.resumed, device=device)
    entry.store({"configuration_intensities": intensities}, {"recipe": recipe.to_dict(), "metadata": metadata})
    return ThicknessSeries(recipe, intensities, metadata)


def resolve_device(device: str) -> str:
    """Resolve the device abTEM computes on; 'auto' is 'gpu' when CuPy sees a CUDA device.

    Parameters
    ----------
    device : {'auto', 'cpu', 'gpu'}
        Requested device.

    Returns
    -------
    str
        'cpu' or 'gpu'.

    Raises
    ------
    ValueError
        If ``device`` is not one of the accepted values.
    """
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device={device!r} must be 'auto', 'cpu' or 'gpu'")
    if device != "auto":
        return device
    try:
        import cupy

        return "gpu" if cupy.cuda.runtime.getDeviceCount() > 0 else "cpu"
    except Exception:  # no CuPy, or no CUDA driver: the CPU it is
        return "cpu"


def _run_metadata(wall_seconds: float, cpu_seconds: float, scheduler: str | None, resumed: int,
                  device: str) -> dict[str, Any]:
    return {
        "versions": library_versions(SIMULATION_PACKAGES),
        "wall_time_s": round(wall_seconds, 1),
        # CPU time of this process (all threads); with a cluster the work runs elsewhere
        "cpu_time_s": round(cpu_seconds, 1),
        "configurations_resumed_from_partial": resumed,
        "scheduler": scheduler or "local threads",
        "hardware": hardware(device=device),
    }


def shipped_series_recipe(stem: str) -> HAADFRecipe | None:
    """Return the recipe of a shipped series, or None when its file is absent.

    Parameters
    ----------
    stem : str
        File stem, a key of :data:`SHIPPED_SERIES`.

    Returns
    -------
    HAADFRecipe or None
        The recipe recorded in the series' JSON.
    """
    meta_path = (DATA_DIRECTORY / stem).with_suffix(".json")
    if not meta_path.exists():
        return None
    return HAADFRecipe.from_dict(json.loads(meta_path.read_text())["recipe"])


def load_shipped_series(recipe: HAADFRecipe) -> ThicknessSeries | None:
    """Load the shipped series with exactly this recipe, verified against its recorded SHA-256.

    Parameters
    ----------
    recipe : HAADFRecipe
        Recipe to look for.

    Returns
    -------
    ThicknessSeries or None
        The shipped series, or None if none ships with this recipe.

    Raises
    ------
    ValueError
        If the shipped data do not match their recorded hash (the message names the command that regenerates
        them).
    """
    for stem, regenerate in SHIPPED_SERIES.items():
        if shipped_series_recipe(stem) == recipe:
            arrays, meta = read_shipped_arrays((DATA_DIRECTORY / stem).with_suffix(".npz"),
                                               f"shipped thickness series {stem}", regenerate)
            return ThicknessSeries(recipe, arrays["configuration_intensities"], meta.get("metadata", {}))
    return None


def write_shipped_series(series: ThicknessSeries, stem: str) -> Path:
    """Store a series as one of the package's shipped series (recipe, versions, run time and hash beside it).

    Parameters
    ----------
    series : ThicknessSeries
        Series to ship.
    stem : str
        File stem, a key of :data:`SHIPPED_SERIES`.

    Returns
    -------
    Path
        Path of the written ``.npz``.

    Raises
    ------
    ValueError
        If ``stem`` is not one of :data:`SHIPPED_SERIES`.
    """
    if stem not in SHIPPED_SERIES:
        raise ValueError(f"stem={stem!r} is not a shipped series; add it to SHIPPED_SERIES with the command that "
                         f"regenerates it (known: {sorted(SHIPPED_SERIES)})")
    npz = (DATA_DIRECTORY / stem).with_suffix(".npz")
    write_shipped_arrays(npz, {"configuration_intensities": series.configuration_intensities},
                         {"recipe": series.recipe.to_dict(), "metadata": series.metadata,
                          "regenerate": SHIPPED_SERIES[stem]})
    return npz


def embedded_default_recipe() -> HAADFRecipe | None:
    """Return the recipe of the shipped default series.

    Returns
    -------
    HAADFRecipe or None
        The recipe, or None when the package was installed without its data.
    """
    return shipped_series_recipe(EMBEDDED_DEFAULT.name)


REGENERATE_DEFAULT = SHIPPED_SERIES[EMBEDDED_DEFAULT.name]


def load_embedded_default() -> ThicknessSeries:
    """Load the shipped default thickness series, verified against its recorded SHA-256.

    The recipe is the one recorded with the data (that of :data:`DEFAULT_RECIPE` when they are current).

    Returns
    -------
    ThicknessSeries
        The series with its recorded recipe and metadata.

    Raises
    ------
    FileNotFoundError
        If the package was installed without its data; regenerate it with
        ``bench simulate thickness-series --force --write-default``.
    ValueError
        If the data do not match their recorded hash.
    """
    arrays, meta = read_shipped_arrays(EMBEDDED_DEFAULT.with_suffix(".npz"), "embedded default thickness series",
                                       REGENERATE_DEFAULT)
    recipe = HAADFRecipe.from_dict(meta["recipe"])
    return ThicknessSeries(recipe, arrays["configuration_intensities"], meta.get("metadata", {}))


def write_embedded_default(series: ThicknessSeries) -> Path:
    """Store a series as the package's embedded default (recipe, versions, run time and hash beside it).

    Parameters
    ----------
    series : ThicknessSeries
        Series to store.

    Returns
    -------
    Path
        Path of the written ``.npz``.
    """
    return write_shipped_series(series, EMBEDDED_DEFAULT.name)
