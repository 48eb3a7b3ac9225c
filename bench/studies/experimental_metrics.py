"""The experimental study's checks of a restored frame against its raw frame, which has no ground truth.

All are made on the output in the input's intensity units (docs/studies.md, "experimental", says what each can
and cannot tell): its sign (:func:`negative_fraction`, :func:`min_over_std`); what is left of the raw frame's
zingers and dead pixels (:func:`outlier_pixels`, :func:`outlier_residual`); the atomic columns it shows against the
frame's reference (:func:`find_columns`, :func:`match_columns`); the fine-scale variation it keeps (the
``highpass_ratio`` of :func:`frame_metrics`). The lattice spacing that sets their scales (:func:`lattice_spacing_px`)
and the noise std that BM3D gets (:func:`noise_std`) come from the raw frame itself.
"""
from __future__ import annotations

from typing import Any

import numpy as np

MAD_TO_STD = 1.4826  # σ of a normal distribution per median absolute deviation
HOT_SIGMAS, DEAD_SIGMAS = 8.0, 3.0  # a hot pixel stands 8 σ above its neighbours; a dead one lies 3 σ below them
HOT_FRACTION_LIMIT = 1e-3  # beyond this share of a frame the "hot pixels" are the noise's tail, not zingers
COLUMN_THRESHOLD = 0.3  # a column rises 30 % of the robust range above the median, background removed
AUTOCORRELATION_PEAK = 0.5  # the lattice peak: the nearest autocorrelation maximum above half the strongest one
FALLBACK_SPACING_PX = 8.0  # used when a frame's autocorrelation has no peak (no lattice: column metrics moot)
SAME_FIELD_CORRELATION = 0.5  # frames whose smoothed images correlate this well show one field
CROP_PX, EXAMPLE_SIDE_PX = 128, 512  # report montage: crop side, longest side of the binned full frame


def robust_std(values) -> float:
    """Return 1.4826 · the median absolute deviation: the std of normal data, unmoved by a few outliers.

    Parameters
    ----------
    values : array_like
        Any numbers.

    Returns
    -------
    float
        The robust standard deviation.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    return float(MAD_TO_STD * np.median(np.abs(values - np.median(values))))


def neighbour_median(image: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
    """Return each pixel's median of its 8 neighbours (the 5th smallest; edges mirrored).

    Parameters
    ----------
    image : ndarray
        Shape (H, W).
    at : ndarray of bool, optional
        Shape (H, W): only these pixels' medians (the same values, without filtering the whole frame: the
        outliers are a few pixels of a large frame).

    Returns
    -------
    ndarray
        Shape (H, W), float64; with ``at``, shape (K,): the medians of the K selected pixels in row-major order.
    """
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float64)
    if at is None:
        ring = np.ones((3, 3), dtype=bool)
        ring[1, 1] = False
        return ndimage.median_filter(image, footprint=ring, mode="reflect")
    rows, columns = np.nonzero(at)
    padded = np.pad(image, 1, mode="symmetric")  # numpy's "symmetric" is scipy's "reflect": the edge repeated
    neighbours = np.stack([padded[rows + 1 + dy, columns + 1 + dx]
                           for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx], axis=-1)
    return np.sort(neighbours, axis=-1)[:, 4]


def highpass(image: np.ndarray, *, sigma_px: float) -> np.ndarray:
    """Return the image minus its Gaussian smoothing of standard deviation ``sigma_px``.

    Parameters
    ----------
    image : ndarray
        Shape (H, W).
    sigma_px : float
        The Gaussian's standard deviation [px].

    Returns
    -------
    ndarray
        Shape (H, W), float64.
    """
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float64)
    return image - ndimage.gaussian_filter(image, sigma_px, mode="reflect")


def noise_std(raw: np.ndarray) -> float:
    """Estimate the std of white noise from the MAD of the second-difference high-pass (Immerkær 1996).

    The kernel [[1, −2, 1], [−2, 4, −2], [1, −2, 1]] removes planes and linear ramps; on white noise of std σ
    its output has std 6σ (the kernel's L2 norm), hence σ = robust std / 6.

    Parameters
    ----------
    raw : ndarray
        Shape (H, W): a raw frame.

    Returns
    -------
    float
        The noise std [input units]; signal-dependent noise gives a value typical of the frame's median level.
    """
    from scipy import ndimage

    kernel = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    response = ndimage.convolve(np.asarray(raw, dtype=np.float64), kernel, mode="reflect")[1:-1, 1:-1]
    return robust_std(response) / 6.0


def gaussian_noise_model(raw: np.ndarray):
    """Return the NoiseModel that makes BM3D's generalised Anscombe transform (z − offset)/σ + constant.

    f(z) = 2√(z/g + 3/8 + σ²/g²) = 2σ/g + z/σ + O(g z/σ²): with g = 10⁻⁴ σ²/(range + σ) the transform is
    affine to 10⁻⁴, i.e. BM3D sees the frame in units of its noise std σ (:func:`noise_std`), and the
    closed-form inverse returns z + g/4.

    Parameters
    ----------
    raw : ndarray
        Shape (H, W): a raw frame.

    Returns
    -------
    NoiseModel
        Gain g, read noise σ [input units].
    """
    from bench.methods import NoiseModel

    sigma = max(noise_std(raw), 1e-12)
    return NoiseModel(gain=1e-4 * sigma**2 / (float(np.ptp(raw)) + sigma), read_noise=sigma)


def negative_fraction(output: np.ndarray) -> float:
    """Return the fraction of output pixels below zero.

    Parameters
    ----------
    output : ndarray
        A restored frame.

    Returns
    -------
    float
        Between 0 and 1.
    """
    return float(np.mean(np.asarray(output) < 0))


def min_over_std(output: np.ndarray) -> float:
    """Return the output's minimum divided by its std (NaN for a flat output).

    Parameters
    ----------
    output : ndarray
        A restored frame.

    Returns
    -------
    float
        Minimum / std.
    """
    spread = float(np.std(output))
    return float(np.min(output)) / spread if spread > 0 else float("nan")


def outlier_pixels(raw: np.ndarray, *, dtype: str | None) -> dict[str, Any]:
    """Find a raw frame's zingers and dead pixels.

    Zingers: pixels at the stored type's maximum (saturated), and hot pixels above all 8 neighbours by 8 σ (so
    also above the 3×3 median by 8 σ), σ = 1.4826 · MAD of raw − its 3×3 median. Hot pixels are rare by nature:
    where the test flags more than :data:`HOT_FRACTION_LIMIT` of the frame, the flagged pixels are the noise's
    own tail (single-electron pulses at a few counts per pixel) and only saturated pixels count. Dead pixels: at 0
    or the type's minimum, with the median of their 8 neighbours more than 3 σ above them.

    Parameters
    ----------
    raw : ndarray
        Shape (H, W): the raw frame, in stored units.
    dtype : str or None
        The stored pixel type (its maximum is saturation, its minimum or 0 a dead pixel); None or a float type:
        nothing saturates.

    Returns
    -------
    dict
        ``zingers`` and ``dead`` (bool masks), ``sigma`` (the robust std of raw − its 3×3 median) and
        ``hot_test_applied`` (False where the hot test flagged more than :data:`HOT_FRACTION_LIMIT`).
    """
    from scipy import ndimage

    raw = np.asarray(raw, dtype=np.float64)
    sigma = robust_std(raw - ndimage.median_filter(raw, size=3, mode="reflect"))
    ring = np.ones((3, 3), dtype=bool)
    ring[1, 1] = False
    hot = raw > ndimage.maximum_filter(raw, footprint=ring, mode="reflect") + HOT_SIGMAS * sigma
    hot_test_applied = bool(hot.mean() <= HOT_FRACTION_LIMIT)
    integer = dtype is not None and np.issubdtype(np.dtype(dtype), np.integer)
    saturated = raw >= np.iinfo(dtype).max if integer else np.zeros(raw.shape, dtype=bool)
    bottom = (raw == 0) | (raw == np.iinfo(dtype).min) if integer else raw == 0
    dead = bottom.copy()
    dead[bottom] = neighbour_median(raw, at=bottom) - raw[bottom] > DEAD_SIGMAS * sigma
    return {"zingers": saturated | (hot & hot_test_applied), "dead": dead, "sigma": sigma,
            "hot_test_applied": hot_test_applied}


def outlier_residual(output: np.ndarray, mask: np.ndarray, *, spacing_px: float) -> float:
    """Return the median over ``mask`` of (output − its 8-neighbour median) / robust std of the output's high-pass.

    Parameters
    ----------
    output : ndarray
        Shape (H, W): a restored frame.
    mask : ndarray of bool
        Shape (H, W): the outlier pixels of the raw frame.
    spacing_px : float
        The lattice spacing [px]; the high-pass subtracts a Gaussian of σ = spacing/4.

    Returns
    -------
    float
        ≈ 0 where the outliers were removed; NaN without outliers or for an output without fine structure.
    """
    return _residual(output, mask, robust_std(highpass(output, sigma_px=spacing_px / 4)))


def _residual(output: np.ndarray, mask: np.ndarray, scale: float) -> float:
    """:func:`outlier_residual` with the high-pass scale given (computed once per output)."""
    if not mask.any() or scale == 0:
        return float("nan")
    return float(np.median(output[mask] - neighbour_median(output, at=mask)) / scale)


def lattice_spacing_px(raw: np.ndarray) -> float:
    """Estimate the column spacing [px]: the lag of the nearest strong peak of the frame's autocorrelation.

    The frame, minus its smoothing over an eighth of its side (thickness and particle contrast) and windowed
    (Hann), is autocorrelated through the FFT; among the local maxima at lags 3 px … a quarter of the side, the
    nearest above :data:`AUTOCORRELATION_PEAK` of the strongest is taken.

    Parameters
    ----------
    raw : ndarray
        Shape (H, W): a raw frame.

    Returns
    -------
    float
        The spacing [px], or NaN when the autocorrelation has no such peak.
    """
    from skimage.feature import peak_local_max

    height, width = raw.shape
    centred = highpass(raw, sigma_px=min(height, width) / 8) * np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.rfft2(centred, s=(2 * height, 2 * width))) ** 2  # zero-padded: no wrap-around
    correlation = np.fft.fftshift(np.fft.irfft2(power, s=(2 * height, 2 * width)))
    radius = min(height, width) // 4
    window = correlation[height - radius:height + radius + 1, width - radius:width + radius + 1]
    peaks = peak_local_max(window, min_distance=1, exclude_border=False) - radius
    lags, values = np.hypot(peaks[:, 0], peaks[:, 1]), window[peaks[:, 0] + radius, peaks[:, 1] + radius]
    keep = (lags >= 3) & (lags <= radius) & (values > 0)  # a lattice correlates positively with its shifts
    if not keep.any():
        return float("nan")
    return float(np.min(lags[keep][values[keep] >= AUTOCORRELATION_PEAK * values[keep].max()]))


def find_columns(image: np.ndarray, *, spacing_px: float) -> np.ndarray:
    """Find column peaks: local maxima, at least spacing/2 apart, of the image minus its background.

    The background is the image smoothed by a Gaussian of σ = spacing, so that columns on a dark stripe or a thin
    edge count as well as those on a bright particle; a peak must rise above the median of what remains by 30 %
    of its robust range (median to 99th percentile), which keeps the smoothed noise of vacuum out. (The fitting
    package's :func:`fitting.find_columns` seeds column fits in Å with sub-pixel refinement and a threshold relative
    to the brightest column, which a frame with a bright particle beside a thin edge does not suit.)

    Parameters
    ----------
    image : ndarray
        Shape (H, W).
    spacing_px : float
        The lattice spacing [px].

    Returns
    -------
    ndarray
        Shape (K, 2): (row, column) of each peak [px]; none closer to the edge than spacing/2.
    """
    from skimage.feature import peak_local_max

    contrast = highpass(image, sigma_px=spacing_px)
    middle, high = np.percentile(contrast, [50.0, 99.0])
    return peak_local_max(contrast, min_distance=max(1, int(spacing_px / 2)),
                          threshold_abs=middle + COLUMN_THRESHOLD * (high - middle))


def match_columns(reference: np.ndarray, found: np.ndarray, *, radius_px: float) -> tuple[float, float]:
    """Return the fraction of ``reference`` peaks with a ``found`` peak within ``radius_px``, and their median distance.

    Parameters
    ----------
    reference, found : ndarray
        Shapes (K, 2) and (M, 2): peak positions [px].
    radius_px : float
        The largest distance of a match [px].

    Returns
    -------
    fraction : float
        Matched share of the reference peaks (NaN without reference peaks).
    shift_px : float
        Median distance of the matched pairs [px] (NaN without matches).
    """
    from scipy.spatial import cKDTree

    if len(reference) == 0:
        return float("nan"), float("nan")
    if len(found) == 0:
        return 0.0, float("nan")
    distance, _ = cKDTree(found).query(reference, distance_upper_bound=radius_px)
    matched = distance <= radius_px
    return float(matched.mean()), float(np.median(distance[matched])) if matched.any() else float("nan")


# A frame's analysis and one output's metrics -------------------------------------------------------------------

def same_field(frames: np.ndarray) -> bool:
    """Tell whether the frames show one field: consecutive frames, smoothed (σ = 1 px), correlate ≥ 0.5.

    Parameters
    ----------
    frames : ndarray
        Shape (N, H, W).

    Returns
    -------
    bool
        True for one frame, or when every consecutive pair correlates at least :data:`SAME_FIELD_CORRELATION`.
    """
    from scipy import ndimage

    smooth = [ndimage.gaussian_filter(frame, 1.0).ravel() for frame in frames]
    return all(np.corrcoef(a, b)[0, 1] >= SAME_FIELD_CORRELATION for a, b in zip(smooth, smooth[1:]))


def without_outliers(frame: np.ndarray, outliers: dict[str, Any]) -> np.ndarray:
    """Return the frame with its zingers and dead pixels replaced by the median of their 8 neighbours.

    Parameters
    ----------
    frame : ndarray
        Shape (H, W): a raw frame.
    outliers : dict
        Its :func:`outlier_pixels`.

    Returns
    -------
    ndarray
        Shape (H, W), float64: what a reference is smoothed from (a smoothed zinger would pass for a column).
    """
    replaced = np.array(frame, dtype=np.float64)
    outlying = outliers["zingers"] | outliers["dead"]
    replaced[outlying] = neighbour_median(frame, at=outlying)
    return replaced


def analyse_frame(raw: np.ndarray, base: np.ndarray, *, outliers: dict[str, Any]) -> dict[str, Any]:
    """Measure what every method's output of one frame is compared with: spacing, outliers, reference columns.

    Parameters
    ----------
    raw : ndarray
        Shape (H, W): the raw frame.
    base : ndarray
        Shape (H, W): the image the reference is smoothed from: the frame, or the mean of one field's frames,
        without outliers (:func:`without_outliers`).
    outliers : dict
        The frame's :func:`outlier_pixels`.

    Returns
    -------
    dict
        ``spacing_px``, ``lattice_found``, outlier coordinates (``zingers``, ``dead``; (K, 2) arrays) and their
        ``sigma`` and ``hot_test_applied``, ``noise`` (BM3D's model), ``reference_columns`` ((K, 2) [px]),
        ``raw_highpass_std``, the montage's ``stretch`` (0.5 and 99.5 percentiles) and ``crop`` (row, column).
    """
    from scipy import ndimage

    spacing = lattice_spacing_px(raw)
    found = bool(np.isfinite(spacing))
    spacing = spacing if found else FALLBACK_SPACING_PX
    reference = find_columns(ndimage.gaussian_filter(base, spacing / 6), spacing_px=spacing)
    side = min(CROP_PX, *raw.shape)
    centre = np.median(reference, axis=0) if len(reference) else np.array(raw.shape) / 2
    crop = [int(np.clip(round(c - side / 2), 0, n - side)) for c, n in zip(centre, raw.shape)]
    return {"spacing_px": spacing, "lattice_found": found, "zingers": np.argwhere(outliers["zingers"]),
            "dead": np.argwhere(outliers["dead"]), "sigma": outliers["sigma"],
            "hot_test_applied": outliers["hot_test_applied"], "noise": gaussian_noise_model(raw),
            "reference_columns": reference, "raw_highpass_std": float(np.std(highpass(raw, sigma_px=spacing / 4))),
            "stretch": [float(v) for v in np.percentile(raw, [0.5, 99.5])], "crop": crop, "crop_px": side}


def frame_metrics(output: np.ndarray, analysis: dict[str, Any]) -> dict[str, float]:
    """Measure one method's output of one frame: every check of this module, one ``realisations`` row.

    Parameters
    ----------
    output : ndarray
        Shape (H, W): the restored frame, in the input's units.
    analysis : dict
        The frame's :func:`analyse_frame`.

    Returns
    -------
    dict
        The metrics of one ``realisations`` row.
    """
    spacing = analysis["spacing_px"]

    def _mask(coordinates):
        selected = np.zeros(output.shape, dtype=bool)
        selected[tuple(np.asarray(coordinates).reshape(-1, 2).T)] = True
        return selected

    found = find_columns(output, spacing_px=spacing)
    matched, shift = match_columns(analysis["reference_columns"], found, radius_px=spacing / 4)
    raw_highpass, fine = analysis["raw_highpass_std"], highpass(output, sigma_px=spacing / 4)
    scale = robust_std(fine)
    return {"spacing_px": spacing, "lattice_found": analysis["lattice_found"],
            "negative_fraction": negative_fraction(output), "min_over_std": min_over_std(output),
            "zingers": len(analysis["zingers"]), "hot_test_applied": analysis["hot_test_applied"],
            "zinger_residual": _residual(output, _mask(analysis["zingers"]), scale),
            "dead_pixels": len(analysis["dead"]),
            "dead_residual": _residual(output, _mask(analysis["dead"]), scale),
            "columns_reference": len(analysis["reference_columns"]), "columns_found": len(found),
            "columns_matched_fraction": matched, "column_shift_px": shift,
            "highpass_ratio": float(np.std(fine)) / raw_highpass
            if raw_highpass > 0 else float("nan")}


def example_arrays(image: np.ndarray, analysis: dict[str, Any]) -> dict[str, np.ndarray]:
    """Return the montage's two views of a frame: binned to ≤ 512 px (block mean) and the full-resolution crop.

    Parameters
    ----------
    image : ndarray
        Shape (H, W).
    analysis : dict
        The frame's :func:`analyse_frame` (``crop`` and ``crop_px``).

    Returns
    -------
    dict
        ``full`` and ``crop``, float32.
    """
    factor = int(np.ceil(max(image.shape) / EXAMPLE_SIDE_PX))
    rows, columns = (n // factor * factor for n in image.shape)
    binned = image[:rows, :columns].reshape(rows // factor, factor, columns // factor, factor).mean(axis=(1, 3))
    (top, left), side = analysis["crop"], analysis["crop_px"]
    return {"full": binned.astype(np.float32), "crop": image[top:top + side, left:left + side].astype(np.float32)}
