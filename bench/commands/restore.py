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
    parser.add_argument("--algorithm", choices=("auto", "direct", "winograd"), default="auto",
                        help="how the CGRDN's dense 3×3 convolutions run: 'winograd' = F(4×4,3×3) dense blocks on "
                             "the CPU in float32, the same output to float32 precision and faster; 'direct' = the "
                             "model's own convolutions; 'auto' (default) = winograd on the CPU without bf16, "
                             "else direct")
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


def _check_algorithm(algorithm: str, device: str | None) -> None:
    """Refuse Winograd off the CPU before a model is loaded (onto a GPU, or a device this machine lacks)."""
    import torch

    if algorithm != "winograd":
        return
    chosen = torch.device(device if device is not None else "cuda" if torch.cuda.is_available() else "cpu")
    if chosen.type != "cpu":
        raise ValueError(f"--algorithm winograd with device {str(chosen)!r}: the Winograd dense blocks run on "
                         "the CPU in float32 only; add --device cpu, or use --algorithm direct or auto")


def run(args) -> int:
    from restore.imageio import read_image, write_image
    from restore.inference import restore_image
    from restore.registry import load_registered_model

    inputs = [Path(p) for p in args.inputs]
    _check_algorithm(args.algorithm, args.device)
    model, sidecar = load_registered_model(args.model)
    outputs = _output_paths(inputs, Path(args.output), args.format)
    for source, destination in zip(inputs, outputs):
        image = read_image(source)
        restored = restore_image(image.data, model, tile=args.tile, overlap=args.overlap,
                                 batch_size=args.batch_size, device=args.device, algorithm=args.algorithm)
        write_image(destination, restored, image.pixel_size_A)
        print(f"{source} -> {destination} ({sidecar.get('name', args.model)})")
    return 0
