"""One synthetic training pair (x distorted, y undistorted) from a seed.

Steps: draw a pixel size uniformly in [0.025, 0.90] Å; draw an atomic specimen and render it
(eqs. 16–22), or draw a low-resolution image, on the field of view plus a scan margin; finish it into
y (inversion, |y|^β, background, std/mean, normalisation: eqs. 23–26); for TEM, blur y itself with the
camera MTF (eq. 27: the MTF cannot be told apart from other microscope settings, so the target carries
it); distort the extended image with the modality's pipeline (``simulate.distortions``) at a dose drawn
for the image's mean intensity; crop both to the field of view; optionally apply post-processing to the
pair.

The margin lets scan jitter and the fast-scan PSF pull in real specimen from outside the field of
view instead of repeated edge values: 3.5 Å (≈ 3 stationary jitter standard deviations at the top of
the sampled range) clipped to [8, 48] px.

The pipelines return detected counts (ADU for TEM). As in eqs. 30 and 46, x is divided by the dose scale
α = dose · pixel_size² (and by the TEM conversion gain), which brings it back to the range of y: E{x} = y
wherever no defect (black pixel, zinger, clip, row line) changed a pixel. ``record['x_scale']`` keeps the
factor 1/α. Unlike a rescaling to mean(y), this keeps the noise's own fluctuation of the mean and lets
defects move the mean, as they do in a real recording.
"""
from __future__ import annotations

import numpy as np
import torch

from simulate.distortions import (
    apply_mtf,
    apply_postprocessing,
    apply_stem_distortions,
    apply_tem_distortions,
    sample_mtf,
    sample_postprocess_params,
    sample_stem_params,
    sample_tem_params,
)
from simulate.synthetic.image import finish_image
from simulate.synthetic.lowres import sample_lowres_image
from simulate.synthetic.modalities import Modality, get_modality
from simulate.synthetic.radial import PROFILE_REACH_BOUND_A, sample_profiles, scale_profile_widths
from simulate.synthetic.render import render_atoms
from simulate.synthetic.specimens import SPECIMEN_KINDS, sample_pixel_size_A, sample_specimen

# Version of the pair recipe (generator code and its sampled distributions). Bump it whenever a change
# alters the pairs drawn for a seed, so caches, validation sets and checkpoints made with an older
# generator are recognised and refused with a clear message instead of being reused silently.
# Versions: 1 = distortion forms of our own; 2 = the forms of the paper's Methods, eqs. 16-55.
SYNTHETIC_RECIPE_VERSION = 2
SCAN_MARGIN_A = 3.5
SCAN_MARGIN_PX_RANGE = (8, 48)
_MAX_ATTEMPTS = 20


def scan_margin_px(pixel_size_A: float) -> int:
    """Return the margin rendered around the field of view for the scan distortions.

    Parameters
    ----------
    pixel_size_A : float
        Pixel size [Å], > 0.

    Returns
    -------
    int
        ceil(3.5 Å / pixel_size_A) clipped to [8, 48] px.
    """
    low, high = SCAN_MARGIN_PX_RANGE
    return int(np.clip(np.ceil(SCAN_MARGIN_A / pixel_size_A), low, high))


def _as_generator(generator) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool) and generator >= 0:
        return np.random.default_rng(int(generator))
    raise ValueError(f"generator={generator!r} must be a non-negative int seed or a numpy.random.Generator")


def _atomic_image(rng, spec: Modality, size: int, pixel_size_A: float, margin: int,
                  device) -> tuple[torch.Tensor, dict]:
    kinds = list(SPECIMEN_KINDS)
    probabilities = [spec.specimen_kinds.get(k, 0.0) for k in kinds]
    # atoms up to the largest reach of any f_Z outside the rendered region still light its edge
    extra = int(np.ceil(PROFILE_REACH_BOUND_A / pixel_size_A))
    for _ in range(_MAX_ATTEMPTS):
        kind = kinds[int(rng.choice(len(kinds), p=probabilities))]
        specimen = sample_specimen(rng, size, pixel_size_A=pixel_size_A, kind=kind, margin_px=margin + extra)
        if len(specimen.numbers) == 0:
            continue
        profiles = sample_profiles(specimen.numbers, rng)
        low, high = spec.profile_width_scale_range
        if (low, high) != (1.0, 1.0):  # no draw otherwise: the paper's modalities keep their random streams
            profiles = scale_profile_widths(profiles, float(np.exp(rng.uniform(np.log(low), np.log(high)))))
        side = size + 2 * margin
        image = render_atoms(
            specimen.positions, specimen.numbers, profiles, pixel_size_A=pixel_size_A, shape=(side, side),
            origin=(extra * pixel_size_A, extra * pixel_size_A), device=device,
        )
        if float(image[margin : margin + size, margin : margin + size].max()) > 0:
            record = {"source": "atomic", "specimen": specimen.record, "profiles": profiles.to_record(),
                      "n_atoms": int(len(specimen.numbers))}
            return image, record
    raise RuntimeError(f"no non-empty atomic image in {_MAX_ATTEMPTS} attempts (pixel_size_A={pixel_size_A} Å)")


def make_pair(
    generator, modality: str | Modality = "hrstem", size: int = 256, device: str | torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Generate one (x, y) training pair.

    Parameters
    ----------
    generator : int or numpy.random.Generator
        Seed (≥ 0) or generator; the same seed gives the same pair on the same device.
    modality : str or Modality
        'hrstem', 'lrstem', 'hrtem' or 'lrtem' (see :mod:`simulate.synthetic.modalities`).
    size : int
        Image side [px], ≥ 16.
    device : str or torch.device, optional
        Where rendering and distortions run (CPU when omitted).

    Returns
    -------
    x : torch.Tensor, shape (size, size), float32
        Distorted image divided by the dose scale α (eqs. 30, 46), in the units of y.
    y : torch.Tensor, shape (size, size), float32
        Undistorted image (max 1 before post-processing; for TEM, before the MTF blur).
    record : dict
        JSON-serialisable: modality, pixel size, every random choice of the image, the distortion and
        post-processing records, and ``x_scale``.

    Raises
    ------
    ValueError
        If the size, modality or generator is invalid.
    """
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size={size!r} px must be an integer ≥ 16")
    size = int(size)
    rng = _as_generator(generator)
    spec = get_modality(modality)
    device = torch.device("cpu") if device is None else torch.device(device)
    pixel_size_A = sample_pixel_size_A(rng)
    margin = scan_margin_px(pixel_size_A)
    side = size + 2 * margin
    record: dict = {"modality": spec.name, "size": size, "pixel_size_A": pixel_size_A, "margin_px": margin}

    if rng.random() < spec.atomic_probability:
        image, record["image"] = _atomic_image(rng, spec, size, pixel_size_A, margin, device)
    else:
        lowres, record["image"] = sample_lowres_image((side, side), rng, spec.lowres_kinds)
        record["image"]["source"] = "lowres"
        image = torch.as_tensor(lowres, dtype=torch.float32, device=device)
        if not float(image.max()) > 0:
            image = image + 1.0
    field = (slice(margin, margin + size), slice(margin, margin + size))
    y_extended, record["finish"] = finish_image(image.to(torch.float32), rng, region=field)

    if spec.detector == "tem":
        mtf = sample_mtf(rng)
        y_extended = apply_mtf(y_extended, mtf)
        record["mtf"] = mtf.to_dict()
    mean_intensity = float(y_extended[field].mean())
    if spec.detector == "stem":
        params = sample_stem_params(rng, pixel_size_A=pixel_size_A, mean_intensity=mean_intensity,
                                    fast_scan_align=spec.fast_scan_align,
                                    dose_exponential_scale=spec.dose_exponential_scale,
                                    clean_probability=spec.clean_scan_probability)
        x_extended, record["distortions"] = apply_stem_distortions(y_extended, params, rng)
        counts_per_unit = params.dose_e_per_A2 * pixel_size_A**2
    else:
        params = sample_tem_params(rng, pixel_size_A=pixel_size_A, mean_intensity=mean_intensity,
                                   dose_exponential_scale=spec.dose_exponential_scale)
        x_extended, record["distortions"] = apply_tem_distortions(y_extended, params, rng)
        counts_per_unit = params.dose_e_per_A2 * pixel_size_A**2 * params.conversion_gain
    record["distortion_params"] = params.to_dict()
    x, y = x_extended[field].contiguous(), y_extended[field].contiguous()

    record["postprocess"] = None
    if rng.random() < spec.postprocess_probability:
        x, y, record["postprocess"] = apply_postprocessing(x, y, sample_postprocess_params(rng), rng)
    scale = 1.0 / counts_per_unit
    record["x_scale"] = scale
    return (x * scale).to(torch.float32), y.to(torch.float32), record
