"""Entry point of the ``bench`` console script.

Each sub-command lives in its own module under :mod:`bench.commands` and exposes
``register(subparsers)``; heavy imports happen inside the command handlers so that
``bench --help`` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from bench import __version__
from bench import commands as _commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description=(
            "Quantitative STEM restoration benchmarks: simulate Pt HAADF images with abTEM, restore "
            "them (raw, BM3D, CNN) and measure positions, scattering cross sections and atom counts."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{_commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("bench: interrupted; finished work is kept and a rerun resumes it.", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as error:
        print(f"bench {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
