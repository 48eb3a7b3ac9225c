"""``bench report RESULTS_DIR``: paper-style figures (PNG, PDF) and a self-contained HTML report."""
from __future__ import annotations

import argparse


def _handle(args: argparse.Namespace) -> int:
    from _shared.results import ResultStore
    from bench.studies import get_study
    from reports.html import write_report
    from reports.spec import GENERIC

    study = ResultStore.load(args.results).study
    try:
        spec = get_study(study).report
    except ValueError:  # a study this version does not know: its table and provenance, without figures
        spec = GENERIC
    path = write_report(args.results, spec, args.output)
    print(f"report: {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``bench report`` to the command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command collection of the ``bench`` parser.
    """
    parser = subparsers.add_parser(
        "report", help="write figures and an HTML report of a results directory",
        description="Write paper-style figures (PNG and PDF) and one self-contained HTML report (tables, "
                    "embedded figures, provenance) from a results directory of `bench run`.")
    parser.add_argument("results", metavar="RESULTS_DIR", help="results directory written by `bench run`")
    parser.add_argument("--output", "-o", default=None, help="output folder (default RESULTS_DIR/report)")
    parser.set_defaults(handler=_handle)
