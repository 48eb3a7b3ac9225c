"""What the studies give the self-supervised methods (:mod:`bench.methods.self_supervised`) to train on.

- **Tasks.** A method that ``learns_from_data`` trains one network per study point (dose, thickness): it gets
  every realisation of the point in one task, whose noise is drawn block by block with the blocks' own seeds,
  so that it restores exactly the realisations the other methods restore (common random numbers).
- **High-dose frames** for ``hourglass``: noisy frames of *another* field or thickness at
  ``budget.hourglass_dose_factor`` times the dose restored, made by the study's own simulation (the frames
  a user would record of a similar specimen). The trainer gets only these frames: each step, the study's noise
  model turns a frame into a low-dose input — the frame read as an intensity, counted at the dose restored
  (Poisson, plus the PMT's Gaussian where the study has one) — and the frame itself, scaled to that dose, is
  the target. No noise-free image reaches the trainer.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from bench.studies.presets import blocks

HIGH_DOSE_FRAMES = 4  # high-dose frames per other field or thickness


def task_blocks(method: Any, realisations: int, block_size: int) -> list[tuple[tuple[int, int], ...]]:
    """Return the (first, count) blocks of realisations of each task of ``method``.

    One block per task, or all of them in one task for a method that trains one network per point
    (``whole_point``).

    Parameters
    ----------
    method : Method
        The method.
    realisations : int
        Noise realisations per point.
    block_size : int
        Realisations per block.

    Returns
    -------
    list of tuple of (int, int)
        Per task, its blocks ``(first, count)``.
    """
    every = tuple(blocks(realisations, block_size))
    if getattr(method, "whole_point", False):
        return [every]
    return [(block,) for block in every]


def neighbour_thicknesses(atoms: int, maximum: int, count: int = 2) -> tuple[int, ...]:
    """Return the ``count`` thicknesses of 1 … ``maximum`` atoms nearest to ``atoms``, ``atoms`` itself excluded.

    Ties go to the thinner thickness.

    Parameters
    ----------
    atoms : int
        The thickness restored [atoms per column].
    maximum : int
        The series' thickest column [atoms].
    count : int, default 2
        How many thicknesses.

    Returns
    -------
    tuple of int
        The thicknesses, increasing.

    Raises
    ------
    ValueError
        If the series has fewer other thicknesses than ``count``.
    """
    others = sorted((t for t in range(1, int(maximum) + 1) if t != atoms), key=lambda t: (abs(t - atoms), t))
    if len(others) < count:
        raise ValueError(f"the thickness series (1–{maximum} atoms) has fewer than {count} thicknesses besides "
                         f"{atoms}: hourglass has no other thickness to train on")
    return tuple(sorted(others[:count]))


def high_dose_frames(images: np.ndarray, *, dose: float, factor: float, pixel_size_A: float, seed: Sequence[int],
                     distortion: Any = None) -> np.ndarray:
    """:data:`HIGH_DOSE_FRAMES` noisy frames of each noise-free image at ``factor × dose`` [counts].

    Parameters
    ----------
    images : ndarray
        (N, H, W) noise-free intensities [fraction of the beam] of other fields or thicknesses.
    dose : float
        The dose restored [e⁻/Å²].
    factor : float
        The frames' dose as a multiple of ``dose``.
    pixel_size_A : float
        [Å].
    seed : sequence of int
        Entropy of the frames' noise.
    distortion : callable, optional
        ``distortion(stack, high_dose, generator) -> counts``: the study's acquisition at the high dose;
        default pure Poisson counting.

    Returns
    -------
    ndarray
        (N · HIGH_DOSE_FRAMES, H, W) frames in counts at the high dose.
    """
    from simulate.distortions import poisson_noise

    stack = np.repeat(np.maximum(np.asarray(images, dtype=np.float64), 0.0), HIGH_DOSE_FRAMES, axis=0)
    generator = int(np.random.SeedSequence(list(seed)).generate_state(1)[0])
    if distortion is None:
        return np.asarray(poisson_noise(stack, dose_e_per_A2=factor * dose, pixel_size_A=pixel_size_A,
                                        generator=generator), dtype=np.float64)
    return np.asarray(distortion(stack, factor * dose, generator), dtype=np.float64)


def _synthesise(frames: np.ndarray, factor: float, dose: float, pixel_size_A: float, pmt: Any,
                rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    from simulate.distortions import detector_noise, poisson_noise

    chosen = frames[rng.integers(0, frames.shape[0], size=n)]
    # the high-dose frame read as an intensity (fraction of the beam), counted again at the dose restored
    intensity = np.maximum(chosen, 0.0) / (factor * dose * pixel_size_A**2)
    if pmt is None:
        inputs = poisson_noise(intensity, dose_e_per_A2=dose, pixel_size_A=pixel_size_A, generator=rng)
    else:
        inputs = detector_noise(intensity, dose_e_per_A2=dose, pixel_size_A=pixel_size_A, params=pmt, generator=rng)
    return np.asarray(inputs, dtype=np.float64), chosen / factor


def synthesised_pairs(frames: np.ndarray, *, factor: float, dose: float, pixel_size_A: float, pmt: Any = None):
    """``draw(rng, n) -> (inputs, targets)`` for the hourglass (see the module docstring).

    Parameters
    ----------
    frames : ndarray
        (N, H, W) high-dose noisy frames [counts at ``factor × dose``].
    factor : float
        Their dose as a multiple of ``dose``.
    dose : float
        The dose restored [e⁻/Å²].
    pixel_size_A : float
        [Å].
    pmt : simulate.distortions.PmtParams, optional
        The study's PMT noise (added to the synthesised counts); None for pure Poisson counting.

    Returns
    -------
    callable
        Inputs in counts at ``dose``; targets the frames divided by ``factor``.
    """
    return partial(_synthesise, np.asarray(frames, dtype=np.float64), float(factor), float(dose), float(pixel_size_A),
                   pmt)
