"""Post-processing distortions of recorded images (paper, Methods, post-processing).

Microscope and user software often resample, smooth, annotate and crop an image before it reaches
the restoration network. Applied to a training pair (x = distorted input, y = clean target):

* random affine interpolation (rotation, anisotropic scale, shear, translation; bicubic, 0 outside the
  recorded field of view) - the SAME transform on x and y so the pair stays registered;
* Gaussian blur with σ in pixels - on x only (the target stays sharp);
* annotations (scale bars, rectangles, lines, rings) - the SAME masks into x and y, each drawn at the
  same relative grey level (0 = image minimum, 1 = image maximum) of that image, so the network learns
  to keep them;
* cropping outside a central region - the SAME region in x and y, the outside filled with a constant
  or each image's own median.

What goes into the target follows the paper's Methods ("Post-processing distortions"): blur is removed by the
restoration (σ between 0 and 1 px, on x only), while annotations and cropping replace part of the image and
are to be preserved (the same masks and region in x and y). The grey levels of the annotations and the
fill of the cropped area are our choices.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from simulate.distortions._tensor import (
    GeneratorLike,
    as_image_batch,
    batch_max,
    batch_min,
    check_fraction,
    check_positive,
    torch_generator,
)


@dataclass(frozen=True)
class AffineParams:
    """Affine resampling: rotation in degrees, scale factors, shear (tan of angle), shift in pixels.

    The identity is the default; the transform acts about the image centre.

    Parameters
    ----------
    rotation : float
        Rotation angle [degrees].
    scale_y, scale_x : float
        Magnification along y and x (> 0; > 1 enlarges the content).
    shear : float
        Shear, the tangent of the shear angle.
    shift_y, shift_x : float
        Translation of the content along y and x [px].
    """

    rotation: float = 0.0
    scale_y: float = 1.0
    scale_x: float = 1.0
    shear: float = 0.0
    shift_y: float = 0.0
    shift_x: float = 0.0

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If a scale is not positive or a value is not finite.
        """
        check_positive(self.scale_y, "affine.scale_y")
        check_positive(self.scale_x, "affine.scale_x")
        for name in ("rotation", "shear", "shift_y", "shift_x"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"affine.{name} must be finite; got {getattr(self, name)!r}.")

    def to_dict(self) -> dict:
        """Return the fields as a dictionary.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


@dataclass(frozen=True)
class AnnotationParams:
    """Number of annotation shapes (1-8) and their relative grey level in [0, 1].

    Parameters
    ----------
    count : int
        Number of shapes (scale bars, rectangles, lines or rings, drawn at random), 1 to 8.
    level : float
        Grey level of the shapes relative to each image's range: 0 = minimum, 1 = maximum.
    """

    count: int = 2
    level: float = 1.0

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If ``count`` is not an integer from 1 to 8 or ``level`` lies outside [0, 1].
        """
        if int(self.count) != self.count or not 1 <= self.count <= 8:
            raise ValueError(f"annotations.count must be an integer from 1 to 8; got {self.count!r}.")
        check_fraction(self.level, "annotations.level")

    def to_dict(self) -> dict:
        """Return the fields as a dictionary.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


@dataclass(frozen=True)
class CropParams:
    """Kept central fraction of height and width, in (0, 1]; fill 'constant' (with fill_value) or 'median'.

    Parameters
    ----------
    fraction_y, fraction_x : float
        Kept central fraction of the height and the width, in (0, 1].
    fill : {"median", "constant"}
        Fill of the cropped-away area: each image's own median, or ``fill_value``.
    fill_value : float
        Fill value with ``fill="constant"``, in the image's units.
    """

    fraction_y: float = 0.8
    fraction_x: float = 0.8
    fill: str = "median"
    fill_value: float = 0.0

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If a fraction lies outside (0, 1] or ``fill`` is not 'constant' or 'median'.
        """
        check_fraction(self.fraction_y, "crop.fraction_y", closed_low=False)
        check_fraction(self.fraction_x, "crop.fraction_x", closed_low=False)
        if self.fill not in ("constant", "median"):
            raise ValueError(f"crop.fill must be 'constant' or 'median'; got {self.fill!r}.")

    def to_dict(self) -> dict:
        """Return the fields as a dictionary.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


@dataclass(frozen=True)
class PostprocessParams:
    """Post-processing of one training pair; None switches a step off. blur_sigma in pixels, [0, 1].

    Parameters
    ----------
    affine : AffineParams or None
        Affine resampling of x and y.
    blur_sigma : float or None
        Standard deviation of the Gaussian blur of x [px], >= 0 (the training range is [0, 1]; the upper
        end is not enforced here).
    annotations : AnnotationParams or None
        Annotation shapes drawn into x and y.
    crop : CropParams or None
        Central region kept in x and y.
    """

    affine: AffineParams | None = None
    blur_sigma: float | None = None
    annotations: AnnotationParams | None = None
    crop: CropParams | None = None

    def __post_init__(self) -> None:
        """Validate ``blur_sigma``.

        Raises
        ------
        ValueError
            If ``blur_sigma`` is negative or not finite.
        """
        if self.blur_sigma is not None:
            check_positive(self.blur_sigma, "blur_sigma", "pixels", allow_zero=True)

    def to_dict(self) -> dict:
        """Return the parameters as a JSON-serialisable dictionary.

        Returns
        -------
        dict
            ``affine``, ``blur_sigma``, ``annotations`` and ``crop``; nested sets as dicts, None where off.
        """
        return {
            "affine": None if self.affine is None else self.affine.to_dict(),
            "blur_sigma": self.blur_sigma,
            "annotations": None if self.annotations is None else self.annotations.to_dict(),
            "crop": None if self.crop is None else self.crop.to_dict(),
        }


def affine_resample(x: torch.Tensor, params: Sequence[AffineParams]) -> torch.Tensor:
    """Resample each image on an affinely transformed grid about its centre (bicubic, 0 outside).

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).
    params : sequence of AffineParams
        One transform per image.

    Returns
    -------
    torch.Tensor
        Resampled images, shape (B, H, W); samples outside the field of view are 0.
    """
    batch, height, width = x.shape
    rows = []
    for p in params:
        angle = math.radians(p.rotation)
        c, s = math.cos(angle), math.sin(angle)
        # Work in pixel units so rotation is isotropic for non-square images, then normalise.
        linear = [[c / p.scale_x, (-s + p.shear * c) / p.scale_x], [s / p.scale_y, (c + p.shear * s) / p.scale_y]]
        rows.append([
            [linear[0][0], linear[0][1] * (height - 1) / (width - 1), -2 * p.shift_x / (width - 1)],
            [linear[1][0] * (width - 1) / (height - 1), linear[1][1], -2 * p.shift_y / (height - 1)],
        ])
    theta = torch.tensor(rows, dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta, [batch, 1, height, width], align_corners=True)
    return F.grid_sample(x[:, None], grid, mode="bicubic", padding_mode="zeros", align_corners=True)[:, 0]


def gaussian_blur(x: torch.Tensor, sigma: Sequence[float]) -> torch.Tensor:
    """Blur each image with a separable Gaussian; σ = 0 leaves an image unchanged.

    The kernel radius is ceil(3 max σ) (at least 1 px); edges are extended by replication.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).
    sigma : sequence of float
        One standard deviation per image [px], >= 0.

    Returns
    -------
    torch.Tensor
        Blurred images, shape (B, H, W).
    """
    batch = x.shape[0]
    radius = max(1, math.ceil(3 * max(sigma)))
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    sig = torch.tensor(sigma, dtype=x.dtype, device=x.device)[:, None]
    weights = torch.exp(-(k**2) / (2 * sig.clamp_min(1e-6) ** 2))
    weights = torch.where(sig > 0, weights, (k == 0).to(x.dtype).expand_as(weights))
    weights = weights / weights.sum(dim=-1, keepdim=True)
    padded = F.pad(x[None], (radius, radius, radius, radius), mode="replicate")[0]
    out = F.conv2d(padded[None], weights[:, None, None, :], groups=batch)
    return F.conv2d(out, weights[:, None, :, None], groups=batch)[0]


def annotation_masks(shape: tuple[int, int, int], counts: Sequence[int], gen: torch.Generator,
                     device: torch.device) -> torch.Tensor:
    """Draw boolean masks of random scale bars, rectangles, lines and rings (vectorised).

    Eight shapes are always drawn per image; the first ``counts[b]`` of them are kept.

    Parameters
    ----------
    shape : tuple of int
        (B, H, W) of the masks.
    counts : sequence of int
        Number of shapes per image, 0 to 8.
    gen : torch.Generator
        Generator on ``device``.
    device : torch.device
        Device of the masks.

    Returns
    -------
    torch.Tensor
        Boolean masks, shape (B, H, W).
    """
    batch, height, width = shape
    n = 8
    u = torch.rand((batch, n, 6), generator=gen, device=device, dtype=torch.float32)
    kind = torch.randint(0, 4, (batch, n, 1, 1), generator=gen, device=device)
    yy = torch.arange(height, device=device, dtype=torch.float32)[None, None, :, None]
    xx = torch.arange(width, device=device, dtype=torch.float32)[None, None, None, :]
    cy, cx = (u[..., 0] * height)[..., None, None], (u[..., 1] * width)[..., None, None]
    size = (0.05 + 0.25 * u[..., 2])[..., None, None] * min(height, width)
    thick = (1 + 0.02 * u[..., 3] * min(height, width))[..., None, None]
    bar = ((yy - cy).abs() <= thick) & ((xx - cx).abs() <= 1.5 * size)
    box = (((yy - cy).abs() <= size) & ((xx - cx).abs() <= size)) & ~(
        ((yy - cy).abs() <= size - thick) & ((xx - cx).abs() <= size - thick))
    angle = (u[..., 4] * math.pi)[..., None, None]
    along = (xx - cx) * torch.cos(angle) + (yy - cy) * torch.sin(angle)
    across = -(xx - cx) * torch.sin(angle) + (yy - cy) * torch.cos(angle)
    line = (across.abs() <= thick / 2) & (along.abs() <= 2 * size)
    ring = (torch.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) - size).abs() <= thick / 2
    shapes = torch.where(kind == 0, bar, torch.where(kind == 1, box, torch.where(kind == 2, line, ring)))
    active = torch.arange(n, device=device)[None, :] < torch.tensor(list(counts), device=device)[:, None]
    return (shapes & active[..., None, None]).any(dim=1)


def _draw(x: torch.Tensor, mask: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
    low, high = batch_min(x), batch_max(x)
    level = torch.tensor(list(levels), dtype=x.dtype, device=x.device)[:, None, None]
    return torch.where(mask, low + level * (high - low), x)


def central_mask(shape: tuple[int, int, int], crops: Sequence[CropParams], device) -> torch.Tensor:
    """Return a mask that is True inside each image's kept central region.

    Parameters
    ----------
    shape : tuple of int
        (B, H, W) of the mask.
    crops : sequence of CropParams
        One crop per image (its fractions are used).
    device : str or torch.device
        Device of the mask.

    Returns
    -------
    torch.Tensor
        Boolean mask, shape (B, H, W).
    """
    batch, height, width = shape
    fy = torch.tensor([c.fraction_y for c in crops], device=device)[:, None, None]
    fx = torch.tensor([c.fraction_x for c in crops], device=device)[:, None, None]
    yy = torch.arange(height, device=device)[None, :, None] - (height - 1) / 2
    xx = torch.arange(width, device=device)[None, None, :] - (width - 1) / 2
    return (yy.abs() <= fy * height / 2) & (xx.abs() <= fx * width / 2)


def _fill_outside(x: torch.Tensor, inside: torch.Tensor, crops: Sequence[CropParams]) -> torch.Tensor:
    median = x.flatten(1).median(dim=1).values[:, None, None]
    constant = torch.tensor([c.fill_value for c in crops], dtype=x.dtype, device=x.device)[:, None, None]
    use_median = torch.tensor([c.fill == "median" for c in crops], device=x.device)[:, None, None]
    return torch.where(inside, x, torch.where(use_median, median, constant))


def apply_postprocessing(x, y, params: PostprocessParams | Sequence[PostprocessParams],
                         generator: GeneratorLike):
    """Apply post-processing distortions to a training pair (see module docstring for what goes where).

    Parameters
    ----------
    x, y : torch.Tensor or numpy.ndarray
        Input and target, same shape (H, W) or (B, H, W).
    params : PostprocessParams or sequence of B of them
        One set for every pair, or one per pair.
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of the annotation shapes.

    Returns
    -------
    x_out, y_out : torch.Tensor or numpy.ndarray
        Same type and shape as the inputs; ``y_out`` takes x's floating dtype.
    record : dict
        JSON-serialisable list of applied steps per image.

    Raises
    ------
    ValueError
        If x and y differ in shape, or ``params`` is of the wrong type or length.
    """
    xt, restore_x = as_image_batch(x, "x")
    yt, restore_y = as_image_batch(y, "y")
    if xt.shape != yt.shape:
        raise ValueError(f"x and y must have the same shape; got {tuple(xt.shape)} and {tuple(yt.shape)}.")
    batch = xt.shape[0]
    plist = [params] * batch if isinstance(params, PostprocessParams) else list(params)
    if len(plist) != batch or not all(isinstance(p, PostprocessParams) for p in plist):
        raise ValueError(f"params must be one PostprocessParams or a sequence of {batch} of them.")
    gen = torch_generator(generator, xt.device)
    records: list[list[dict]] = [[] for _ in plist]
    yt = yt.to(xt.dtype)

    def log(name, describe):
        """Append a step to the record of every image for which ``describe`` returns parameters.

        Parameters
        ----------
        name : str
            Name of the step.
        describe : callable
            Maps a :class:`PostprocessParams` to the step's parameters, or None when it was not applied.
        """
        for record, p in zip(records, plist):
            if (value := describe(p)) is not None:
                record.append({"name": name, "parameters": value})

    affine = [p.affine or AffineParams() for p in plist]
    if any(p.affine is not None for p in plist):
        xt, yt = affine_resample(xt, affine), affine_resample(yt, affine)
        log("affine", lambda p: p.affine.to_dict() if p.affine is not None else None)
    if any(p.blur_sigma for p in plist):
        xt = gaussian_blur(xt, [p.blur_sigma or 0.0 for p in plist])
        log("gaussian_blur", lambda p: {"sigma": p.blur_sigma} if p.blur_sigma else None)
    if any(p.annotations is not None for p in plist):
        counts = [p.annotations.count if p.annotations else 0 for p in plist]
        masks = annotation_masks(tuple(xt.shape), counts, gen, xt.device)
        levels = [p.annotations.level if p.annotations else 0.0 for p in plist]
        xt, yt = _draw(xt, masks, levels), _draw(yt, masks, levels)
        log("annotations", lambda p: p.annotations.to_dict() if p.annotations is not None else None)
    if any(p.crop is not None for p in plist):
        crops = [p.crop or CropParams(1.0, 1.0) for p in plist]
        inside = central_mask(tuple(xt.shape), crops, xt.device)
        inside = inside | ~torch.tensor([p.crop is not None for p in plist], device=xt.device)[:, None, None]
        xt, yt = _fill_outside(xt, inside, crops), _fill_outside(yt, inside, crops)
        log("crop", lambda p: p.crop.to_dict() if p.crop is not None else None)
    return restore_x(xt), restore_y(yt), {"pipeline": "postprocessing", "images": records}
