"""``bench check --model NAME_OR_PATH [--baseline NAME]``: fail when a model is quantitatively worse.

Runs the quick preset of every study that has a regression gate (:attr:`bench.studies.base.Study.gate`:
precision-vs-dose and atom-counting) for the candidate and the baseline on the same noise realisations (or
reads existing results directories with ``--results`` / ``--counting-results``) and exits non-zero with a
table of what regressed: position or SCS accuracy (RMSE, bias), precision, or counting accuracy (fraction
of miscounted columns, library matching) worse beyond its 95 % interval. ``--studies`` picks some of them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.studies import get_study, studies


def gated_studies() -> list:
    """Return the registered studies with a regression gate, in the paper's order.

    Returns
    -------
    list of bench.studies.base.Study
        The studies whose ``gate`` is not None.
    """
    return [study for study in studies() if study.gate is not None]


def _default_baseline() -> str:
    from bench.methods import DEFAULT_MODEL
    from restore.registry import weights_path

    return DEFAULT_MODEL if weights_path(DEFAULT_MODEL) is not None else "raw"


def _load(directory: str, study: str, option: str):
    from _shared.results import ResultStore

    store = ResultStore.load(Path(directory))
    if store.study != study:
        raise ValueError(f"{option} {directory} holds the study {store.study!r}; it must hold {study} results")
    return store


def parse_studies(text: str | None) -> tuple[str, ...]:
    """Parse ``--studies`` into the gated studies to run.

    Parameters
    ----------
    text : str or None
        Comma-separated study names; None selects every gated study.

    Returns
    -------
    tuple of str
        The chosen study names, in the paper's order.

    Raises
    ------
    ValueError
        For an empty list or a name that is not a gated study.
    """
    names = tuple(study.name for study in gated_studies())
    if text is None:
        return names
    chosen = tuple(item.strip() for item in text.split(",") if item.strip())
    unknown = sorted(set(chosen) - set(names))
    if not chosen or unknown:
        raise ValueError(f"--studies {text!r}: give a comma-separated subset of {', '.join(names)}")
    return tuple(name for name in names if name in chosen)


def _run_studies(args: argparse.Namespace, baseline: str, device: str | None):
    """Run the quick preset of the chosen gated studies for both methods; return (stores, candidate, baseline,
    the check's directory)."""
    from _shared.results import ResultStore
    from bench.commands.run import PRESET_OPTIONS, build_methods, run_options
    from bench.runner import run_study

    chosen = parse_studies(args.studies)
    methods, _ = build_methods([baseline, args.model], None, device)
    baseline_name, candidate_name = methods[0].name, methods[1].name
    root = Path(args.output or Path("results") / f"check-{candidate_name}-vs-{baseline_name}")
    given = {option: getattr(args, option, None) for option in ("doses", "thicknesses", "realisations", "recipe")}
    stores = []
    for name in chosen:
        study = get_study(name)
        fields = study.preset_fields()
        # --doses and --realisations apply to every gated study; --thicknesses and --recipe where they exist
        overrides = {PRESET_OPTIONS[o][0]: PRESET_OPTIONS[o][1](v) for o, v in given.items()
                     if v is not None and PRESET_OPTIONS[o][0] in fields}
        preset = study.configure("quick", **overrides)
        output = run_study(study, preset, methods, root / study.name, options=run_options(args),
                           command=" ".join(sys.argv))
        stores.append(ResultStore.load(output))
    return stores, candidate_name, baseline_name, root


def _handle(args: argparse.Namespace) -> int:
    import pandas as pd

    from _shared.files import write_bytes_atomic
    from bench.cli import check_device, check_model_spec
    from bench.commands.run import check_workers

    check_model_spec(args.model, option="--model")
    if args.baseline:
        check_model_spec(args.baseline, option="--baseline")
    check_workers(args.workers)
    device = check_device(args.device)
    baseline = args.baseline or _default_baseline()
    if (args.results or args.counting_results) and args.studies is not None:
        raise ValueError("--studies chooses the studies to run; with --results/--counting-results the directories "
                         "given are compared")
    if args.results or args.counting_results:
        stores = []
        if args.results:
            stores.append(_load(args.results, "precision-vs-dose", "--results"))
        if args.counting_results:
            stores.append(_load(args.counting_results, "atom-counting", "--counting-results"))
        candidate_name, baseline_name = args.model, baseline
        table_directory = stores[0].directory
    else:
        stores, candidate_name, baseline_name, table_directory = _run_studies(args, baseline, device)
    tables = [get_study(store.study).gate.compare(store.read_table("realisations"), candidate_name, baseline_name,
                                                  tolerance=args.tolerance) for store in stores]
    table = pd.concat(tables, ignore_index=True)
    path = table_directory / f"check_{candidate_name}_vs_{baseline_name}.csv"
    write_bytes_atomic(path, table.to_csv(index=False).encode())
    regressed = table[table["regressed"]]
    with pd.option_context("display.width", 200, "display.float_format", "{:.3g}".format):
        if regressed.empty:
            print(f"bench check: PASS — {candidate_name} is not worse than {baseline_name} beyond the 95 % "
                  f"intervals (tolerance {args.tolerance:.0%}) on {len(table)} comparisons; table: {path}")
            return 0
        print(f"bench check: FAIL — {candidate_name} is worse than {baseline_name} in {len(regressed)} of "
              f"{len(table)} comparisons (95 % paired bootstrap, tolerance {args.tolerance:.0%}):")
        print(regressed.drop(columns="regressed").to_string(index=False))
        print(f"full table: {path}")
    return 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bench check`` to the command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command collection of the ``bench`` parser.
    """
    from bench.commands.run import add_study_arguments

    gated = gated_studies()
    parser = subparsers.add_parser(
        "check", help="gate a model: fail if it is quantitatively worse than a baseline",
        description="Run the quick " + " and ".join(s.name for s in gated) + " studies for a model and a baseline "
                    "(same noise realisations) and exit 1 with a table when any gated metric regressed beyond the "
                    "95 % interval: " + "; ".join(f"{s.name}: {s.gate.what}" for s in gated) + ".")
    parser.add_argument("--model", required=True, metavar="NAME_OR_PATH",
                        help="candidate: a registered model, a .safetensors path, or raw/bm3d")
    parser.add_argument("--baseline", metavar="NAME",
                        help="baseline method (default: the suite's default model when installed, else raw)")
    parser.add_argument("--results", metavar="DIR",
                        help="compare the two methods in an existing precision-vs-dose results directory instead "
                             "of running the studies")
    parser.add_argument("--counting-results", metavar="DIR",
                        help="compare the two methods' counting accuracy in an existing atom-counting results "
                             "directory instead of running the studies (combinable with --results)")
    parser.add_argument("--studies", metavar="LIST",
                        help="comma-separated studies to run: " + ", ".join(s.name for s in gated)
                             + " (default all)")
    parser.add_argument("--output", "-o",
                        help="directory of the check run, holding one folder per study (default results/check-…)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="relative worsening tolerated even when significant (default 0.05)")
    parser.add_argument("--doses",
                        help="comma-separated doses in e⁻/Å² for every study (default: the quick presets')")
    parser.add_argument("--thicknesses", help="comma-separated thicknesses (default: the quick preset's)")
    parser.add_argument("--realisations", type=int, help="noise realisations per point, every study")
    add_study_arguments(parser)
    parser.set_defaults(handler=_handle)
