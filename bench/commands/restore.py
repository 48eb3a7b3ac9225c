"""``bench restore INPUT… -o OUTPUT [--model NAME]``: restore images with a registered network.

Nothing is written until every input has been read and checked and every output name is known to be
free of clashes; a problem with any input is reported for every file at once, each message naming its
file. A file that fails while it is being restored (e.g. out of memory) does not stop the others; the
command ends with a summary and exits 1 when any file was not restored. Output names, with ``-o`` a
folder: ``NAME_restored.EXT`` in the input's folder mirrored below the inputs' common folder, EXT the input's
type (.tif for PNG and vendor inputs, --format when given); two inputs of one folder that would get the
same name keep their input type in it (``good_tif_restored.h5``, ``good_npy_restored.h5``).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

WRITABLE = (".tif", ".tiff", ".npy", ".h5", ".hdf5", ".png")
KEEP_TYPE = (".tif", ".tiff", ".npy", ".h5", ".hdf5")  # written back as the input's type by default
PNG_NOTE = ("PNG output is a 16-bit preview: the intensities are stretched to 0–65535 and the true range is "
            "kept only in text chunks that this suite reads back; use .tif (or .h5, .npy) for numbers")

DESCRIPTION = """\
Restore (S)TEM images of any size with a restoration network, piece by piece with seamless blending.
Inputs: .tif/.tiff, .png, .npy, .h5/.hdf5, and .dm3/.dm4/.emd/.ser with the 'io' extra; a file may hold
one image or a stack of frames (restored one by one). TIFF, HDF5 and NPY outputs hold the restored
intensities as float32 on the input's scale (counts stay counts); TIFF and HDF5 also hold the pixel size.
PNG is written only when asked for and is a preview: 16-bit, stretched to 0–65535 (the true range is in
text chunks that other viewers ignore).

Every input is checked before anything is written; colour images are refused (restoration needs one
intensity per pixel; --grey converts them). With several inputs, -o is a folder: each output is named
NAME_restored.EXT in the input's folder mirrored below the inputs' common folder; two inputs of one folder
that would get the same name keep their input type in it (good_tif_restored.h5). Exit status: 0 when
every file was restored, 1 when some were not (listed at the end), 2 for bad input (nothing written)."""


def register(subparsers) -> None:
    """Add ``bench restore`` to the command line.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The sub-command collection of the ``bench`` parser.
    """
    parser = subparsers.add_parser(
        "restore", help="restore (S)TEM images with a CGRDN model", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files (see above)")
    parser.add_argument("-o", "--output", required=True,
                        help="one input: the output file (its extension chooses the type) or a folder; several "
                             "inputs: a folder (created when missing). Never an input file")
    parser.add_argument("--model", default="cgrdn.hrstem_default",
                        help="the network: a name from `bench models list` or a .safetensors file (default: "
                             "%(default)s, the suite's own HR-STEM model: read docs/model_card_hrstem_default.md "
                             "for where it keeps and where it changes positions and SCS)")
    parser.add_argument("--tile", type=int, default=256,
                        help="side in pixels of the square pieces the image is restored in (even, ≥ 16); smaller "
                             "pieces need less memory, the result hardly changes (default: %(default)s)")
    parser.add_argument("--overlap", type=int, default=None,
                        help="pixels shared by neighbouring pieces, blended smoothly (even, smaller than --tile; "
                             "default: a quarter of --tile)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="pieces passed through the network at once; lower it if memory runs out "
                             "(default: %(default)s)")
    parser.add_argument("--device", default=None,
                        help="where the network runs: cpu, cuda, cuda:N or mps (default: the GPU when one is "
                             "usable, else the CPU)")
    parser.add_argument("--format", default=None,
                        help="type of the outputs when -o is a folder: tif, h5, npy or png (a preview) (default: "
                             "the input's type; .tif for PNG and microscope-vendor inputs)")
    parser.add_argument("--algorithm", choices=("auto", "direct", "winograd"), default="auto",
                        help="arithmetic of the network's many 3×3 filters on the CPU: 'winograd' computes the same "
                             "result (to float32 rounding) with fewer multiplications, faster on a CPU; 'direct' "
                             "is PyTorch's ordinary route (any device); 'auto' takes winograd on the CPU and direct "
                             "elsewhere (default: %(default)s)")
    parser.add_argument("--numeric", choices=("auto", "bf16", "fp32"), default="auto",
                        help="bf16 autocast or float32: 'auto' runs bf16 where it is native (AMX or AVX-512-BF16 "
                             "CPUs: 1.2-3x faster; GPUs since Ampere) for weights whose `bench check-bf16` passed, "
                             "float32 otherwise; 'bf16', 'fp32' force a path; the line 'numeric path: …' says "
                             "which ran and why (default: %(default)s)")
    parser.add_argument("--grey", action="store_true",
                        help="convert colour images (RGB, RGBA, palette) to grey, 0.299 R + 0.587 G + 0.114 B, "
                             "instead of refusing them; only for images that a program saved in colour (default: "
                             "refuse)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (default: a bar on stderr per file)")
    parser.set_defaults(handler=run)


# Checks that need no file ----------------------------------------------------------------------------------

def _extension(text: str) -> str:
    return text.lower() if text.startswith(".") else "." + text.lower()


def check_options(args) -> None:
    """Validate the numbers, the output type, the model name and the device before any file is read.

    Replaces ``args.device`` by its checked torch spelling.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``bench restore`` options.

    Raises
    ------
    ValueError
        For an odd or too small ``--tile`` (even, ≥ 16 px), a bad ``--overlap``, ``--batch-size`` < 1, an
        unwritable ``--format``, a pickled or unknown model, an unusable device, or Winograd off the CPU or
        with bf16; the message names the option.
    """
    from bench.cli import check_device, check_model_spec

    if args.tile < 16 or args.tile % 2:
        raise ValueError(f"--tile {args.tile}: must be an even number of pixels ≥ 16 (default 256)")
    if args.overlap is not None and (args.overlap < 0 or args.overlap % 2 or args.overlap >= args.tile):
        raise ValueError(f"--overlap {args.overlap}: must be even and smaller than --tile ({args.tile}); "
                         "leave it out for a quarter of the tile")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size}: must be ≥ 1")
    if args.format is not None and _extension(args.format) not in WRITABLE:
        raise ValueError(f"--format {args.format}: cannot be written; choose tif, h5, npy or png (a preview)")
    check_model_spec(args.model)
    if args.algorithm == "winograd" and args.device is not None and str(args.device).strip().lower() != "cpu":
        _refuse_winograd(args.device)
    args.device = check_device(args.device)
    _check_algorithm(args.algorithm, args.device)
    if args.algorithm == "winograd" and args.numeric == "bf16":
        raise ValueError("--algorithm winograd with --numeric bf16: the Winograd dense blocks run in float32 "
                         "only; use --numeric fp32 (or auto), or --algorithm direct")
    _check_model_exists(args.model)


def _check_model_exists(spec: str) -> None:
    """Resolve the model's weights file (not yet loading it): an unknown or missing model fails here."""
    from restore.registry import resolve_weights

    if spec.endswith(".safetensors"):
        if not Path(spec).expanduser().is_file():
            raise ValueError(f"--model {spec}: no such file")
    else:
        resolve_weights(spec)


def _refuse_winograd(device) -> None:
    raise ValueError(f"--algorithm winograd with device {str(device)!r}: the Winograd dense blocks run on "
                     "the CPU in float32 only; add --device cpu, or use --algorithm direct or auto")


def _check_algorithm(algorithm: str, device: str | None) -> None:
    """Refuse Winograd off the CPU before a model is loaded."""
    import torch

    if algorithm != "winograd":
        return
    chosen = torch.device(device if device is not None else "cuda" if torch.cuda.is_available() else "cpu")
    if chosen.type != "cpu":
        _refuse_winograd(chosen)


# Output names ---------------------------------------------------------------------------------------------

def output_paths(inputs: list[Path], output: Path, extension: str | None) -> list[Path]:
    """Return the output file of each input (see the module docstring).

    Parameters
    ----------
    inputs : list of Path
        The input image files.
    output : Path
        The ``-o`` argument: a file (one input only; its extension chooses the type) or a folder.
    extension : str or None
        The ``--format`` type (``tif``, ``.h5``, …) for outputs in a folder; None keeps the input's type
        (.tif for PNG and vendor inputs).

    Returns
    -------
    list of Path
        One output path per input, in the order of ``inputs``.

    Raises
    ------
    ValueError
        If an input is given twice, ``output`` names a file while there are several inputs, an output would
        be an input file, or two outputs would still coincide.
    """
    from restore.imageio import VENDOR

    resolved = [p.resolve() for p in inputs]
    twice = sorted({str(p) for p, r in zip(inputs, resolved) if resolved.count(r) > 1})
    if twice:
        raise ValueError(f"input(s) {', '.join(twice)} given twice; list each file once")
    to_file = len(inputs) == 1 and not output.is_dir() and output.suffix != ""
    if len(inputs) > 1 and (output.is_file() or output.suffix.lower() in (*WRITABLE, *VENDOR)):
        raise ValueError(f"-o {output} names a file, but {len(inputs)} inputs need a folder: give a folder "
                         "(e.g. -o restored/), or restore one file at a time")
    if to_file:
        if output.suffix.lower() not in WRITABLE:
            raise ValueError(f"-o {output}: {output.suffix} cannot be written; use .tif, .h5, .npy or .png (a "
                             "preview), or give a folder")
        paths = [output]
    else:
        common = Path(os.path.commonpath([str(r.parent) for r in resolved]))

        def name(source: Path, keep_type: bool) -> Path:
            suffix = _extension(extension) if extension else (
                source.suffix.lower() if source.suffix.lower() in KEEP_TYPE else ".tif")
            stem = f"{source.stem}_{source.suffix.lower().lstrip('.')}" if keep_type else source.stem
            return output / source.parent.relative_to(common) / f"{stem}_restored{suffix}"

        paths = [name(r, False) for r in resolved]
        clashing = {p for p in paths if paths.count(p) > 1}
        paths = [name(r, True) if p in clashing else p for r, p in zip(resolved, paths)]
    for path in paths:
        if path.resolve() in resolved:
            raise ValueError(f"output {path} is also an input file; restoring it would overwrite it: choose "
                             "another output")
    clashing = sorted({str(p) for p in paths if paths.count(p) > 1})
    if clashing:
        raise ValueError(f"several inputs would be written to {', '.join(clashing)}; rename an input or restore "
                         "them into separate folders")
    return paths


# Reading and checking the inputs ---------------------------------------------------------------------------

def check_inputs(inputs: list[Path], grey: bool) -> list[tuple[int, ...]]:
    """Read and check every input (readable, grey, sides ≥ 8 px, finite); return their shapes.

    Parameters
    ----------
    inputs : list of Path
        The input image files.
    grey : bool
        Convert colour images to grey instead of refusing them (``--grey``).

    Returns
    -------
    list of tuple of int
        The array shape of each input, ``(height, width)`` or ``(frames, height, width)``.

    Raises
    ------
    ValueError
        Listing every input that cannot be restored, each line starting with its path.
    """
    import numpy as np

    from restore.imageio import read_image
    from restore.inference import MIN_SIDE

    shapes, problems = [], []
    for path in inputs:
        try:
            data = read_image(path, grey=grey).data
        except (ValueError, FileNotFoundError) as error:
            message = str(error)
            problems.append(message if message.startswith(str(path)) else f"{path}: {message}")
            shapes.append(())
            continue
        height, width = data.shape[-2:]
        if min(height, width) < MIN_SIDE:
            problems.append(f"{path}: {height} × {width} px; each side needs ≥ {MIN_SIDE} px to be restored")
        elif not np.isfinite(data).all():
            bad = int(data.size - np.isfinite(data).sum())
            problems.append(f"{path}: {bad} NaN or infinite pixels; replace them (e.g. by the local mean) first")
        shapes.append(tuple(data.shape))
    if problems:
        raise ValueError(f"{len(problems)} of {len(inputs)} inputs cannot be restored; nothing was written:\n  "
                         + "\n  ".join(problems))
    return shapes


# Progress --------------------------------------------------------------------------------------------------

class TileProgress:
    """A tqdm bar on stderr counting restored tiles.

    A global forward hook on every module counts the batches of the network itself (or of its Winograd
    evaluation), so that :mod:`restore.inference` needs no callback. Use it as a context manager.

    Parameters
    ----------
    model : torch.nn.Module
        The restoration network whose forward calls are counted.
    total : int
        The number of tiles expected (all frames of the file).
    description : str
        The label of the bar (the input file's name).
    disable : bool
        Hide the bar (``--quiet``).
    """

    def __init__(self, model, total: int, description: str, disable: bool):
        from tqdm.auto import tqdm

        self.model = model
        self.bar = tqdm(total=total, desc=description, unit="tile", disable=disable, leave=True)
        self.handle = None

    def _hook(self, module, inputs, output) -> None:
        from restore.winograd import WinogradCGRDN

        if module is self.model or isinstance(module, WinogradCGRDN):
            self.bar.update(int(output.shape[0]))

    def __enter__(self):
        """Register the forward hook.

        Returns
        -------
        TileProgress
            This object.
        """
        from torch.nn.modules.module import register_module_forward_hook

        self.handle = register_module_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        """Remove the forward hook and close the bar.

        Parameters
        ----------
        *exc
            The exception type, value and traceback (ignored; exceptions propagate).
        """
        self.handle.remove()
        self.bar.close()


# The command ---------------------------------------------------------------------------------------------

def _load_model(spec: str):
    from restore.registry import load_registered_model

    try:
        return load_registered_model(spec)
    except (ValueError, FileNotFoundError):
        raise
    except Exception as error:  # a damaged safetensors file raises the library's own errors
        raise ValueError(f"--model {spec}: cannot be loaded ({type(error).__name__}: {error})") from error


def run(args) -> int:
    """Run ``bench restore``: check everything, then restore each input and write its output.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``bench restore`` options.

    Returns
    -------
    int
        The exit status: 0 when every file was restored, 1 when some were not (listed on stderr).

    Raises
    ------
    ValueError
        For a bad option, output name or input, before anything is written.
    """
    from restore import inference
    from restore.imageio import read_image, write_image

    check_options(args)
    inputs = [Path(p) for p in args.inputs]
    outputs = output_paths(inputs, Path(args.output), args.format)
    shapes = check_inputs(inputs, args.grey)
    model, sidecar = _load_model(args.model)
    label = sidecar.get("name", args.model)
    path = inference.numeric_path_for(args.numeric, args.device, args.algorithm, bf16_check=model.bf16_check)
    print(f"bench restore: {path.describe()}")
    overlap = args.tile // 4 if args.overlap is None else args.overlap
    restored, failed = [], []
    for source, destination, shape in zip(inputs, outputs, shapes):
        frames = shape[0] if len(shape) == 3 else 1
        try:
            image = read_image(source, grey=args.grey)
            total = frames * inference.tiles_needed(shape[-2:], args.tile, overlap)
            with TileProgress(model, total, source.name, args.quiet):
                result = inference.restore_image(image.data, model, tile=args.tile, overlap=args.overlap,
                                                 batch_size=args.batch_size, device=args.device,
                                                 numeric=args.numeric, algorithm=args.algorithm)
            destination.parent.mkdir(parents=True, exist_ok=True)
            write_image(destination, result, pixel_size_A=image.pixel_size_A)
        except Exception as error:  # noqa: BLE001 - one file's failure must not stop the others
            failed.append((source, f"{type(error).__name__}: {error}"))
            print(f"{source}: not restored ({type(error).__name__}: {error})", file=sys.stderr)
            continue
        restored.append(source)
        print(f"{source} -> {destination} ({label})")
        if destination.suffix.lower() == ".png":
            print(f"  note: {PNG_NOTE}")
    return _summarise(inputs, restored, failed)


def _summarise(inputs, restored, failed) -> int:
    if len(inputs) > 1 or failed:
        print(f"bench restore: restored {len(restored)} of {len(inputs)} files")
    if failed:
        print(f"bench restore: {len(failed)} not restored:", file=sys.stderr)
        for source, reason in failed:
            print(f"  {source}: {reason}", file=sys.stderr)
        return 1
    return 0
