"""Electron dose, Poisson counting and photomultiplier (PMT) noise of an S(T)EM detector (eqs. 43-46).

Dose convention of the suite: with ``intensity`` the fraction of the incident beam reaching the
detector, the expected number of detected electrons in a pixel is

    lambda = alpha * intensity,   alpha = dose [e⁻/Å²] * pixel_size² [Å²],

so the paper's dose scale factor alpha of eqs. 45-46 is dose · pixel_size². The signal is built in the
paper's two steps:

    n ~ Poisson(lambda)                                                          (eq. 45)
    x = n + N(0, sigma)                                                          (eq. 46)

Eq. 44 gives the standard deviation of the anode pulse of one detected electron,

    sigma_anode = m_c eta G sqrt((1 - eta + 1/(delta - 1)) / (m_c eta) + delta_c² / m_c²),

in anode-charge units (G: PMT gain, m_c eta G: the mean pulse of one electron). Eq. 46 adds the
Gaussian to counts, so we express it in units of one detected electron's mean pulse, i.e. divide by
m_c eta G:

    sigma = sqrt((1 - eta + 1/(delta - 1)) / (m_c eta) + delta_c² / m_c²)   [counts]

and the FWHM of eq. 43 likewise becomes 2 sqrt(2 ln 2) sigma. G cancels and is not a parameter. As in
eq. 46 the Gaussian is signal-independent: every pixel, including those with n = 0, gets N(0, sigma).
The paper then divides by alpha (eq. 46); the pipeline returns counts instead (the benchmark studies
need them) and the training-pair generator does that division.
"""
from __future__ import annotations

import math
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

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True, kw_only=True)
class PmtParams:
    """Scintillator + photomultiplier noise of eqs. 43-44, in the paper's symbols.

    Defaults are the paper's typical values: about 100 photons per electron (Poisson flash,
    delta_c² = m_c), eta = 0.2 and a secondary gain of 4 per dynode (sigma = 0.258 counts).

    Parameters
    ----------
    photons_per_electron : float
        m_c, mean number of scintillator photons collected at the photocathode per detected electron, > 0.
    photons_variance : float
        delta_c², variance of that number, >= 0 (a Poisson flash has variance m_c).
    quantum_efficiency : float
        eta, the paper's "detective quantum efficiency" of the photocathode, in (0, 1].
    dynode_gain : float
        delta, secondary-emission gain of every dynode stage, > 1.
    """

    photons_per_electron: float = 100.0
    photons_variance: float = 100.0
    quantum_efficiency: float = 0.2
    dynode_gain: float = 4.0

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If a field is out of its range.
        """
        check_positive(self.photons_per_electron, "photons_per_electron", "photons")
        check_positive(self.photons_variance, "photons_variance", "photons²", allow_zero=True)
        check_fraction(self.quantum_efficiency, "quantum_efficiency", closed_low=False)
        if not (np.isfinite(self.dynode_gain) and self.dynode_gain > 1):
            raise ValueError(f"dynode_gain must be > 1 (a PMT multiplies); got {self.dynode_gain!r}.")

    @property
    def sigma_counts(self) -> float:
        """Eq. 44 divided by the mean pulse m_c eta G: Gaussian std in detected-electron counts.

        Returns
        -------
        float
            sigma [counts] (0.258 for the defaults).
        """
        m_c, eta, delta = self.photons_per_electron, self.quantum_efficiency, self.dynode_gain
        return math.sqrt((1.0 - eta + 1.0 / (delta - 1.0)) / (m_c * eta) + self.photons_variance / m_c**2)

    @property
    def fwhm_counts(self) -> float:
        """Eq. 43 divided by m_c eta G: 2 sqrt(2 ln 2) sigma, in counts.

        Returns
        -------
        float
            FWHM of the single-electron pulse distribution [counts].
        """
        return FWHM_PER_SIGMA * self.sigma_counts

    def to_dict(self) -> dict:
        """Return the fields and the derived widths as a dictionary.

        Returns
        -------
        dict
            Field name to value, plus ``sigma_counts`` and ``fwhm_counts``.
        """
        return {**asdict(self), "sigma_counts": self.sigma_counts, "fwhm_counts": self.fwhm_counts}


def _check_dose(dose_e_per_A2, pixel_size_A) -> None:
    for value in np.atleast_1d(np.asarray(dose_e_per_A2, dtype=float)):
        check_positive(float(value), "dose_e_per_A2", "e⁻/Å²")
    for value in np.atleast_1d(np.asarray(pixel_size_A, dtype=float)):
        check_positive(float(value), "pixel_size_A", "Å")


def _expected_counts(x: torch.Tensor, dose_e_per_A2, pixel_size_A) -> torch.Tensor:
    if bool((x < 0).any()):
        raise ValueError(
            f"intensity must be >= 0 (a fraction of the incident beam) to be counted; minimum is "
            f"{float(x.min()):.3g}. Clamp interpolation overshoot or remove offsets first."
        )
    batch = x.shape[0]
    dose = per_image(dose_e_per_A2, batch, x, "dose_e_per_A2")
    px = per_image(pixel_size_A, batch, x, "pixel_size_A")
    return dose * px * px * x


def apply_dose(intensity, *, dose_e_per_A2: float | Sequence[float], pixel_size_A: float | Sequence[float]):
    """Expected detected electrons per pixel, lambda = dose · pixel_size² · intensity (alpha · x of eq. 45).

    Parameters
    ----------
    intensity : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) intensity as a fraction of the incident beam, >= 0.
    dose_e_per_A2 : float or sequence of B floats
        Electron dose in e⁻/Å² (> 0).
    pixel_size_A : float or sequence of B floats
        Pixel size in Å (> 0).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Same type and shape as ``intensity``: expected counts (electrons per pixel).

    Raises
    ------
    ValueError
        For non-positive dose or pixel size, NaN, negative intensity or a wrong rank.
    """
    _check_dose(dose_e_per_A2, pixel_size_A)
    x, restore = as_image_batch(intensity, "intensity")
    return restore(_expected_counts(x, dose_e_per_A2, pixel_size_A))


def poisson_noise(intensity, *, dose_e_per_A2: float | Sequence[float], pixel_size_A: float | Sequence[float],
                  generator: GeneratorLike):
    """Draw detected electron counts, Poisson(dose · pixel_size² · intensity) (eq. 45).

    Parameters
    ----------
    intensity : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) intensity as a fraction of the incident beam, >= 0.
    dose_e_per_A2 : float or sequence of B floats
        Electron dose in e⁻/Å² (> 0).
    pixel_size_A : float or sequence of B floats
        Pixel size in Å (> 0).
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator (a torch.Generator must live on the images' device).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Integer-valued counts in a floating array of the same type and shape as ``intensity``.

    Raises
    ------
    ValueError
        For non-positive dose or pixel size, NaN, negative intensity or a wrong rank.
    """
    _check_dose(dose_e_per_A2, pixel_size_A)
    x, restore = as_image_batch(intensity, "intensity")
    lam = _expected_counts(x, dose_e_per_A2, pixel_size_A)
    return restore(torch.poisson(lam, generator=torch_generator(generator, x.device)))


def pmt_noise_batch(counts: torch.Tensor, params: list[PmtParams], gen: torch.Generator) -> torch.Tensor:
    """Apply eq. 46 to a (B, H, W) batch of counts, one :class:`PmtParams` per image.

    Parameters
    ----------
    counts : torch.Tensor
        Detected electrons, shape (B, H, W) (not checked for negatives here).
    params : list of PmtParams
        One parameter set per image.
    gen : torch.Generator
        Generator on ``counts``' device.

    Returns
    -------
    torch.Tensor
        counts + sigma · z, z ~ N(0, 1) per pixel, shape (B, H, W).
    """
    sigma = per_image([p.sigma_counts for p in params], counts.shape[0], counts, "sigma_counts")
    noise = torch.randn(counts.shape, generator=gen, device=counts.device, dtype=counts.dtype)
    return counts + sigma * noise


def pmt_noise(counts, params: PmtParams, generator: GeneratorLike):
    """Add the PMT's signal-independent Gaussian N(0, sigma) to detected counts (eq. 46 before / alpha).

    Parameters
    ----------
    counts : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) detected electrons (>= 0), e.g. from :func:`poisson_noise`.
    params : PmtParams
        Sets sigma = ``params.sigma_counts`` (eq. 44 in counts).
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of the Gaussian draws.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Same type and shape: counts + sigma · z, z ~ N(0, 1) per pixel; mean n, variance sigma² at every n.

    Raises
    ------
    ValueError
        For negative counts, NaN or a wrong rank.
    """
    x, restore = as_image_batch(counts, "counts")
    if bool((x < 0).any()):
        raise ValueError(f"counts must be >= 0 (detected electrons); minimum is {float(x.min()):.3g}.")
    return restore(pmt_noise_batch(x, [params] * x.shape[0], torch_generator(generator, x.device)))


def detector_noise(intensity, *, dose_e_per_A2: float, pixel_size_A: float, params: PmtParams,
                   generator: GeneratorLike):
    """Apply Poisson counting (eq. 45) followed by the PMT Gaussian (eq. 46, in counts) in one call.

    Parameters
    ----------
    intensity : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) intensity as a fraction of the incident beam, >= 0.
    dose_e_per_A2 : float
        Electron dose in e⁻/Å² (> 0); a sequence of one value per image is accepted too.
    pixel_size_A : float
        Pixel size in Å (> 0); a sequence of one value per image is accepted too.
    params : PmtParams
        Sets sigma = ``params.sigma_counts``.
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of both draws.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Same type and shape as ``intensity``: Poisson counts + N(0, sigma) [counts].

    Raises
    ------
    ValueError
        For non-positive dose or pixel size, NaN, negative intensity or a wrong rank.
    """
    _check_dose(dose_e_per_A2, pixel_size_A)
    x, restore = as_image_batch(intensity, "intensity")
    gen = torch_generator(generator, x.device)
    counts = torch.poisson(_expected_counts(x, dose_e_per_A2, pixel_size_A), generator=gen)
    return restore(pmt_noise_batch(counts, [params] * x.shape[0], gen))
