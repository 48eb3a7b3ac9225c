"""``bench run STUDY``: the quantitative studies.

Until the study harness lands, ``precision-vs-dose`` runs its simulation step: it loads the shipped
(embedded default) Pt [001] thickness series, checks its provenance and prints what the study will fit.
"""
from __future__ import annotations

import argparse

STUDIES = ("precision-vs-dose",)


def _handle(args: argparse.Namespace) -> int:
    if args.study not in STUDIES:
        raise ValueError(f"unknown study {args.study!r}; available: {', '.join(STUDIES)}")
    from simulate.thickness_series import load_embedded_default

    series = load_embedded_default()
    meta = series.metadata
    print("bench run precision-vs-dose: the fitting/restoration study is not implemented yet; "
          "running its simulation step on the shipped data.")
    print(f"  data: {series.recipe.name} (abTEM {meta.get('versions', {}).get('abtem')}, "
          f"{series.configuration_intensities.shape[0]} phonon configurations, "
          f"simulated in {meta.get('wall_time_s')} s)")
    print(f"  {series.images.shape[1]}×{series.images.shape[2]} px per unit cell, pixel "
          f"{series.pixel_size_angstrom:.4f} Å; thicknesses 0–{series.atoms_per_column[-1]} atoms/column")
    scs, error = series.scs_angstrom2, series.scs_standard_error_angstrom2
    print("  atoms  SCS [Å²]   standard error [Å²]")
    for atoms in (2, 5, 10, 20, 40, 75):
        if atoms < len(scs):
            print(f"  {atoms:5d}  {scs[atoms]:.5f}    {error[atoms]:.5f}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run a quantitative study",
                                   description="Run a quantitative study (precision-vs-dose, ...).")
    parser.add_argument("study", metavar="STUDY", help=f"one of: {', '.join(STUDIES)}")
    parser.set_defaults(handler=_handle)
