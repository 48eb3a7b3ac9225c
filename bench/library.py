"""Atom-counting library: SCS per number of atoms from a simulated bulk Pt [001] thickness series.

Library matching counts a column by the library entry nearest to its measured SCS, so the library must
come from the same estimator and the same options as the measurement. Both estimators of ``fitting`` are
tabulated: the volume 2πηρ² of a Gaussian model fitted to the noise-free library image
(:func:`fitting.fit_columns`) and the intensity integrated over each column's Voronoi cell
(:func:`fitting.voronoi_scs`). It lives in ``bench`` because it joins ``simulate`` and ``fitting``.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from _shared.files import write_json_atomic
from _shared.legacy_names import LEGACY_FIT_OPTION_NAMES, rename_legacy_keys
from bench.library_subsets import counting_by_subset_size, markdown_tables
from fitting import count_by_library, fit_columns, voronoi_scs
from simulate.dislocation import DislocationSpecimen
from simulate.field_of_view import field_of_view
from simulate.nanoparticle import NanoparticleSpecimen
from simulate.recipe import HAADFRecipe, fft_friendly_size
from simulate.specimen_data import load_shipped
from simulate.specimen_images import build_specimen, potential_sampling_A
from simulate.thickness_series import simulate_thickness_series, write_shipped_series

SHIPPED_LIBRARY_STEM = "pt001_haadf_library_nanoparticle"


@dataclass(frozen=True)
class CountingLibrary:
    """SCS of a column of 0 … T atoms for both estimators.

    Attributes
    ----------
    atoms : ndarray of int, shape (T + 1,)
        0, 1, …, T atoms per column.
    scs_gaussian_A2, scs_voronoi_A2 : ndarray, shape (T + 1,)
        Mean SCS of the interior columns of the noise-free field of view [Å²]; 0 for 0 atoms.
    recipe : dict
        The thickness series' recipe.
    options : dict
        Field of view (cells, pixel size [Å], source size [Å]) and fit options of the Gaussian estimator.
    """

    atoms: np.ndarray
    scs_gaussian_A2: np.ndarray
    scs_voronoi_A2: np.ndarray
    recipe: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)

    def scs(self, estimator: str) -> np.ndarray:
        """Return the library of one estimator.

        Parameters
        ----------
        estimator : str
            'gaussian' (Gaussian volume) or 'voronoi' (Voronoi-cell integral).

        Returns
        -------
        ndarray, shape (T + 1,)
            SCS of 0 … T atoms per column [Å²].

        Raises
        ------
        ValueError
            For another estimator name.
        """
        if estimator == "gaussian":
            return self.scs_gaussian_A2
        if estimator == "voronoi":
            return self.scs_voronoi_A2
        raise ValueError(f"estimator={estimator!r} must be 'gaussian' or 'voronoi'")

    def to_dict(self) -> dict[str, Any]:
        """Return the library as a JSON-ready dict (arrays as lists).

        Returns
        -------
        dict
            ``atoms``, ``scs_gaussian_A2``, ``scs_voronoi_A2``, ``recipe`` and ``options``.
        """
        return {"atoms": self.atoms.tolist(), "scs_gaussian_A2": self.scs_gaussian_A2.tolist(),
                "scs_voronoi_A2": self.scs_voronoi_A2.tolist(), "recipe": self.recipe,
                "options": self.options}

    def save(self, path: Path) -> None:
        """Write the library with its recipe and options as JSON (atomically).

        Parameters
        ----------
        path : Path
            The JSON file to write.
        """
        write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: Path) -> CountingLibrary:
        """Read a library written by :meth:`save`.

        Parameters
        ----------
        path : Path
            The JSON file.

        Returns
        -------
        CountingLibrary
            The library (``options`` empty when the file has none). A file written before the unit-suffix
            convention (``scs_gaussian_angstrom2``, ``pixel_size_angstrom``, a fit option ``method`` …) is read
            with the new names (:mod:`_shared.legacy_names`).
        """
        values = rename_legacy_keys(json.loads(Path(path).read_text()))
        options = values.get("options", {})
        if "fit_options" in options:
            options["fit_options"] = rename_legacy_keys(options["fit_options"], LEGACY_FIT_OPTION_NAMES)
        return cls(np.asarray(values["atoms"], dtype=int), np.asarray(values["scs_gaussian_A2"]),
                   np.asarray(values["scs_voronoi_A2"]), values["recipe"], options)


# Voronoi cells of the particle's columns are capped at a/(2√2) = 1.39 Å (the half-diagonal of a bulk column's
# square cell), so that rim columns do not integrate the vacuum around them.
VORONOI_CAP_A = 1.39


# A bulk configuration scans one unit cell, so its SCS scatters by ≈ 10 % between configurations; 128 bring the
# library's standard error to 0.7–1.2 % (2–11 atoms). Two such libraries still differed by 2–3 % (docs/specimens.md):
# Gaussian-volume counting at 9–11 atoms would profit from more (cheap on a GPU).
LIBRARY_PHONON_CONFIGURATIONS = 128

# The HAADF SCS of the reduced recipes changes by 2–3 % when the potential sampling changes by 5 %
# (docs/specimens.md): a library must be simulated within 0.5 % of its image's sampling.
SAMPLING_TOLERANCE = 0.005


def _rebuild_specimen(image):
    """The abTEM specimen of a :class:`~simulate.specimen_images.SpecimenImage` (its cell fixes the grid)."""
    values = dict(image.specimen)
    if image.kind == "dislocation":
        values["elastic_constants_gpa"] = tuple(values["elastic_constants_gpa"])
        return build_specimen(image.kind, DislocationSpecimen(**values))
    return build_specimen(image.kind, NanoparticleSpecimen(**values))


def _nearest_fft_friendly(points: float) -> list[int]:
    """The FFT-friendly grid sizes just below and above ``points``."""
    below = int(points)
    while below > 2 and fft_friendly_size(below) != below:
        below -= 1
    return [below, fft_friendly_size(math.ceil(points))]


def matched_library_recipe(image, max_atoms: int, phonon_configurations: int | None = None):
    """The bulk Pt [001] recipe whose thickness series can count the columns of a specimen image.

    Same microscope (probe, detector, phonons, potential), slices of the same thickness, and the same
    potential sampling: the recipe's ``potential_sampling_A`` is only an upper bound, and a 44.84 Å
    particle cell and a 15.70 Å bulk supercell round it to different grids (0.0467 vs 0.0491 Å for the shipped
    particle), which alone moves the bulk SCS by 2–3 %. The supercell (4–6 cells) and its grid are chosen to
    match the image's actual sampling.

    Parameters
    ----------
    image : simulate.specimen_images.SpecimenImage
    max_atoms : int
        Thickest library entry [atoms per column].
    phonon_configurations : int, optional
        Frozen-phonon configurations of the series (default :data:`LIBRARY_PHONON_CONFIGURATIONS`).

    Returns
    -------
    simulate.recipe.HAADFRecipe

    Raises
    ------
    ValueError
        If the image's slices do not divide the bulk unit cell (e.g. the [112] dislocation), or no supercell
        grid comes within 0.5 % of the image's sampling.
    """
    specimen = _rebuild_specimen(image)
    micro = image.recipe.microscope
    a = micro.lattice_constant_A
    slice_thickness = image.recipe.planes_per_slice * specimen.plane_spacing_A
    slices_per_cell = a / slice_thickness
    if abs(slices_per_cell - round(slices_per_cell)) > 1e-6 or round(slices_per_cell) < 1:
        raise ValueError(f"the {image.kind} image's slices of {slice_thickness:.3f} Å do not divide the Pt [001] "
                         f"cell (a = {a} Å): a bulk library cannot reproduce its slicing; count images sliced in "
                         "a/2 or a")
    target = potential_sampling_A(specimen, image.recipe)
    choices = [(abs(cells * a / grid / target - 1.0), cells, grid)
               for cells in (4, 5, 6) for grid in _nearest_fft_friendly(cells * a / target)]
    close = [c for c in choices if c[0] <= SAMPLING_TOLERANCE / 2]
    mismatch, cells, grid = min(close, key=lambda c: c[1]) if close else min(choices)
    if mismatch > SAMPLING_TOLERANCE:
        raise ValueError(f"no 4–6-cell bulk grid comes within {100 * SAMPLING_TOLERANCE} % of the image's potential "
                         f"sampling {target:.5f} Å (best {100 * mismatch:.2f} %); simulate the image on another grid")
    return micro.replace(name=f"pt001-haadf-library-for-{image.kind}", slices_per_cell=int(round(slices_per_cell)),
                         lateral_cells=cells, potential_sampling_A=cells * a / grid,
                         max_thickness_atoms=int(max_atoms),
                         phonon_configurations=int(phonon_configurations or LIBRARY_PHONON_CONFIGURATIONS))


def check_library_matches(library: CountingLibrary, image) -> None:
    """Check that a library was simulated for an image.

    The library must share the image's microscope, slicing, potential sampling (within
    :data:`SAMPLING_TOLERANCE`) and pixel size: a mismatch biases every count (see
    :func:`matched_library_recipe`).

    Parameters
    ----------
    library : CountingLibrary
        The counting library.
    image : simulate.specimen_images.SpecimenImage
        The specimen image to count.

    Raises
    ------
    ValueError
        Listing every mismatch, or when the image's slicing cannot be reproduced by a bulk library.
    """
    expected = matched_library_recipe(image, max_atoms=1)
    used = HAADFRecipe.from_dict(library.recipe)
    problems = [f"{name} {getattr(used, name)!r} instead of {getattr(expected, name)!r}"
                for name in ("energy_kv", "convergence_semiangle_mrad", "detector_inner_mrad", "detector_outer_mrad",
                             "slice_thickness_A", "phonon_rms_displacement_A", "parametrization",
                             "projection")
                if getattr(used, name) != getattr(expected, name)]
    if abs(used.actual_sampling_A / expected.actual_sampling_A - 1.0) > SAMPLING_TOLERANCE:
        problems.append(f"potential sampling {used.actual_sampling_A:.5f} Å instead of "
                        f"{expected.actual_sampling_A:.5f} Å")
    pixel = library.options.get("pixel_size_A")
    if pixel is None or abs(pixel / image.pixel_size_A - 1.0) > 1e-6:
        problems.append(f"pixel size {pixel!r} Å instead of {image.pixel_size_A} Å")
    if problems:
        raise ValueError(f"the counting library does not match the {image.kind} image: {'; '.join(problems)}; "
                         "build it from the series of bench.library.matched_library_recipe(image, …)")


def interior_columns(positions: np.ndarray, shape: tuple[int, int], *, pixel_size_A: float,
                     margin_A: float) -> np.ndarray:
    """Return a mask of the columns at least ``margin_A`` from every image border.

    Their Voronoi cells lie wholly inside the image.

    Parameters
    ----------
    positions : ndarray, shape (N, 2)
        Column positions (x, y) [Å], measured from the centre of the first pixel.
    shape : (int, int)
        Image shape (height, width) [px].
    pixel_size_A : float
        Pixel size [Å].
    margin_A : float
        Smallest distance to a border [Å].

    Returns
    -------
    ndarray of bool, shape (N,)
        True for the interior columns.
    """
    height, width = shape
    x, y = positions[:, 0], positions[:, 1]
    return ((x >= margin_A) & (y >= margin_A)
            & (x <= (width - 1) * pixel_size_A - margin_A)
            & (y <= (height - 1) * pixel_size_A - margin_A))


def build_counting_library(
    series,
    *,
    max_atoms: int | None = None,
    cells: tuple[int, int] = (5, 5),
    pixel_size_A: float = 0.2,
    source_size_fwhm_A: float = 0.0,
    fit_options: dict[str, Any] | None = None,
) -> CountingLibrary:
    """Tabulate the SCS of 0 … ``max_atoms`` atoms per column with both estimators.

    Parameters
    ----------
    series : simulate.thickness_series.ThicknessSeries
        Noise-free bulk Pt [001] thickness series.
    max_atoms : int, optional
        Largest number of atoms (default: the series' thickest exit plane, 75 for the default recipe).
    cells : (int, int)
        Unit cells of the library field of view along x and y.
    pixel_size_A : float
        Pixel size [Å]; use the measurement's.
    source_size_fwhm_A : float
        Gaussian source-size blur [Å]; use the measurement's.
    fit_options : dict, optional
        Keyword options of :func:`fitting.fit_columns` (``width``, ``estimator``, …); use the measurement's.

    Returns
    -------
    CountingLibrary

    Raises
    ------
    ValueError
        If ``max_atoms`` lies outside the series, or the field of view has no interior column.
    """
    fit_options = dict(fit_options or {})
    top = int(series.atoms_per_column[-1])
    max_atoms = top if max_atoms is None else max_atoms
    if int(max_atoms) != max_atoms or not 1 <= max_atoms <= top:
        raise ValueError(f"max_atoms={max_atoms!r} must be an integer in [1, {top}] (the series' thicknesses)")
    a = series.recipe.lattice_constant_A
    gaussian, voronoi = [0.0], [0.0]  # an empty column scatters nothing: the 0-atom entry
    for atoms in range(1, int(max_atoms) + 1):
        view = field_of_view(series, atoms_per_column=atoms, cells=cells, pixel_size_A=pixel_size_A,
                             source_size_fwhm_A=source_size_fwhm_A)
        inner = interior_columns(view.column_positions_A, view.image.shape, pixel_size_A=pixel_size_A,
                                 margin_A=a / 2.0)
        if not inner.any():
            raise ValueError(f"cells={cells!r} leave no column a/2 from the border; use at least (3, 3)")
        fit = fit_columns(view.image, view.column_positions_A, pixel_size_A=pixel_size_A, **fit_options)
        gaussian.append(float(fit.scs[0][inner].mean()))
        cell_scs = voronoi_scs(view.image, view.column_positions_A, pixel_size_A=pixel_size_A)
        voronoi.append(float(cell_scs[0][inner].mean()))
    options = {"cells": list(cells), "pixel_size_A": pixel_size_A,
               "source_size_fwhm_A": source_size_fwhm_A, "fit_options": fit_options,
               "interior_margin_A": a / 2.0}
    return CountingLibrary(np.arange(int(max_atoms) + 1), np.array(gaussian), np.array(voronoi),
                           series.recipe.to_dict(), options)


def count_columns(library: CountingLibrary, image: np.ndarray, positions: np.ndarray, *,
                  pixel_size_A: float, estimator: str, fit_options: dict[str, Any] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Measure the SCS of given columns with one estimator and count them by library matching.

    Parameters
    ----------
    library : CountingLibrary
        Built with the image's microscope, pixel size and (for 'gaussian') fit options.
    image : ndarray, shape (H, W)
        The image.
    positions : ndarray, shape (N, 2)
        Column positions (x, y) [Å].
    pixel_size_A : float
        Pixel size [Å].
    estimator : str
        'gaussian' (volume of a fitted Gaussian model) or 'voronoi' (Voronoi-cell integral).
    fit_options : dict, optional
        'gaussian' only: options of :func:`fitting.fit_columns` that override the library's.

    Returns
    -------
    scs : ndarray, shape (N,)
        The measured SCS [Å²].
    counts : ndarray, shape (N,)
        Atoms per column by library matching.

    Raises
    ------
    ValueError
        For another estimator name.
    """
    if estimator == "gaussian":
        options = dict(library.options.get("fit_options", {}), **(fit_options or {}))
        scs = fit_columns(image, positions, pixel_size_A=pixel_size_A, **options).scs[0]
    elif estimator == "voronoi":
        scs = voronoi_scs(image, positions, pixel_size_A=pixel_size_A)[0]
    else:
        raise ValueError(f"estimator={estimator!r} must be 'gaussian' or 'voronoi'")
    return scs, np.asarray(count_by_library(scs, library.scs(estimator)))


def counting_check(library: CountingLibrary, image, estimator: str, *,
                   max_radius_A: float | None = None) -> dict[str, Any]:
    """Count every column of a noise-free specimen image at its true position and compare with the truth.

    Parameters
    ----------
    library : CountingLibrary
        Built with the image's microscope recipe and pixel size.
    image : simulate.specimen_images.SpecimenImage
        Noise-free image with its ground-truth columns.
    estimator : str
        'gaussian' or 'voronoi'.
    max_radius_A : float, optional
        Voronoi only: cap on a cell's radius [Å], so that rim columns of a particle do not integrate the
        whole vacuum around them.

    Returns
    -------
    dict
        ``fraction_correct``, ``mean_abs_error_atoms``, and per true atom count the number of columns and
        the mean counted value.

    Raises
    ------
    ValueError
        If the library does not match the image's microscope, slicing, potential sampling or pixel size.
    """
    check_library_matches(library, image)
    positions, truth = image.columns.positions_A, image.columns.atoms_per_column
    if estimator == "voronoi":
        scs = voronoi_scs(image.image, positions, pixel_size_A=image.pixel_size_A, max_radius=max_radius_A)[0]
        counts = np.asarray(count_by_library(scs, library.scs("voronoi")))
    else:
        scs, counts = count_columns(library, image.image, positions, pixel_size_A=image.pixel_size_A,
                                    estimator=estimator)
    per_count = {int(n): {"columns": int(np.sum(truth == n)), "mean_counted": float(counts[truth == n].mean())}
                 for n in np.unique(truth)}
    return {"estimator": estimator, "columns": int(len(truth)),
            "fraction_correct": float(np.mean(counts == truth)),
            "mean_abs_error_atoms": float(np.mean(np.abs(counts - truth))), "per_true_count": per_count}


def shipped_nanoparticle_check(library_configurations: int | None = None, cache_dir=None,
                               progress: bool = False) -> dict[str, Any]:
    """Count the shipped noise-free nanoparticle image with a library of the same (reduced) microscope.

    The bulk series (:func:`matched_library_recipe`) uses the particle's microscope, its a-thick slices and its
    potential sampling, 0 … 13 atoms, and the particle's pixel size; Voronoi cells are capped at a/(2√2) = 1.39 Å
    (the half-diagonal of a bulk column's square cell), so rim columns do not integrate the vacuum. Besides the
    phonon-averaged image, each estimator counts the averages of K = 1, 2, 4, … of the image's configurations
    (:func:`counting_by_subset_size`).

    Parameters
    ----------
    library_configurations : int, optional
        Phonon configurations of the library's bulk series (default :data:`LIBRARY_PHONON_CONFIGURATIONS`).
    cache_dir : path, optional
        Cache root for the bulk series.
    progress : bool
        Show the bulk series' progress bar.

    Returns
    -------
    dict
        ``library`` (:meth:`CountingLibrary.to_dict`), ``library_series_metadata``,
        ``library_standard_error_relative`` (per thickness, None where undefined), ``particle_configurations``,
        ``particle_metadata``, and per estimator ('gaussian', 'voronoi') the :func:`counting_check` result with
        ``subsets`` (:func:`counting_by_subset_size`).
    """
    particle = load_shipped("nanoparticle")
    # two atoms past the thickest column, like `bench run atom-counting`, so both share one series
    series = nanoparticle_library_series(library_configurations, cache_dir, progress)
    library = build_counting_library(series, pixel_size_A=particle.pixel_size_A)
    positions, px = particle.columns.positions_A, particle.pixel_size_A
    fit_options = library.options.get("fit_options", {})
    measures = {"gaussian": lambda image: fit_columns(image, positions, pixel_size_A=px, **fit_options).scs[0],
                "voronoi": lambda image: voronoi_scs(image, positions, pixel_size_A=px, max_radius=VORONOI_CAP_A)[0]}
    # the library's own phonon noise: standard error of the series' cell-integrated SCS, relative
    with np.errstate(invalid="ignore", divide="ignore"):
        library_error = series.scs_standard_error_A2 / series.scs_A2
    result = {"library": library.to_dict(), "library_series_metadata": series.metadata,
              "library_standard_error_relative": [None if not np.isfinite(v) else float(v) for v in library_error],
              "particle_configurations": int(len(particle.configuration_images)),
              "particle_metadata": particle.metadata}
    for estimator, measure in measures.items():
        result[estimator] = counting_check(library, particle, estimator,
                                           max_radius_A=VORONOI_CAP_A if estimator == "voronoi" else None)
        result[estimator]["subsets"] = counting_by_subset_size(
            measure, particle.configuration_images, particle.columns.atoms_per_column, library.scs(estimator))
    return result


def nanoparticle_library_series(library_configurations: int | None = None, cache_dir=None, progress: bool = False):
    """Return the bulk series of the shipped nanoparticle's counting library (simulated once, then cached or shipped).

    Two atoms past the particle's thickest column, on its microscope and sampling
    (:func:`matched_library_recipe`): the series ``bench run atom-counting`` and the counting check share.

    Parameters
    ----------
    library_configurations : int, optional
        Phonon configurations of the series (default :data:`LIBRARY_PHONON_CONFIGURATIONS`).
    cache_dir : path, optional
        Cache root for the series.
    progress : bool
        Show the simulation's progress bar.

    Returns
    -------
    simulate.thickness_series.ThicknessSeries
        The noise-free bulk Pt [001] thickness series.
    """
    particle = load_shipped("nanoparticle")
    thickest = int(particle.columns.atoms_per_column.max())
    recipe = matched_library_recipe(particle, max_atoms=thickest + 2, phonon_configurations=library_configurations)
    return simulate_thickness_series(recipe, cache_dir=cache_dir, progress=progress)


def main(argv: list[str] | None = None) -> int:
    """Run the counting check of the shipped nanoparticle image (``python -m bench.library``).

    Parameters
    ----------
    argv : list of str or None, optional
        The command-line arguments; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit status, 0.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.library", description=main.__doc__.splitlines()[0])
    parser.add_argument("--library-configurations", type=int, default=None,
                        help="phonon configurations of the library's bulk series "
                             f"(default {LIBRARY_PHONON_CONFIGURATIONS})")
    parser.add_argument("--cache-dir", type=Path, help="cache root (default $STEM_BENCH_CACHE or ~/.cache/...)")
    parser.add_argument("--output", "-o", type=Path, help="write the full result as JSON here")
    parser.add_argument("--write-shipped-library", action="store_true",
                        help="store the library's bulk series in simulate/data (shipped with the package, so that "
                             "`bench run atom-counting` need not simulate it) and stop")
    args = parser.parse_args(argv)
    if args.write_shipped_library:
        series = nanoparticle_library_series(args.library_configurations, args.cache_dir, progress=True)
        print(write_shipped_series(series, SHIPPED_LIBRARY_STEM))
        return 0
    check = shipped_nanoparticle_check(args.library_configurations, args.cache_dir)
    if args.output:
        write_json_atomic(args.output, check, indent=1)
    for estimator in ("gaussian", "voronoi"):
        c = check[estimator]
        print(f"{estimator}: {100 * c['fraction_correct']:.1f} % of {c['columns']} columns correct, "
              f"mean |error| {c['mean_abs_error_atoms']:.3f} atoms (all {check['particle_configurations']} "
              "configurations averaged)")
    print(markdown_tables(check))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
