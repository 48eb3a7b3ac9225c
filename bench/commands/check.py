"""``bench check --model NAME_OR_PATH [--baseline NAME]``: fail when a model is quantitatively worse.

Runs the quick precision-vs-dose study for the candidate and the baseline on the same noise realisations
(or reads an existing results directory with ``--results``) and exits non-zero with a table of what
regressed: position or SCS accuracy (RMSE, bias) or precision worse beyond its 95 % interval.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def _default_baseline() -> str:
    from bench.methods import DEFAULT_MODEL
    from restore.registry import weights_path

    return DEFAULT_MODEL if weights_path(DEFAULT_MODEL) is not None else "raw"


def _handle(args: argparse.Namespace) -> int:
    import pandas as pd

    from bench.check import compare_methods
    from bench.tasks import ResultStore, write_bytes_atomic

    baseline = args.baseline or _default_baseline()
    if args.results:
        store = ResultStore.load(Path(args.results))
        candidate_name = args.model
        baseline_name = baseline
        if store.manifest.get("study") != "precision-vs-dose":
            raise ValueError(f"{args.results} holds the study {store.manifest.get('study')!r}; bench check reads "
                             "precision-vs-dose results")
    else:
        from bench.commands.run import build_methods, run_precision_vs_dose

        methods, _ = build_methods([baseline, args.model], None, args.device)
        baseline_name, candidate_name = methods[0].name, methods[1].name
        args.output = args.output or str(Path("results") / f"check-{candidate_name}-vs-{baseline_name}")
        args.preset, args.preset_given = "quick", True
        args.doses, args.thicknesses = args.doses, args.thicknesses
        output = run_precision_vs_dose(args, methods=methods)
        store = ResultStore.load(output)
    table = compare_methods(store.read_table("realisations"), candidate_name, baseline_name,
                            tolerance=args.tolerance)
    path = store.directory / f"check_{candidate_name}_vs_{baseline_name}.csv"
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
        description="Run the quick precision-vs-dose study for a model and a baseline (same noise realisations) "
                    "and exit 1 with a table when position/SCS accuracy or precision regressed beyond the 95 % "
                    "interval.")
    parser.add_argument("--model", required=True, metavar="NAME_OR_PATH",
                        help="candidate: a registered model, a .safetensors path, or raw/bm3d")
    parser.add_argument("--baseline", metavar="NAME",
                        help="baseline method (default: the suite's default model when installed, else raw)")
    parser.add_argument("--results", metavar="DIR",
                        help="compare the two methods in an existing precision-vs-dose results directory instead")
    parser.add_argument("--output", "-o", help="results directory of the check run (default results/check-…)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="relative worsening tolerated even when significant (default 0.05)")
    parser.add_argument("--doses", help="comma-separated doses in e⁻/Å² (default: the quick preset's)")
    parser.add_argument("--thicknesses", help="comma-separated thicknesses (default: the quick preset's)")
    parser.add_argument("--realisations", type=int, help="noise realisations per point")
    add_study_arguments(parser)
    parser.set_defaults(handler=_handle)
