"""``bench run STUDY``: run (or resume) a quantitative study and write its report.

``bench run precision-vs-dose`` uses the shipped Pt [001] thickness series and compares raw data, BM3D and
the suite's default model (when it is installed) with the ``quick`` preset, which runs on a laptop CPU;
``--preset paper`` is the paper's full study. Finished tasks are stored as they finish, so an interrupted
run resumes where it stopped.

This module turns the command line into a study's preset, the methods and :class:`RunOptions`, and hands
them to :func:`bench.runner.run_study`; nothing below it sees the parsed arguments.
"""
from __future__ import annotations

import argparse
import signal
import sys
import textwrap
from pathlib import Path

from bench.studies import get_study, studies, study_names
from bench.studies.base import RunOptions, Study


def parse_list(text: str | None, kind, name: str):
    """Parse a comma-separated option value: ``"500,5e4"`` → (500.0, 50000.0).

    Parameters
    ----------
    text : str or None
        The option's text; None (option not given) is returned as None.
    kind : type
        The type of each entry (``float``, ``int`` or ``str``); for ``int``, entries such as ``"5.0"`` are
        accepted when they are whole numbers.
    name : str
        The option's name without dashes, used in error messages.

    Returns
    -------
    tuple or None
        The entries converted by ``kind``, or None when ``text`` is None.

    Raises
    ------
    ValueError
        For an empty list or an entry that ``kind`` cannot convert.
    """
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


# option of `bench run`/`bench check` -> (preset field, how its text becomes the field's value)
PRESET_OPTIONS = {
    "doses": ("doses", lambda text: parse_list(text, float, "doses")),
    "thicknesses": ("thicknesses", lambda text: parse_list(text, int, "thicknesses")),
    "realisations": ("realisations", lambda value: value),
    "images": ("images", lambda value: value),
    "modalities": ("modalities", lambda text: parse_list(text, str, "modalities")),
    "estimator": ("estimator", lambda value: value),
    "recipe": ("thickness_series", lambda value: value),
    "frames": ("frames", lambda value: value),
}


def preset_overrides(study: Study, given: dict) -> dict:
    """Return the preset fields set by the options ``given``.

    Parameters
    ----------
    study : Study
        The study whose preset the options change.
    given : dict
        Option name (a key of :data:`PRESET_OPTIONS`) -> its command-line value, None when not given.

    Returns
    -------
    dict
        Preset field -> parsed value, for the options given.

    Raises
    ------
    ValueError
        For an option given that the study's preset does not have (the message says why and what to use).
    """
    fields = study.preset_fields()
    overrides = {}
    for option, value in given.items():
        if value is None:
            continue
        field, parse = PRESET_OPTIONS[option]
        if field not in fields:
            reason = study.refusals.get(option, "")
            raise ValueError(f"--{option} {value} does not apply to the {study.name} study" + (f": {reason}" if reason
                                                                                                else ""))
        overrides[field] = parse(value)
    return overrides


def build_methods(specs: list[str] | None, models: list[str] | None, device: str | None):
    """Build the methods to compare and a note on the default model.

    Every spec is validated here, and every checkpoint is loaded once, so that a damaged one fails before
    any task runs.

    Parameters
    ----------
    specs : list of str or None
        The ``--methods`` names; None (or empty) takes the default methods.
    models : list of str or None
        The ``--model`` names or ``.safetensors`` paths, added after ``specs``.
    device : str or None
        Where CNN methods run (torch spelling); None chooses automatically.

    Returns
    -------
    methods : list of Method
        The methods, in the order given.
    note : str or None
        Why a default method is missing, when the defaults are used and one is; else None.

    Raises
    ------
    ValueError
        For a pickled or unknown method, a method given twice, or a checkpoint that cannot be loaded.
    """
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


def check_workers(workers: int | None) -> None:
    """Check the ``--workers`` value.

    Parameters
    ----------
    workers : int or None
        Local worker processes; None means one per CPU core.

    Raises
    ------
    ValueError
        If ``workers`` is less than 1.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"--workers {workers}: give at least 1 worker process (1 runs in this process)")


def run_options(args: argparse.Namespace, on_task_done=None) -> RunOptions:
    """Return the :class:`RunOptions` of the parsed command line.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options (``scheduler``, ``workers``, ``quiet``).
    on_task_done : callable or None, optional
        Called with each stored task key.

    Returns
    -------
    RunOptions
        How the run is executed.
    """
    return RunOptions(scheduler=args.scheduler, workers=args.workers, progress=not args.quiet,
                      on_task_done=on_task_done)


def run_study(args: argparse.Namespace, *, on_task_done=None) -> Path:
    """Validate the options, then run (or resume) ``args.study``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``bench run`` options.
    on_task_done : callable or None, optional
        Called with each stored task key (tests stop a run part-way with it).

    Returns
    -------
    Path
        The results directory.
    """
    from bench.cli import check_device
    from bench.runner import default_output
    from bench.runner import run_study as run

    study = get_study(args.study)
    check_workers(args.workers)
    device = check_device(args.device)
    preset = study.configure(args.preset, **preset_overrides(study, {
        option: getattr(args, option, None) for option in PRESET_OPTIONS}))
    methods, note = build_methods(args.methods, args.model, device)
    for method in methods:
        if hasattr(method, "numeric_path"):
            print(f"{method.name}: {method.numeric_path().describe()}", file=sys.stderr)
    output = Path(args.output) if args.output else default_output(study, preset)
    return run(study, preset, methods, output, note=note, options=run_options(args, on_task_done),
               preset_given=args.preset is not None, command=" ".join(sys.argv))


def _handle(args: argparse.Namespace) -> int:
    # SIGTERM (a batch system's stop, `kill`) ends the run like Ctrl-C: the manifest says "interrupted"
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        output = run_study(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not args.no_report:
        from reports.html import write_report

        path = write_report(output, get_study(args.study).report)
        print(f"report: {path}")
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options shared by ``bench run`` and ``bench check``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The sub-command's parser.
    """
    parser.add_argument("--recipe", default=None, choices=("default", "coarse"),
                        help="the simulated bulk Pt [001] thickness series that the precision study cuts its "
                             "images from: 'default' = the shipped series, 0–75 atoms per column; 'coarse' = a "
                             "cheap, coarsely sampled series of 0–10 atoms for tests (simulated once, then "
                             "cached) (default: default)")
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


def _own_presets_text() -> str:
    own = [f"{study.name}: {', '.join(name for name in study.presets if name not in ('quick', 'paper'))}"
           for study in studies() if set(study.presets) - {"quick", "paper"}]
    return "; ".join(own) or "none"


def _studies_text() -> str:
    lines = ["studies (run time of the quick preset, from a fresh cache: docs/benchmarks.md, Quick presets):"]
    for study in studies():
        lines += textwrap.wrap(f"{study.description} [quick: {study.quick_run_time}]", width=100,
                               initial_indent=f"  {study.name:<18} ", subsequent_indent=" " * 21)
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bench run`` to the command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command collection of the ``bench`` parser.
    """
    from reports.html import ESTIMATORS

    parser = subparsers.add_parser(
        "run", help="run a quantitative study (resumable) and write its report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a quantitative study, e.g. `bench run precision-vs-dose` (paper Fig. 3). Work is split\n"
                    "into tasks stored as they finish; rerunning the same command resumes an interrupted run.\n"
                    "Every option, method and checkpoint is checked before any work starts.\n\n"
                    + _studies_text())
    parser.add_argument("study", metavar="STUDY", help="one of: " + ", ".join(study_names()))
    parser.add_argument("--preset", default=None,
                        help="quick (default; a subset sized for a laptop CPU), paper (the paper's full study) or "
                             "a study's own preset (" + _own_presets_text() + ")")
    parser.add_argument("--methods", type=lambda s: [x for x in s.split(",")], default=None,
                        help="comma-separated methods: raw (the measured image), bm3d, the self-supervised n2v2, "
                             "structn2v, n2n and hourglass (trained by the study on its noisy data, "
                             "docs/self_supervised.md), a model name (arch.tag) or "
                             "a .safetensors path, which may end in +fp32 or +bf16 to force its numeric path "
                             "(default auto: bf16 where native for weights whose `bench check-bf16` passed, else "
                             "float32; both in one run restore the same noise) (default: raw, bm3d and "
                             "the suite's default model when installed)")
    parser.add_argument("--model", action="append", metavar="NAME_OR_PATH",
                        help="add a registered model or .safetensors checkpoint to the methods (repeatable)")
    parser.add_argument("--estimator", choices=tuple(ESTIMATORS), default=None,
                        help="how the columns are fitted: least_squares (StatSTEM's; default) or poisson "
                             "(maximum likelihood, the efficient estimator for count images; precision-vs-dose "
                             "only). Least squares is biased by −5…−8 %% in SCS at 5·10² e⁻/Å² on raw data")
    parser.add_argument("--doses", help="comma-separated doses in e⁻/Å² (default: the preset's, 500,50000)")
    parser.add_argument("--thicknesses", help="comma-separated thicknesses in atoms per column")
    parser.add_argument("--realisations", type=int, help="noise realisations per point (≥ 2)")
    parser.add_argument("--images", type=int, help="denoise: validation pairs per modality; experimental: frames "
                                                   "taken from the start of --frames (quick: 2, paper: all)")
    parser.add_argument("--modalities", help="denoise: comma-separated modalities (hrstem, lrstem, hrtem, lrtem)")
    parser.add_argument("--frames", metavar="PATH",
                        help="experimental: measured frames, one image or a stack, any file `bench restore` reads "
                             "(e.g. tk_r_em's test_data/exp_hrstem.h5 from your own `pip download tk_r_em==1.0.4 "
                             "--no-deps --no-binary :all:`); read where it lies, never copied")
    parser.add_argument("--output", "-o", help="results directory (default results/STUDY-PRESET)")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    add_study_arguments(parser)
    parser.set_defaults(handler=_handle)
