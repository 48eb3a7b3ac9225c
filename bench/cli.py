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
from pathlib import Path

from _shared.model_spec import split_numeric
from bench import __version__
from bench import commands as _commands

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar", ".joblib")


def check_device(device: str | None, option: str = "--device") -> str | None:
    """Validate a torch device name before any work starts; None (the automatic choice) passes.

    Parameters
    ----------
    device : str or None
        The device name given on the command line (``cpu``, ``cuda``, ``cuda:N``, ``mps``), or None for the
        automatic choice.
    option : str, default "--device"
        The command-line option the name came from, used in error messages.

    Returns
    -------
    str or None
        The device in torch's spelling (``cuda:0``), or None.

    Raises
    ------
    ValueError
        For a name torch does not know, a CUDA device on a machine without a usable one (or a GPU index
        past the last GPU), or MPS where it is not available. The message says what to use instead.
    """
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(str(device))
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"{option} {device!r} is not a device name; use cpu, cuda, cuda:N (the N-th GPU) or mps, "
                         "or leave it out to use a GPU when there is one") from error
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = (f"a CUDA {torch.version.cuda} build, but no GPU is visible" if torch.version.cuda
                     else "a build without CUDA")
            raise ValueError(f"{option} {device}: no usable CUDA GPU on this machine (torch {torch.__version__} is "
                             f"{build}); use --device cpu, or leave --device out")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"{option} {device}: this machine has {count} CUDA GPU(s), numbered 0–{count - 1}")
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{option} {device}: Apple's MPS is not available here; use --device cpu")
    elif parsed.type != "cpu":
        raise ValueError(f"{option} {device}: device type {parsed.type!r} is not supported; use cpu, cuda or mps")
    return str(parsed)


def check_model_spec(spec: str, option: str = "--model") -> str:
    """Refuse a checkpoint that is not a ``.safetensors`` file before anything is loaded.

    A registry name (``arch.tag``) or a ``.safetensors`` path passes unchanged, with or without a numeric
    suffix (``+auto``, ``+bf16``, ``+fp32``); whether it exists is checked when it is resolved.

    Parameters
    ----------
    spec : str
        The model given on the command line: a registry name or a checkpoint path, optionally with a
        ``+auto``/``+bf16``/``+fp32`` suffix.
    option : str, default "--model"
        The command-line option the spec came from, used in error messages.

    Returns
    -------
    str
        ``spec`` as a string, unchanged.

    Raises
    ------
    ValueError
        For a pickled checkpoint (.pt, .pth, .ckpt, …), any other existing file or path that is not
        ``.safetensors``, or an unknown numeric suffix.
    """
    text = str(spec)
    path = Path(split_numeric(text)[0]).expanduser()
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return text
    if suffix in PICKLE_SUFFIXES or "/" in text or "\\" in text or path.is_file():
        raise ValueError(f"{option} {text}: only .safetensors checkpoints are loaded (no pickle): loading a pickled "
                         ".pt/.pth/.ckpt file can run arbitrary code. Give a registered name (`bench models "
                         "list`) or a .safetensors file with its .json sidecar (restore.checkpoint.save_model "
                         "writes both)")
    return text


def build_parser() -> argparse.ArgumentParser:
    """Build the ``bench`` argument parser with every sub-command of :mod:`bench.commands` registered.

    Returns
    -------
    argparse.ArgumentParser
        The top-level parser; each sub-parser sets ``handler`` to its command function.
    """
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
    """Parse the command line and run the chosen sub-command.

    Parameters
    ----------
    argv : list of str or None, optional
        The arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        The exit status: the handler's (0 when it returns None), 2 when no command is given or the command
        fails with ValueError or FileNotFoundError (the message goes to stderr), 130 on Ctrl-C.
    """
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
