"""Electron dose, Poisson counting and photomultiplier (PMT) noise of an S(T)EM detector (eqs. 43-46).

Dose convention of the suite: with ``intensity`` the fraction of the incident beam reaching the
detector, the expected number of detected electrons in a pixel is

    lambda = dose [e⁻/Å²] * pixel_size² [Å²] * intensity.

Counting is Poisson (eq. 43). Each detected electron makes a scintillator flash of ``m`` photons
(mean m̄, variance v_m); the photocathode converts each photon with quantum efficiency eta (binomial
thinning), and the dynode chain multiplies each photo-electron with mean gain G and relative variance
1/(delta - 1) for a secondary-emission gain delta per dynode. For n detected electrons the anode charge,
expressed in detected electrons, is then Gaussian to a very good approximation with

    mean n,   variance n * epsilon,
    epsilon = var_p / mu_p² + 1 / (mu_p (delta - 1)),   mu_p = eta m̄,   var_p = eta² v_m + eta (1 - eta) m̄,

and the recorded signal is ``gain * (n + sqrt(epsilon n) z1) + read_noise * z2`` (eqs. 44-46). Its mean
is gain·lambda and its variance gain²·lambda·(1 + epsilon) + read_noise². This is the standard
cascade (Burle/Hamamatsu PMT handbooks) written out by us: the paper's exact eqs. 44-46 were not
available, so the parameter names follow its list (gain, DQE, photons per electron and their
variance, secondary gain) and ``quantum_efficiency`` plays the role of its DQE.
"""
from __future__ import annotations

from collections.abc import Sequence
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
class PmtParams:
    """Scintillator + photomultiplier response (eqs. 44-46).

    Parameters
    ----------
    gain : float
        Output units (e.g. ADU) per detected electron, > 0.
    photons_per_electron : float
        Mean number of scintillator photons reaching the photocathode per detected electron, > 0.
    photons_variance : float
        Variance of that number, >= 0 (a Poisson flash has variance equal to its mean).
    quantum_efficiency : float
        Photocathode quantum efficiency (the paper's DQE), in (0, 1].
    dynode_gain : float
        Secondary-emission gain per dynode, > 1.
    read_noise : float
        Standard deviation of the additive electronic noise, in output units, >= 0.
    """

    gain: float = 1.0
    photons_per_electron: float = 20.0
    photons_variance: float = 40.0
    quantum_efficiency: float = 0.2
    dynode_gain: float = 4.0
    read_noise: float = 0.0

    def __post_init__(self) -> None:
        check_positive(self.gain, "gain", "output units per electron")
        check_positive(self.photons_per_electron, "photons_per_electron", "photons")
        check_positive(self.photons_variance, "photons_variance", "photons²", allow_zero=True)
        check_fraction(self.quantum_efficiency, "quantum_efficiency", closed_low=False)
        if not (np.isfinite(self.dynode_gain) and self.dynode_gain > 1):
            raise ValueError(f"dynode_gain must be > 1 (a PMT multiplies); got {self.dynode_gain!r}.")
        check_positive(self.read_noise, "read_noise", "output units", allow_zero=True)

    @property
    def excess_variance(self) -> float:
        """epsilon: extra variance per detected electron, in electrons² (eq. 45)."""
        mu_p = self.quantum_efficiency * self.photons_per_electron
        var_p = (self.quantum_efficiency**2 * self.photons_variance
                 + self.quantum_efficiency * (1 - self.quantum_efficiency) * self.photons_per_electron)
        return var_p / mu_p**2 + 1.0 / (mu_p * (self.dynode_gain - 1.0))

    @property
    def dqe(self) -> float:
        """Detective quantum efficiency of the whole chain for Poisson input, 1 / (1 + epsilon)."""
        return 1.0 / (1.0 + self.excess_variance)

    def to_dict(self) -> dict:
        return {**asdict(self), "excess_variance": self.excess_variance}


def _check_dose(dose_per_area, pixel_size) -> None:
    for value in np.atleast_1d(np.asarray(dose_per_area, dtype=float)):
        check_positive(float(value), "dose_per_area", "e⁻/Å²")
    for value in np.atleast_1d(np.asarray(pixel_size, dtype=float)):
        check_positive(float(value), "pixel_size", "Å")


def _expected_counts(x: torch.Tensor, dose_per_area, pixel_size) -> torch.Tensor:
    if bool((x < 0).any()):
        raise ValueError(
            f"intensity must be >= 0 (a fraction of the incident beam) to be counted; minimum is "
            f"{float(x.min()):.3g}. Clamp interpolation overshoot or remove offsets first."
        )
    batch = x.shape[0]
    dose = per_image(dose_per_area, batch, x, "dose_per_area")
    px = per_image(pixel_size, batch, x, "pixel_size")
    return dose * px * px * x


def apply_dose(intensity, dose_per_area: float | Sequence[float], pixel_size: float | Sequence[float]):
    """Expected detected electrons per pixel, lambda = dose · pixel_size² · intensity.

    Parameters
    ----------
    intensity : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) intensity as a fraction of the incident beam, >= 0.
    dose_per_area : float or sequence of B floats
        Electron dose in e⁻/Å² (> 0).
    pixel_size : float or sequence of B floats
        Pixel size in Å (> 0).

    Returns
    -------
    Same type and shape as ``intensity``: expected counts (electrons per pixel).

    Raises
    ------
    ValueError
        For non-positive dose or pixel size, NaN, negative intensity or a wrong rank.
    """
    _check_dose(dose_per_area, pixel_size)
    x, restore = as_image_batch(intensity, "intensity")
    return restore(_expected_counts(x, dose_per_area, pixel_size))


def poisson_noise(intensity, dose_per_area: float | Sequence[float], pixel_size: float | Sequence[float],
                  generator: GeneratorLike):
    """Detected electron counts, Poisson(dose · pixel_size² · intensity) (eq. 43).

    Parameters are those of :func:`apply_dose` plus ``generator`` (int seed, numpy.random.Generator or
    torch.Generator on the images' device). Returns integer-valued counts in a floating array of the
    same type and shape as ``intensity``.
    """
    _check_dose(dose_per_area, pixel_size)
    x, restore = as_image_batch(intensity, "intensity")
    lam = _expected_counts(x, dose_per_area, pixel_size)
    return restore(torch.poisson(lam, generator=torch_generator(generator, x.device)))


def _pmt_batch(counts: torch.Tensor, params: list[PmtParams], gen: torch.Generator) -> torch.Tensor:
    batch = counts.shape[0]
    gain = per_image([p.gain for p in params], batch, counts, "gain")
    eps = per_image([p.excess_variance for p in params], batch, counts, "excess_variance")
    read = per_image([p.read_noise for p in params], batch, counts, "read_noise")
    z1 = torch.randn(counts.shape, generator=gen, device=counts.device, dtype=counts.dtype)
    z2 = torch.randn(counts.shape, generator=gen, device=counts.device, dtype=counts.dtype)
    return gain * (counts + torch.sqrt(eps * counts) * z1) + read * z2


def pmt_noise(counts, params: PmtParams, generator: GeneratorLike):
    """Scintillator/PMT multiplication noise on detected electron counts (eqs. 44-46).

    Parameters
    ----------
    counts : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) detected electrons (>= 0), e.g. from :func:`poisson_noise`.
    params : PmtParams
    generator : int, numpy.random.Generator or torch.Generator

    Returns
    -------
    Signal in output units: mean gain·n, variance gain²·epsilon·n + read_noise² given n.
    """
    x, restore = as_image_batch(counts, "counts")
    if bool((x < 0).any()):
        raise ValueError(f"counts must be >= 0; minimum is {float(x.min()):.3g}.")
    return restore(_pmt_batch(x, [params] * x.shape[0], torch_generator(generator, x.device)))


def detector_noise(intensity, dose_per_area: float, pixel_size: float, params: PmtParams,
                   generator: GeneratorLike):
    """Poisson counting followed by PMT noise (eqs. 43-46) in one call; see :func:`pmt_noise`."""
    _check_dose(dose_per_area, pixel_size)
    x, restore = as_image_batch(intensity, "intensity")
    gen = torch_generator(generator, x.device)
    counts = torch.poisson(_expected_counts(x, dose_per_area, pixel_size), generator=gen)
    return restore(_pmt_batch(counts, [params] * x.shape[0], gen))
