"""``bench simulate``: run (or load from the cache) the suite's abTEM simulations."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from _shared.legacy_names import rename_legacy_keys


def _parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs → recipe overrides; values are read as JSON when possible (numbers, booleans).

    Names from before the unit-suffix convention (``potential_sampling_angstrom``) are accepted too.
    """
    settings: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            settings[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key.strip()] = raw
    return rename_legacy_keys(settings)


def _thickness_recipe(args: argparse.Namespace):
    from simulate.recipe import COARSE_RECIPE, DEFAULT_RECIPE

    base = {"default": DEFAULT_RECIPE, "coarse": COARSE_RECIPE}[args.recipe]
    settings = _parse_settings(args.set or [])
    return base.replace(**settings) if settings else base


def _summary(series) -> dict[str, Any]:
    return {
        "recipe": series.recipe.to_dict(),
        "pixel_size_A": series.pixel_size_A,
        "image_shape": list(series.images.shape),
        "atoms_per_column": series.atoms_per_column.tolist(),
        "scs_A2": [round(float(v), 6) for v in series.scs_A2],
        "scs_standard_error_A2": [None if v != v else round(float(v), 6)
                                         for v in series.scs_standard_error_A2],
        "metadata": series.metadata,
    }


def _run_thickness_series(args: argparse.Namespace) -> int:
    from simulate.thickness_series import simulate_thickness_series, write_embedded_default

    recipe = _thickness_recipe(args)
    series = simulate_thickness_series(
        recipe, scheduler=args.scheduler, cache_dir=args.cache_dir, use_cache=not args.force,
        progress=not args.quiet, device=args.device,
    )
    summary = _summary(series)
    if args.write_default:
        path = write_embedded_default(series)
        print(f"wrote the embedded default to {path}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=2))
    scs = series.scs_A2
    print(f"{recipe.name}: {len(scs)} thicknesses (0–{len(scs) - 1} atoms/column), "
          f"{series.images.shape[1]}×{series.images.shape[2]} px of {series.pixel_size_A:.4f} Å")
    for atoms in range(0, len(scs), max(1, (len(scs) - 1) // 10)):
        print(f"  {atoms:3d} atoms: SCS = {scs[atoms]:.5f} Å²")
    return 0


def _run_convergence(args: argparse.Namespace) -> int:
    from simulate.convergence import phonon_convergence, potential_sampling_check, supercell_wrap_check
    from simulate.thickness_series import simulate_thickness_series

    recipe = _thickness_recipe(args)
    widths = tuple(int(v) for v in args.lateral_cells.split(","))
    report = {
        "recipe": recipe.to_dict(),
        "phonon_convergence": phonon_convergence(
            simulate_thickness_series(recipe, scheduler=args.scheduler, cache_dir=args.cache_dir,
                                      progress=not args.quiet)),
        "supercell_wrap": supercell_wrap_check(recipe, widths, phonon_configurations=args.wrap_configurations,
                                               cache_dir=args.cache_dir, progress=not args.quiet),
    }
    if args.grid_points:
        grids = tuple(int(v) for v in args.grid_points.split(","))
        report["potential_sampling"] = potential_sampling_check(
            recipe.replace(max_thickness_atoms=min(recipe.max_thickness_atoms, args.sampling_max_atoms)), grids,
            cache_dir=args.cache_dir, progress=not args.quiet)
    text = json.dumps(report, indent=2)
    if args.output:
        Path(args.output).write_text(text)
    print(text)
    return 0


def _run_specimen(args: argparse.Namespace) -> int:
    """``bench simulate dislocation|nanoparticle``: the shipped recipe, with --set overriding its imaging
    fields (field_of_view_A, method, …) or its microscope fields (phonon_configurations, …)."""
    import dataclasses

    from simulate.specimen_data import write_shipped
    from simulate.specimen_images import simulate_specimen_image
    from simulate.specimen_recipe import default_recipe

    recipe = default_recipe(args.kind)
    settings = _parse_settings(args.set or [])
    imaging_fields = {f.name for f in dataclasses.fields(recipe)} - {"microscope"}
    imaging = {key: value for key, value in settings.items() if key in imaging_fields}
    microscope = {key: value for key, value in settings.items() if key not in imaging_fields}
    if args.recipe != "default":
        raise ValueError(f"--recipe {args.recipe} applies to thickness-series only; change a {args.kind} "
                         "recipe with --set KEY=VALUE")
    recipe = dataclasses.replace(recipe, microscope=recipe.microscope.replace(**microscope), **imaging)
    image = simulate_specimen_image(args.kind, recipe, scheduler=args.scheduler, cache_dir=args.cache_dir,
                                    use_cache=not args.force, progress=not args.quiet)
    if args.write_default:
        print(f"wrote the shipped {args.kind} image to {write_shipped(image)}", file=sys.stderr)
    columns = image.columns
    summary = {
        "kind": image.kind, "specimen": image.specimen, "recipe": image.recipe.to_dict(),
        "pixel_size_A": image.pixel_size_A, "image_shape": list(image.image.shape),
        "columns": int(len(columns.atoms_per_column)), "atoms": int(columns.atoms_per_column.sum()),
        "core_columns": int(columns.core_mask.sum()), "metadata": image.metadata,
    }
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=2))
    print(f"{args.kind}: {summary['image_shape'][0]}×{summary['image_shape'][1]} px of "
          f"{image.pixel_size_A:.4f} Å, {summary['columns']} columns ({summary['atoms']} atoms, "
          f"{summary['core_columns']} in the core region), {len(image.configuration_images)} phonon "
          f"configurations, fidelity {image.metadata.get('fidelity', '?')}")
    return 0


KINDS = {
    "thickness-series": _run_thickness_series,
    "convergence": _run_convergence,
    "dislocation": _run_specimen,
    "nanoparticle": _run_specimen,
}


def _handle(args: argparse.Namespace) -> int:
    if args.kind not in KINDS:
        raise ValueError(f"unknown simulation {args.kind!r}; choose one of {', '.join(KINDS)}")
    return KINDS[args.kind](args)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bench simulate`` to the command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command collection of the ``bench`` parser.
    """
    parser = subparsers.add_parser(
        "simulate",
        help="simulate HAADF images with abTEM (cached)",
        description=(
            "Simulate HAADF-STEM images with abTEM multislice and frozen phonons. Results are cached with "
            "their recipe and library versions; a matching request reuses them."
        ),
    )
    parser.add_argument("kind", metavar="KIND", help=f"what to simulate: {', '.join(KINDS)}")
    parser.add_argument("--recipe", choices=("default", "coarse"), default="default",
                        help="base recipe (default: the suite's embedded default)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a recipe field, e.g. --set phonon_configurations=8 (repeatable)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of an existing dask.distributed scheduler (default: local threads)")
    parser.add_argument("--cache-dir", type=Path, help="cache root (default $STEM_BENCH_CACHE or ~/.cache/...)")
    parser.add_argument("--force", action="store_true", help="recompute even when a cached result exists")
    parser.add_argument("--write-default", action="store_true",
                        help="store the result as the package's embedded default data")
    parser.add_argument("--output", "-o", type=Path, help="write a JSON summary here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="thickness series: where abTEM computes (auto: the GPU when CuPy sees one)")
    parser.add_argument("--lateral-cells", default="3,4,6",
                        help="convergence: supercell widths to compare [unit cells] (default 3,4,6)")
    parser.add_argument("--wrap-configurations", type=int, default=None,
                        help="convergence: phonon configurations per supercell width (default: the recipe's)")
    parser.add_argument("--grid-points", default="",
                        help="convergence: potential grids to compare across the supercell, e.g. 480,540,600,672 "
                             "(the largest is the reference; default: none)")
    parser.add_argument("--sampling-max-atoms", type=int, default=12,
                        help="convergence: thickest column of the potential-sampling comparison (default 12)")
    parser.set_defaults(handler=_handle)
