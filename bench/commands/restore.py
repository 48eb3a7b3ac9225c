"""``bench restore INPUT… -o OUTPUT --model NAME``: restore images with a registered network."""
from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "restore", help="restore (S)TEM images with a CGRDN model",
        description="Restore images of any size by overlapping tiles (.tif/.png/.npy/.h5; .dm3/.dm4/.emd/.ser "
                    "with the 'io' extra). The output keeps the intensity scale and the pixel calibration.")
    parser.add_argument("inputs", nargs="+", help="input image files")
    parser.add_argument("-o", "--output", required=True,
                        help="output file (one input) or directory (several inputs; written as NAME_restored.EXT)")
    parser.add_argument("--model", default="cgrdn.hrstem_default",
                        help="registry name (see `bench models list`) or a .safetensors path")
    parser.add_argument("--tile", type=int, default=256, help="tile side in pixels (even)")
    parser.add_argument("--overlap", type=int, default=None, help="tile overlap in pixels (default tile/4)")
    parser.add_argument("--batch-size", type=int, default=8, help="tiles per forward pass")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available, else CPU)")
    parser.add_argument("--format", default=None, help="output extension for directory output (default: input's)")
    parser.set_defaults(handler=run)


def _output_paths(inputs: list[Path], output: Path, extension: str | None) -> list[Path]:
    writable = {".tif", ".tiff", ".png", ".npy", ".h5", ".hdf5"}
    if len(inputs) == 1 and output.suffix:
        return [output]
    paths = []
    for path in inputs:
        suffix = extension or (path.suffix if path.suffix.lower() in writable else ".tif")
        paths.append(output / f"{path.stem}_restored{suffix if suffix.startswith('.') else '.' + suffix}")
    return paths


def run(args) -> int:
    from restore.imageio import read_image, write_image
    from restore.inference import restore_image
    from restore.registry import load_registered_model

    inputs = [Path(p) for p in args.inputs]
    model, sidecar = load_registered_model(args.model)
    outputs = _output_paths(inputs, Path(args.output), args.format)
    for source, destination in zip(inputs, outputs):
        image = read_image(source)
        restored = restore_image(image.data, model, tile=args.tile, overlap=args.overlap,
                                 batch_size=args.batch_size, device=args.device)
        write_image(destination, restored, image.pixel_size_A)
        print(f"{source} -> {destination} ({sidecar.get('name', args.model)})")
    return 0
