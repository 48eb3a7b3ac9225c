"""Scan-line jitter of S(T)EM images (paper eqs. 41-42).

While the probe is rastered, stray fields and scan-coil noise displace it. Eq. 41 models the
displacement along t = x (fast, axis -1) and t = y (slow, axis -2) as a Yule-Walker (AR(1)) series

    Delta_t^1 = a_t^1 / sqrt(1 - phi_t^2),                  k = 1
    Delta_t^k = phi_t Delta_t^{k-1} + a_t^k,  a_t^k ~ N(0, sigma_t^2),   k > 1,       (eq. 41)

(the printed "sqrt((1 - phi_t^2}" lacks a parenthesis), i.e. a series started from its stationary
distribution: variance sigma_t^2 / (1 - phi_t^2) at every k and lag-1 autocorrelation phi_t. The
recorded image is the specimen intensity resampled on the displaced grid by bicubic interpolation,

    I'(r, c) = I(r + Delta_y^r, c + Delta_x^r)                                     (eq. 42)

How we read the index k: one displacement per scan line, k the line number, for both directions
(line jitter: X jitter shifts whole lines along x, Y jitter moves lines along y, as in the paper's
Fig. 13). The paper calls k "the pixel index along a given t direction", which for y is the line
index; for x a per-pixel series within the line would be a different (within-line) jitter that we do
not model. sigma_t is in Å (the paper's range is in Å) and is converted to pixels with the pixel size;
phi_t must lie in [0, 1) (the paper allows 1, where the stationary start diverges). Samples outside
the field of view take the nearest edge value.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from simulate.distortions._tensor import (
    GeneratorLike,
    as_image_batch,
    check_fraction,
    check_positive,
    per_image,
    torch_generator,
)


@dataclass(frozen=True)
class JitterParams:
    """AR(1) scan-line jitter along the fast (x) and slow (y) scan directions.

    Parameters
    ----------
    sigma_fast, sigma_slow : float
        Innovation standard deviation of the line displacement along x / y, in Å (0 switches that
        direction off).
    phi_fast, phi_slow : float
        Lag-1 autocorrelation of the displacement series, in [0, 1).
    """

    sigma_fast: float = 0.0
    phi_fast: float = 0.0
    sigma_slow: float = 0.0
    phi_slow: float = 0.0

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If a sigma is negative or not finite, or a phi lies outside [0, 1).
        """
        check_positive(self.sigma_fast, "sigma_fast", "Å", allow_zero=True)
        check_positive(self.sigma_slow, "sigma_slow", "Å", allow_zero=True)
        check_fraction(self.phi_fast, "phi_fast", closed_high=False)
        check_fraction(self.phi_slow, "phi_slow", closed_high=False)

    @property
    def kind(self) -> str:
        """Name the directions that jitter.

        Returns
        -------
        str
            'x', 'y', 'xy' or 'none'.
        """
        return ("x" if self.sigma_fast > 0 else "") + ("y" if self.sigma_slow > 0 else "") or "none"

    def to_dict(self) -> dict:
        """Return the fields and the jitter kind as a dictionary.

        Returns
        -------
        dict
            ``kind`` (see :attr:`kind`) and the four fields.
        """
        return {"kind": self.kind, **asdict(self)}


def ar1_series(sigma: torch.Tensor | float, phi: torch.Tensor | float, length: int,
               generator: GeneratorLike, *, batch: int | None = None,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Draw stationary AR(1) series d_t = phi d_{t-1} + eps_t (eq. 41), one per batch entry.

    Parameters
    ----------
    sigma : float or tensor (B,)
        Innovation standard deviation (any length unit; the output has the same unit).
    phi : float or tensor (B,)
        Lag-1 autocorrelation, in [0, 1).
    length : int
        Number of time steps (scan lines).
    generator : int, numpy.random.Generator or torch.Generator
        Source of randomness.
    batch : int, optional
        Number of series when ``sigma`` and ``phi`` are scalars.
    device : torch.device or str
        Device of the result.
    dtype : torch.dtype
        Dtype of the result.

    Returns
    -------
    torch.Tensor
        Shape (B, length); each series has variance sigma^2 / (1 - phi^2) at every step.

    Raises
    ------
    ValueError
        If ``sigma`` or ``phi`` has neither one nor B values, ``length`` < 1, a sigma is negative or a phi
        lies outside [0, 1).

    Notes
    -----
    The recursion is evaluated with a log2(length)-step parallel prefix scan (exact, no loop over
    time steps), so it runs as a handful of vectorised operations on CPU or GPU.
    """
    device = torch.device(device)
    sigma_t = torch.as_tensor(sigma, dtype=dtype, device=device).reshape(-1)
    phi_t = torch.as_tensor(phi, dtype=dtype, device=device).reshape(-1)
    n = batch if batch is not None else max(sigma_t.numel(), phi_t.numel())
    sigma_t = sigma_t.expand(n) if sigma_t.numel() == 1 else sigma_t
    phi_t = phi_t.expand(n) if phi_t.numel() == 1 else phi_t
    if sigma_t.numel() != n or phi_t.numel() != n:
        raise ValueError(f"sigma and phi must be scalars or have {n} values; got {sigma_t.numel()}, {phi_t.numel()}.")
    if length < 1:
        raise ValueError(f"length must be >= 1; got {length}.")
    if bool((sigma_t < 0).any()) or bool(((phi_t < 0) | (phi_t >= 1)).any()):
        raise ValueError("sigma must be >= 0 and phi must lie in [0, 1) for a stationary AR(1) series.")
    gen = torch_generator(generator, device)
    eps = torch.randn((n, length), generator=gen, device=device, dtype=dtype) * sigma_t[:, None]
    # Stationary start: the first value already carries the full variance sigma^2 / (1 - phi^2).
    eps[:, 0] = eps[:, 0] / torch.sqrt(1.0 - phi_t**2)
    series = eps
    coefficient = phi_t[:, None]
    offset = 1
    while offset < length:
        shifted = torch.zeros_like(series)
        shifted[:, offset:] = series[:, :-offset]
        series = series + coefficient * shifted
        coefficient = coefficient * coefficient
        offset *= 2
    return series


def _cubic_weights(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Cubic-convolution weights (Keys, a = -0.75, as torch's bicubic) of taps -1, 0, 1, 2 at fraction t."""
    a = -0.75

    def near(s):
        return ((a + 2) * s - (a + 3)) * s * s + 1

    def far(s):
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def displace_lines(images: torch.Tensor, shift_fast: torch.Tensor | None,
                   shift_slow: torch.Tensor | None) -> torch.Tensor:
    """Resample each scan line on its displaced position by bicubic interpolation (eq. 42).

    Because a line moves as a whole, the 2-D bicubic interpolation separates into a cubic mix of four
    neighbouring lines (slow direction) followed by a cubic shift of each line (fast direction); both
    are done with gathers, taps outside the image take the edge value.

    Parameters
    ----------
    images : torch.Tensor
        (B, H, W) batch.
    shift_fast, shift_slow : torch.Tensor or None
        (B, H) displacement of every line along x and y, in pixels; None skips that direction (the
        result is then exactly the input along it, and no device synchronisation is needed).

    Returns
    -------
    torch.Tensor
        Resampled batch, shape (B, H, W): out[b, r, c] = images[b, r + shift_slow[b, r], c + shift_fast[b, r]].
    """
    batch, height, width = images.shape
    out = images
    if shift_slow is not None:
        position = torch.arange(height, device=images.device, dtype=images.dtype)[None, :] + shift_slow
        base = torch.floor(position)
        weights = _cubic_weights(position - base)
        mixed = torch.zeros_like(images)
        for tap, weight in zip(range(-1, 3), weights):
            index = (base.long() + tap).clamp(0, height - 1)[:, :, None].expand(batch, height, width)
            mixed = mixed + weight[:, :, None] * out.gather(1, index)
        out = mixed
    if shift_fast is not None:
        base = torch.floor(shift_fast)
        weights = _cubic_weights(shift_fast - base)
        cols = torch.arange(width, device=images.device)[None, None, :] + base.long()[:, :, None]
        shifted = torch.zeros_like(images)
        for tap, weight in zip(range(-1, 3), weights):
            shifted = shifted + weight[:, :, None] * out.gather(2, (cols + tap).clamp(0, width - 1))
        out = shifted
    return out


def scan_jitter(images, params: JitterParams, *, pixel_size_A: float, generator: GeneratorLike):
    """Apply AR(1) scan-line jitter (eqs. 41-42) to a batch of intensities.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) noiseless intensity; axis -1 is the fast-scan direction.
    params : JitterParams
        Jitter strengths in Å; each image gets its own independent displacement series.
    pixel_size_A : float
        Pixel size in Å (> 0).
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of the displacement series.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Same type and shape as ``images``. Bicubic overshoot is left in place (it can dip below zero next
        to sharp peaks); the STEM pipeline clamps intensities at zero before counting.

    Raises
    ------
    ValueError
        If ``pixel_size_A`` is not finite and positive (or ``images`` is invalid).
    """
    check_positive(pixel_size_A, "pixel_size_A", "Å")
    x, restore = as_image_batch(images)
    return restore(scan_jitter_batch(x, [params] * x.shape[0], [pixel_size_A] * x.shape[0], generator))


def scan_jitter_batch(x: torch.Tensor, params: list[JitterParams], pixel_sizes: list[float],
                      generator: GeneratorLike) -> torch.Tensor:
    """Apply scan jitter to a (B, H, W) batch, one :class:`JitterParams` and pixel size per image.

    Parameters
    ----------
    x : torch.Tensor
        Intensities, shape (B, H, W).
    params : list of JitterParams
        One parameter set per image (sigmas in Å).
    pixel_sizes : list of float
        One pixel size per image [Å]; converts the sigmas to pixels.
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of the displacement series (fast direction drawn first).

    Returns
    -------
    torch.Tensor
        Jittered intensities, shape (B, H, W).
    """
    batch, height, _ = x.shape
    gen = torch_generator(generator, x.device)
    px = np.asarray(pixel_sizes, dtype=float)
    sig_fast = per_image([p.sigma_fast for p in params] / px, batch, x, "sigma_fast").reshape(-1)
    sig_slow = per_image([p.sigma_slow for p in params] / px, batch, x, "sigma_slow").reshape(-1)
    phi_fast = per_image([p.phi_fast for p in params], batch, x, "phi_fast").reshape(-1)
    phi_slow = per_image([p.phi_slow for p in params], batch, x, "phi_slow").reshape(-1)
    # Directions no image jitters along are skipped, which keeps them exact and saves work.
    shift_fast = shift_slow = None
    if any(p.sigma_fast > 0 for p in params):
        shift_fast = ar1_series(sig_fast, phi_fast, height, gen, device=x.device, dtype=x.dtype)
    if any(p.sigma_slow > 0 for p in params):
        shift_slow = ar1_series(sig_slow, phi_slow, height, gen, device=x.device, dtype=x.dtype)
    return displace_lines(x, shift_fast, shift_slow)
