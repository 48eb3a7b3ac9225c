"""S(T)EM and TEM distortion pipelines: compose the models in physical order and record what was done.

The record is JSON-serialisable::

    {"pipeline": "stem", "images": [[{"name": "scan_jitter", "equations": "41-42",
                                       "parameters": {...}}, ...], ...]}

with one list of applied steps per image, so a benchmark can report exactly which distortions every
image received. Each step runs once on the sub-batch of images that use it (vectorised over images,
pixels and lines), drawing from one generator, so a seed reproduces the whole batch on the CPU.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from simulate.distortions._tensor import GeneratorLike, as_image_batch, per_image, torch_generator
from simulate.distortions.defects import (
    black_pixels_batch,
    clip_upper_batch,
    quantise_batch,
    row_lines_batch,
    zingers_batch,
)
from simulate.distortions.detector import pmt_noise_batch
from simulate.distortions.fast_scan import convolve_rows, fast_scan_taps
from simulate.distortions.jitter import scan_jitter_batch
from simulate.distortions.params import StemDistortionParams, TemDistortionParams
from simulate.distortions.tem import (
    cluster_mask,
    dark_current_map,
    flicker_noise,
    spike_values,
)


def _param_list(params, batch: int, cls) -> list:
    if isinstance(params, cls):
        return [params] * batch
    if isinstance(params, Sequence) and len(params) == batch and all(isinstance(p, cls) for p in params):
        return list(params)
    raise ValueError(
        f"params must be one {cls.__name__} or a sequence of {batch} of them (one per image); "
        f"got {type(params).__name__}."
    )


def _run(x: torch.Tensor, plist: list, steps: list, kind: str):
    """Apply each (name, equations, enabled, describe, apply) step to the images that use it."""
    records: list[list[dict]] = [[] for _ in plist]
    for name, equations, enabled, describe, apply in steps:
        idx = [i for i, p in enumerate(plist) if enabled(p)]
        if not idx:
            continue
        sub_params = [plist[i] for i in idx]
        if len(idx) == len(plist):
            x = apply(x, sub_params)
        else:
            index = torch.tensor(idx, device=x.device)
            x = x.index_copy(0, index, apply(x.index_select(0, index), sub_params))
        for i in idx:
            records[i].append({"name": name, "equations": equations, "parameters": describe(plist[i])})
    return x, {"pipeline": kind, "images": records}


def _stem_steps(gen: torch.Generator) -> list:
    def jitter(x, ps):
        # Bicubic overshoot next to sharp columns can dip below zero; intensity cannot.
        return scan_jitter_batch(x, [p.jitter for p in ps], [p.pixel_size_A for p in ps], gen).clamp_min(0.0)

    def poisson(x, ps):
        batch = x.shape[0]
        dose = per_image([p.dose_e_per_A2 for p in ps], batch, x, "dose_e_per_A2")
        px = per_image([p.pixel_size_A for p in ps], batch, x, "pixel_size_A")
        return torch.poisson(dose * px * px * x, generator=gen)

    def fast(x, ps):
        taps, lead = fast_scan_taps([p.fast_scan for p in ps], dtype=torch.float64, device=x.device)
        return convolve_rows(x, taps, lead)

    return [
        ("scan_jitter", "41-42", lambda p: p.jitter is not None and p.jitter.kind != "none",
         lambda p: p.jitter.to_dict() | {"pixel_size_A": p.pixel_size_A}, jitter),
        ("poisson", "45", lambda p: p.dose_e_per_A2 is not None,
         lambda p: {"dose_e_per_A2": p.dose_e_per_A2, "pixel_size_A": p.pixel_size_A}, poisson),
        ("pmt", "43-44, 46", lambda p: p.pmt is not None, lambda p: p.pmt.to_dict(),
         lambda x, ps: pmt_noise_batch(x, [p.pmt for p in ps], gen)),
        ("fast_scan", "47-50", lambda p: p.fast_scan is not None, lambda p: p.fast_scan.to_dict(), fast),
        ("row_lines", "51", lambda p: p.row_lines is not None, lambda p: p.row_lines.to_dict(),
         lambda x, ps: row_lines_batch(x, [p.row_lines for p in ps], gen)[0]),
        ("black_pixels", "52", lambda p: p.black_pixels is not None,
         lambda p: {"probability": p.black_pixels},
         lambda x, ps: black_pixels_batch(x, [p.black_pixels for p in ps], gen)[0]),
        ("zingers", "53", lambda p: p.zingers is not None, lambda p: p.zingers.to_dict(),
         lambda x, ps: zingers_batch(x, [p.zingers.probability for p in ps], [p.zingers.amplitude for p in ps],
                                     gen)[0]),
        ("clip", "54", lambda p: p.clip is not None, lambda p: {"fraction": p.clip},
         lambda x, ps: clip_upper_batch(x, [p.clip for p in ps])[0]),
        ("quantisation", "55", lambda p: p.quantisation_bits is not None,
         lambda p: {"bits": int(p.quantisation_bits)},
         lambda x, ps: quantise_batch(x, [int(p.quantisation_bits) for p in ps])[0]),
    ]


def apply_stem_distortions(images, params: StemDistortionParams | Sequence[StemDistortionParams],
                           generator: GeneratorLike):
    """Distort a batch of noiseless S(T)EM intensities in physical order (eqs. 41-55).

    Order: scan jitter → Poisson counting → PMT Gaussian → fast-scan PSF → row lines → black pixels →
    zingers → upper clip → quantisation. With a dose the output is in counts (eq. 46 without its
    division by alpha = dose · pixel_size²).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) intensity as a fraction of the incident beam (>= 0 when a dose is given);
        axis -1 is the fast-scan direction.
    params : StemDistortionParams or sequence of B of them
        One set for every image, or one per image.
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of every random draw (a torch.Generator must live on the images' device).

    Returns
    -------
    distorted : torch.Tensor or numpy.ndarray
        Same type and shape as ``images``: counts with a dose (plus the PMT Gaussian, also in counts),
        intensity without one.
    record : dict
        JSON-serialisable list of the applied steps and their parameters per image.

    Raises
    ------
    ValueError
        For a wrong rank, NaN, negative intensity with a dose, or params of the wrong type/length.
    """
    x, restore = as_image_batch(images)
    plist = _param_list(params, x.shape[0], StemDistortionParams)
    if any(p.dose_e_per_A2 is not None for p in plist) and bool((x < 0).any()):
        raise ValueError(f"images must be >= 0 (fraction of the beam) to be counted; minimum {float(x.min()):.3g}.")
    gen = torch_generator(generator, x.device)
    out, record = _run(x, plist, _stem_steps(gen), "stem")
    return restore(out), record


def _tem_steps(gen: torch.Generator) -> list:
    def values(ps, name, x):
        return per_image([getattr(p, name) for p in ps], x.shape[0], x, name)

    def gaussian(x):
        return torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)

    def shot(x, ps):
        px = values(ps, "pixel_size_A", x)
        return torch.poisson(values(ps, "dose_e_per_A2", x) * px * px * x, generator=gen)

    def reset(x, ps):
        offsets = torch.randn((x.shape[0], x.shape[1], 1), generator=gen, device=x.device, dtype=x.dtype)
        return x + values(ps, "reset_row_noise", x) * offsets

    def clusters(which, fill):
        def apply(x, ps):
            cps = [getattr(p, which) for p in ps]
            mask = cluster_mask(x, cps, gen)
            if fill == "black":
                return torch.where(mask, torch.zeros_like(x), x)
            amp = per_image([c.amplitude for c in cps], x.shape[0], x, "amplitude")
            return torch.where(mask, spike_values(x, amp, gen), x)
        return apply

    return [
        ("shot_noise", "30", lambda p: p.dose_e_per_A2 is not None,
         lambda p: {"dose_e_per_A2": p.dose_e_per_A2, "pixel_size_A": p.pixel_size_A}, shot),
        ("fixed_pattern", "31", lambda p: p.fixed_pattern > 0, lambda p: {"sigma": p.fixed_pattern},
         lambda x, ps: x + x * values(ps, "fixed_pattern", x) * gaussian(x)),
        ("dark_current", "32-33", lambda p: p.dark_current is not None, lambda p: p.dark_current.to_dict(),
         lambda x, ps: x + torch.poisson(dark_current_map(x, [p.dark_current for p in ps], gen), generator=gen)),
        ("thermal_noise", "34", lambda p: p.thermal_noise > 0, lambda p: {"sigma": p.thermal_noise},
         lambda x, ps: x + values(ps, "thermal_noise", x) * gaussian(x)),
        ("flicker_noise", "35", lambda p: p.flicker_noise > 0, lambda p: {"sigma": p.flicker_noise},
         lambda x, ps: x + flicker_noise(x, values(ps, "flicker_noise", x), gen)),
        ("reset_row_noise", "36", lambda p: p.reset_row_noise > 0, lambda p: {"sigma": p.reset_row_noise}, reset),
        ("conversion_gain", "40", lambda p: True, lambda p: {"adu_per_electron": p.conversion_gain},
         lambda x, ps: x * values(ps, "conversion_gain", x)),
        ("black_clusters", "37", lambda p: p.black_clusters is not None, lambda p: p.black_clusters.to_dict(),
         clusters("black_clusters", "black")),
        ("zinger_clusters", "38", lambda p: p.zinger_clusters is not None, lambda p: p.zinger_clusters.to_dict(),
         clusters("zinger_clusters", "spike")),
        ("clip", "39", lambda p: p.full_scale is not None, lambda p: {"full_scale": p.full_scale},
         lambda x, ps: torch.minimum(x, values(ps, "full_scale", x))),
        ("quantisation", "40", lambda p: p.quantise, lambda p: {"step_adu": 1}, lambda x, ps: torch.round(x)),
    ]


def apply_tem_distortions(images, params: TemDistortionParams | Sequence[TemDistortionParams],
                          generator: GeneratorLike):
    """Distort a batch of TEM images with the camera noise model (eqs. 30-40).

    The camera MTF (eqs. 27-29) belongs to the target: blur y with
    :func:`~simulate.distortions.tem.apply_mtf` first and pass the blurred y here.

    Order: shot noise P(λ) → fixed pattern x + x·N(0, σ_fpn) → dark current x + P(DCNU) → thermal →
    flicker → reset row noise → ADC gain α → black clusters → zinger clusters → clip min(x, T_u) →
    quantisation round(x). λ = dose · pixel_size² · intensity, so x stays in electrons (× α: ADU); the
    paper's division by the dose scale (eq. 30) is left to the caller.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) intensity as a fraction of the incident beam (>= 0 when a dose is given), or
        expected electrons per pixel when ``dose_e_per_A2`` is None.
    params : TemDistortionParams or sequence of B of them
        One set for every image, or one per image.
    generator : int, numpy.random.Generator or torch.Generator
        Seed or generator of every random draw (a torch.Generator must live on the images' device).

    Returns
    -------
    distorted : torch.Tensor or numpy.ndarray
        Same type and shape as ``images``, in ADU (electrons × ``conversion_gain``).
    record : dict
        JSON-serialisable list of the applied steps and their parameters per image.

    Raises
    ------
    ValueError
        For a wrong rank, NaN, negative intensity with a dose, or params of the wrong type/length.
    """
    x, restore = as_image_batch(images)
    plist = _param_list(params, x.shape[0], TemDistortionParams)
    if any(p.dose_e_per_A2 is not None for p in plist) and bool((x < 0).any()):
        raise ValueError(f"images must be >= 0 (fraction of the beam) to be counted; minimum {float(x.min()):.3g}.")
    gen = torch_generator(generator, x.device)
    out, record = _run(x, plist, _tem_steps(gen), "tem")
    return restore(out), record
