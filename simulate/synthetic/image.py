"""From a rendered intensity map to the undistorted training target y (paper eqs. 23–26).

Steps, in order: scale to a maximum of 1; contrast inversion y → 1 − y (p = 0.5, e.g. bright-field
versus annular dark-field); non-linearity y → |y|^β (p = 0.5, β ∈ [0.5, 1.5]); a random background
(plane or Gaussian, amplitude relative to the image mean, each with p = 1/3); the ratio std/mean brought
into [0.01, 0.35] by a constant offset (eq. 25): images with more contrast are lifted onto a pedestal,
flatter ones are lowered (never below zero); finally normalisation by the maximum.

Assumption: an out-of-range ratio is clipped to the nearest bound; the paper's exact rule (eq. 25) is
not available to us in full.
"""
from __future__ import annotations

import numpy as np
import torch

STD_MEAN_RATIO_RANGE = (0.01, 0.35)
POWER_RANGE = (0.5, 1.5)


def std_mean_ratio(image: torch.Tensor) -> float:
    """std/mean of an image (population std)."""
    return float(image.std(unbiased=False) / image.mean())


def adjust_std_mean_ratio(image: torch.Tensor, low: float = 0.01, high: float = 0.35) -> tuple[torch.Tensor, float]:
    """Add a constant so that std/mean lies in [low, high], keeping the image non-negative.

    Parameters
    ----------
    image : torch.Tensor
        Non-negative image with a positive mean.
    low, high : float
        Target range of std/mean, 0 < low < high.

    Returns
    -------
    image : torch.Tensor
        Shifted image.
    offset : float
        The constant added (negative when the image was lowered).

    Raises
    ------
    ValueError
        If the range is invalid or the image has no positive mean.
    """
    if not 0 < low < high:
        raise ValueError(f"ratio range [{low}, {high}] must satisfy 0 < low < high")
    mean = float(image.mean())
    std = float(image.std(unbiased=False))
    if not mean > 0:
        raise ValueError(f"image mean={mean!r} must be > 0 to set its std/mean ratio")
    ratio = std / mean
    if ratio > high:
        offset = std / high - mean
    elif ratio < low and std > 0:
        offset = max(std / low - mean, -float(image.min()))
    else:
        offset = 0.0
    return image + offset, offset


def _background(shape, generator: np.random.Generator, device, dtype) -> tuple[torch.Tensor | None, dict]:
    kind = ["none", "plane", "gaussian"][generator.integers(3)]
    if kind == "none":
        return None, {"background": "none"}
    rows = torch.linspace(-0.5, 0.5, shape[0], device=device, dtype=dtype)[:, None]
    cols = torch.linspace(-0.5, 0.5, shape[1], device=device, dtype=dtype)[None, :]
    amplitude = float(generator.uniform(0.05, 1.0))
    if kind == "plane":
        slope = generator.uniform(-1, 1, 2)
        field = 1 + slope[0] * rows + slope[1] * cols
        record = {"background": "plane", "amplitude": amplitude, "slope": slope.tolist()}
    else:
        centre = generator.uniform(-0.5, 0.5, 2)
        width = float(generator.uniform(0.1, 1.0))
        field = torch.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * width**2))
        record = {"background": "gaussian", "amplitude": amplitude, "centre": centre.tolist(), "width": width}
    field = torch.clamp(field, min=0)
    return amplitude * field / field.max(), record


def finish_image(
    image: torch.Tensor,
    generator: np.random.Generator,
    invert_probability: float = 0.5,
    power_probability: float = 0.5,
    background: bool = True,
    region: tuple[slice, slice] | None = None,
) -> tuple[torch.Tensor, dict]:
    """Turn a non-negative intensity map into a normalised undistorted image y.

    Parameters
    ----------
    image : torch.Tensor, shape (rows, columns)
        Rendered intensities, ≥ 0 up to round-off, not all zero.
    generator : numpy.random.Generator
        Source of randomness.
    invert_probability : float
        Probability of contrast inversion, in [0, 1].
    power_probability : float
        Probability of the |y|^β non-linearity, in [0, 1].
    background : bool
        Whether a random background may be added.
    region : tuple of slice, optional
        The part of the image that becomes the training target (the field of view inside a margin);
        the maximum and the std/mean ratio are measured there. The whole image when omitted.

    Returns
    -------
    y : torch.Tensor
        Image with max 1 and std/mean in [0.01, 0.35] inside ``region`` (unless it is constant there),
        min ≥ 0 everywhere.
    record : dict
        The choices made.

    Raises
    ------
    ValueError
        If the image is empty (maximum ≤ 0) or a probability is outside [0, 1].
    """
    for name, p in (("invert_probability", invert_probability), ("power_probability", power_probability)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name}={p!r} must be in [0, 1]")
    region = (slice(None), slice(None)) if region is None else region
    image = torch.clamp(image, min=0)
    peak = float(image[region].max())
    if not peak > 0:
        raise ValueError("image is empty (maximum ≤ 0): nothing was rendered into the field of view")
    y = torch.clamp(image / peak, max=1.0)
    record: dict = {"inverted": bool(generator.random() < invert_probability)}
    if record["inverted"]:
        y = 1 - y
    record["power"] = float(generator.uniform(*POWER_RANGE)) if generator.random() < power_probability else 1.0
    if record["power"] != 1.0:
        y = torch.abs(y) ** record["power"]
    if background:
        field, background_record = _background(y.shape, generator, y.device, y.dtype)
        record.update(background_record)
        if field is not None:
            y = y + field * max(float(y[region].mean()), 1e-3)
    if float(y[region].mean()) <= 0:  # a fully inverted single bright pixel: lift it so the ratio is defined
        y = y + 1.0
    _, record["offset"] = adjust_std_mean_ratio(y[region], *STD_MEAN_RATIO_RANGE)
    y = torch.clamp(y + record["offset"], min=0)
    y = y / y[region].max()
    record["std_mean_ratio"] = std_mean_ratio(y[region])
    return y, record
