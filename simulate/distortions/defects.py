"""Pixel and line defects of S(T)EM images: row lines, black pixels, zingers, upper clip and
quantisation (eqs. 51-55).

Forms used (the paper's exact expressions were not available to us; these are the standard ones):

* row lines (51): every scan line is hit independently with probability p; a hit line receives an
  additive offset A · mean(image) · z, z ~ N(0, 1) (a gain/offset glitch of the read-out for that line);
* black pixels (52): every pixel is independently set to 0 with probability p (dead/dropped samples);
* zingers (53): every pixel is independently, with probability p, replaced by
  max(image) · (1 + A · u), u ~ U(0, 1] (a spike above the brightest real signal);
* upper clip (54): values above c · max(image) are set to c · max(image), c in (0, 1];
* quantisation (55): values are rounded to 2^bits - 1 equal steps between the image minimum and maximum.

Each function returns the changed image and, with ``return_mask=True``, the boolean mask of the pixels
it claims to have changed.
"""
from __future__ import annotations

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


@dataclass(frozen=True)
class RowLineParams:
    """Row-line noise (eq. 51): hit probability per scan line and offset std relative to the image mean."""

    probability: float = 0.05
    amplitude: float = 0.1

    def __post_init__(self) -> None:
        check_fraction(self.probability, "row_lines.probability")
        check_positive(self.amplitude, "row_lines.amplitude", "× image mean")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ZingerParams:
    """Zingers (eq. 53): probability per pixel and relative height above the image maximum."""

    probability: float = 1e-4
    amplitude: float = 1.0

    def __post_init__(self) -> None:
        check_fraction(self.probability, "zingers.probability")
        check_positive(self.amplitude, "zingers.amplitude", "× image maximum")

    def to_dict(self) -> dict:
        return asdict(self)


def _finish(x, out, mask, restore, return_mask):
    if return_mask:
        return restore(out), restore(mask)
    return restore(out)


def _row_lines(x, probability, amplitude, gen):
    batch, height, _ = x.shape
    p = per_image(probability, batch, x, "probability")[:, :, 0]
    hit = torch.rand((batch, height), generator=gen, device=x.device, dtype=x.dtype) < p
    z = torch.randn((batch, height), generator=gen, device=x.device, dtype=x.dtype)
    scale = per_image(amplitude, batch, x, "amplitude")[:, :, 0] * x.mean(dim=(-2, -1))[:, None]
    offset = torch.where(hit, scale * z, torch.zeros_like(z))
    return x + offset[:, :, None], hit[:, :, None].expand_as(x) & (offset != 0)[:, :, None]


def row_line_noise(images, probability: float, amplitude: float, generator: GeneratorLike, *,
                   return_mask: bool = False):
    """Add a random offset to randomly chosen scan lines (eq. 51).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W).
    probability : float
        Probability that a line is hit, in [0, 1].
    amplitude : float
        Standard deviation of the offset as a fraction of the image mean (>= 0).
    generator : int, numpy.random.Generator or torch.Generator
    return_mask : bool
        Also return the boolean mask of changed pixels (whole lines).
    """
    check_fraction(probability, "probability")
    check_positive(amplitude, "amplitude", "× image mean", allow_zero=True)
    x, restore = as_image_batch(images)
    out, mask = _row_lines(x, probability, amplitude, torch_generator(generator, x.device))
    return _finish(x, out, mask, restore, return_mask)


def _black(x, probability, gen):
    p = per_image(probability, x.shape[0], x, "probability")
    hit = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) < p
    return torch.where(hit, torch.zeros_like(x), x), hit & (x != 0)


def black_pixels(images, probability: float, generator: GeneratorLike, *, return_mask: bool = False):
    """Set each pixel to 0 with probability ``probability`` (eq. 52); mask marks pixels that changed."""
    check_fraction(probability, "probability")
    x, restore = as_image_batch(images)
    out, mask = _black(x, probability, torch_generator(generator, x.device))
    return _finish(x, out, mask, restore, return_mask)


def _zingers(x, probability, amplitude, gen):
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
    """Replace random pixels by spikes above the image maximum (eq. 53).

    ``amplitude`` (> 0) sets the spike height: max + |max| · amplitude · u with u ~ U(0, 1].
    """
    check_fraction(probability, "probability")
    check_positive(amplitude, "amplitude", "× image maximum")
    x, restore = as_image_batch(images)
    out, mask = _zingers(x, probability, amplitude, torch_generator(generator, x.device))
    return _finish(x, out, mask, restore, return_mask)


def _clip(x, fraction):
    level = per_image(fraction, x.shape[0], x, "fraction") * batch_max(x)
    mask = x > level
    return torch.where(mask, level.expand_as(x), x), mask


def clip_upper(images, fraction: float, *, return_mask: bool = False):
    """Saturate values above ``fraction`` · image maximum (eq. 54), fraction in (0, 1]."""
    check_fraction(fraction, "fraction", closed_low=False)
    x, restore = as_image_batch(images)
    out, mask = _clip(x, fraction)
    return _finish(x, out, mask, restore, return_mask)


def _quantise(x, bits):
    levels = per_image(2.0 ** torch.as_tensor(bits, dtype=torch.float64) - 1.0, x.shape[0], x, "bits")
    low = batch_min(x)
    step = (batch_max(x) - low) / levels
    safe = torch.where(step > 0, step, torch.ones_like(step))
    out = torch.where(step > 0, low + torch.round((x - low) / safe) * safe, x)
    return out, out != x


def quantise(images, bits: int, *, return_mask: bool = False):
    """Round to 2^bits - 1 equal steps between each image's minimum and maximum (eq. 55).

    Parameters
    ----------
    bits : int
        Bit depth of the analogue-to-digital converter, 1 to 24.
    """
    if int(bits) != bits or not 1 <= bits <= 24:
        raise ValueError(f"bits must be an integer from 1 to 24; got {bits!r}.")
    x, restore = as_image_batch(images)
    out, mask = _quantise(x, bits)
    return _finish(x, out, mask, restore, return_mask)
