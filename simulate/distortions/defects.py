"""Pixel and line defects of S(T)EM images: row lines, black pixels, zingers, upper clip and
quantisation (eqs. 51-55).

* Row lines (eq. 51, x <- RL(x)): a random number of row-line segments of random length; the pixels of
  each segment are replaced by the segment's own average intensity times a random factor in
  [0.5, 1.5] (paper). How many, where and how long is ours (:class:`RowLineParams`).
* Black pixels (eq. 52, x <- x S_black): S_black is 0 at uniformly distributed points and 1
  elsewhere. The paper places "a specified number" of points; we make every pixel black independently
  with probability p (a binomial number of points, mean p H W), which is the same spatial law.
* Zingers (eq. 53, x <- x S_zinger): a multiplicative mask would leave a zero-signal pixel dark (no
  white dot on vacuum or at low dose) and the paper gives no factor distribution, so each pixel is,
  with probability p, *replaced* by max(image) + |max(image)| · A · u, u ~ U(0, 1]: always a spike
  above the brightest real signal.
* Upper clip (eq. 54, x <- min(x, T_u)): T_u = c · max(image), c in (0, 1], so the same setting
  saturates the brightest columns at any dose.
* Quantisation (eq. 55, x <- round(alpha x)): alpha = (2^bits - 1) / (max - min) over each image and
  an offset at the minimum, x <- min + round(alpha (x - min)) / alpha; dividing by alpha again keeps the
  output in the input's units (counts) instead of ADC units.

Each function returns the changed image and, with ``return_mask=True``, the boolean mask of the pixels
it claims to have changed.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from simulate.distortions._tensor import (
    GeneratorLike,
    as_image_batch,
    batch_max,
    batch_min,
    check_fraction,
    check_positive,
    per_image,
    torch_generator,
)


@dataclass(frozen=True, kw_only=True)
class RowLineParams:
    """Row-line noise (eq. 51); the defaults are the training ranges (ours, except the factor range).

    Parameters
    ----------
    max_line_density : float
        Largest number of segments per image row, > 0: an image of H rows gets a number of segments
        drawn uniformly from 1 ... max(1, floor(H · max_line_density)) (1/32: up to H/32).
    min_length_fraction, max_length_fraction : float
        Segment length drawn uniformly in [min, max] · W (at least one pixel), 0 < min <= max <= 1;
        a segment starts at a uniformly drawn column and is clipped at the right edge.
    min_factor, max_factor : float
        The segment's mean intensity is multiplied by a factor uniform in [min, max] (paper: [0.5, 1.5]).
    """

    max_line_density: float = 1.0 / 32.0
    min_length_fraction: float = 0.05
    max_length_fraction: float = 1.0
    min_factor: float = 0.5
    max_factor: float = 1.5

    def __post_init__(self) -> None:
        """Validate the ranges.

        Raises
        ------
        ValueError
            If a density, fraction or factor is out of range or a minimum exceeds its maximum.
        """
        check_positive(self.max_line_density, "row_lines.max_line_density", "segments per row")
        check_fraction(self.min_length_fraction, "row_lines.min_length_fraction", closed_low=False)
        check_fraction(self.max_length_fraction, "row_lines.max_length_fraction", closed_low=False)
        if self.min_length_fraction > self.max_length_fraction:
            raise ValueError("row_lines.min_length_fraction must be <= max_length_fraction; got "
                             f"{self.min_length_fraction!r} > {self.max_length_fraction!r}.")
        check_positive(self.min_factor, "row_lines.min_factor", "", allow_zero=True)
        if not (math.isfinite(self.max_factor) and self.max_factor >= self.min_factor):
            raise ValueError(f"row_lines.max_factor must be finite and >= min_factor; got {self.max_factor!r}.")

    def to_dict(self) -> dict:
        """Return the fields as a dictionary.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


@dataclass(frozen=True)
class ZingerParams:
    """Zingers (eq. 53): probability per pixel and relative height above the image maximum.

    Parameters
    ----------
    probability : float
        Probability that a pixel becomes a zinger, in [0, 1].
    amplitude : float
        Largest height of a spike above the image maximum, in units of |image maximum|, > 0.
    """

    probability: float = 1e-4
    amplitude: float = 1.0

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If ``probability`` is outside [0, 1] or ``amplitude`` is not positive.
        """
        check_fraction(self.probability, "zingers.probability")
        check_positive(self.amplitude, "zingers.amplitude", "× image maximum")

    def to_dict(self) -> dict:
        """Return the fields as a dictionary.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


def _finish(x, out, mask, restore, return_mask):
    if return_mask:
        return restore(out), restore(mask)
    return restore(out)


def _row_line_segments(x: torch.Tensor, params: list[RowLineParams], gen: torch.Generator) -> dict:
    """Draw every image's segments as (B, S) tensors; slots beyond an image's count are inactive."""
    batch, height, width = x.shape
    dev = x.device

    def column(name):
        return torch.tensor([getattr(p, name) for p in params], dtype=torch.float64, device=dev)[:, None]

    most_per_image = [max(1, math.floor(height * p.max_line_density)) for p in params]
    most = torch.tensor(most_per_image, device=dev)
    slots = max(most_per_image)

    def uniform(shape):
        return torch.rand(shape, generator=gen, device=dev, dtype=torch.float64)

    count = 1 + torch.floor(uniform((batch,)) * most).long()
    active = torch.arange(slots, device=dev)[None, :] < count[:, None]
    row = torch.floor(uniform((batch, slots)) * height).long()
    start = torch.floor(uniform((batch, slots)) * width).long()
    low, high = column("min_length_fraction"), column("max_length_fraction")
    length = torch.round((low + (high - low) * uniform((batch, slots))) * width).long().clamp_min(1)
    stop = torch.minimum(start + length, torch.full_like(start, width))
    low, high = column("min_factor"), column("max_factor")
    factor = low + (high - low) * uniform((batch, slots))
    return {"row": row, "start": start, "stop": stop, "factor": factor, "active": active}


def row_lines_batch(x: torch.Tensor, params: list[RowLineParams], gen: torch.Generator):
    """Apply eq. 51 to a (B, H, W) batch with one parameter set per image.

    Every segment's mean is taken over the image before row-line noise; where segments overlap, the
    later slot wins.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).
    params : list of RowLineParams
        One parameter set per image (validated by the caller).
    gen : torch.Generator
        Generator on ``x``'s device.

    Returns
    -------
    image : torch.Tensor
        The images with their segments replaced, shape (B, H, W).
    mask : torch.Tensor
        Boolean (B, H, W): pixels covered by a segment.
    segments : dict of str to torch.Tensor
        (B, S) tensors ``row``, ``start``, ``stop`` (exclusive), ``factor``, ``mean`` and ``active`` (slots
        beyond an image's segment count are inactive).
    """
    batch, height, width = x.shape
    seg = _row_line_segments(x, params, gen)
    row, start, stop = seg["row"], seg["start"], seg["stop"]
    slots = row.shape[1]
    lines = x.gather(1, row[:, :, None].expand(batch, slots, width)).to(torch.float64)
    prefix = torch.nn.functional.pad(lines.cumsum(dim=-1), (1, 0))
    total = prefix.gather(2, stop[:, :, None]) - prefix.gather(2, start[:, :, None])
    seg["mean"] = total[:, :, 0] / (stop - start).to(torch.float64)
    value = (seg["mean"] * seg["factor"]).to(x.dtype)
    cols = torch.arange(width, device=x.device)[None, None, :]
    covers = (cols >= start[:, :, None]) & (cols < stop[:, :, None]) & seg["active"][:, :, None]
    slot_id = torch.arange(slots, device=x.device)[None, :, None].expand(batch, slots, width)
    winner = torch.full(x.shape, -1, dtype=torch.long, device=x.device)
    winner = winner.scatter_reduce(1, row[:, :, None].expand(batch, slots, width),
                                   torch.where(covers, slot_id, -1), reduce="amax")
    mask = winner >= 0
    replaced = value.gather(1, winner.clamp_min(0).reshape(batch, -1)).reshape(x.shape)
    return torch.where(mask, replaced, x), mask, seg


def _segment_list(seg: dict) -> list[list[dict]]:
    keep = seg["active"].cpu()
    values = {k: seg[k].cpu().tolist() for k in ("row", "start", "stop", "factor", "mean")}
    return [[{k: values[k][b][s] for k in values} for s in range(keep.shape[1]) if keep[b, s]]
            for b in range(keep.shape[0])]


def row_line_noise(images, params: RowLineParams, generator: GeneratorLike, *, return_mask: bool = False,
                   return_segments: bool = False):
    """Replace random row-line segments by their mean times a random factor (eq. 51).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W).
    params : RowLineParams
        Number, length and factor ranges of the segments.
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of the random draws.
    return_mask : bool
        Also return the boolean mask of the pixels covered by a segment.
    return_segments : bool
        Also return, per image, the list of segments as dicts (row, start, stop (exclusive), factor,
        mean over the input); a later segment overwrites an earlier one where they overlap.

    Returns
    -------
    image : torch.Tensor or numpy.ndarray
        The distorted image(s), same kind and shape as ``images``.
    mask : torch.Tensor or numpy.ndarray
        Boolean mask of the covered pixels; only with ``return_mask``.
    segments : list of dict or list of list of dict
        The segments (of each image for a batch); only with ``return_segments``.

    Raises
    ------
    ValueError
        If ``params`` is not a :class:`RowLineParams` (or ``images`` is invalid).
    """
    if not isinstance(params, RowLineParams):
        raise ValueError(f"params must be a RowLineParams; got {type(params).__name__}.")
    x, restore = as_image_batch(images)
    out, mask, seg = row_lines_batch(x, [params] * x.shape[0], torch_generator(generator, x.device))
    result = [restore(out)]
    if return_mask:
        result.append(restore(mask))
    if return_segments:
        segments = _segment_list(seg)
        result.append(segments[0] if images.ndim == 2 else segments)
    return result[0] if len(result) == 1 else tuple(result)


def black_pixels_batch(x, probability, gen):
    """Apply eq. 52 to a (B, H, W) batch with one probability per image.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).
    probability : float or sequence of float
        Probability that a pixel is set to 0, one value or one per image (not validated here).
    gen : torch.Generator
        Generator on ``x``'s device.

    Returns
    -------
    image : torch.Tensor
        The images with the black pixels, shape (B, H, W).
    mask : torch.Tensor
        Boolean (B, H, W): pixels set to 0 that were not already 0.
    """
    p = per_image(probability, x.shape[0], x, "probability")
    hit = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) < p
    return torch.where(hit, torch.zeros_like(x), x), hit & (x != 0)


def black_pixels(images, probability: float, generator: GeneratorLike, *, return_mask: bool = False):
    """Apply black pixels (eq. 52): set each pixel to 0 with probability ``probability``.

    The mask marks pixels that changed (a pixel that was already 0 is not counted).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W).
    probability : float
        Probability per pixel, in [0, 1].
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of the random draws.
    return_mask : bool
        Also return the boolean mask of the changed pixels.

    Returns
    -------
    image : torch.Tensor or numpy.ndarray
        The distorted image(s), same kind and shape as ``images``.
    mask : torch.Tensor or numpy.ndarray
        Boolean mask of the changed pixels; only with ``return_mask``.

    Raises
    ------
    ValueError
        If ``probability`` is outside [0, 1] (or ``images`` is invalid).
    """
    check_fraction(probability, "probability")
    x, restore = as_image_batch(images)
    out, mask = black_pixels_batch(x, probability, torch_generator(generator, x.device))
    return _finish(x, out, mask, restore, return_mask)


def zingers_batch(x, probability, amplitude, gen):
    """Apply eq. 53 to a (B, H, W) batch with one probability and amplitude per image.

    A hit pixel becomes max + |max| · amplitude · u, u ~ U(0, 1] (|max| taken as 1 for an image whose
    maximum is 0).

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).
    probability : float or sequence of float
        Probability that a pixel is hit, one value or one per image (not validated here).
    amplitude : float or sequence of float
        Largest spike height above the maximum in units of |max|, one value or one per image.
    gen : torch.Generator
        Generator on ``x``'s device.

    Returns
    -------
    image : torch.Tensor
        The images with the zingers, shape (B, H, W).
    mask : torch.Tensor
        Boolean (B, H, W): hit pixels.
    """
    p = per_image(probability, x.shape[0], x, "probability")
    a = per_image(amplitude, x.shape[0], x, "amplitude")
    hit = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) < p
    u = 1.0 - torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    peak = batch_max(x).abs()
    peak = torch.where(peak > 0, peak, torch.ones_like(peak))
    value = batch_max(x) + peak * a * u
    return torch.where(hit, value, x), hit


def zingers(images, probability: float, amplitude: float, generator: GeneratorLike, *,
            return_mask: bool = False):
    """Zingers (eq. 53): replace random pixels by spikes above the image maximum.

    Each pixel is hit with probability ``probability`` and set to max + |max| · amplitude · u,
    u ~ U(0, 1] (``amplitude`` > 0). The paper multiplies, x · S_zinger; a replacement makes a white dot
    on zero-signal pixels too (see the module docstring).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W).
    probability : float
        Probability per pixel, in [0, 1].
    amplitude : float
        Largest spike height above the image maximum, in units of |image maximum|, > 0.
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of the random draws.
    return_mask : bool
        Also return the boolean mask of the hit pixels.

    Returns
    -------
    image : torch.Tensor or numpy.ndarray
        The distorted image(s), same kind and shape as ``images``.
    mask : torch.Tensor or numpy.ndarray
        Boolean mask of the hit pixels; only with ``return_mask``.

    Raises
    ------
    ValueError
        If ``probability`` is outside [0, 1] or ``amplitude`` is not positive (or ``images`` is invalid).
    """
    check_fraction(probability, "probability")
    check_positive(amplitude, "amplitude", "× image maximum")
    x, restore = as_image_batch(images)
    out, mask = zingers_batch(x, probability, amplitude, torch_generator(generator, x.device))
    return _finish(x, out, mask, restore, return_mask)


def clip_upper_batch(x, fraction):
    """Clip each image of a (B, H, W) batch at ``fraction`` of its maximum.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).
    fraction : float or sequence of float
        Clip level as a fraction of each image's maximum, one value or one per image (not validated here).

    Returns
    -------
    image : torch.Tensor
        The clipped images, shape (B, H, W).
    mask : torch.Tensor
        Boolean (B, H, W): pixels above the clip level.
    """
    level = per_image(fraction, x.shape[0], x, "fraction") * batch_max(x)
    mask = x > level
    return torch.where(mask, level.expand_as(x), x), mask


def clip_upper(images, fraction: float, *, return_mask: bool = False):
    """Apply the upper clip (eq. 54): min(x, T_u) with T_u = ``fraction`` · image maximum.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W).
    fraction : float
        Clip level as a fraction of each image's maximum, in (0, 1].
    return_mask : bool
        Also return the boolean mask of the clipped pixels.

    Returns
    -------
    image : torch.Tensor or numpy.ndarray
        The clipped image(s), same kind and shape as ``images``.
    mask : torch.Tensor or numpy.ndarray
        Boolean mask of the clipped pixels; only with ``return_mask``.

    Raises
    ------
    ValueError
        If ``fraction`` is outside (0, 1] (or ``images`` is invalid).
    """
    check_fraction(fraction, "fraction", closed_low=False)
    x, restore = as_image_batch(images)
    out, mask = clip_upper_batch(x, fraction)
    return _finish(x, out, mask, restore, return_mask)


def quantise_batch(x, bits):
    """Quantise each image of a (B, H, W) batch to ``bits`` bits between its minimum and maximum.

    A constant image is returned unchanged.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).
    bits : int or sequence of int
        Bit depth, one value or one per image (not validated here).

    Returns
    -------
    image : torch.Tensor
        The quantised images in the input's units, shape (B, H, W).
    mask : torch.Tensor
        Boolean (B, H, W): pixels whose value changed.
    """
    levels = per_image(2.0 ** torch.as_tensor(bits, dtype=torch.float64) - 1.0, x.shape[0], x, "bits")
    low = batch_min(x)
    step = (batch_max(x) - low) / levels
    safe = torch.where(step > 0, step, torch.ones_like(step))
    out = torch.where(step > 0, low + torch.round((x - low) / safe) * safe, x)
    return out, out != x


def quantise(images, bits: int, *, return_mask: bool = False):
    """Apply quantisation (eq. 55): round to 2^bits - 1 equal steps between each image's minimum and maximum.

    This is round(alpha x) with alpha = (2^bits - 1) / (max - min), offset at the minimum and divided
    by alpha again so the output keeps the input's units.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W).
    bits : int
        Bit depth of the analogue-to-digital converter, 1 to 24.
    return_mask : bool
        Also return the boolean mask of the pixels whose value changed.

    Returns
    -------
    image : torch.Tensor or numpy.ndarray
        The quantised image(s), same kind and shape as ``images``.
    mask : torch.Tensor or numpy.ndarray
        Boolean mask of the changed pixels; only with ``return_mask``.

    Raises
    ------
    ValueError
        If ``bits`` is not an integer from 1 to 24 (or ``images`` is invalid).
    """
    if int(bits) != bits or not 1 <= bits <= 24:
        raise ValueError(f"bits must be an integer from 1 to 24; got {bits!r}.")
    x, restore = as_image_batch(images)
    out, mask = quantise_batch(x, bits)
    return _finish(x, out, mask, restore, return_mask)
