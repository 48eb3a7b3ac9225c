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
    """The methods to compare and a note on the default model; every spec is validated here, and every
    checkpoint is loaded once, so that a damaged one fails before any task runs."""
    from bench.cli import check_model_spec
    from bench.methods import default_methods, make_method

    note = None
    for spec in specs or []:
        check_model_spec(spec.strip(), option="--methods")
    for model in models or []:
        check_model_spec(model, option="--model")
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
    for method in methods:
        _check_loadable(method)
    return methods, note


def _check_loadable(method) -> None:
    """Load a CNN method's checkpoint (checking its SHA-256); ValueError naming the method if it fails."""
    weights = getattr(method, "weights", None)
    if weights is None:
        return
    from restore.checkpoint import load_model

    try:
        load_model(weights, expected_sha256=getattr(method, "sha256", None))
    except Exception as error:  # safetensors, JSON and shape errors alike: none may surface mid-run
        raise ValueError(f"method {method.name!r}: checkpoint {weights} cannot be loaded ({type(error).__name__}: "
                         f"{error}); fix or remove it from --methods/--model") from error


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
    from _shared.provenance import hardware, library_versions

    return {"preset": preset.name, **inputs, "versions": library_versions(), "hardware": hardware(**gpus()),
            "seeds": seeds, "scheduler": args.scheduler or "local processes",
            "methods": [m.provenance() for m in methods], "notes": [note] if note else [],
            "command": " ".join(sys.argv)}


def gpus() -> dict:
    """``{"gpu": [names]}`` when torch sees CUDA GPUs, else ``{}`` (for the manifest's hardware)."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"gpu": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}


def _run_and_record(output: Path, study: str, config: dict, provenance: dict, execute):
    """Open the result store, run ``execute(store)`` and record how this segment of the run ended.

    The manifest's ``status`` becomes ``complete``, ``interrupted`` (Ctrl-C, SIGTERM) or ``failed``, and
    ``runs`` gains one segment per invocation: start, end, wall time, tasks stored before and after, and
    the status (with the error for a failure).
    """
    from _shared.results import ResultStore

    store = ResultStore.open(output, study, config, provenance)
    started, clock = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter()
    before = len(list(store.task_directory.glob("*.parquet")))
    segment = {"started": started, "tasks_stored_before": before}

    def record(status: str, error: BaseException | None = None) -> None:
        wall = round(time.perf_counter() - clock, 1)
        segment.update(ended=time.strftime("%Y-%m-%dT%H:%M:%S%z"), wall_time_s=wall, status=status,
                       tasks_stored_after=len(list(store.task_directory.glob("*.parquet"))))
        if error is not None:
            segment["error"] = f"{type(error).__name__}: {error}"
        store.manifest["status"] = status
        store.manifest["last_run_wall_time_s"] = wall
        store.manifest.setdefault("runs", []).append(segment)
        store.save_manifest()

    try:
        summary = execute(store)
    except KeyboardInterrupt:
        record("interrupted")
        raise
    except BaseException as error:
        record("failed", error)
        raise
    record("complete")
    return summary


def _print_table(summary) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print(summary.to_string(index=False))


def run_precision_vs_dose(args: argparse.Namespace, *, methods=None, note=None, on_task_done=None) -> Path:
    """Validate everything, then run the study; return the results directory."""
    from bench.studies import precision_vs_dose as study
    from _shared.results import ResultStore

    preset = study.configure(
        args.preset,
        doses=parse_list(args.doses, float, "doses"),
        thicknesses=parse_list(args.thicknesses, int, "thicknesses"),
        realisations=args.realisations,
        fit_method=getattr(args, "estimator", None),
    )
    if methods is None:
        methods, note = build_methods(args.methods, args.model, args.device)
    output = _output_directory(args, study.STUDY, preset)
    if args.recipe == "coarse":  # the directory is checked before the series is simulated
        from simulate.recipe import COARSE_RECIPE

        ResultStore.check(output, study.STUDY, {**preset.to_config(),
                                                "thickness_series_recipe": COARSE_RECIPE.to_dict()})
    series = load_series(args.recipe, args.scheduler, not args.quiet)
    study.check_series(preset, series)
    config = {**preset.to_config(), "thickness_series_recipe": series.recipe.to_dict()}
    ResultStore.check(output, study.STUDY, config)  # before anything is written

    print(f"bench run {study.STUDY}: preset {preset.name!r}"
          + (" (the default: sized for a laptop CPU; --preset paper runs the paper's full study)"
             if preset.name == study.DEFAULT_PRESET and not args.preset_given else ""))
    print(f"  {len(preset.thicknesses)} thicknesses, doses {', '.join(f'{d:g}' for d in preset.doses)} e⁻/Å², "
          f"{preset.realisations} realisations; methods: {', '.join(m.name for m in methods)}")
    _announce(note, output)
    print(f"  estimator: {ESTIMATORS[preset.fit_method]}")
    provenance = _provenance(args, preset, methods, note, {"noise": preset.seed, "bootstrap": preset.seed},
                             estimator=preset.fit_method,
                             thickness_series={"recipe": series.recipe.to_dict(), "metadata": series.metadata})
    summary = _run_and_record(output, study.STUDY, config, provenance, lambda store: study.execute(
        preset, series, methods, store, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet,
        on_task_done=on_task_done))
    _print_summary(summary)
    return output


def run_denoise(args: argparse.Namespace, *, methods=None, note=None, on_task_done=None) -> Path:
    """Validate everything, then run the denoise study; return the results directory."""
    from bench.studies import denoise as study
    from _shared.results import ResultStore

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
    from _shared.results import ResultStore
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
                             estimator="least_squares",
                             specimen_image={"specimen": specimen.specimen, "metadata": specimen.metadata})
    summary = _run_and_record(output, study.STUDY, config, provenance, lambda store: study.execute(
        preset, specimen, methods, store, scheduler=args.scheduler, workers=args.workers,
        progress=not args.quiet, on_task_done=on_task_done))
    _print_table(summary)
    return output


def run_atom_counting(args: argparse.Namespace, *, methods=None, note=None, on_task_done=None) -> Path:
    """Validate everything, then run the atom-counting study on the shipped nanoparticle image."""
    from bench.studies import atom_counting as study
    from _shared.results import ResultStore
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
    library_recipe = matched_library_recipe(specimen, max_atoms=thickest + 2)
    output = _output_directory(args, study.STUDY, preset)
    config = {**preset.to_config(), "specimen": specimen.specimen, "recipe": specimen.recipe.to_dict(),
              "thickness_series_recipe": library_recipe.to_dict()}
    ResultStore.check(output, study.STUDY, config)  # before minutes of simulation
    series = simulate_thickness_series(library_recipe, scheduler=args.scheduler, progress=not args.quiet)
    print(f"bench run {study.STUDY}: preset {preset.name!r}, doses {', '.join(f'{d:g}' for d in preset.doses)} "
          f"e⁻/Å², {preset.realisations} realisations; methods: {', '.join(m.name for m in methods)}")
    _announce(note, output)
    provenance = _provenance(args, preset, methods, note, {"distortions": preset.seed, "bootstrap": preset.seed},
                             estimator="least_squares",
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


ESTIMATORS = {"least_squares": "least squares (StatSTEM's estimator)",
              "poisson": "Poisson maximum likelihood (for count images)"}

# One line per study and its quick preset's run time (docs/studies.md, "Run times", says where each comes from).
STUDY_HELP = {
    "precision-vs-dose": ("precision and bias of column positions and scattering cross sections (SCS) against "
                          "dose and thickness, beside the Poisson CRLB (paper Fig. 3)",
                          "≈ 4 min on a 2-core CPU, measured"),
    "dislocation": ("position and SCS errors of the columns around a Pt edge-dislocation core, with scan "
                    "distortions and detector noise (paper Fig. 4)", "≈ 5–10 min, estimated"),
    "atom-counting": ("atoms counted per column of a Pt nanoparticle by library matching and a Gaussian "
                      "mixture (paper Fig. 5)", "≈ 5–10 min, estimated, plus 6–8 min once for its library"),
    "denoise": ("PSNR and SSIM on the fixed synthetic validation pairs of HR/LR-STEM and HR/LR-TEM "
                "(paper Table 1)", "≈ 2–5 min, estimated"),
}


def check_run_options(args: argparse.Namespace) -> None:
    """Everything about the options that can be checked before any work: study, workers, device, estimator."""
    from bench.cli import check_device
    from bench.studies import check_study

    check_study(args.study)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers {args.workers}: give at least 1 worker process (1 runs in this process)")
    args.device = check_device(args.device)
    estimator = getattr(args, "estimator", None)
    if estimator is not None and args.study == "denoise":
        raise ValueError("--estimator does not apply to the denoise study: it scores PSNR and SSIM, it fits no "
                         "columns")
    if estimator == "poisson" and args.study != "precision-vs-dose":
        raise ValueError(f"--estimator poisson does not apply to the {args.study} study: its images carry "
                         "detector noise in detector units (gain, read noise), not counts, so the Poisson "
                         "likelihood is not theirs; it fits by least squares")


def run_study(args: argparse.Namespace, *, on_task_done=None) -> Path:
    """Validate the options, then run (or resume) ``args.study``; return the results directory."""
    check_run_options(args)
    args.preset_given = args.preset is not None
    args.preset = args.preset or "quick"
    runner = {"precision-vs-dose": run_precision_vs_dose, "denoise": run_denoise,
              "dislocation": run_dislocation, "atom-counting": run_atom_counting}[args.study]
    return runner(args, on_task_done=on_task_done)


def _handle(args: argparse.Namespace) -> int:
    import signal

    # SIGTERM (a batch system's stop, `kill`) ends the run like Ctrl-C: the manifest says "interrupted"
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        output = run_study(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not args.no_report:
        from reports.html import write_report

        path = write_report(output)
        print(f"report: {path}")
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``bench run`` and ``bench check``."""
    parser.add_argument("--recipe", default="default", choices=("default", "coarse"),
                        help="the simulated bulk Pt [001] thickness series that the precision study cuts its "
                             "images from: 'default' = the shipped series, 0–75 atoms per column; 'coarse' = a "
                             "cheap, coarsely sampled series of 0–10 atoms for tests (simulated once, then "
                             "cached) (default: %(default)s)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the tasks on an existing dask.distributed cluster at ADDRESS (e.g. "
                             "tcp://HOST:8786) instead of worker processes on this computer")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes on this computer, each running one task at a time (default: one "
                             "per CPU core; 1 runs everything in this process)")
    parser.add_argument("--device", default=None,
                        help="where CNN methods run: cpu, cuda, cuda:N or mps (default: the GPU when one is "
                             "usable, else the CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _studies_text() -> str:
    import textwrap

    lines = ["studies (run time of the quick preset; docs/studies.md says where each comes from):"]
    for name, (what, time_text) in STUDY_HELP.items():
        lines += textwrap.wrap(f"{what} [quick: {time_text}]", width=100, initial_indent=f"  {name:<18} ",
                               subsequent_indent=" " * 21)
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run a quantitative study (resumable) and write its report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a quantitative study, e.g. `bench run precision-vs-dose` (paper Fig. 3). Work is split\n"
                    "into tasks stored as they finish; rerunning the same command resumes an interrupted run.\n"
                    "Every option, method and checkpoint is checked before any work starts.\n\n"
                    + _studies_text())
    parser.add_argument("study", metavar="STUDY", help="one of: " + ", ".join(STUDY_HELP))
    parser.add_argument("--preset", choices=("quick", "paper"), default=None,
                        help="quick (default; a subset sized for a laptop CPU) or paper (the paper's full study)")
    parser.add_argument("--methods", type=lambda s: [x for x in s.split(",")], default=None,
                        help="comma-separated methods: raw (the measured image), bm3d, a model name (arch.tag) or "
                             "a .safetensors path (default: raw, bm3d and the suite's default model when "
                             "installed)")
    parser.add_argument("--model", action="append", metavar="NAME_OR_PATH",
                        help="add a registered model or .safetensors checkpoint to the methods (repeatable)")
    parser.add_argument("--estimator", choices=tuple(ESTIMATORS), default=None,
                        help="how the columns are fitted: least_squares (StatSTEM's; default) or poisson "
                             "(maximum likelihood, the efficient estimator for count images; precision-vs-dose "
                             "only). Least squares is biased by −5…−8 %% in SCS at 5·10² e⁻/Å² on raw data")
    parser.add_argument("--doses", help="comma-separated doses in e⁻/Å² (default: the preset's, 500,50000)")
    parser.add_argument("--thicknesses", help="comma-separated thicknesses in atoms per column")
    parser.add_argument("--realisations", type=int, help="noise realisations per point (≥ 2)")
    parser.add_argument("--images", type=int, help="denoise: validation pairs per modality")
    parser.add_argument("--modalities", help="denoise: comma-separated modalities (hrstem, lrstem, hrtem, lrtem)")
    parser.add_argument("--output", "-o", help="results directory (default results/STUDY-PRESET)")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    add_study_arguments(parser)
    parser.set_defaults(handler=_handle)
