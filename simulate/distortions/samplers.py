"""Parameter samplers for training data and a fixed parameter set for benchmarks.

Ranges and probabilities given by the paper (as quoted in the project's issue 3):

* scan jitter occurs with probability 0.9; of those, X / Y / XY jitter with 0.25 / 0.25 / 0.5;
  sigma in [0.0025, 0.8] Å, phi in [0, 0.7];
* dose: a scale factor drawn from an exponential of scale 0.5 over [0.5, 750] / E{y}. We read this as
  a mean count per pixel c = 0.5 + (750 - 0.5) t with t from an exponential of scale 0.5 truncated to
  [0, 1], and the dose that produces it for an image of mean intensity E{y}.

Everything else (which distributions, the other probabilities and ranges) is our choice, documented
in docs/distortions.md; sigma is drawn log-uniformly because its range spans 2.5 decades.
"""
from __future__ import annotations

import math

import numpy as np

from simulate.distortions._tensor import check_positive, numpy_generator
from simulate.distortions.defects import RowLineParams, ZingerParams
from simulate.distortions.detector import PmtParams
from simulate.distortions.fast_scan import FastScanParams
from simulate.distortions.jitter import JitterParams
from simulate.distortions.params import StemDistortionParams, TemDistortionParams
from simulate.distortions.postprocess import AffineParams, AnnotationParams, CropParams, PostprocessParams
from simulate.distortions.tem import ClusterParams, DarkCurrentParams, MtfParams

JITTER_PROBABILITY = 0.9
JITTER_KIND_PROBABILITIES = {"x": 0.25, "y": 0.25, "xy": 0.5}
JITTER_SIGMA_RANGE = (0.0025, 0.8)  # Å
JITTER_PHI_RANGE = (0.0, 0.7)
MEAN_COUNTS_RANGE = (0.5, 750.0)  # detected electrons per pixel, on average over the image
DOSE_EXPONENTIAL_SCALE = 0.5  # in units of the normalised range


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def sample_mean_counts(generator) -> float:
    """Mean detected electrons per pixel, c = 0.5 + 749.5 t, t ~ Exp(scale 0.5) truncated to [0, 1]."""
    rng = numpy_generator(generator)
    scale = DOSE_EXPONENTIAL_SCALE
    t = -scale * math.log(1.0 - rng.uniform() * (1.0 - math.exp(-1.0 / scale)))  # inverse truncated CDF
    low, high = MEAN_COUNTS_RANGE
    return low + (high - low) * t


def _dose(rng, pixel_size: float, mean_intensity: float | None, dose_per_area: float | None) -> float:
    if dose_per_area is not None:
        check_positive(dose_per_area, "dose_per_area", "e⁻/Å²")
        return float(dose_per_area)
    if mean_intensity is None:
        raise ValueError("give mean_intensity (E{y}, fraction of the beam) to sample a dose, or a fixed dose_per_area.")
    check_positive(mean_intensity, "mean_intensity", "(fraction of the beam)")
    return sample_mean_counts(rng) / (pixel_size**2 * mean_intensity)


def sample_jitter(generator) -> JitterParams | None:
    """Draw scan jitter with the paper's probabilities (None when the image has none)."""
    rng = numpy_generator(generator)
    if rng.uniform() >= JITTER_PROBABILITY:
        return None
    kinds = list(JITTER_KIND_PROBABILITIES)
    kind = kinds[int(rng.choice(len(kinds), p=list(JITTER_KIND_PROBABILITIES.values())))]
    values = {}
    for axis, letter in (("fast", "x"), ("slow", "y")):
        if letter in kind:
            values[f"sigma_{axis}"] = _log_uniform(rng, *JITTER_SIGMA_RANGE)
            values[f"phi_{axis}"] = float(rng.uniform(*JITTER_PHI_RANGE))
    return JitterParams(**values)


def sample_stem_params(generator, pixel_size: float, *, mean_intensity: float | None = None,
                       dose_per_area: float | None = None) -> StemDistortionParams:
    """Draw one S(T)EM distortion set for training.

    Parameters
    ----------
    generator : int or numpy.random.Generator
    pixel_size : float
        Scan step in Å (> 0).
    mean_intensity : float, optional
        Mean of the clean image E{y} (fraction of the beam); the sampled mean count then sets the dose.
    dose_per_area : float, optional
        Fixed dose in e⁻/Å² instead of a sampled one.
    """
    check_positive(pixel_size, "pixel_size", "Å")
    rng = numpy_generator(generator)
    dose = _dose(rng, pixel_size, mean_intensity, dose_per_area)
    photons = float(rng.uniform(5.0, 50.0))
    pmt = PmtParams(gain=1.0, photons_per_electron=photons, photons_variance=photons * float(rng.uniform(1.0, 3.0)),
                    quantum_efficiency=float(rng.uniform(0.1, 0.3)), dynode_gain=float(rng.uniform(3.0, 6.0)),
                    read_noise=float(rng.uniform(0.0, 1.0)))
    fast = None
    if rng.uniform() < 0.75:
        fast = FastScanParams(detector_width=_log_uniform(rng, 0.05, 2.0),
                              readout_frequency=float(rng.uniform(0.3, 3.0)) if rng.uniform() < 0.5 else None,
                              readout_damping=float(rng.uniform(0.2, 0.9)), kernel_length=32)
    rows = None
    if rng.uniform() < 0.25:
        rows = RowLineParams(float(rng.uniform(0.005, 0.05)), float(rng.uniform(0.02, 0.2)))
    black = _log_uniform(rng, 1e-4, 1e-2) if rng.uniform() < 0.25 else None
    zing = ZingerParams(_log_uniform(rng, 1e-5, 1e-3), float(rng.uniform(0.1, 1.0))) if rng.uniform() < 0.25 else None
    clip = float(rng.uniform(0.8, 1.0)) if rng.uniform() < 0.1 else None
    bits = int(rng.integers(8, 17)) if rng.uniform() < 0.5 else None
    return StemDistortionParams(pixel_size=pixel_size, jitter=sample_jitter(rng), dose_per_area=dose, pmt=pmt,
                                fast_scan=fast, row_lines=rows, black_pixels=black, zingers=zing, clip=clip,
                                quantisation_bits=bits)


def benchmark_stem_params(dose_per_area: float, pixel_size: float, *, jitter_sigma: float = 0.05,
                          jitter_phi: float = 0.5, pmt: PmtParams | None = None,
                          fast_scan: FastScanParams | None = None) -> StemDistortionParams:
    """Fixed "Poisson + detector noise + scan-line jitter + fast-scan" set at a physical dose.

    Parameters
    ----------
    dose_per_area : float
        Dose in e⁻/Å².
    pixel_size : float
        Scan step in Å.
    jitter_sigma : float
        Innovation std of the XY line jitter in Å (both directions); stationary std
        jitter_sigma / sqrt(1 - jitter_phi²).
    jitter_phi : float
        Lag-1 autocorrelation of the jitter.
    pmt, fast_scan : optional
        Detector and fast-scan settings; defaults are PmtParams() and FastScanParams().
    """
    return StemDistortionParams(
        pixel_size=pixel_size,
        jitter=JitterParams(jitter_sigma, jitter_phi, jitter_sigma, jitter_phi),
        dose_per_area=dose_per_area,
        pmt=pmt or PmtParams(),
        fast_scan=fast_scan or FastScanParams(),
    )


def sample_tem_params(generator, pixel_size: float, *, mean_intensity: float | None = None,
                      dose_per_area: float | None = None) -> TemDistortionParams:
    """Draw one TEM camera distortion set for training (arguments as :func:`sample_stem_params`)."""
    check_positive(pixel_size, "pixel_size", "Å")
    rng = numpy_generator(generator)
    dose = _dose(rng, pixel_size, mean_intensity, dose_per_area)
    mtf = MtfParams(float(rng.uniform(0.15, 0.5)), float(rng.uniform(0.02, 0.15)), float(rng.uniform(0.0, 0.5)))
    dark = None
    if rng.uniform() < 0.5:
        dark = DarkCurrentParams(float(rng.uniform(0.0, 5.0)), float(rng.uniform(0.1, 0.8)),
                                 _log_uniform(rng, 1e-5, 1e-3), float(rng.uniform(50.0, 500.0)))

    def clusters():
        if rng.uniform() >= 0.2:
            return None
        return ClusterParams(_log_uniform(rng, 1e-5, 1e-3), int(rng.integers(0, 9)), float(rng.uniform(0.1, 1.0)))

    gain = float(rng.uniform(0.5, 4.0))
    return TemDistortionParams(
        pixel_size=pixel_size, mtf=mtf, dose_per_area=dose, fixed_pattern=float(rng.uniform(0.0, 0.02)),
        dark_current=dark, thermal_noise=float(rng.uniform(0.0, 3.0)),
        flicker_noise=float(rng.uniform(0.0, 2.0)) if rng.uniform() < 0.3 else 0.0,
        reset_row_noise=float(rng.uniform(0.0, 2.0)) if rng.uniform() < 0.3 else 0.0,
        conversion_gain=gain, black_clusters=clusters(), zinger_clusters=clusters(),
        full_scale=float(2 ** int(rng.integers(12, 17)) - 1) if rng.uniform() < 0.2 else None,
        quantise=bool(rng.uniform() < 0.5),
    )


def sample_postprocess_params(generator) -> PostprocessParams:
    """Draw post-processing distortions: affine 0.5, blur 0.5 (σ in [0, 1] px), annotations 0.2, crop 0.2."""
    rng = numpy_generator(generator)
    affine = None
    if rng.uniform() < 0.5:
        affine = AffineParams(float(rng.uniform(-5, 5)), float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.9, 1.1)),
                              float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2)))
    blur = float(rng.uniform(0.0, 1.0)) if rng.uniform() < 0.5 else None
    notes = AnnotationParams(int(rng.integers(1, 5)), float(rng.choice([0.0, 1.0]))) if rng.uniform() < 0.2 else None
    crop = None
    if rng.uniform() < 0.2:
        crop = CropParams(float(rng.uniform(0.6, 0.95)), float(rng.uniform(0.6, 0.95)),
                          "median" if rng.uniform() < 0.5 else "constant", 0.0)
    return PostprocessParams(affine=affine, blur_sigma=blur, annotations=notes, crop=crop)
