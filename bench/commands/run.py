"""``bench run STUDY``: run (or resume) a quantitative study and write its report.

``bench run precision-vs-dose`` uses the shipped Pt [001] thickness series and compares raw data, BM3D and
the suite's default model (when it is installed) with the ``quick`` preset, which runs on a laptop CPU;
``--preset paper`` is the paper's full study. Finished tasks are stored as they finish, so an interrupted
run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def parse_list(text: str | None, kind, name: str):
    """``"500,5e4"`` → (500.0, 50000.0); None stays None; an empty list is an error."""
    if text is None:
        return None
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise ValueError(f"{name} is empty: give a comma-separated list, e.g. --{name} "
                         f"{'500,50000' if kind is float else '2,5,10'}")
    try:
        return tuple(kind(float(item)) if kind is int and float(item).is_integer() else kind(item) for item in items)
    except ValueError as error:
        raise ValueError(f"--{name} {text!r}: every entry must be a number ({error})") from error


def build_methods(specs: list[str] | None, models: list[str] | None, device: str | None):
    """The methods to compare and a note on the default model; every spec is validated here."""
    from bench.methods import default_methods, make_method

    note = None
    if specs:
        methods = [make_method(spec, device=device) for spec in specs]
    else:
        methods, note = default_methods(device=device)
    for model in models or []:
        methods.append(make_method(model, device=device))
    names = [m.name for m in methods]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"methods {duplicates} are given twice; list each method once")
    return methods, note


def load_series(recipe: str, scheduler: str | None, progress: bool):
    from simulate.recipe import COARSE_RECIPE
    from simulate.thickness_series import load_embedded_default, simulate_thickness_series

    if recipe == "default":
        return load_embedded_default()
    if recipe == "coarse":
        return simulate_thickness_series(COARSE_RECIPE, scheduler=scheduler, progress=progress)
    raise ValueError(f"--recipe {recipe!r} is unknown; valid: default, coarse")


def _reject_options(args: argparse.Namespace, options: tuple[str, ...], study: str, advice: str) -> None:
    """ValueError for any option in ``options`` that was given but does not apply to ``study``."""
    for option in options:
        if getattr(args, option, None) is not None:
            raise ValueError(f"--{option} does not apply to the {study} study ({advice})")


def _output_directory(args: argparse.Namespace, study: str, preset) -> Path:
    return Path(args.output) if args.output else Path("results") / f"{study}-{preset.name}"


def _announce(note: str | None, output: Path) -> None:
    if note:
        print(f"  note: {note}")
    print(f"  results: {output}")


def _provenance(args: argparse.Namespace, preset, methods, note: str | None, seeds: dict, **inputs) -> dict:
    """The manifest's provenance: preset, study inputs, versions, hardware, seeds, scheduler, methods."""
    from bench.tasks import hardware, library_versions

    return {"preset": preset.name, **inputs, "versions": library_versions(), "hardware": hardware(),
            "seeds": seeds, "scheduler": args.scheduler or "local processes",
            "methods": [m.provenance() for m in methods], "notes": [note] if note else [],
            "command": " ".join(sys.argv)}


def _run_and_record(output: Path, study: str, config: dict, provenance: dict, execute):
    """Open the result store, run ``execute(store)`` and mark the run complete with its wall time."""
    from bench.tasks import ResultStore

    store = ResultStore.open(output, study, config, provenance)
    started = time.perf_counter()
    summary = execute(store)
    store.manifest["status"] = "complete"
    store.manifest["last_run_wall_time_s"] = round(time.perf_counter() - started, 1)
    store.save_manifest()
    return summary


def _print_table(summary) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print(summary.to_string(index=False))


def run_precision_vs_dose(args: argparse.Namespace, *, methods=None, note=None, on_task_done=None) -> Path:
    """Validate everything, then run the study; return the results directory."""
    from bench.studies import precision_vs_dose as study
    from bench.tasks import ResultStore

    preset = study.configure(
        args.preset,
        doses=parse_list(args.doses, float, "doses"),
        thicknesses=parse_list(args.thicknesses, int, "thicknesses"),
        realisations=args.realisations,
    )
    if methods is None:
        methods, note = build_methods(args.methods, args.model, args.device)
    series = load_series(args.recipe, args.scheduler, not args.quiet)
    study.check_series(preset, series)
    output = _output_directory(args, study.STUDY, preset)
    config = {**preset.to_config(), "thickness_series_recipe": series.recipe.to_dict()}
    ResultStore.check(output, study.STUDY, config)  # before anything is written

    print(f"bench run {study.STUDY}: preset {preset.name!r}"
          + (" (the default: sized for a laptop CPU; --preset paper runs the paper's full study)"
             if preset.name == study.DEFAULT_PRESET and not args.preset_given else ""))
    print(f"  {len(preset.thicknesses)} thicknesses, doses {', '.join(f'{d:g}' for d in preset.doses)} e⁻/Å², "
          f"{preset.realisations} realisations; methods: {', '.join(m.name for m in methods)}")
    _announce(note, output)
    provenance = _provenance(args, preset, methods, note, {"noise": preset.seed, "bootstrap": preset.seed},
                             thickness_series={"recipe": series.recipe.to_dict(), "metadata": series.metadata})
    summary = _run_and_record(output, study.STUDY, config, provenance, lambda store: study.execute(
        preset, series, methods, store, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet,
        on_task_done=on_task_done))
    _print_summary(summary)
    return output


def run_denoise(args: argparse.Namespace, *, methods=None, note=None, on_task_done=None) -> Path:
    """Validate everything, then run the denoise study; return the results directory."""
    from bench.studies import denoise as study
    from bench.tasks import ResultStore

    _reject_options(args, ("doses", "thicknesses", "realisations"), study.STUDY,
                    "it scores the fixed validation set; use --images and --modalities")
    modalities = parse_list(args.modalities, str, "modalities")
    preset = study.configure(args.preset, images=args.images, modalities=modalities)
    if methods is None:
        methods, note = build_methods(args.methods, args.model, args.device)
    output = _output_directory(args, study.STUDY, preset)
    config = preset.to_config()
    ResultStore.check(output, study.STUDY, config)
    print(f"bench run {study.STUDY}: preset {preset.name!r}, {preset.images} validation pairs of {preset.size}² px "
          f"per modality ({', '.join(preset.modalities)}); methods: {', '.join(m.name for m in methods)}")
    _announce(note, output)
    provenance = _provenance(args, preset, methods, note,
                             {"bootstrap": preset.seed, "validation_set": "restore.dataset.VALIDATION_SEED"})
    summary = _run_and_record(output, study.STUDY, config, provenance, lambda store: study.execute(
        preset, methods, store, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet,
        on_task_done=on_task_done))
    _print_table(summary)
    return output


def run_dislocation(args: argparse.Namespace, *, methods=None, note=None, on_task_done=None) -> Path:
    """Validate everything, then run the dislocation study on the shipped image; return the results directory."""
    from bench.studies import dislocation as study
    from bench.tasks import ResultStore
    from simulate.specimen_data import load_shipped

    _reject_options(args, ("thicknesses", "images", "modalities"), study.STUDY, "use --doses, --realisations")
    preset = study.configure(args.preset, doses=parse_list(args.doses, float, "doses"),
                             realisations=args.realisations)
    if methods is None:
        methods, note = build_methods(args.methods, args.model, args.device)
    specimen = load_shipped("dislocation")
    output = _output_directory(args, study.STUDY, preset)
    config = {**preset.to_config(), "specimen": specimen.specimen, "recipe": specimen.recipe.to_dict()}
    ResultStore.check(output, study.STUDY, config)
    print(f"bench run {study.STUDY}: preset {preset.name!r}, doses {', '.join(f'{d:g}' for d in preset.doses)} "
          f"e⁻/Å², {preset.realisations} realisations; methods: {', '.join(m.name for m in methods)}")
    _announce(note, output)
    provenance = _provenance(args, preset, methods, note, {"distortions": preset.seed, "bootstrap": preset.seed},
                             specimen_image={"specimen": specimen.specimen, "metadata": specimen.metadata})
    summary = _run_and_record(output, study.STUDY, config, provenance, lambda store: study.execute(
        preset, specimen, methods, store, scheduler=args.scheduler, workers=args.workers,
        progress=not args.quiet, on_task_done=on_task_done))
    _print_table(summary)
    return output


def run_atom_counting(args: argparse.Namespace, *, methods=None, note=None, on_task_done=None) -> Path:
    """Validate everything, then run the atom-counting study on the shipped nanoparticle image."""
    from bench.studies import atom_counting as study
    from bench.tasks import ResultStore
    from simulate.specimen_data import load_shipped

    _reject_options(args, ("thicknesses", "images", "modalities"), study.STUDY, "use --doses, --realisations")
    preset = study.configure(args.preset, doses=parse_list(args.doses, float, "doses"),
                             realisations=args.realisations)
    if methods is None:
        methods, note = build_methods(args.methods, args.model, args.device)
    specimen = load_shipped("nanoparticle")
    # The library must come from the image's own microscope, slicing and potential sampling: simulate (or
    # load from the cache) that bulk thickness series up to a little past the thickest column.
    from bench.library import matched_library_recipe
    from simulate.thickness_series import simulate_thickness_series

    thickest = int(specimen.columns.atoms_per_column.max())
    series = simulate_thickness_series(matched_library_recipe(specimen, max_atoms=thickest + 2),
                                       scheduler=args.scheduler, progress=not args.quiet)
    output = _output_directory(args, study.STUDY, preset)
    config = {**preset.to_config(), "specimen": specimen.specimen, "recipe": specimen.recipe.to_dict(),
              "thickness_series_recipe": series.recipe.to_dict()}
    ResultStore.check(output, study.STUDY, config)
    print(f"bench run {study.STUDY}: preset {preset.name!r}, doses {', '.join(f'{d:g}' for d in preset.doses)} "
          f"e⁻/Å², {preset.realisations} realisations; methods: {', '.join(m.name for m in methods)}")
    _announce(note, output)
    provenance = _provenance(args, preset, methods, note, {"distortions": preset.seed, "bootstrap": preset.seed},
                             specimen_image={"specimen": specimen.specimen, "metadata": specimen.metadata},
                             thickness_series={"recipe": series.recipe.to_dict(), "metadata": series.metadata})
    summary = _run_and_record(output, study.STUDY, config, provenance, lambda store: study.execute(
        preset, specimen, series, methods, store, scheduler=args.scheduler, workers=args.workers,
        progress=not args.quiet, on_task_done=on_task_done))
    _print_table(summary)
    return output


def _print_summary(summary) -> None:
    columns = ["method", "dose_e_per_A2", "atoms_per_column", "position_precision_pm", "position_bias_pm",
               "position_rmse_pm", "crlb_position_pm", "scs_precision_pct", "scs_bias_pct", "scs_rmse_pct",
               "crlb_scs_pct"]
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3g}".format):
        print(summary[columns].to_string(index=False))


def _handle(args: argparse.Namespace) -> int:
    from bench.studies import check_study

    check_study(args.study)
    args.preset_given = args.preset is not None
    args.preset = args.preset or "quick"
    runner = {"precision-vs-dose": run_precision_vs_dose, "denoise": run_denoise,
              "dislocation": run_dislocation, "atom-counting": run_atom_counting}[args.study]
    output = runner(args)
    if not args.no_report:
        from reports.html import write_report

        path = write_report(output)
        print(f"report: {path}")
    return 0


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``bench run`` and ``bench check``."""
    parser.add_argument("--recipe", default="default", choices=("default", "coarse"),
                        help="thickness series: the shipped default, or the coarse test recipe (simulated, cached)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of an existing dask.distributed scheduler (default: local processes)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes (default: CPU count; 1 runs in this process)")
    parser.add_argument("--device", default=None, help="torch device for CNN methods (default: CUDA if available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run a quantitative study (resumable) and write its report",
        description="Run a quantitative study, e.g. `bench run precision-vs-dose` (paper Fig. 3). Work is split "
                    "into tasks stored as they finish; rerunning the same command resumes an interrupted run.")
    parser.add_argument("study", metavar="STUDY",
                        help="precision-vs-dose, dislocation, atom-counting or denoise")
    parser.add_argument("--preset", choices=("quick", "paper"), default=None,
                        help="quick (default; a CPU-sized subset) or paper (the paper's full study)")
    parser.add_argument("--methods", type=lambda s: [x for x in s.split(",")], default=None,
                        help="comma-separated methods: raw, bm3d, a model name (arch.tag) or a .safetensors path "
                             "(default: raw, bm3d and the suite's default model when installed)")
    parser.add_argument("--model", action="append", metavar="NAME_OR_PATH",
                        help="add a registered model or checkpoint to the methods (repeatable)")
    parser.add_argument("--doses", help="comma-separated doses in e⁻/Å² (default: the preset's, 500,50000)")
    parser.add_argument("--thicknesses", help="comma-separated thicknesses in atoms per column")
    parser.add_argument("--realisations", type=int, help="noise realisations per point (≥ 2)")
    parser.add_argument("--images", type=int, help="denoise: validation pairs per modality")
    parser.add_argument("--modalities", help="denoise: comma-separated modalities (hrstem, lrstem, hrtem, lrtem)")
    parser.add_argument("--output", "-o", help="results directory (default results/STUDY-PRESET)")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    add_study_arguments(parser)
    parser.set_defaults(handler=_handle)
