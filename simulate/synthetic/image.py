"""From a rendered intensity map to the undistorted training target y (paper eqs. 23–26).

Steps, in order (maxima, means and ratios are measured on the field of view, ``region``):

1. scale to a maximum of 1 (every later step is relative to max(y), so this only fixes the units);
2. eq. 23, contrast inversion y ← max(y) − y with p = 0.5;
3. eq. 24, y ← |y|^β with p = 0.5, β ~ U[0.5, 1.5];
4. a background, always: with p = 0.5 a randomly oriented positive 3-D plane whose largest value over
   the image is U[0, max(y)/2], otherwise a Gaussian whose centre is uniform in the field of view and
   whose standard deviation is U[0.2, 0.6] · min(nx, ny) pixels, with a peak height U[0, max(y)/2]
   (the paper gives no Gaussian height; the plane's range is ours for it);
5. eq. 25, y ← c·y + d with c = 1 (ours): a constant offset d brings r = std/mean into
   ``STD_MEAN_RATIO_RANGE`` — images with more contrast are lifted onto a pedestal, flatter ones are
   lowered, never below zero (so a very flat image may stay under the lower bound);
6. eq. 26, y ← y / max(y).

The ratio range. The paper uses [0.01, 0.35] (``PAPER_STD_MEAN_RATIO_RANGE``), from its experimental and
simulated data. This suite's benchmark images are noise-free abTEM HAADF images of Pt without any
pedestal: at 0.2 Å pixels the [001] thickness series has std/mean 2.19 (1 atom per column) down to 0.36
(75 atoms), the [112] dislocation 1.59, the nanoparticle 1.94 — all above 0.35. A network trained only
on the paper's range would never see an image without a pedestal, so the upper bound here is 2.5
(``STD_MEAN_RATIO_RANGE``), which covers them.
"""
from __future__ import annotations

import numpy as np
import torch

PAPER_STD_MEAN_RATIO_RANGE = (0.01, 0.35)
STD_MEAN_RATIO_RANGE = (0.01, 2.5)
POWER_RANGE = (0.5, 1.5)
BACKGROUND_HEIGHT_FRACTION_RANGE = (0.0, 0.5)
GAUSSIAN_STD_FRACTION_RANGE = (0.2, 0.6)


def std_mean_ratio(image: torch.Tensor) -> float:
    """Return std/mean of an image (population std).

    Parameters
    ----------
    image : torch.Tensor
        Image (any shape) with a non-zero mean.

    Returns
    -------
    float
        The ratio r = std / mean (inf or NaN for a zero mean).
    """
    return float(image.std(unbiased=False) / image.mean())


def adjust_std_mean_ratio(
    image: torch.Tensor, low: float = STD_MEAN_RATIO_RANGE[0], high: float = STD_MEAN_RATIO_RANGE[1]
) -> tuple[torch.Tensor, float]:
    """Add a constant d (eq. 25 with c = 1) so that std/mean lies in [low, high], keeping the image ≥ 0.

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


def _region_bounds(shape: tuple[int, int], region: tuple[slice, slice]) -> tuple[int, int, int, int]:
    r0, r1, _ = region[0].indices(shape[0])
    c0, c1, _ = region[1].indices(shape[1])
    return r0, r1, c0, c1


def sample_background(
    shape: tuple[int, int], peak: float, generator: np.random.Generator, region: tuple[slice, slice] | None = None,
    device=None, dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, dict]:
    """Draw the background of step 4: a positive 3-D plane or a Gaussian (p = 0.5 each).

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the image, margins included.
    peak : float
        max(y) on the field of view before the background, ≥ 0.
    generator : numpy.random.Generator
        Source of randomness.
    region : tuple of slice, optional
        The field of view (nx, ny and the Gaussian centre refer to it); the whole image when omitted.
    device, dtype
        Where and in which type the field is made.

    Returns
    -------
    field : torch.Tensor, shape ``shape``
        Non-negative background; its maximum over the image is the drawn height, ≤ peak/2.
    record : dict
        ``background`` ('plane' or 'gaussian') and its parameters (lengths in pixels).

    Raises
    ------
    ValueError
        If ``peak`` is negative or not finite.
    """
    if not (np.isfinite(peak) and peak >= 0):
        raise ValueError(f"peak={peak!r} must be a finite value ≥ 0 (max(y) before the background)")
    region = (slice(None), slice(None)) if region is None else region
    r0, r1, c0, c1 = _region_bounds(shape, region)
    rows = torch.arange(shape[0], device=device, dtype=torch.float64)[:, None]
    cols = torch.arange(shape[1], device=device, dtype=torch.float64)[None, :]
    low, high = BACKGROUND_HEIGHT_FRACTION_RANGE
    height = float(generator.uniform(low, high)) * peak
    if generator.random() < 0.5:
        # A plane z = z_low + (height − z_low)·t, t ∈ [0, 1] rising along a random in-plane direction over
        # the image: its normal (−(height − z_low)·∇t, 1) points in a random direction of the upper half-space.
        direction = float(generator.uniform(0.0, 360.0))
        floor = float(generator.uniform(0.0, 1.0)) * height
        ramp = np.cos(np.radians(direction)) * cols + np.sin(np.radians(direction)) * rows
        span = ramp.max() - ramp.min()
        t = (ramp - ramp.min()) / span if float(span) > 0 else torch.ones_like(ramp)
        field = floor + (height - floor) * t
        record = {"background": "plane", "height": height, "height_min": floor, "direction_deg": direction}
    else:
        centre = (float(generator.uniform(r0, r1)), float(generator.uniform(c0, c1)))
        sigma = float(generator.uniform(*GAUSSIAN_STD_FRACTION_RANGE)) * min(r1 - r0, c1 - c0)
        field = height * torch.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma**2))
        record = {"background": "gaussian", "height": height, "centre_px": list(centre), "std_px": sigma}
    return field.to(dtype), record


def finish_image(
    image: torch.Tensor,
    generator: np.random.Generator,
    invert_probability: float = 0.5,
    power_probability: float = 0.5,
    background: bool = True,
    region: tuple[slice, slice] | None = None,
) -> tuple[torch.Tensor, dict]:
    """Turn a non-negative intensity map into a normalised undistorted image y (eqs. 23–26).

    Parameters
    ----------
    image : torch.Tensor, shape (rows, columns)
        Rendered intensities, ≥ 0 up to round-off, not all zero.
    generator : numpy.random.Generator
        Source of randomness.
    invert_probability : float
        Probability of contrast inversion (eq. 23), in [0, 1].
    power_probability : float
        Probability of the |y|^β non-linearity (eq. 24), in [0, 1].
    background : bool
        Whether the background is added (always in the paper's recipe; off only for tests and studies).
    region : tuple of slice, optional
        The part of the image that becomes the training target (the field of view inside a margin);
        the maximum and the std/mean ratio are measured there. The whole image when omitted.

    Returns
    -------
    y : torch.Tensor
        Image with max 1 inside ``region`` and std/mean in ``STD_MEAN_RATIO_RANGE`` there (unless it is
        constant, or too flat to be lowered without negative pixels), min ≥ 0 everywhere.
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
        y = 1 - y  # eq. 23 with max(y) = 1
    record["power"] = float(generator.uniform(*POWER_RANGE)) if generator.random() < power_probability else 1.0
    if record["power"] != 1.0:
        y = torch.abs(y) ** record["power"]  # eq. 24
    if background:
        field, background_record = sample_background(
            tuple(y.shape), float(y[region].max()), generator, region, device=y.device, dtype=y.dtype
        )
        record.update(background_record)
        y = y + field
    if float(y[region].mean()) <= 0:  # a fully inverted single bright pixel: lift it so the ratio is defined
        y = y + 1.0
    _, record["offset"] = adjust_std_mean_ratio(y[region], *STD_MEAN_RATIO_RANGE)  # eq. 25
    y = torch.clamp(y + record["offset"], min=0)
    y = y / y[region].max()  # eq. 26
    record["std_mean_ratio"] = std_mean_ratio(y[region])
    return y, record
