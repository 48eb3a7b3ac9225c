"""Convergence checks of a thickness-series recipe: probe wrap-around, potential sampling and frozen phonons.

The checks return plain dictionaries of measured numbers that ``bench simulate convergence`` writes to
JSON and that docs/thickness_series.md quotes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simulate.recipe import HAADFRecipe, fft_friendly_size
from simulate.thickness_series import ThicknessSeries, simulate_thickness_series


def supercell_wrap_check(
    recipe: HAADFRecipe,
    lateral_cells: tuple[int, ...] = (3, 4, 6),
    *,
    phonon_configurations: int | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Simulate the recipe with several supercell widths and compare their SCS and images.

    The widest supercell is the reference; a width is adequate when its SCS differs from the reference by
    much less than the precision the benchmarks resolve (≈ 1 %).

    Parameters
    ----------
    recipe : HAADFRecipe
        Recipe whose ``lateral_cells`` is varied (everything else is kept, except the phonon
        configurations when ``phonon_configurations`` is given).
    lateral_cells : tuple of int
        Supercell widths [unit cells] to compare.
    phonon_configurations : int, optional
        Override of the number of configurations (``recipe.phonon_rms_displacement_A = 0`` makes the
        comparison deterministic).
    cache_dir : Path, optional
        Cache root passed to :func:`~simulate.thickness_series.simulate_thickness_series` (default
        ``$STEM_BENCH_CACHE`` or ``~/.cache/stem-restore-bench``).
    progress : bool
        Show a progress bar over phonon configurations.

    Returns
    -------
    dict
        Per width: max and mean |ΔSCS|/SCS over thicknesses ≥ 1 atom, max |Δimage| / max(image), against
        the widest supercell.
    """
    changes: dict[str, Any] = {}
    if phonon_configurations is not None:
        changes["phonon_configurations"] = phonon_configurations
    runs: dict[int, ThicknessSeries] = {}
    for cells in sorted(lateral_cells):
        variant = recipe.replace(lateral_cells=cells, name=f"{recipe.name}-wrap-{cells}", **changes)
        runs[cells] = simulate_thickness_series(variant, cache_dir=cache_dir, progress=progress)
    reference = runs[max(runs)]
    scs_reference = reference.scs_A2[1:]
    report: dict[str, Any] = {"reference_lateral_cells": max(runs), "widths": {}}
    for cells, series in runs.items():
        relative = np.abs(series.scs_A2[1:] - scs_reference) / scs_reference
        image_difference = (np.abs(series.images - reference.images).max(axis=(1, 2))
                            / reference.images.max(axis=(1, 2)).clip(1e-12))
        report["widths"][str(cells)] = {
            "extent_A": cells * recipe.lattice_constant_A,
            "max_relative_scs_difference": float(relative.max()),
            "mean_relative_scs_difference": float(relative.mean()),
            "max_relative_image_difference": float(image_difference[1:].max()),
            "wall_time_s": series.metadata.get("wall_time_s"),
        }
    return report


def potential_sampling_check(
    recipe: HAADFRecipe,
    grid_points: tuple[int, ...],
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Simulate the recipe on several potential grids and compare their SCS with the finest.

    Configuration k has the same phonon displacements on every grid (its seed depends only on k), so the
    comparison is paired and the phonon noise largely cancels. Heavy atoms make the transmission function
    exp(iσV) hard to sample: the HAADF SCS keeps changing by percents between 0.05 and 0.03 Å, which is why
    a counting library must share its image's sampling (bench.library.matched_library_recipe).

    Parameters
    ----------
    recipe : HAADFRecipe
        Recipe whose potential sampling is varied (every other field is kept).
    grid_points : tuple of int
        Grid sizes across the supercell (even, FFT-friendly); the largest is the reference.
    cache_dir : Path, optional
        Cache root passed to :func:`~simulate.thickness_series.simulate_thickness_series` (default
        ``$STEM_BENCH_CACHE`` or ``~/.cache/stem-restore-bench``).
    progress : bool
        Show a progress bar over phonon configurations.

    Returns
    -------
    dict
        Per grid: sampling [Å], cutoff [mrad], SCS ratio to the reference per thickness ≥ 1 atom, its mean and
        the largest paired standard error of that ratio (None with one configuration).

    Raises
    ------
    ValueError
        If a grid size is not even and FFT-friendly, or leaves the detector beyond the cutoff.
    """
    extent = recipe.supercell_extent_A
    runs: dict[int, ThicknessSeries] = {}
    for grid in sorted(set(int(g) for g in grid_points)):
        if fft_friendly_size(grid) != grid:
            raise ValueError(f"grid_points {grid} is not an even FFT-friendly size; use {fft_friendly_size(grid)}")
        variant = recipe.replace(potential_sampling_A=extent / grid, name=f"{recipe.name}-grid-{grid}")
        runs[grid] = simulate_thickness_series(variant, cache_dir=cache_dir, progress=progress)
    reference = runs[max(runs)]
    report: dict[str, Any] = {"reference_grid_points": max(runs), "grids": {}}
    for grid, series in runs.items():
        # cell-mean SCS per configuration, paired with the reference's configuration of the same seed
        paired = series.configuration_scs_A2[:, 1:] / reference.configuration_scs_A2[:, 1:]
        k = paired.shape[0]
        ratio = series.scs_A2[1:] / reference.scs_A2[1:]
        report["grids"][str(grid)] = {
            "sampling_A": series.recipe.actual_sampling_A,
            "cutoff_mrad": series.recipe.cutoff_angle_mrad,
            "scs_ratio_to_reference": [float(v) for v in ratio],
            "mean_scs_ratio": float(ratio.mean()),
            "max_paired_standard_error": float(paired.std(axis=0, ddof=1).max() / np.sqrt(k)) if k > 1 else None,
            "wall_time_s": series.metadata.get("wall_time_s"),
        }
    return report


def phonon_convergence(series: ThicknessSeries) -> dict[str, Any]:
    """Measure the standard error of the phonon-averaged SCS versus the number of configurations.

    Parameters
    ----------
    series : ThicknessSeries
        Simulated series with its per-configuration intensities.

    Returns
    -------
    dict
        ``relative_standard_error`` of the SCS (standard error / mean) for the full set, per thickness
        (max and at 2, 10, 40 and the largest thickness), and the running relative change of the SCS when
        the last configuration is added.
    """
    scs = series.scs_A2[1:]
    error = series.scs_standard_error_A2[1:]
    relative = error / scs
    k = series.configuration_intensities.shape[0]
    atoms = series.atoms_per_column[1:]
    picks = {int(n): float(relative[atoms == n][0]) for n in (2, 10, 40, int(atoms[-1])) if n in atoms}
    report: dict[str, Any] = {
        "configurations": k,
        "max_relative_standard_error": float(np.nanmax(relative)) if k > 1 else None,
        "relative_standard_error_at_atoms": picks,
    }
    if k > 1:
        without_last = ThicknessSeries(series.recipe, series.configuration_intensities[:-1], {})
        change = np.abs(without_last.scs_A2[1:] - scs) / scs
        report["max_relative_change_adding_last_configuration"] = float(change.max())
    return report
