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


GALLERIES: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "distortions": ("every detector-noise, scan and post-processing distortion, one panel each", _distortions),
    "pairs": ("six random synthetic training pairs (x above y) per modality", _pairs),
}


def _run(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0; got {args.seed}.")
    return GALLERIES[args.kind][1](args)


def register(subparsers) -> None:
    kinds = "; ".join(f"{name}: {text}" for name, (text, _) in GALLERIES.items())
    parser = subparsers.add_parser("gallery", help="write gallery figures of the simulation models",
                                   description=f"Write gallery figures. Kinds: {kinds}.")
    parser.add_argument("kind", choices=sorted(GALLERIES), metavar="KIND", help=f"which gallery ({kinds})")
    parser.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(handler=_run)
