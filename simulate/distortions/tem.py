"""TEM camera models of the paper's Methods (eqs. 27-40) as batched, seeded torch operations.

y is the undistorted image, x the distorted one. The camera pipeline keeps x in detected electrons per
pixel (the suite's dose convention λ = dose · pixel_size² · intensity) up to the ADC; the paper's
division by the dose scale α in eq. 30 is left to the caller (the pair generator normalises x at the end).

* MTF (27-29): y ← y ⊗ PSF acts on the *target* (:func:`apply_mtf`), because an MTF blur cannot be told
  apart from other microscope settings; the distorted x is then made from the blurred y. Eq. 28:
  MTF = MTF_r(g) · sinc(πu/2) · sinc(πv/2), (u, v) in units of the Nyquist frequency, g = √(u² + v²),
  sinc(z) = sin(z)/z, so sinc(πu/2) = sin(π f_x)/(π f_x) with f_x = u/2 in cycles per pixel: the
  transfer of the square pixel aperture. Eq. 29: MTF_r = a e^{−g²/2b²} + (1 − a) e^{−g²/2c²}, a, b, c > 0,
  admitted only if MTF_r is positive and monotonically decreasing on 1000 grid points over
  [0, 10] Nyquist units (:func:`check_mtf`); a > 1 gives flat-topped MTFs, where the check bites.
* shot noise (30): n ~ P(λ); fixed-pattern noise (31): x ← x + x · N(0, σ_fpn), after the shot noise.
* dark current (32-33): DCNU from a log-normal body with mean μ and standard deviation σ (electrons),
  a fraction of hot pixels uniform in [μ + 5σ, μ + 8σ]; x ← x + P(DCNU).
* thermal (34): white N(0, σ); flicker (35): x ← x + F(N(0, σ)/f), a 2-D field whose Fourier amplitude
  falls as 1/|f| (zero at f = 0), scaled so that each realisation's real-space rms over the image is σ;
  reset (36): one N(0, σ) per row.
* black pixels (37) and zingers (38): seed pixels grown into clusters by 4-neighbour random walks; black
  clusters are multiplied by S_black = 0, zinger clusters set above the image maximum (see
  :func:`spike_values`).
* clip (39): min(x, T_u); quantisation (40): round(α x), α the ADC gain (ADU per electron).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from simulate.distortions._tensor import (
    as_image_batch,
    batch_max,
    check_fraction,
    check_positive,
    per_image,
)

MTF_CHECK_POINTS = 1000  # eq. 29 constraint: grid points ...
MTF_CHECK_LENGTH_NYQUIST = 10.0  # ... over this length, in units of the Nyquist frequency


def mtf_radial(g_nyquist, a: float, b_nyquist: float, c_nyquist: float):
    """Evaluate MTF_r(g) = a e^{−g²/2b²} + (1 − a) e^{−g²/2c²} (eq. 29), g, b, c in units of the Nyquist frequency.

    Parameters
    ----------
    g_nyquist : float, numpy.ndarray or torch.Tensor
        Radial spatial frequency in units of the Nyquist frequency (0.5 cycles per pixel).
    a : float
        Weight of the first Gaussian (> 0; above 1 the second weight is negative).
    b_nyquist, c_nyquist : float
        Widths of the two Gaussians in Nyquist units (> 0).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        MTF_r, equal to 1 at g = 0: a tensor for tensor input, a float array otherwise.
    """
    if isinstance(g_nyquist, torch.Tensor):
        exp, g = torch.exp, g_nyquist
    else:
        exp, g = np.exp, np.asarray(g_nyquist, dtype=float)
    return a * exp(-(g**2) / (2 * b_nyquist**2)) + (1 - a) * exp(-(g**2) / (2 * c_nyquist**2))


def mtf_admissible(a: float, b_nyquist: float, c_nyquist: float) -> bool:
    """Return whether MTF_r is positive and monotonically decreasing on the paper's grid (eq. 29).

    The grid is 1000 points spanning [0, 10] Nyquist units. Positive is tested as >= 0 and decreasing as
    non-increasing between neighbours, because a Gaussian of width below ≈ 0.26 Nyquist units underflows
    to exactly 0 in float64 before g = 10; a strict test would reject such MTFs for a rounding reason.

    Parameters
    ----------
    a : float
        Weight of the first Gaussian.
    b_nyquist, c_nyquist : float
        Widths of the two Gaussians in Nyquist units.

    Returns
    -------
    bool
        True when the eq. 29 constraint holds.
    """
    g = np.linspace(0.0, MTF_CHECK_LENGTH_NYQUIST, MTF_CHECK_POINTS)
    values = mtf_radial(g, a, b_nyquist, c_nyquist)
    return bool(np.all(values >= 0.0) and np.all(np.diff(values) <= 0.0))


@dataclass(frozen=True, kw_only=True)
class MtfParams:
    """Camera MTF of eqs. 28-29, admitted only when the eq. 29 constraint holds.

    Parameters
    ----------
    a : float
        Weight of the first Gaussian of MTF_r (> 0).
    b_nyquist, c_nyquist : float
        Gaussian widths of MTF_r in units of the Nyquist frequency (> 0).

    Raises
    ------
    ValueError
        If a parameter is not positive, or MTF_r is not positive and monotonically decreasing on the
        paper's grid (see :func:`mtf_admissible`).
    """

    a: float
    b_nyquist: float
    c_nyquist: float

    def __post_init__(self) -> None:
        """Validate the fields and the eq. 29 constraint.

        Raises
        ------
        ValueError
            If a parameter is not positive or the MTF is not admissible.
        """
        check_positive(self.a, "mtf.a")
        check_positive(self.b_nyquist, "mtf.b_nyquist", "× Nyquist frequency")
        check_positive(self.c_nyquist, "mtf.c_nyquist", "× Nyquist frequency")
        check_mtf(self)

    def to_dict(self) -> dict:
        """Return the fields as a dictionary.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


def check_mtf(params: MtfParams) -> None:
    """Raise ValueError unless MTF_r is positive and monotonically decreasing on the eq. 29 grid.

    Parameters
    ----------
    params : MtfParams
        The MTF to check.

    Raises
    ------
    ValueError
        If :func:`mtf_admissible` is False for ``params``.
    """
    if not mtf_admissible(params.a, params.b_nyquist, params.c_nyquist):
        raise ValueError(
            f"MTF_r with a={params.a!r}, b={params.b_nyquist!r}, c={params.c_nyquist!r} (Nyquist units) is not "
            f"positive and monotonically decreasing on {MTF_CHECK_POINTS} points over [0, "
            f"{MTF_CHECK_LENGTH_NYQUIST:g}]: for a > 1 choose b > c and a/b² >= (a - 1)/c², or take a <= 1."
        )


def mtf_transfer(shape: tuple[int, int], params: Sequence[MtfParams], *, dtype=torch.float64,
                 device="cpu") -> torch.Tensor:
    """Return MTF = MTF_r(g) sinc(πu/2) sinc(πv/2) (eq. 28) on the rfft2 grid.

    u = f_x / 0.5 and v = f_y / 0.5 with f in cycles per pixel, so sinc(πu/2) = torch.sinc(f_x).

    Parameters
    ----------
    shape : tuple of int
        (H, W) of the images.
    params : sequence of MtfParams
        One MTF per image.
    dtype : torch.dtype
        Dtype of the result.
    device : str or torch.device
        Device of the result.

    Returns
    -------
    torch.Tensor
        Transfer function, shape (B, H, W//2 + 1), in the layout of ``torch.fft.rfft2``.
    """
    height, width = shape
    fy = torch.fft.fftfreq(height, dtype=dtype, device=device)[:, None]
    fx = torch.fft.rfftfreq(width, dtype=dtype, device=device)[None, :]
    g = (2.0 * torch.sqrt(fx**2 + fy**2))[None]  # Nyquist units

    def column(name):
        """Return one field of every MTF as a (B, 1, 1) tensor.

        Parameters
        ----------
        name : str
            Field of :class:`MtfParams`.

        Returns
        -------
        torch.Tensor
            Shape (B, 1, 1).
        """
        return torch.tensor([getattr(p, name) for p in params], dtype=dtype, device=device)[:, None, None]

    radial = mtf_radial(g, column("a"), column("b_nyquist"), column("c_nyquist"))
    return radial * (torch.sinc(fx) * torch.sinc(fy))[None]


def apply_mtf(images, mtf: MtfParams | Sequence[MtfParams], *, nonnegative: bool = True):
    """Convolve undistorted TEM images with the camera PSF, y ← y ⊗ PSF (eq. 27).

    The convolution is a product with the MTF of eq. 28 in Fourier space (periodic boundaries, so give
    the image with a margin); the mean is preserved since MTF(0) = 1.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) undistorted images y.
    mtf : MtfParams or sequence of B of them
        One MTF for every image, or one per image (e.g. from :func:`~simulate.distortions.samplers.sample_mtf`).
    nonnegative : bool
        Clamp the result at 0 (intensity cannot be negative). The PSF of a flat-topped MTF (a > 1) has
        negative lobes and the cut-off at the Nyquist frequency rings, so a sharp y can dip below 0.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Same kind and shape as ``images``: the blurred target.

    Raises
    ------
    ValueError
        For a wrong image rank, NaN, or ``mtf`` of the wrong type or length.
    """
    y, restore = as_image_batch(images)
    batch = y.shape[0]
    if isinstance(mtf, MtfParams):
        plist = [mtf] * batch
    elif isinstance(mtf, Sequence) and len(mtf) == batch and all(isinstance(p, MtfParams) for p in mtf):
        plist = list(mtf)
    else:
        raise ValueError(f"mtf must be one MtfParams or a sequence of {batch} of them (one per image); "
                         f"got {type(mtf).__name__}.")
    shape = tuple(y.shape[-2:])
    out = torch.fft.irfft2(torch.fft.rfft2(y) * mtf_transfer(shape, plist, dtype=y.dtype, device=y.device), s=shape)
    return restore(out.clamp_min(0.0) if nonnegative else out)


@dataclass(frozen=True, kw_only=True)
class DarkCurrentParams:
    """Dark-current non-uniformity (eq. 32) whose shot noise is added to the image (eq. 33).

    Parameters
    ----------
    mean_e : float
        μ: mean dark signal per pixel per exposure in electrons (>= 0).
    std_e : float
        σ: standard deviation of the dark signal's log-normal body in electrons (>= 0; > 0 needs μ > 0).
    hot_fraction : float
        Fraction of hot pixels, whose dark signal is uniform in [μ + 5σ, μ + 8σ], in [0, 1].
    """

    mean_e: float = 2.0
    std_e: float = 1.0
    hot_fraction: float = 1e-3

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If a value is out of range, or ``std_e`` > 0 with ``mean_e`` = 0.
        """
        check_positive(self.mean_e, "dark_current.mean_e", "e⁻", allow_zero=True)
        check_positive(self.std_e, "dark_current.std_e", "e⁻", allow_zero=True)
        check_fraction(self.hot_fraction, "dark_current.hot_fraction")
        if self.std_e > 0 and self.mean_e == 0:
            raise ValueError("dark_current.std_e > 0 needs mean_e > 0 e⁻ (a log-normal with mean 0 is constant).")

    def to_dict(self) -> dict:
        """Return the fields as a dictionary.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


@dataclass(frozen=True)
class ClusterParams:
    """Clustered defects (eqs. 37-38): seed probability per pixel, random-walk steps, spike height.

    Parameters
    ----------
    probability : float
        Probability that a pixel seeds a cluster, in [0, 1].
    walk_length : int
        Number of 4-neighbour random-walk steps grown from each seed, >= 0 (0: single pixels).
    amplitude : float
        Largest zinger height above the image maximum in units of |image maximum|, > 0 (unused for
        black clusters).
    """

    probability: float = 1e-4
    walk_length: int = 4
    amplitude: float = 1.0

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If a value is out of range or ``walk_length`` is not an integer.
        """
        check_fraction(self.probability, "clusters.probability")
        if int(self.walk_length) != self.walk_length or self.walk_length < 0:
            raise ValueError(f"clusters.walk_length must be an integer >= 0 steps; got {self.walk_length!r}.")
        check_positive(self.amplitude, "clusters.amplitude", "× image maximum")

    def to_dict(self) -> dict:
        """Return the fields as a dictionary.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


def dark_current_map(x: torch.Tensor, params: Sequence[DarkCurrentParams], gen: torch.Generator) -> torch.Tensor:
    """Draw the DCNU (eq. 32): per-pixel mean dark electrons, a log-normal body and uniform hot pixels.

    We read the paper's lnN(μ, σ) as a log-normal with mean μ and standard deviation σ in electrons
    (log-space shape s² = ln(1 + σ²/μ²), location ln μ − s²/2), and "+ U(a, b)" as a mixture: a fraction
    ``hot_fraction`` of the pixels takes a value uniform in [a, b] = [μ + 5σ, μ + 8σ] instead.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W); only their shape, dtype and device are used.
    params : sequence of DarkCurrentParams
        One setting per image.
    gen : torch.Generator
        Generator on ``x``'s device.

    Returns
    -------
    torch.Tensor
        Mean dark signal per pixel [electrons], shape (B, H, W); the caller adds its Poisson draw (eq. 33).
    """
    batch = x.shape[0]
    mean = per_image([p.mean_e for p in params], batch, x, "dark_current.mean_e")
    std = per_image([p.std_e for p in params], batch, x, "dark_current.std_e")
    hot_p = per_image([p.hot_fraction for p in params], batch, x, "dark_current.hot_fraction")
    ratio = torch.where(mean > 0, std / mean.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(mean))
    s2 = torch.log1p(ratio**2)
    z = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    body = mean * torch.exp(torch.sqrt(s2) * z - s2 / 2)
    hot = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) < hot_p
    u = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return torch.where(hot, mean + (5.0 + 3.0 * u) * std, body)


def flicker_noise(x: torch.Tensor, sigma: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Draw flicker (1/f) noise F(N(0, σ)/f) of eq. 35 as a 2-D field, one per image.

    White Gaussian noise is transformed to Fourier space, divided by the reciprocal distance
    |f| = √(f_x² + f_y²) (the f = 0 term set to 0, so the field has zero mean) and transformed back; its
    power spectrum falls as 1/|f|². The paper leaves the scale to "the appropriate standard deviation":
    we scale each realisation so that its real-space rms (= standard deviation) over the image is σ.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W); only their shape, dtype and device are used.
    sigma : torch.Tensor
        rms of the field per image [electrons], broadcastable to (B, 1, 1).
    gen : torch.Generator
        Generator on ``x``'s device.

    Returns
    -------
    torch.Tensor
        Zero-mean noise field, shape (B, H, W), to be added to the images.
    """
    batch, height, width = x.shape
    white = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    fy = torch.fft.fftfreq(height, device=x.device, dtype=x.dtype)[:, None]
    fx = torch.fft.rfftfreq(width, device=x.device, dtype=x.dtype)[None, :]
    f = torch.sqrt(fx**2 + fy**2)
    inverse = torch.where(f > 0, 1.0 / torch.where(f > 0, f, torch.ones_like(f)), torch.zeros_like(f))
    field = torch.fft.irfft2(torch.fft.rfft2(white) * inverse, s=(height, width))
    rms = field.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt().clamp_min(torch.finfo(x.dtype).tiny)
    return sigma * field / rms


def cluster_mask(x: torch.Tensor, params: Sequence[ClusterParams], gen: torch.Generator) -> torch.Tensor:
    """Draw the sensitivity-mask clusters of eqs. 37-38: Bernoulli seed points, each grown by a random walk.

    The paper places "a specified number" of points uniformly; we draw each pixel as a seed with
    probability ``probability`` (expected number probability · H · W), then take ``walk_length``
    4-neighbour random steps from each seed (clamped at the edges) and mark every visited pixel.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W); only their shape, dtype and device are used.
    params : sequence of ClusterParams
        One setting per image.
    gen : torch.Generator
        Generator on ``x``'s device.

    Returns
    -------
    torch.Tensor
        Boolean mask of the cluster pixels, shape (B, H, W).
    """
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
    """Draw zinger values max + |max| · A · u, u ~ U(0, 1], for every pixel (used where the mask is set).

    Eq. 38 multiplies x by a sensitivity mask S_zinger, which would leave a zinger on a dark (0) pixel
    dark; a zinger is a burst of light, so we set the pixel above the image maximum instead.

    Parameters
    ----------
    x : torch.Tensor
        Images, shape (B, H, W).
    amplitude : torch.Tensor
        A per image, broadcastable to (B, 1, 1), in units of |image maximum| (taken as 1 when the maximum
        is 0).
    gen : torch.Generator
        Generator on ``x``'s device.

    Returns
    -------
    torch.Tensor
        Spike values, shape (B, H, W).
    """
    u = 1.0 - torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    peak = batch_max(x)
    scale = torch.where(peak.abs() > 0, peak.abs(), torch.ones_like(peak))
    return peak + scale * amplitude * u

