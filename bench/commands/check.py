"""``bench check --model NAME_OR_PATH [--baseline NAME]``: fail when a model is quantitatively worse.

Runs the quick precision-vs-dose and atom-counting studies for the candidate and the baseline on the same
noise realisations (or reads existing results directories with ``--results`` / ``--counting-results``) and
exits non-zero with a table of what regressed: position or SCS accuracy (RMSE, bias), precision, or
counting accuracy (fraction of miscounted columns, library matching) worse beyond its 95 % interval.
``--studies`` picks one of the two studies.
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path


def _default_baseline() -> str:
    from bench.methods import DEFAULT_MODEL
    from restore.registry import weights_path

    return DEFAULT_MODEL if weights_path(DEFAULT_MODEL) is not None else "raw"


def _load(directory: str, study: str, option: str):
    from _shared.results import ResultStore

    store = ResultStore.load(Path(directory))
    if store.manifest.get("study") != study:
        raise ValueError(f"{option} {directory} holds the study {store.manifest.get('study')!r}; it must hold "
                         f"{study} results")
    return store


STUDIES = ("precision-vs-dose", "atom-counting")


def parse_studies(text: str | None) -> tuple[str, ...]:
    """``--studies`` → the studies to run (default both); ValueError for an unknown or empty list."""
    if text is None:
        return STUDIES
    chosen = tuple(item.strip() for item in text.split(",") if item.strip())
    unknown = sorted(set(chosen) - set(STUDIES))
    if not chosen or unknown:
        raise ValueError(f"--studies {text!r}: give a comma-separated subset of {', '.join(STUDIES)}")
    return tuple(study for study in STUDIES if study in chosen)


def _run_studies(args: argparse.Namespace, baseline: str):
    """Run the quick precision-vs-dose and/or atom-counting studies; return (stores, candidate, baseline)."""
    from bench.commands.run import build_methods, run_atom_counting, run_precision_vs_dose
    from _shared.results import ResultStore

    studies = parse_studies(args.studies)
    methods, _ = build_methods([baseline, args.model], None, args.device)
    baseline_name, candidate_name = methods[0].name, methods[1].name
    root = Path(args.output or Path("results") / f"check-{candidate_name}-vs-{baseline_name}")
    precision_args = copy.copy(args)
    precision_args.output = str(root / "precision-vs-dose")
    precision_args.preset, precision_args.preset_given = "quick", True
    counting_args = copy.copy(precision_args)
    # the counting study has one particle, no thickness list; --doses and --realisations apply to both
    counting_args.output, counting_args.thicknesses = str(root / "atom-counting"), None
    counting_args.images = counting_args.modalities = None
    stores = []
    if "precision-vs-dose" in studies:
        stores.append(ResultStore.load(run_precision_vs_dose(precision_args, methods=methods)))
    if "atom-counting" in studies:
        stores.append(ResultStore.load(run_atom_counting(counting_args, methods=methods)))
    return stores, candidate_name, baseline_name, root


def _handle(args: argparse.Namespace) -> int:
    import pandas as pd

    from bench.check import compare_counting, compare_methods
    from _shared.files import write_bytes_atomic

    from bench.cli import check_device, check_model_spec

    check_model_spec(args.model, option="--model")
    if args.baseline:
        check_model_spec(args.baseline, option="--baseline")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers {args.workers}: give at least 1 worker process (1 runs in this process)")
    args.device = check_device(args.device)
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
        stores, candidate_name, baseline_name, table_directory = _run_studies(args, baseline)
    tables = []
    for store in stores:
        compare = compare_methods if store.manifest.get("study") == "precision-vs-dose" else compare_counting
        tables.append(compare(store.read_table("realisations"), candidate_name, baseline_name,
                              tolerance=args.tolerance))
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
    from bench.commands.run import add_study_arguments

    parser = subparsers.add_parser(
        "check", help="gate a model: fail if it is quantitatively worse than a baseline",
        description="Run the quick precision-vs-dose and atom-counting studies for a model and a baseline (same "
                    "noise realisations) and exit 1 with a table when position/SCS accuracy, precision or "
                    "counting accuracy regressed beyond the 95 % interval.")
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
                        help="comma-separated studies to run: precision-vs-dose, atom-counting (default both)")
    parser.add_argument("--output", "-o",
                        help="directory of the check run, holding precision-vs-dose/ and atom-counting/ "
                             "(default results/check-…)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="relative worsening tolerated even when significant (default 0.05)")
    parser.add_argument("--doses",
                        help="comma-separated doses in e⁻/Å² for both studies (default: the quick presets')")
    parser.add_argument("--thicknesses", help="comma-separated thicknesses (default: the quick preset's)")
    parser.add_argument("--realisations", type=int, help="noise realisations per point, both studies")
    add_study_arguments(parser)
    parser.set_defaults(handler=_handle)
