"""Parameter samplers for training data and a fixed parameter set for benchmarks.

Ranges and probabilities from the paper:

* scan jitter occurs with probability 0.9; of those, X / Y / XY jitter with 0.25 / 0.25 / 0.5;
  sigma uniform in [0.0025, 0.8] Å, phi uniform in [0, 0.7] (eq. 41);
* dose: "exponential, scale 0.5, range [0.5, 750] / E{y}" for the dose scale factor alpha. We draw the
  mean count per pixel c = alpha E{y} with that exponential on the normalised *logarithmic* axis,
  t ~ Exp(scale 0.5) truncated to [0, 1], c = c_min (c_max / c_min)^t, over [0.05, 5000] counts. The
  benchmark studies (``bench.synthetic_coverage``) reach down to a mean of 0.12 counts (2 atoms,
  5·10² e⁻/Å², 0.2 Å pixels), which the paper's lower end of 0.5 misses, and up to column peaks of
  ≈ 6000 counts (5·10⁵ e⁻/Å²), which images with a mean of at most 750 counts on a pedestal do not
  reach; a linear reading would put the median at 211 counts, far from the low-dose focus the paper
  states. The dose follows as c / (pixel_size² E{y});
* PMT (eqs. 43-44): "around 100" photons per electron; row-line factor [0.5, 1.5] (eq. 51).

Everything else (the other distributions, probabilities and ranges) is ours and documented in
docs/distortions.md.
"""
from __future__ import annotations

import math

import numpy as np

from simulate.distortions._tensor import check_positive, numpy_generator
from simulate.distortions.defects import RowLineParams, ZingerParams
from simulate.distortions.detector import PmtParams
from simulate.distortions.fast_scan import ALIGN_MODES, FastScanParams
from simulate.distortions.jitter import JitterParams
from simulate.distortions.params import StemDistortionParams, TemDistortionParams
from simulate.distortions.postprocess import AffineParams, AnnotationParams, CropParams, PostprocessParams
from simulate.distortions.tem import ClusterParams, DarkCurrentParams, MtfParams, mtf_admissible

JITTER_PROBABILITY = 0.9
JITTER_KIND_PROBABILITIES = {"x": 0.25, "y": 0.25, "xy": 0.5}
JITTER_SIGMA_RANGE = (0.0025, 0.8)  # Å, uniform
JITTER_PHI_RANGE = (0.0, 0.7)
MEAN_COUNTS_RANGE = (0.05, 5000.0)  # detected electrons per pixel, averaged over the image
DOSE_EXPONENTIAL_SCALE = 0.5  # of t, the position on the logarithmic mean-count axis normalised to [0, 1]
PMT_PHOTONS_RANGE = (50.0, 150.0)  # m_c, photons per electron ("around 100")
PMT_EXCESS_RANGE = (1.0, 3.0)  # delta_c² / m_c: 1 for a Poisson flash, more for scintillator excess
PMT_EFFICIENCY_RANGE = (0.1, 0.35)  # eta
PMT_DYNODE_GAIN_RANGE = (3.0, 8.0)  # delta
FAST_SCAN_PROBABILITY = 0.75
FAST_SCAN_DETECTOR_HWHM_RANGE_PX = (0.05, 2.0)  # alpha / (2 pi), log-uniform
FAST_SCAN_READOUT_PROBABILITY = 0.5
FAST_SCAN_BETA_RANGE_PX = (0.5, 5.0)  # log-uniform
FAST_SCAN_GAMMA_RANGE_PX = (2.0, 32.0)  # log-uniform
FAST_SCAN_THETA_RANGE_RAD = (0.0, math.pi / 2)
ROW_LINE_PROBABILITY = 0.25


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def sample_mean_counts(generator, *, exponential_scale: float = DOSE_EXPONENTIAL_SCALE) -> float:
    """Draw the mean detected electrons per pixel c = c_min (c_max / c_min)^t, t ~ Exp(scale) truncated to [0, 1].

    Parameters
    ----------
    generator : int or numpy.random.Generator
        Seed or generator of the draw (one uniform number is used, whatever the scale).
    exponential_scale : float
        Scale of t's truncated exponential: 0.5 (the paper's) favours low doses; ``math.inf`` makes t uniform,
        i.e. c log-uniform over the whole range.

    Returns
    -------
    float
        c in MEAN_COUNTS_RANGE = [0.05, 5000] counts; log10(c) is a truncated exponential.

    Raises
    ------
    ValueError
        If ``exponential_scale`` is not positive.
    """
    if not exponential_scale > 0:
        raise ValueError(f"exponential_scale={exponential_scale!r} must be > 0 (math.inf for log-uniform counts)")
    rng = numpy_generator(generator)
    u = rng.uniform()
    scale = exponential_scale
    t = u if math.isinf(scale) else -scale * math.log(1.0 - u * (1.0 - math.exp(-1.0 / scale)))  # inverse CDF
    low, high = MEAN_COUNTS_RANGE
    return low * (high / low) ** t


def _dose(rng, pixel_size_A: float, mean_intensity: float | None, dose_e_per_A2: float | None,
          exponential_scale: float = DOSE_EXPONENTIAL_SCALE) -> float:
    if dose_e_per_A2 is not None:
        check_positive(dose_e_per_A2, "dose_e_per_A2", "e⁻/Å²")
        return float(dose_e_per_A2)
    if mean_intensity is None:
        raise ValueError("give mean_intensity (E{y}, fraction of the beam) to sample a dose, or a fixed dose_e_per_A2.")
    check_positive(mean_intensity, "mean_intensity", "(fraction of the beam)")
    return sample_mean_counts(rng, exponential_scale=exponential_scale) / (pixel_size_A**2 * mean_intensity)


def sample_jitter(generator) -> JitterParams | None:
    """Draw scan jitter with the paper's probabilities.

    Jitter occurs with probability 0.9; X / Y / XY with 0.25 / 0.25 / 0.5; sigma uniform in [0.0025, 0.8] Å
    and phi uniform in [0, 0.7] for each jittering direction.

    Parameters
    ----------
    generator : int or numpy.random.Generator
        Seed or generator of the draws.

    Returns
    -------
    JitterParams or None
        The jitter, or None when the image has none.
    """
    rng = numpy_generator(generator)
    if rng.uniform() >= JITTER_PROBABILITY:
        return None
    kinds = list(JITTER_KIND_PROBABILITIES)
    kind = kinds[int(rng.choice(len(kinds), p=list(JITTER_KIND_PROBABILITIES.values())))]
    values = {}
    for axis, letter in (("fast", "x"), ("slow", "y")):
        if letter in kind:
            values[f"sigma_{axis}"] = float(rng.uniform(*JITTER_SIGMA_RANGE))
            values[f"phi_{axis}"] = float(rng.uniform(*JITTER_PHI_RANGE))
    return JitterParams(**values)


def sample_pmt(generator) -> PmtParams:
    """Draw PMT parameters: m_c ~ U[50, 150], delta_c² = m_c · U[1, 3], eta ~ U[0.1, 0.35], delta ~ U[3, 8].

    Parameters
    ----------
    generator : int or numpy.random.Generator
        Seed or generator of the draws.

    Returns
    -------
    PmtParams
        The drawn scintillator and photomultiplier settings.
    """
    rng = numpy_generator(generator)
    photons = float(rng.uniform(*PMT_PHOTONS_RANGE))
    return PmtParams(photons_per_electron=photons, photons_variance=photons * float(rng.uniform(*PMT_EXCESS_RANGE)),
                     quantum_efficiency=float(rng.uniform(*PMT_EFFICIENCY_RANGE)),
                     dynode_gain=float(rng.uniform(*PMT_DYNODE_GAIN_RANGE)))


def sample_fast_scan(generator, *, align: str = "causal") -> FastScanParams | None:
    """Draw the fast-scan PSFs (None with probability 0.25; ranges in the module constants).

    Detector HWHM alpha/(2 pi) log-uniform in [0.05, 2] px; a read-out with probability 0.5, beta
    log-uniform in [0.5, 5] px, gamma log-uniform in [2, 32] px, theta uniform in [0, pi/2].

    Parameters
    ----------
    generator : int or numpy.random.Generator
        Seed or generator of the draws.
    align : {"causal", "centroid", "matched"}
        Alignment mode of the drawn :class:`FastScanParams`.

    Returns
    -------
    FastScanParams or None
        The PSFs with a 32 px kernel, or None when the image has no fast-scan noise.
    """
    rng = numpy_generator(generator)
    if rng.uniform() >= FAST_SCAN_PROBABILITY:
        return None
    alpha = 2 * math.pi * _log_uniform(rng, *FAST_SCAN_DETECTOR_HWHM_RANGE_PX)
    readout = {"readout_beta_px": None}
    if rng.uniform() < FAST_SCAN_READOUT_PROBABILITY:
        readout = {"readout_beta_px": _log_uniform(rng, *FAST_SCAN_BETA_RANGE_PX),
                   "readout_gamma_px": _log_uniform(rng, *FAST_SCAN_GAMMA_RANGE_PX),
                   "readout_theta_rad": float(rng.uniform(*FAST_SCAN_THETA_RANGE_RAD))}
    return FastScanParams(detector_alpha_px=alpha, kernel_length_px=32, align=align, **readout)


def sample_stem_params(generator, *, pixel_size_A: float, mean_intensity: float | None = None,
                       dose_e_per_A2: float | None = None, fast_scan_align: str = "causal",
                       dose_exponential_scale: float = DOSE_EXPONENTIAL_SCALE,
                       clean_probability: float = 0.0) -> StemDistortionParams:
    """Draw one S(T)EM distortion set for training.

    Parameters
    ----------
    generator : int or numpy.random.Generator
        Seed or generator of the draws.
    pixel_size_A : float
        Scan step in Å (> 0).
    mean_intensity : float, optional
        Mean of the clean image E{y} (fraction of the beam); the sampled mean count then sets the dose.
    dose_e_per_A2 : float, optional
        Fixed dose in e⁻/Å² instead of a sampled one.
    fast_scan_align : {"causal", "centroid", "matched"}
        Alignment of the fast-scan PSF (see :class:`FastScanParams`); "causal" is the paper's physics.
    dose_exponential_scale : float
        Scale of the sampled dose's distribution (:func:`sample_mean_counts`); 0.5 is the paper's.
    clean_probability : float
        Probability in [0, 1] of a clean scan: Poisson counting and PMT noise only, no jitter, fast scan,
        row lines, black pixels, zingers, clip or quantisation (ours; the paper's draws leave an image
        without jitter and fast-scan blur 2.5 % of the time). 0, the paper's, draws nothing, so the other
        draws stay as they were.

    Returns
    -------
    StemDistortionParams
        Always Poisson counting and PMT noise; unless the scan is clean, jitter, fast scan, row lines, black
        pixels, zingers, clip and quantisation each with its own probability.

    Raises
    ------
    ValueError
        For a bad pixel size, neither a mean intensity nor a dose, an unknown alignment or a clean
        probability outside [0, 1].
    """
    check_positive(pixel_size_A, "pixel_size_A", "Å")
    if fast_scan_align not in ALIGN_MODES:
        raise ValueError(f"fast_scan_align must be one of {ALIGN_MODES}; got {fast_scan_align!r}.")
    if not 0 <= clean_probability <= 1:
        raise ValueError(f"clean_probability={clean_probability!r} must lie in [0, 1] (0: the paper's draws).")
    rng = numpy_generator(generator)
    dose = _dose(rng, pixel_size_A, mean_intensity, dose_e_per_A2, dose_exponential_scale)
    clean = clean_probability > 0 and rng.uniform() < clean_probability
    pmt = sample_pmt(rng)
    if clean:
        return StemDistortionParams(pixel_size_A=pixel_size_A, dose_e_per_A2=dose, pmt=pmt)
    fast = sample_fast_scan(rng, align=fast_scan_align)
    rows = RowLineParams() if rng.uniform() < ROW_LINE_PROBABILITY else None
    black = _log_uniform(rng, 1e-4, 1e-2) if rng.uniform() < 0.25 else None
    zing = ZingerParams(_log_uniform(rng, 1e-5, 1e-3), float(rng.uniform(0.1, 1.0))) if rng.uniform() < 0.25 else None
    clip = float(rng.uniform(0.8, 1.0)) if rng.uniform() < 0.1 else None
    bits = int(rng.integers(8, 17)) if rng.uniform() < 0.5 else None
    return StemDistortionParams(pixel_size_A=pixel_size_A, jitter=sample_jitter(rng), dose_e_per_A2=dose, pmt=pmt,
                                fast_scan=fast, row_lines=rows, black_pixels=black, zingers=zing, clip=clip,
                                quantisation_bits=bits)


def benchmark_stem_params(*, dose_e_per_A2: float, pixel_size_A: float, jitter_sigma: float = 0.05,
                          jitter_phi: float = 0.5, pmt: PmtParams | None = None,
                          fast_scan: FastScanParams | None = None) -> StemDistortionParams:
    """Return the fixed "Poisson + detector noise + scan-line jitter + fast-scan" set at a physical dose.

    Parameters
    ----------
    dose_e_per_A2 : float
        Dose in e⁻/Å².
    pixel_size_A : float
        Scan step in Å.
    jitter_sigma : float
        Innovation std of the XY line jitter in Å (both directions); stationary std
        jitter_sigma / sqrt(1 - jitter_phi²).
    jitter_phi : float
        Lag-1 autocorrelation of the jitter.
    pmt, fast_scan : optional
        Detector and fast-scan settings; defaults are PmtParams() (the paper's m_c = 100,
        delta_c² = 100, eta = 0.2, delta = 4: sigma = 0.258 counts) and FastScanParams() (detector HWHM
        0.5 px, read-out beta = 5/3 px, gamma = 2.5 pi px, theta = 0, 32 px: a causal lag of 1.65 px).

    Returns
    -------
    StemDistortionParams
        The set, without row lines, black pixels, zingers, clip or quantisation.

    Raises
    ------
    ValueError
        If a value is out of range (raised by the parameter classes).
    """
    return StemDistortionParams(
        pixel_size_A=pixel_size_A,
        jitter=JitterParams(jitter_sigma, jitter_phi, jitter_sigma, jitter_phi),
        dose_e_per_A2=dose_e_per_A2,
        pmt=pmt or PmtParams(),
        fast_scan=fast_scan or FastScanParams(),
    )


MTF_A_RANGE = (0.0, 1.5)  # ours: a > 1 gives flat-topped MTFs, where the eq. 29 constraint bites
MTF_WIDTH_RANGE_NYQUIST = (0.1, 2.0)  # ours: b and c, log-uniform, in units of the Nyquist frequency
MTF_MAX_ATTEMPTS = 10_000


def sample_mtf(generator) -> MtfParams:
    """Draw a camera MTF (eqs. 28-29) by rejection, as the paper does.

    a, b and c are drawn until MTF_r is positive and monotonically decreasing on 1000 points over
    [0, 10] Nyquist units (:func:`~simulate.distortions.tem.mtf_admissible`). The ranges are ours (the
    paper only says "positive"): a uniform in (0, 1.5], b and c log-uniform in [0.1, 2] Nyquist units.
    About a quarter of the draws with a > 1 are admitted, so 11 % of the MTFs are flat-topped.

    Parameters
    ----------
    generator : int or numpy.random.Generator
        Seed or generator of the draws.

    Returns
    -------
    MtfParams
        The first admissible draw.

    Raises
    ------
    RuntimeError
        If no admissible draw is found in ``MTF_MAX_ATTEMPTS`` tries (every draw with a <= 1 is
        admissible, so this needs a change of the ranges).
    """
    rng = numpy_generator(generator)
    low, high = MTF_A_RANGE
    for _ in range(MTF_MAX_ATTEMPTS):
        a = float(high - (high - low) * rng.uniform())  # (low, high]: a > 0
        b = _log_uniform(rng, *MTF_WIDTH_RANGE_NYQUIST)
        c = _log_uniform(rng, *MTF_WIDTH_RANGE_NYQUIST)
        if mtf_admissible(a, b, c):
            return MtfParams(a=a, b_nyquist=b, c_nyquist=c)
    raise RuntimeError(f"no admissible MTF in {MTF_MAX_ATTEMPTS} draws; check MTF_A_RANGE and MTF_WIDTH_RANGE_NYQUIST.")


def sample_tem_params(generator, *, pixel_size_A: float, mean_intensity: float | None = None,
                      dose_e_per_A2: float | None = None,
                      dose_exponential_scale: float = DOSE_EXPONENTIAL_SCALE) -> TemDistortionParams:
    """Draw one TEM camera distortion set (eqs. 30-40) for training.

    The dose follows the paper (as :func:`sample_stem_params`); the other ranges and probabilities are
    ours (docs/distortions.md). The camera MTF is drawn separately with :func:`sample_mtf`, because it
    blurs the target y rather than the distorted x.

    Parameters
    ----------
    generator : int or numpy.random.Generator
        Seed or generator of the draws.
    pixel_size_A : float
        Pixel size at the specimen in Å (> 0).
    mean_intensity : float, optional
        Mean of the clean image E{y} (fraction of the beam); the sampled mean count then sets the dose.
    dose_e_per_A2 : float, optional
        Fixed dose in e⁻/Å² instead of a sampled one.
    dose_exponential_scale : float
        Scale of the sampled dose's distribution (:func:`sample_mean_counts`); 0.5 is the paper's.

    Returns
    -------
    TemDistortionParams
        Always shot noise, fixed-pattern and thermal noise and an ADC gain in [0.5, 4] ADU/e⁻; dark current,
        flicker, reset-row noise, clusters, clip and quantisation each with its own probability.

    Raises
    ------
    ValueError
        For a bad pixel size, or neither a mean intensity nor a dose.
    """
    check_positive(pixel_size_A, "pixel_size_A", "Å")
    rng = numpy_generator(generator)
    dose = _dose(rng, pixel_size_A, mean_intensity, dose_e_per_A2, dose_exponential_scale)
    dark = None
    if rng.uniform() < 0.5:
        mean_e = float(rng.uniform(0.1, 5.0))
        dark = DarkCurrentParams(mean_e=mean_e, std_e=mean_e * float(rng.uniform(0.1, 1.0)),
                                 hot_fraction=_log_uniform(rng, 1e-5, 1e-3))

    def clusters():
        """Draw clustered defects with probability 0.2.

        Returns
        -------
        ClusterParams or None
            Seed probability log-uniform in [1e-5, 1e-3], 0-8 walk steps, amplitude in [0.1, 1]; or None.
        """
        if rng.uniform() >= 0.2:
            return None
        return ClusterParams(_log_uniform(rng, 1e-5, 1e-3), int(rng.integers(0, 9)), float(rng.uniform(0.1, 1.0)))

    gain = float(rng.uniform(0.5, 4.0))
    return TemDistortionParams(
        pixel_size_A=pixel_size_A, dose_e_per_A2=dose, fixed_pattern=float(rng.uniform(0.0, 0.02)),
        dark_current=dark, thermal_noise=float(rng.uniform(0.0, 3.0)),
        flicker_noise=float(rng.uniform(0.0, 2.0)) if rng.uniform() < 0.3 else 0.0,
        reset_row_noise=float(rng.uniform(0.0, 2.0)) if rng.uniform() < 0.3 else 0.0,
        conversion_gain=gain, black_clusters=clusters(), zinger_clusters=clusters(),
        full_scale=float(2 ** int(rng.integers(12, 17)) - 1) if rng.uniform() < 0.2 else None,
        quantise=bool(rng.uniform() < 0.5),
    )


def sample_postprocess_params(generator) -> PostprocessParams:
    """Draw post-processing distortions: affine 0.5, blur 0.5 (σ in [0, 1] px), annotations 0.2, crop 0.2.

    Parameters
    ----------
    generator : int or numpy.random.Generator
        Seed or generator of the draws.

    Returns
    -------
    PostprocessParams
        Affine: rotation ±5°, scales 0.9-1.1, shear ±0.05, shifts ±2 px; annotations: 1-4 shapes at level 0
        or 1; crop: 0.6-0.95 of each side, median or 0 fill.
    """
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
