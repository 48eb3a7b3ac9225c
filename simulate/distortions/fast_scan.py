"""Fast-scan noise: the finite time response of the S(T)EM detector chain (eqs. 47-50).

The detector signal is read while the probe moves on, so each pixel also contains the tail of the
signal of the pixels scanned just before it along the fast direction (axis -1). We model the response
as a causal 1-D convolution, time measured in pixel dwell times t >= 0, with two components:

* detector (scintillator) PSF: a causal Lorentzian of half width gamma,
      h_d(t) = 2 gamma / (pi (gamma² + t²)),  t >= 0,   integral 1;                      (eqs. 47-48)
* read-out PSF: the impulse response of a damped harmonic oscillator (the amplifier/filter chain)
  with natural frequency omega0 and damping ratio zeta < 1,
      h_r(t) = (omega0² / omega_d) exp(-zeta omega0 t) sin(omega_d t),  omega_d = omega0 sqrt(1 - zeta²),
  whose prefactor omega0²/omega_d is the normalisation that makes its integral exactly 1 (eqs. 49-50).

Both are integrated analytically over each dwell interval [k, k + 1) (so sub-pixel widths are exact),
cut at ``kernel_length`` pixels and renormalised to sum 1 (the cut-off tail mass is reported by
:func:`psf_tail_mass`); their causal convolution is cut at ``kernel_length`` again and renormalised.
The read-out PSF rings and takes negative values; only the Lorentzian and the sum of each kernel are
constrained. The left edge of each line is extended with its first value,
i.e. the detector had settled on the first pixel before the line started.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from simulate.distortions._tensor import GeneratorLike, as_image_batch, check_fraction, check_positive


@dataclass(frozen=True)
class FastScanParams:
    """Detector-chain response along the fast-scan direction.

    Parameters
    ----------
    detector_width : float
        Half width gamma of the causal Lorentzian detector PSF, in pixel dwell times (>= 0; 0 = none).
    readout_frequency : float or None
        Natural angular frequency omega0 of the read-out oscillator, in rad per dwell time (> 0), or
        None for an ideal read-out.
    readout_damping : float
        Damping ratio zeta of the read-out, in (0, 1).
    kernel_length : int
        Number of dwell times the kernels are evaluated over (>= 2).
    """

    detector_width: float = 0.5
    readout_frequency: float | None = 1.0
    readout_damping: float = 0.6
    kernel_length: int = 32

    def __post_init__(self) -> None:
        check_positive(self.detector_width, "detector_width", "dwell times", allow_zero=True)
        if self.readout_frequency is not None:
            check_positive(self.readout_frequency, "readout_frequency", "rad per dwell time")
        check_fraction(self.readout_damping, "readout_damping", closed_low=False, closed_high=False)
        if int(self.kernel_length) != self.kernel_length or self.kernel_length < 2:
            raise ValueError(f"kernel_length must be an integer >= 2 pixels; got {self.kernel_length!r}.")

    def to_dict(self) -> dict:
        return asdict(self)


def lorentzian_psf_continuous(t: torch.Tensor, width: float) -> torch.Tensor:
    """Causal Lorentzian h_d(t) = 2γ/(π(γ² + t²)) for t >= 0, 0 for t < 0 (eq. 47)."""
    check_positive(width, "width", "dwell times")
    return torch.where(t >= 0, 2 * width / (math.pi * (width**2 + t**2)), torch.zeros_like(t))


def readout_psf_continuous(t: torch.Tensor, frequency: float, damping: float) -> torch.Tensor:
    """Damped-oscillator impulse response (ω0²/ω_d) e^{-ζω0 t} sin(ω_d t) for t >= 0 (eqs. 49-50)."""
    check_positive(frequency, "frequency", "rad per dwell time")
    check_fraction(damping, "damping", closed_low=False, closed_high=False)
    omega_d = frequency * math.sqrt(1 - damping**2)
    value = frequency**2 / omega_d * torch.exp(-damping * frequency * t) * torch.sin(omega_d * t)
    return torch.where(t >= 0, value, torch.zeros_like(t))


def _lorentzian_cdf(t: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    return 2.0 / math.pi * torch.atan(t / width)


def _readout_cdf(t: torch.Tensor, frequency: torch.Tensor, damping: torch.Tensor) -> torch.Tensor:
    a = damping * frequency
    omega_d = frequency * torch.sqrt(1 - damping**2)
    return 1.0 - torch.exp(-a * t) * (torch.cos(omega_d * t) + a / omega_d * torch.sin(omega_d * t))


def _binned(cdf_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    weights = cdf_values[..., 1:] - cdf_values[..., :-1]
    total = cdf_values[..., -1:] - cdf_values[..., :1]
    return weights / total, 1.0 - total


def lorentzian_psf(width, length: int, *, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Dwell-binned causal Lorentzian PSF, shape (..., length), each kernel summing to 1.

    ``width`` (γ, dwell times) may be a float or a tensor (B,); γ = 0 gives a delta.
    """
    width_t = torch.as_tensor(width, dtype=dtype, device=device)
    edges = torch.arange(length + 1, dtype=dtype, device=device)
    safe = torch.clamp(width_t, min=1e-12)[..., None]
    weights, _ = _binned(_lorentzian_cdf(edges, safe))
    delta = torch.zeros_like(weights)
    delta[..., 0] = 1.0
    return torch.where(width_t[..., None] > 0, weights, delta)


def readout_psf(frequency, damping, length: int, *, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Dwell-binned damped-oscillator read-out PSF, shape (..., length), each kernel summing to 1."""
    freq_t = torch.as_tensor(frequency, dtype=dtype, device=device)[..., None]
    damp_t = torch.as_tensor(damping, dtype=dtype, device=device)[..., None]
    edges = torch.arange(length + 1, dtype=dtype, device=device)
    weights, _ = _binned(_readout_cdf(edges, freq_t, damp_t))
    return weights


def psf_tail_mass(params: FastScanParams) -> dict[str, float]:
    """Fraction of each continuous PSF's integral beyond ``kernel_length`` (dropped by renormalising)."""
    edge = torch.tensor([0.0, float(params.kernel_length)], dtype=torch.float64)
    result = {"detector": 0.0, "readout": 0.0}
    if params.detector_width > 0:
        result["detector"] = float(_binned(_lorentzian_cdf(edge, torch.tensor(params.detector_width)))[1])
    if params.readout_frequency is not None:
        cdf = _readout_cdf(edge, torch.tensor(params.readout_frequency), torch.tensor(params.readout_damping))
        result["readout"] = float(_binned(cdf)[1])
    return result


def fast_scan_kernel(params: list[FastScanParams] | FastScanParams, *, dtype=torch.float64,
                     device="cpu") -> torch.Tensor:
    """Combined causal kernel (detector ∗ read-out) cut at K = kernel_length, shape (B, K) or (K,)."""
    single = isinstance(params, FastScanParams)
    plist = [params] if single else list(params)
    length = max(int(p.kernel_length) for p in plist)
    widths = torch.tensor([p.detector_width for p in plist], dtype=dtype, device=device)
    detector = lorentzian_psf(widths, length, dtype=dtype, device=device)
    has_readout = torch.tensor([p.readout_frequency is not None for p in plist], device=device)
    freqs = torch.tensor([p.readout_frequency or 1.0 for p in plist], dtype=dtype, device=device)
    damps = torch.tensor([p.readout_damping for p in plist], dtype=dtype, device=device)
    readout = readout_psf(freqs, damps, length, dtype=dtype, device=device)
    delta = torch.zeros_like(readout)
    delta[:, 0] = 1.0
    readout = torch.where(has_readout[:, None], readout, delta)
    # Causal convolution of the two kernels, cut at ``length`` dwell times and renormalised.
    kernel = F.conv1d(readout[None], detector.flip(-1)[:, None, :], padding=length - 1, groups=len(plist))[0]
    kernel = kernel[:, :length]
    kernel = kernel / kernel.sum(dim=-1, keepdim=True)
    return kernel[0] if single else kernel


def causal_convolve_rows(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """out[b, r, c] = sum_k kernels[b, k] · images[b, r, c - k], the left edge extended (grouped conv1d)."""
    batch, height, _ = images.shape
    k = kernels.shape[-1]
    padded = torch.cat((images[..., :1].expand(batch, height, k - 1), images), dim=-1)
    weight = kernels.to(images.dtype).flip(-1)[:, None, :]
    return F.conv1d(padded.transpose(0, 1), weight, groups=batch).transpose(0, 1)


def fast_scan_noise(images, params: FastScanParams, generator: GeneratorLike | None = None):
    """Convolve every scan line with the causal detector-chain PSF (eqs. 47-50).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) signal; axis -1 is the fast-scan direction.
    params : FastScanParams
    generator : ignored
        The model is deterministic; the argument keeps the signature of the other models.

    Returns
    -------
    Same type and shape as ``images``; the mean of every line is preserved (kernel sum 1).
    """
    x, restore = as_image_batch(images)
    kernel = fast_scan_kernel([params] * x.shape[0], dtype=x.dtype, device=x.device)
    return restore(causal_convolve_rows(x, kernel))
