"""Tiled restoration of images of any size with smooth, seam-free blending.

The image is cut into overlapping ``tile``×``tile`` tiles (the last tile of a row or column is aligned to
the image edge), tiles are restored in batches and blended with per-tile weights that are 1 in the tile's
interior and at image borders, and fall along a raised cosine across the overlap at the tile's interior
edges. The outer ``margin`` pixels of an interior edge get weight 0: those pixels lack context in that tile
and are taken from the neighbour instead. Weights of two neighbours sum to one across a regular overlap, so
a position-independent model (a linear filter with a receptive-field radius ≤ margin) gives exactly its
untiled result.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from restore.models.cgrdn import CGRDN
from restore.numerics import BF16_CHECK_KEY, NumericPath, inference_path
from restore.winograd import winograd_model

MIN_SIDE = 8
ALGORITHMS = ("auto", "direct", "winograd")


def check_image(image) -> np.ndarray:
    """Validate an image (H, W) or stack (frames, H, W) and return it as float32.

    Parameters
    ----------
    image : array_like
        Numeric image (H, W) or stack (frames, H, W), any intensity unit.

    Returns
    -------
    numpy.ndarray
        The same data as float32 (no copy when it already is).

    Raises
    ------
    ValueError
        On a wrong rank, an empty array, a side shorter than 8 pixels or non-finite values.
    """
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"image: dtype {array.dtype} is not numeric")
    if array.ndim not in (2, 3):
        raise ValueError(f"image: shape {array.shape} has rank {array.ndim}; expected (H, W) or (frames, H, W)")
    if array.size == 0:
        raise ValueError(f"image: empty array of shape {array.shape}")
    if min(array.shape[-2:]) < MIN_SIDE:
        raise ValueError(f"image: {array.shape[-2]}×{array.shape[-1]} px; each side needs ≥ {MIN_SIDE} px")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        bad = int(np.size(array) - np.isfinite(array).sum())
        raise ValueError(f"image: {bad} NaN or inf pixels; replace them (e.g. by the local mean) first")
    return array


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Return start offsets covering ``length`` with ``tile``-px tiles, ``stride`` apart, the last flush with the end.

    Parameters
    ----------
    length : int
        Side to cover [px].
    tile : int
        Tile side [px].
    stride : int
        Distance between consecutive starts [px], ≥ 1.

    Returns
    -------
    list of int
        Start offsets [px]; ``[0]`` when one tile covers the side.
    """
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(length: int, overlap: int, margin: int, taper_start: bool, taper_end: bool) -> np.ndarray:
    """1-D weight along one tile axis (see the module docstring)."""
    n = np.arange(length, dtype=np.float64) + 0.5
    width = max(overlap - 2 * margin, 1)
    rise = np.sin(0.5 * np.pi * np.clip((n - margin) / width, 0.0, 1.0)) ** 2
    weight = np.ones(length)
    if taper_start:
        weight *= rise
    if taper_end:
        weight *= rise[::-1]
    return weight


def _memory_format(device: torch.device) -> torch.memory_format:
    del device  # the same layout on every device
    return torch.channels_last


def _auto_device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _restore_frames(frames, model, tile, overlap, margin, batch_size, device, autocast) -> np.ndarray:
    """Restore equally sized frames (F, H, W), running the tiles of all frames through the model in batches."""
    _, height, width = frames.shape
    # the network needs even sides: pad odd ones by reflection and crop afterwards
    padded = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2)), mode="reflect")
    ph, pw = padded.shape[1:]
    th, tw = min(tile, ph), min(tile, pw)
    stride_h, stride_w = max(th - overlap, 1), max(tw - overlap, 1)
    starts_y, starts_x = tile_starts(ph, th, stride_h), tile_starts(pw, tw, stride_w)
    numerator = np.zeros_like(padded, dtype=np.float32)
    denominator = np.zeros_like(padded, dtype=np.float32)
    positions = [(f, y, x) for f in range(padded.shape[0]) for y in starts_y for x in starts_x]
    for first in range(0, len(positions), batch_size):
        chunk = positions[first:first + batch_size]
        batch = torch.from_numpy(np.stack([padded[f, y:y + th, x:x + tw] for f, y, x in chunk])[:, None])
        batch = batch.to(device).contiguous(memory_format=_memory_format(device))
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            restored = model(batch).float()[:, 0].cpu().numpy()
        for (f, y, x), out in zip(chunk, restored):
            wy = _ramp(th, overlap, margin, y > 0, y + th < ph)
            wx = _ramp(tw, overlap, margin, x > 0, x + tw < pw)
            weight = np.outer(wy, wx).astype(np.float32)
            numerator[f, y:y + th, x:x + tw] += weight * out
            denominator[f, y:y + th, x:x + tw] += weight
    return (numerator / denominator)[:, :height, :width]


def _choose_algorithm(model: nn.Module, device: torch.device, autocast: bool, algorithm: str) -> nn.Module:
    """The module that runs the tiles: ``model`` itself, or its Winograd evaluation on the CPU."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    winograd_possible = isinstance(model, CGRDN) and device.type == "cpu" and not autocast
    if algorithm == "winograd" and not winograd_possible:
        raise ValueError("algorithm='winograd' needs a CGRDN on the CPU in float32; use numeric='fp32', or "
                         "algorithm='direct' or 'auto'")
    if algorithm == "direct" or not winograd_possible:
        return model
    return winograd_model(model)


def numeric_path_for(numeric="auto", device=None, algorithm: str = "auto", *,
                     bf16_check: dict | None = None) -> NumericPath:
    """Return the numeric path :func:`restore_image` takes for these arguments (for logs and provenance).

    ``algorithm="winograd"`` asks for float32, so ``"auto"`` then means fp32.

    Parameters
    ----------
    numeric : {"auto", "bf16", "fp32"} or bool
        As for :func:`restore_image`; ``True``/``False`` mean bf16/fp32.
    device : str or torch.device, optional
        Where the network runs; the GPU when one is available, else the CPU, when omitted.
    algorithm : {"auto", "winograd", "direct"}
        The convolution algorithm asked for.
    bf16_check : dict, optional
        The weights' bf16 record matched to them (``model.bf16_check`` of a model from
        :func:`restore.checkpoint.load_model`, or :func:`restore.checkpoint.bf16_check_of` a sidecar): whether
        ``"auto"`` may take bf16. None: the weights have none, ``"auto"`` means fp32.

    Returns
    -------
    NumericPath
        The path and the reason it was chosen.

    Raises
    ------
    ValueError
        If ``numeric`` is not ``"auto"``, ``"bf16"``, ``"fp32"`` or a boolean.
    """
    device = _auto_device(device)
    if algorithm == "winograd" and numeric in ("auto", None):
        numeric = "fp32"
    return inference_path(numeric, device, bf16_check=bf16_check)


def _prepare(image, model, tile, overlap, margin, batch_size, device, numeric, algorithm):
    """Validate the image and the tiling parameters; return what :func:`_restore_frames` needs."""
    array = check_image(image)
    overlap = tile // 4 if overlap is None else overlap
    margin = overlap // 4 if margin is None else margin
    if tile < 16 or tile % 2:
        raise ValueError(f"tile={tile}: must be an even number of pixels ≥ 16")
    if not 0 <= overlap < tile or overlap % 2:
        raise ValueError(f"overlap={overlap}: must be even and in [0, tile={tile})")
    if margin < 0 or 2 * margin > overlap:
        raise ValueError(f"margin={margin}: must be in [0, overlap/2 = {overlap // 2}]")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be ≥ 1")
    device = _auto_device(device)
    autocast = numeric_path_for(numeric, device, algorithm, bf16_check=getattr(model, BF16_CHECK_KEY, None)).bf16
    # channels-last suits cuDNN and oneDNN alike (3.0 s per 256² on one CPU core, docs/benchmarks.md)
    model = model.to(device).eval().to(memory_format=_memory_format(device))
    return array, _choose_algorithm(model, device, autocast, algorithm), overlap, margin, device, autocast


def restore_image(image, model: nn.Module, tile: int = 256, overlap: int | None = None,
                  margin: int | None = None, batch_size: int = 8, device=None,
                  numeric="auto", algorithm: str = "auto") -> np.ndarray:
    """Restore an image or a stack of frames of any size with a restoration network.

    Parameters
    ----------
    image : array_like
        (H, W) or (frames, H, W) intensities, each side ≥ 8 px; frames are restored one by one.
    model : torch.nn.Module
        Maps (B, 1, h, w) to (B, 1, h, w) for even h, w (e.g. :class:`~restore.models.CGRDN`); it is moved
        to ``device`` and put in eval mode.
    tile : int
        Tile side in pixels (even, ≥ 16). Images smaller than a tile are restored in one piece.
    overlap : int, optional
        Overlap of neighbouring tiles in pixels (even, < tile); default ``tile // 4``.
    margin : int, optional
        Pixels at each interior tile edge that get zero weight; default ``overlap // 4``; 2·margin ≤ overlap.
    batch_size : int
        Tiles per forward pass.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    numeric : {"auto", "bf16", "fp32"} or bool
        bfloat16 autocast (fp32 weights) or float32: :func:`restore.numerics.inference_path` decides
        ``"auto"`` (bf16 only where it is native and the weights' bf16 check passed, ``model.bf16_check``);
        :func:`numeric_path_for` says which path these arguments take. ``True``/``False`` mean bf16/fp32.
    algorithm : {"auto", "direct", "winograd"}
        How a CGRDN's dense 3×3 convolutions run: ``"winograd"`` (F(4×4, 3×3), CPU float32 only, same
        output to float32 precision and faster on a CPU, see :mod:`restore.winograd`), ``"direct"``
        (the model's own convolutions), or ``"auto"``: Winograd where it applies (float32 on the CPU), else
        direct.

    Returns
    -------
    numpy.ndarray
        float32 restoration, same shape and intensity scale as ``image``.

    Raises
    ------
    ValueError
        On invalid images (see :func:`check_image`), tiling parameters, numeric mode or algorithm.
    """
    array, model, overlap, margin, device, autocast = _prepare(image, model, tile, overlap, margin, batch_size,
                                                               device, numeric, algorithm)
    frames = array[None] if array.ndim == 2 else array
    restored = np.concatenate([_restore_frames(frame[None], model, tile, overlap, margin, batch_size, device,
                                               autocast) for frame in frames])
    return restored[0] if array.ndim == 2 else restored


def restore_stack(images, model: nn.Module, tile: int = 256, overlap: int | None = None,
                  margin: int | None = None, batch_size: int = 8, device=None,
                  numeric="auto", algorithm: str = "auto") -> np.ndarray:
    """Restore a stack of equally sized frames, batching tiles across frames (e.g. noise realisations).

    Same tiling and blending as :func:`restore_image`, so the result equals restoring frame by frame up to
    floating-point rounding; but the tiles of all frames share the forward passes, so small frames (one
    tile each) fill a batch of ``batch_size`` frames instead of running one at a time — what keeps a GPU
    busy.

    Parameters
    ----------
    images : array_like
        (frames, H, W) or (H, W) intensities, each side ≥ 8 px.
    model, tile, overlap, margin, batch_size, device, numeric, algorithm
        As for :func:`restore_image`; ``batch_size`` counts tiles from any frame.

    Returns
    -------
    numpy.ndarray
        float32 restoration, same shape and intensity scale as ``images``.

    Raises
    ------
    ValueError
        On invalid images (see :func:`check_image`), tiling parameters, numeric mode or algorithm.
    """
    array, model, overlap, margin, device, autocast = _prepare(images, model, tile, overlap, margin, batch_size,
                                                               device, numeric, algorithm)
    frames = array[None] if array.ndim == 2 else array
    restored = _restore_frames(frames, model, tile, overlap, margin, batch_size, device, autocast)
    return restored[0] if array.ndim == 2 else restored


def tiles_needed(shape: tuple[int, int], tile: int = 256, overlap: int | None = None) -> int:
    """Return the number of tiles :func:`restore_image` runs for one frame of ``shape`` (for progress and planning).

    Parameters
    ----------
    shape : tuple of int
        (H, W) of the frame [px].
    tile : int
        Tile side [px], as given to :func:`restore_image`.
    overlap : int, optional
        Overlap of neighbouring tiles [px]; a quarter of ``tile`` when omitted.

    Returns
    -------
    int
        Tiles per frame.
    """
    overlap = tile // 4 if overlap is None else overlap
    h, w = (s + s % 2 for s in shape)
    th, tw = min(tile, h), min(tile, w)
    return len(tile_starts(h, th, max(th - overlap, 1))) * len(tile_starts(w, tw, max(tw - overlap, 1)))


__all__ = ["check_image", "numeric_path_for", "restore_image", "restore_stack", "tile_starts", "tiles_needed"]
