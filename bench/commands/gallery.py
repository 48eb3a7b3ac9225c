"""``bench gallery KIND``: write figures that let a person look at the simulation models.

KIND selects the gallery; each kind is one entry of :data:`GALLERIES` (name -> (help, handler)), so a
new kind is added by registering one more function there.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable


def _distortions(args: argparse.Namespace) -> int:
    from simulate.distortions.gallery import make_distortion_gallery

    for path in make_distortion_gallery(args.output, seed=args.seed):
        print(path)
    return 0


def _pairs(args: argparse.Namespace) -> int:
    from simulate.synthetic.gallery import make_pair_gallery

    for path in make_pair_gallery(args.output, seed=args.seed):
        print(path)
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from pathlib import Path

    from _shared.files import write_bytes_atomic
    from bench.synthetic_coverage import coverage_figure, coverage_table, study_values, training_values

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    studies = study_values()
    training = training_values(args.pairs, seed=args.seed, modality=args.modality, progress=True)
    table = coverage_table(training, studies)
    for name, frame in (("synthetic_training_values.csv", training), ("synthetic_study_values.csv", studies),
                        ("synthetic_coverage.csv", table)):
        write_bytes_atomic(out / name, frame.to_csv(index=False).encode(), mode=0o644)
        print(out / name)
    print(coverage_figure(training, studies, out / "synthetic_coverage.png",
                          title=f"{args.modality}: {args.pairs} training pairs (grey, seed {args.seed}) and the "
                                "values the benchmark studies use (lines)"))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


GALLERIES: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "distortions": ("every detector-noise, scan and post-processing distortion, one panel each", _distortions),
    "pairs": ("six random synthetic training pairs (x above y) per modality", _pairs),
    "synthetic": ("the sampled distortion parameters of the training pairs beside the values the benchmark "
                  "studies use (counts per pixel, jitter, fast-scan PSF and lag, PMT, pixel size, thickness)",
                  _synthetic),
}


def _run(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0; got {args.seed}.")
    if args.pairs < 1:
        raise ValueError(f"--pairs must be >= 1; got {args.pairs}.")
    return GALLERIES[args.kind][1](args)


def register(subparsers) -> None:
    """Add ``bench gallery`` to the command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command collection of the ``bench`` parser.
    """
    kinds = "; ".join(f"{name}: {text}" for name, (text, _) in GALLERIES.items())
    parser = subparsers.add_parser("gallery", help="write gallery figures of the simulation models",
                                   description=f"Write gallery figures. Kinds: {kinds}.")
    parser.add_argument("kind", choices=sorted(GALLERIES), metavar="KIND", help=f"which gallery ({kinds})")
    parser.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--pairs", type=int, default=400,
                        help="synthetic: training pairs drawn for the histograms (default 400, ≈ 40 s)")
    parser.add_argument("--modality", default="hrstem",
                        help="synthetic: modality of the pairs (default hrstem)")
    parser.set_defaults(handler=_run)
