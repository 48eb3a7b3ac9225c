"""Detector-noise and scan-distortion models of Lobato, Friedrich & Van Aert (2023), Methods.

Composable, seeded, batched operations on torch tensors (CPU or GPU) that also accept and return numpy
arrays. Images are (B, H, W) or (H, W); axis -1 is the fast-scan direction. See docs/distortions.md.
"""
from simulate.distortions.defects import (
    RowLineParams,
    ZingerParams,
    black_pixels,
    clip_upper,
    quantise,
    row_line_noise,
    zingers,
)
from simulate.distortions.detector import PmtParams, apply_dose, detector_noise, pmt_noise, poisson_noise
from simulate.distortions.fast_scan import (
    FastScanParams,
    fast_scan_kernel,
    fast_scan_lag_px,
    fast_scan_matched_shift_px,
    fast_scan_noise,
    lorentzian_psf,
    lorentzian_psf_continuous,
    readout_normalisation,
    readout_psf,
    readout_psf_continuous,
)
from simulate.distortions.jitter import JitterParams, ar1_series, displace_lines, scan_jitter
from simulate.distortions.params import StemDistortionParams, TemDistortionParams
from simulate.distortions.pipeline import apply_stem_distortions, apply_tem_distortions
from simulate.distortions.postprocess import (
    AffineParams,
    AnnotationParams,
    CropParams,
    PostprocessParams,
    apply_postprocessing,
)
from simulate.distortions.samplers import (
    benchmark_stem_params,
    sample_fast_scan,
    sample_mean_counts,
    sample_mtf,
    sample_pmt,
    sample_postprocess_params,
    sample_stem_params,
    sample_tem_params,
)
from simulate.distortions.tem import (
    ClusterParams,
    DarkCurrentParams,
    MtfParams,
    apply_mtf,
    check_mtf,
    mtf_admissible,
    mtf_radial,
)

__all__ = [
    "AffineParams", "AnnotationParams", "ClusterParams", "CropParams", "DarkCurrentParams", "FastScanParams",
    "JitterParams", "MtfParams", "PmtParams", "PostprocessParams", "RowLineParams", "StemDistortionParams",
    "TemDistortionParams", "ZingerParams", "apply_dose", "apply_mtf", "apply_postprocessing", "apply_stem_distortions",
    "apply_tem_distortions", "ar1_series", "benchmark_stem_params", "black_pixels", "check_mtf", "clip_upper",
    "detector_noise", "displace_lines", "fast_scan_kernel", "fast_scan_lag_px", "fast_scan_matched_shift_px",
    "fast_scan_noise", "lorentzian_psf",
    "lorentzian_psf_continuous", "mtf_admissible", "mtf_radial", "pmt_noise", "poisson_noise", "quantise",
    "readout_normalisation", "readout_psf", "readout_psf_continuous", "row_line_noise", "sample_fast_scan",
    "sample_mean_counts", "sample_mtf", "sample_pmt", "sample_postprocess_params",
    "sample_stem_params", "sample_tem_params", "scan_jitter", "zingers",
]
