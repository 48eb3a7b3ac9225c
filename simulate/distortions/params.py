"""Parameter sets of the S(T)EM and TEM distortion pipelines (frozen, validated, JSON-ready).

A parameter set describes the distortions of one image; a pipeline takes one set for the whole batch
or one per image. Every field that is None (or 0 for a noise level) switches its model off, so a
benchmark can build any fixed combination explicitly, e.g. pure Poisson noise at a physical dose:
``StemDistortionParams(pixel_size=0.2, dose_per_area=5e2)``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from simulate.distortions._tensor import check_fraction, check_positive
from simulate.distortions.defects import RowLineParams, ZingerParams
from simulate.distortions.detector import PmtParams
from simulate.distortions.fast_scan import FastScanParams
from simulate.distortions.jitter import JitterParams
from simulate.distortions.tem import ClusterParams, DarkCurrentParams, MtfParams, check_mtf


def _to_json(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _check_dose(dose_per_area: float | None) -> None:
    if dose_per_area is not None:
        check_positive(dose_per_area, "dose_per_area", "e⁻/Å²")


@dataclass(frozen=True)
class StemDistortionParams:
    """Distortions of one S(T)EM image, applied in this (physical) order by the pipeline.

    Parameters
    ----------
    pixel_size : float
        Scan step in Å (> 0); converts the jitter amplitudes and the dose.
    jitter : JitterParams or None
        AR(1) scan-line jitter (eqs. 41-42), amplitudes in Å.
    dose_per_area : float or None
        Electron dose in e⁻/Å²; Poisson counting of dose · pixel_size² · intensity (eq. 43). None keeps
        the noiseless intensity.
    pmt : PmtParams or None
        Scintillator/PMT noise on the counts (eqs. 44-46); needs a dose.
    fast_scan : FastScanParams or None
        Causal detector/read-out PSF along the fast-scan direction (eqs. 47-50).
    row_lines : RowLineParams or None
        Row-line offsets (eq. 51).
    black_pixels : float or None
        Probability per pixel of a black (0) pixel (eq. 52).
    zingers : ZingerParams or None
        Spikes above the image maximum (eq. 53).
    clip : float or None
        Upper clip at this fraction of the image maximum, in (0, 1] (eq. 54).
    quantisation_bits : int or None
        ADC bit depth over the image range (eq. 55).
    """

    pixel_size: float
    jitter: JitterParams | None = None
    dose_per_area: float | None = None
    pmt: PmtParams | None = None
    fast_scan: FastScanParams | None = None
    row_lines: RowLineParams | None = None
    black_pixels: float | None = None
    zingers: ZingerParams | None = None
    clip: float | None = None
    quantisation_bits: int | None = None

    def __post_init__(self) -> None:
        check_positive(self.pixel_size, "pixel_size", "Å")
        _check_dose(self.dose_per_area)
        if self.pmt is not None and self.dose_per_area is None:
            raise ValueError("pmt noise acts on detected electron counts: give dose_per_area (e⁻/Å²) too.")
        if self.black_pixels is not None:
            check_fraction(self.black_pixels, "black_pixels")
        if self.clip is not None:
            check_fraction(self.clip, "clip", closed_low=False)
        if self.quantisation_bits is not None and (
            int(self.quantisation_bits) != self.quantisation_bits or not 1 <= self.quantisation_bits <= 24
        ):
            raise ValueError(f"quantisation_bits must be an integer from 1 to 24; got {self.quantisation_bits!r}.")

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary of every field (None where a model is off)."""
        return {f.name: _to_json(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class TemDistortionParams:
    """Distortions of one TEM camera image, applied in this order by the pipeline.

    Parameters
    ----------
    pixel_size : float
        Pixel size at the specimen in Å (> 0).
    mtf : MtfParams or None
        Camera MTF blur (eqs. 27-29).
    dose_per_area : float or None
        Dose in e⁻/Å²; shot noise of dose · pixel_size² · intensity (eq. 30). None: the input is taken
        to be expected electrons per pixel already and is not counted.
    fixed_pattern : float
        Relative standard deviation of the pixel gain non-uniformity (eq. 31), >= 0.
    dark_current : DarkCurrentParams or None
        Dark-current map and its shot noise (eqs. 32-33), in electrons.
    thermal_noise, flicker_noise, reset_row_noise : float
        Standard deviations in electrons (eqs. 34-36), >= 0.
    conversion_gain : float
        ADU per electron (> 0).
    black_clusters, zinger_clusters : ClusterParams or None
        Clustered black pixels / zingers (eqs. 37-38).
    full_scale : float or None
        Clip to [0, full_scale] ADU (eq. 39).
    quantise : bool
        Round to integer ADU (eq. 40).
    """

    pixel_size: float
    mtf: MtfParams | None = None
    dose_per_area: float | None = None
    fixed_pattern: float = 0.0
    dark_current: DarkCurrentParams | None = None
    thermal_noise: float = 0.0
    flicker_noise: float = 0.0
    reset_row_noise: float = 0.0
    conversion_gain: float = 1.0
    black_clusters: ClusterParams | None = None
    zinger_clusters: ClusterParams | None = None
    full_scale: float | None = None
    quantise: bool = False

    def __post_init__(self) -> None:
        check_positive(self.pixel_size, "pixel_size", "Å")
        _check_dose(self.dose_per_area)
        if self.mtf is not None:
            check_mtf(self.mtf)
        check_positive(self.fixed_pattern, "fixed_pattern", "(relative)", allow_zero=True)
        for name in ("thermal_noise", "flicker_noise", "reset_row_noise"):
            check_positive(getattr(self, name), name, "e⁻", allow_zero=True)
        check_positive(self.conversion_gain, "conversion_gain", "ADU/e⁻")
        if self.full_scale is not None:
            check_positive(self.full_scale, "full_scale", "ADU")

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary of every field (None where a model is off)."""
        return {f.name: _to_json(getattr(self, f.name)) for f in fields(self)}
