"""Parameter sets of the S(T)EM and TEM distortion pipelines (frozen, validated, JSON-ready).

A parameter set describes the distortions of one image; a pipeline takes one set for the whole batch
or one per image. Every field that is None (or 0 for a noise level) switches its model off, so a
benchmark can build any fixed combination explicitly, e.g. pure Poisson noise at a physical dose:
``StemDistortionParams(pixel_size_A=0.2, dose_e_per_A2=5e2)``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from _shared.legacy_names import rename_legacy_keys
from simulate.distortions._tensor import check_fraction, check_positive
from simulate.distortions.defects import RowLineParams, ZingerParams
from simulate.distortions.detector import PmtParams
from simulate.distortions.fast_scan import FastScanParams
from simulate.distortions.jitter import JitterParams
from simulate.distortions.tem import ClusterParams, DarkCurrentParams


def _to_json(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _from_dict(cls, values: dict, nested: dict[str, type]):
    """Build ``cls`` from its ``to_dict()`` (old names renamed); nested sets drop their derived entries."""
    values = rename_legacy_keys(dict(values))
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid fields are: {', '.join(sorted(known))}")
    built = {}
    for name, value in values.items():
        if name in nested and isinstance(value, dict):
            # to_dict() of a nested set adds derived values (a jitter's kind, the PMT's sigma_counts …)
            init = {f.name for f in fields(nested[name]) if f.init}
            value = nested[name](**{key: item for key, item in value.items() if key in init})
        built[name] = value
    return cls(**built)


def _check_dose(dose_e_per_A2: float | None) -> None:
    if dose_e_per_A2 is not None:
        check_positive(dose_e_per_A2, "dose_e_per_A2", "e⁻/Å²")


@dataclass(frozen=True)
class StemDistortionParams:
    """Distortions of one S(T)EM image, applied in this (physical) order by the pipeline.

    Parameters
    ----------
    pixel_size_A : float
        Scan step in Å (> 0); converts the jitter amplitudes and the dose.
    jitter : JitterParams or None
        AR(1) scan-line jitter (eqs. 41-42), amplitudes in Å.
    dose_e_per_A2 : float or None
        Electron dose in e⁻/Å²; Poisson counting of alpha · intensity, alpha = dose · pixel_size²
        (eq. 45). The output stays in counts (the paper's division by alpha is left to the caller).
        None keeps the noiseless intensity.
    pmt : PmtParams or None
        Signal-independent PMT Gaussian N(0, sigma) added to the counts (eqs. 43-44, 46); needs a dose.
    fast_scan : FastScanParams or None
        Detector/read-out PSF along the fast-scan direction (eqs. 47-50), causal or centroid-aligned.
    row_lines : RowLineParams or None
        Row-line segments replaced by their mean times a random factor (eq. 51).
    black_pixels : float or None
        Probability per pixel of a black (0) pixel (eq. 52).
    zingers : ZingerParams or None
        Spikes above the image maximum (eq. 53).
    clip : float or None
        Upper clip T_u at this fraction of the image maximum, in (0, 1] (eq. 54).
    quantisation_bits : int or None
        ADC bit depth over the image range (eq. 55).
    """

    pixel_size_A: float
    jitter: JitterParams | None = None
    dose_e_per_A2: float | None = None
    pmt: PmtParams | None = None
    fast_scan: FastScanParams | None = None
    row_lines: RowLineParams | None = None
    black_pixels: float | None = None
    zingers: ZingerParams | None = None
    clip: float | None = None
    quantisation_bits: int | None = None

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            If a value is out of range, or ``pmt`` is given without ``dose_e_per_A2``.
        """
        check_positive(self.pixel_size_A, "pixel_size_A", "Å")
        _check_dose(self.dose_e_per_A2)
        if self.pmt is not None and self.dose_e_per_A2 is None:
            raise ValueError("pmt noise acts on detected electron counts: give dose_e_per_A2 (e⁻/Å²) too.")
        if self.black_pixels is not None:
            check_fraction(self.black_pixels, "black_pixels")
        if self.clip is not None:
            check_fraction(self.clip, "clip", closed_low=False)
        if self.quantisation_bits is not None and (
            int(self.quantisation_bits) != self.quantisation_bits or not 1 <= self.quantisation_bits <= 24
        ):
            raise ValueError(f"quantisation_bits must be an integer from 1 to 24; got {self.quantisation_bits!r}.")

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dictionary of every field.

        Returns
        -------
        dict
            Field name to value; nested parameter sets as their ``to_dict()``, None where a model is off.
        """
        return {f.name: _to_json(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict) -> StemDistortionParams:
        """Build a parameter set from the output of :meth:`to_dict` (a pair record's ``distortion_params``).

        Parameters
        ----------
        values : dict
            Field name to value, nested sets as dicts. Names written before the unit-suffix convention
            (``pixel_size``, ``dose_per_area``) are read too (:mod:`_shared.legacy_names`).

        Returns
        -------
        StemDistortionParams
            The validated set.

        Raises
        ------
        ValueError
            For an unknown field or an invalid value.
        """
        return _from_dict(cls, values, {"jitter": JitterParams, "pmt": PmtParams, "fast_scan": FastScanParams,
                                        "row_lines": RowLineParams, "zingers": ZingerParams})


@dataclass(frozen=True)
class TemDistortionParams:
    """Camera distortions of one TEM image (eqs. 30-40), applied in this order by the pipeline.

    The camera MTF (eqs. 27-29) is not part of this set: it blurs the undistorted target y before
    distortion (:func:`~simulate.distortions.tem.apply_mtf`), so the pipeline never applies it.

    Parameters
    ----------
    pixel_size_A : float
        Pixel size at the specimen in Å (> 0).
    dose_e_per_A2 : float or None
        Dose in e⁻/Å²; shot noise n ~ P(λ), λ = dose · pixel_size² · intensity (eq. 30, kept in electrons:
        the paper's division by the dose scale is left to the caller). None: the input is taken to be
        expected electrons per pixel already and is not counted.
    fixed_pattern : float
        σ_fpn of x ← x + x · N(0, σ_fpn) after the shot noise (eq. 31), >= 0.
    dark_current : DarkCurrentParams or None
        DCNU map and its shot noise (eqs. 32-33), in electrons.
    thermal_noise, flicker_noise, reset_row_noise : float
        Standard deviations in electrons (eqs. 34-36), >= 0.
    conversion_gain : float
        ADC gain α of eq. 40 in ADU per electron (> 0); applied before the defects and the clip, so the
        output is in ADU.
    black_clusters, zinger_clusters : ClusterParams or None
        Clustered black pixels / zingers (eqs. 37-38).
    full_scale : float or None
        Upper clip T_u in ADU: x ← min(x, T_u) (eq. 39).
    quantise : bool
        Round to integer ADU (eq. 40).
    """

    pixel_size_A: float
    dose_e_per_A2: float | None = None
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
        """Validate the scalar fields (the nested parameter sets validate themselves).

        Raises
        ------
        ValueError
            If a value is negative, not finite, or zero where it must be positive.
        """
        check_positive(self.pixel_size_A, "pixel_size_A", "Å")
        _check_dose(self.dose_e_per_A2)
        check_positive(self.fixed_pattern, "fixed_pattern", "(relative)", allow_zero=True)
        for name in ("thermal_noise", "flicker_noise", "reset_row_noise"):
            check_positive(getattr(self, name), name, "e⁻", allow_zero=True)
        check_positive(self.conversion_gain, "conversion_gain", "ADU/e⁻")
        if self.full_scale is not None:
            check_positive(self.full_scale, "full_scale", "ADU")

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dictionary of every field.

        Returns
        -------
        dict
            Field name to value; nested parameter sets as their ``to_dict()``, None where a model is off.
        """
        return {f.name: _to_json(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict) -> TemDistortionParams:
        """Build a parameter set from the output of :meth:`to_dict` (a pair record's ``distortion_params``).

        Parameters
        ----------
        values : dict
            Field name to value, nested sets as dicts. Names written before the unit-suffix convention
            (``pixel_size``, ``dose_per_area``) are read too (:mod:`_shared.legacy_names`).

        Returns
        -------
        TemDistortionParams
            The validated set.

        Raises
        ------
        ValueError
            For an unknown field or an invalid value.
        """
        return _from_dict(cls, values, {"dark_current": DarkCurrentParams, "black_clusters": ClusterParams,
                                        "zinger_clusters": ClusterParams})
