"""``bm3d``: BM3D behind a variance-stabilising transform — the Anscombe transform 2√(z + 3/8) for pure Poisson
counts, the generalised Anscombe transform for Poisson–Gaussian data — followed by the closed-form
approximation of the exact unbiased inverse (Mäkitalo & Foi, IEEE TIP 20 (2011) 2697 and 22 (2013) 91).
After the transform the noise is close to Gaussian with unit variance, so BM3D runs with σ = 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.methods.base import POISSON, MethodFamily, NoiseModel, as_stack, register_method_family


def anscombe(counts: np.ndarray) -> np.ndarray:
    """Apply the Anscombe transform 2√(z + 3/8) to Poisson counts z ≥ 0: variance ≈ 1 for λ ≳ 4.

    Parameters
    ----------
    counts : ndarray
        Poisson counts z; negative values are clipped to 0.

    Returns
    -------
    ndarray
        The transformed values, float64, same shape.
    """
    return 2.0 * np.sqrt(np.maximum(np.asarray(counts, dtype=np.float64), 0.0) + 0.375)


def inverse_anscombe_unbiased(transformed: np.ndarray) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse of the Anscombe transform.

    Maps E[2√(z + 3/8)], z ~ Poisson(λ), back to λ (Mäkitalo & Foi 2011). Unlike the algebraic inverse
    (D/2)² − 3/8 it stays unbiased at low counts; values below the transform of λ = 0 map to 0.

    Parameters
    ----------
    transformed : ndarray
        Denoised values D in the Anscombe domain.

    Returns
    -------
    ndarray
        Estimated Poisson means λ ≥ 0 [counts].
    """
    d = np.asarray(transformed, dtype=np.float64)
    # Below the Anscombe value of zero counts, 2√(3/8) ≈ 1.22, the series diverges; λ = 0 there.
    safe = np.maximum(d, 2.0 * math.sqrt(0.375))
    root = math.sqrt(1.5)
    value = 0.25 * safe**2 + 0.25 * root / safe - 1.375 / safe**2 + 0.625 * root / safe**3 - 0.125
    return np.where(d > 2.0 * math.sqrt(0.375), np.maximum(value, 0.0), 0.0)


def generalized_anscombe(values: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Generalised Anscombe transform of gain·Poisson + Normal(offset, σ²) data (variance ≈ 1).

    f(z) = 2√(max(y + 3/8 + s², 0)) with y = (z − offset)/gain and s = σ/gain; for pure Poisson counts it
    is the Anscombe transform.

    Parameters
    ----------
    values : ndarray
        Measured values z [detector units].
    noise : NoiseModel
        Gain, read noise σ and offset of the detector.

    Returns
    -------
    ndarray
        The transformed values, float64, same shape.
    """
    scaled = (np.asarray(values, dtype=np.float64) - noise.offset) / noise.gain
    sigma = noise.read_noise / noise.gain
    return 2.0 * np.sqrt(np.maximum(scaled + 0.375 + sigma**2, 0.0))


def inverse_generalized_anscombe(transformed: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse of :func:`generalized_anscombe`.

    The Poisson closed form minus s² (s = σ/gain), clipped at zero and mapped back to detector units
    (Mäkitalo & Foi 2013).

    Parameters
    ----------
    transformed : ndarray
        Denoised values D in the transformed domain.
    noise : NoiseModel
        The noise model the forward transform used.

    Returns
    -------
    ndarray
        Estimated means gain·λ + offset [detector units], λ ≥ 0.
    """
    sigma = noise.read_noise / noise.gain
    # below the transform of zero counts the Poisson closed form is 0 (see inverse_anscombe_unbiased)
    value = inverse_anscombe_unbiased(transformed) - sigma**2
    return np.maximum(value, 0.0) * noise.gain + noise.offset


@dataclass(frozen=True)
class BM3DMethod:
    """BM3D (``bm3d`` package, all stages, profile 'np', one thread) behind the (generalised) Anscombe VST.

    One thread because BM3D's result depends slightly on the thread count (reproducibility).
    """

    name: str = "bm3d"

    def __call__(self, images: np.ndarray, noise: NoiseModel = POISSON) -> np.ndarray:
        """Denoise each image: VST, BM3D with σ = 1, unbiased inverse VST.

        Parameters
        ----------
        images : ndarray, shape (B, H, W)
            Images in detector units.
        noise : NoiseModel, default POISSON
            The detector's noise model.

        Returns
        -------
        ndarray, shape (B, H, W)
            The denoised images [detector units], float64.
        """
        import bm3d

        stack = as_stack(images)
        profile = bm3d.BM3DProfile()  # the 'np' (normal profile) defaults
        profile.num_threads = 1
        out = np.empty_like(stack)
        for index, image in enumerate(stack):
            if noise.pure_poisson:
                stabilised = anscombe(image)
            else:
                stabilised = generalized_anscombe(image, noise)
            # scalar σ: an array-valued sigma_psd fails inside bm3d with numpy ≥ 2.4 (np.trapz removed)
            denoised = np.asarray(bm3d.bm3d(stabilised, sigma_psd=1.0, profile=profile,
                                            stage_arg=bm3d.BM3DStages.ALL_STAGES), dtype=np.float64)
            if noise.pure_poisson:
                out[index] = inverse_anscombe_unbiased(denoised)
            else:
                out[index] = inverse_generalized_anscombe(denoised, noise)
        return out

    def provenance(self) -> dict[str, Any]:
        """Return the method's record: BM3D version, profile, thread count and VST.

        Returns
        -------
        dict
            ``name``, ``kind``, ``bm3d_version``, ``profile``, ``num_threads`` and ``vst``.
        """
        from importlib.metadata import version

        return {"name": self.name, "kind": "bm3d", "bm3d_version": version("bm3d"), "profile": "np",
                "num_threads": 1, "vst": "Anscombe / generalised Anscombe, closed-form exact unbiased inverse"}


FAMILY = register_method_family(MethodFamily(
    "bm3d", "bm3d (BM3D behind the Anscombe transform)", lambda spec: spec == "bm3d",
    lambda spec, *, device=None: BM3DMethod(), defaults=("bm3d",), order=2))
