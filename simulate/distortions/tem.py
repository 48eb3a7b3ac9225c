"""TEM camera models (paper eqs. 27-40): MTF blur, shot noise, fixed-pattern and dark-current noise,
thermal, flicker and reset-row read noise, clustered black pixels and zingers, clip and quantisation.

Forms used (standard CCD/CMOS camera models, e.g. EMVA 1288 and Janesick, "Photon Transfer"; the
paper's exact equations were not available to us, so the forms below are ours):

* MTF (27-29): the image spectrum is multiplied by MTF(g) = MTF_r(|g|) · sinc(g_x) · sinc(g_y), g in
  cycles per pixel, sinc(u) = sin(pi u)/(pi u) the pixel aperture, and the radial part
  MTF_r(g) = (1 - w) exp(-g²/2σ1²) + w exp(-g²/2σ2²) with w in [0, 1] and σ1, σ2 > 0, which makes it
  positive and monotonically decreasing by construction (checked by :func:`check_mtf`);
* shot noise (30): electrons ~ Poisson(λ · (1 + s z_fpn)), λ = dose · pixel_size² · intensity, the
  photo-response non-uniformity z_fpn ~ N(0, 1) being the fixed-pattern noise (31);
* dark current (32): D = d̄ · LogNormal(-s²/2, s) (mean d̄) with a fraction of hot pixels drawn
  uniformly in [d̄, D_hot]; its shot noise (33) is Poisson(D);
* thermal (34): white Gaussian; flicker (35): Gaussian with a 1/f power spectrum along the serial
  read-out order (row by row); reset row noise (36): one Gaussian offset per row;
* black pixels (37) and zingers (38): seeds with a given probability per pixel, each grown into a
  cluster by a 4-neighbour random walk of a given length; black clusters are set to 0, zinger clusters
  to max · (1 + A u);
* clip (39): to [0, full scale] in ADU; quantisation (40): rounding to integer ADU.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from simulate.distortions._tensor import (
    batch_max,
    check_fraction,
    check_positive,
    per_image,
)


@dataclass(frozen=True)
class MtfParams:
    """Two-Gaussian radial MTF (eqs. 27-29); sigmas in cycles per pixel, weight in [0, 1]."""

    sigma_1: float = 0.25
    sigma_2: float = 0.05
    weight: float = 0.2

    def __post_init__(self) -> None:
        check_positive(self.sigma_1, "mtf.sigma_1", "cycles/pixel")
        check_positive(self.sigma_2, "mtf.sigma_2", "cycles/pixel")
        check_fraction(self.weight, "mtf.weight")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DarkCurrentParams:
    """Dark-current non-uniformity (eqs. 32-33).

    Parameters
    ----------
    mean : float
        Mean dark electrons per pixel per exposure (>= 0).
    log_sigma : float
        Shape (σ of the log) of the log-normal body (>= 0).
    hot_fraction : float
        Fraction of hot pixels, in [0, 1].
    hot_max : float
        Upper end of the uniform hot-pixel dark signal, in electrons (>= mean).
    """

    mean: float = 2.0
    log_sigma: float = 0.4
    hot_fraction: float = 1e-3
    hot_max: float = 200.0

    def __post_init__(self) -> None:
        check_positive(self.mean, "dark_current.mean", "e⁻", allow_zero=True)
        check_positive(self.log_sigma, "dark_current.log_sigma", allow_zero=True)
        check_fraction(self.hot_fraction, "dark_current.hot_fraction")
        if not self.hot_max >= self.mean:
            raise ValueError(f"dark_current.hot_max must be >= mean ({self.mean}); got {self.hot_max!r}.")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ClusterParams:
    """Clustered defects (eqs. 37-38): seed probability per pixel, random-walk steps, spike height."""

    probability: float = 1e-4
    walk_length: int = 4
    amplitude: float = 1.0

    def __post_init__(self) -> None:
        check_fraction(self.probability, "clusters.probability")
        if int(self.walk_length) != self.walk_length or self.walk_length < 0:
            raise ValueError(f"clusters.walk_length must be an integer >= 0 steps; got {self.walk_length!r}.")
        check_positive(self.amplitude, "clusters.amplitude", "× image maximum")

    def to_dict(self) -> dict:
        return asdict(self)


def mtf_radial(g, sigma_1: float, sigma_2: float, weight: float):
    """MTF_r(g) = (1 - w) exp(-g²/2σ1²) + w exp(-g²/2σ2²) (eq. 28); g in cycles per pixel."""
    MtfParams(sigma_1, sigma_2, weight)
    if isinstance(g, torch.Tensor):
        return (1 - weight) * torch.exp(-(g**2) / (2 * sigma_1**2)) + weight * torch.exp(-(g**2) / (2 * sigma_2**2))
    g = np.asarray(g, dtype=float)
    return (1 - weight) * np.exp(-(g**2) / (2 * sigma_1**2)) + weight * np.exp(-(g**2) / (2 * sigma_2**2))


def check_mtf(params: MtfParams, samples: int = 1025) -> None:
    """Raise ValueError unless MTF_r is positive and non-increasing on [0, √2/2] cycles/pixel."""
    g = np.linspace(0.0, np.sqrt(0.5), samples)
    values = mtf_radial(g, params.sigma_1, params.sigma_2, params.weight)
    if not (np.all(values > 0) and np.all(np.diff(values) <= 1e-15)):
        raise ValueError(f"MTF_r with {params} is not positive and monotonically decreasing.")


def mtf_transfer(shape: tuple[int, int], params: list[MtfParams], *, dtype=torch.float64,
                 device="cpu") -> torch.Tensor:
    """MTF(g) = MTF_r(|g|) sinc(g_x) sinc(g_y) on the rfft2 grid, shape (B, H, W//2 + 1) (eq. 29)."""
    height, width = shape
    gy = torch.fft.fftfreq(height, dtype=dtype, device=device)[:, None]
    gx = torch.fft.rfftfreq(width, dtype=dtype, device=device)[None, :]
    g2 = (gx**2 + gy**2)[None]
    s1 = torch.tensor([p.sigma_1 for p in params], dtype=dtype, device=device)[:, None, None]
    s2 = torch.tensor([p.sigma_2 for p in params], dtype=dtype, device=device)[:, None, None]
    w = torch.tensor([p.weight for p in params], dtype=dtype, device=device)[:, None, None]
    radial = (1 - w) * torch.exp(-g2 / (2 * s1**2)) + w * torch.exp(-g2 / (2 * s2**2))
    return radial * torch.sinc(gx)[None] * torch.sinc(gy)[None]


def mtf_blur_batch(x: torch.Tensor, params: list[MtfParams]) -> torch.Tensor:
    """Blur each image with its MTF (periodic boundaries; the image mean is preserved)."""
    transfer = mtf_transfer(tuple(x.shape[-2:]), params, dtype=x.dtype, device=x.device)
    return torch.fft.irfft2(torch.fft.rfft2(x) * transfer, s=tuple(x.shape[-2:]))


def dark_current_map(x: torch.Tensor, params: list[DarkCurrentParams], gen: torch.Generator) -> torch.Tensor:
    """Per-pixel mean dark electrons: log-normal body (mean d̄) plus uniform hot pixels (eq. 32)."""
    batch = x.shape[0]
    mean = per_image([p.mean for p in params], batch, x, "dark_current.mean")
    s = per_image([p.log_sigma for p in params], batch, x, "dark_current.log_sigma")
    hot_p = per_image([p.hot_fraction for p in params], batch, x, "dark_current.hot_fraction")
    hot_max = per_image([p.hot_max for p in params], batch, x, "dark_current.hot_max")
    z = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    body = mean * torch.exp(s * z - s * s / 2)
    hot = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) < hot_p
    u = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return torch.where(hot, mean + (hot_max - mean) * u, body)


def flicker_noise(x: torch.Tensor, sigma: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Gaussian 1/f noise along the serial read-out order with standard deviation ``sigma`` (eq. 35)."""
    batch, height, width = x.shape
    n = height * width
    white = torch.randn((batch, n), generator=gen, device=x.device, dtype=x.dtype)
    f = torch.fft.rfftfreq(n, device=x.device, dtype=x.dtype)
    shaping = torch.where(f > 0, 1.0 / torch.sqrt(torch.clamp(f, min=1.0 / n)), torch.zeros_like(f))
    pink = torch.fft.irfft(torch.fft.rfft(white) * shaping, n)
    pink = pink / pink.std(dim=-1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)
    return sigma * pink.reshape(batch, height, width)


def cluster_mask(x: torch.Tensor, params: list[ClusterParams], gen: torch.Generator) -> torch.Tensor:
    """Boolean mask of random-walk clusters grown from Bernoulli seeds (eqs. 37-38), vectorised."""
    batch, height, width = x.shape
    p = per_image([c.probability for c in params], batch, x, "clusters.probability")
    seeds = torch.nonzero(torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) < p)
    mask = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    if seeds.shape[0] == 0:
        return mask
    steps_max = max(int(c.walk_length) for c in params)
    walk_len = torch.tensor([int(c.walk_length) for c in params], device=x.device)[seeds[:, 0]]
    moves = torch.tensor([[0, 1], [0, -1], [1, 0], [-1, 0]], device=x.device)
    choice = torch.randint(0, 4, (seeds.shape[0], steps_max), generator=gen, device=x.device)
    step = moves[choice] * (torch.arange(steps_max, device=x.device)[None, :, None] < walk_len[:, None, None])
    start = torch.zeros((seeds.shape[0], 1, 2), dtype=step.dtype, device=x.device)
    path = seeds[:, None, 1:] + torch.cat((start, step.cumsum(dim=1)), dim=1)
    rows = path[..., 0].clamp(0, height - 1)
    cols = path[..., 1].clamp(0, width - 1)
    image = seeds[:, :1].expand_as(rows)
    mask[image.reshape(-1), rows.reshape(-1), cols.reshape(-1)] = True
    return mask


def spike_values(x: torch.Tensor, amplitude: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Spike heights max + |max| · A · u, u ~ U(0, 1], for every pixel (used where a mask is set)."""
    u = 1.0 - torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    peak = batch_max(x)
    scale = torch.where(peak.abs() > 0, peak.abs(), torch.ones_like(peak))
    return peak + scale * amplitude * u
