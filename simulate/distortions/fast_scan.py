"""Fast-scan noise: the finite time response of the S(T)EM detector chain (eqs. 47-50).

The detector signal is read while the probe moves on, so each pixel also contains the tail of the
signal of the pixels scanned just before it along the fast direction (axis -1). Eq. 47 convolves every
scan line with a detector PSF and a read-out PSF. The paper writes both on x <= 0 (zero for x > 0); we
use the lag t = -x >= 0 in pixel dwell times, so the response trails the probe: pixel c receives
sum_k h_k · I[c - k] (a causal filter, which is what a detector chain with a finite decay time does).

* Detector PSF (eq. 48): the Lorentzian alpha / (4 pi² t² + alpha²), t >= 0, half width at half
  maximum alpha / (2 pi) pixels. As printed it integrates to 1/4 over t >= 0; we use the normalised
  4 alpha / (4 pi² t² + alpha²) (the binned kernel is renormalised anyway).
* Read-out PSF (eq. 49): a damped oscillator a e^{-t/beta} sin(2 pi t / gamma + theta), t >= 0. As
  printed, eq. 49 has e^{-x/beta} on x <= 0, which grows without bound: the decay must be in |x|; the
  argument of the sine is also written in |x| here, the form whose integral eq. 50 evaluates.
* Normalisation (eq. 50): the text says a makes the read-out PSF integrate to 1, i.e.
  a = 1 / integral_0^inf e^{-t/beta} sin(2 pi t/gamma + theta) dt
    = (gamma² + 4 pi² beta²) / (beta gamma (gamma sin theta + 2 pi beta cos theta)).
  The printed a = beta gamma (gamma sin theta + 4 pi beta cos theta) / (gamma² + 16 pi² beta²) is
  instead the integral itself at doubled frequency (4 pi): not the reciprocal, and with 4 pi for 2 pi.
  We use the reciprocal above; it needs sin theta + (2 pi beta / gamma) cos theta > 0.

Both PSFs are integrated analytically over each dwell interval [k, k + 1) (sub-pixel widths are exact),
cut at ``kernel_length_px`` and renormalised to sum 1 (the cut tail mass: :func:`psf_tail_mass`); their
causal convolution is cut and renormalised again. Line ends are extended with their edge values.

A causal kernel displaces features along the fast axis by its centroid sum_k k h_k
(:func:`fast_scan_lag_px`). With ``align="centroid"`` the line convolution is followed by a linear
sub-pixel shift back by that centroid, which keeps the blur (plus at most 1/4 px² of variance from the
interpolation) and makes the mean displacement exactly zero. ``"causal"`` is the paper's physics.

The centroid is not where a column fit puts a blurred column: the kernels are skewed (a sharp head, a
long Lorentzian or oscillating tail), and a Gaussian fit follows the head. A least-squares fit of a
fixed-width Gaussian template moves by the peak of the correlation of the blurred column with that
template, i.e. by the peak of h ∗ g with g a Gaussian of variance 2 σ² for columns of width σ. With
``align="matched"`` the line is shifted back (linearly, as for the centroid) by the amount that puts that
peak at zero for columns of :data:`MATCHED_COLUMN_SIGMA_PX`: a fitted column keeps its position, so a
network trained on such pairs has no shift to learn. For the default kernel the shift is 1.24 px against
the centroid's 1.65 px.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from simulate.distortions._tensor import GeneratorLike, as_image_batch, check_positive

ALIGN_MODES = ("causal", "centroid", "matched")
# Column width σ the "matched" alignment is exact for: Pt columns in the benchmark images fit with
# σ = 0.20-0.34 Å at 0.2 Å pixels (docs/training_campaign.md), 1-1.7 px.
MATCHED_COLUMN_SIGMA_PX = 1.5
_MATCHED_GRID_STEP_PX = 1e-3
_MATCHED_ITERATIONS = 4
MIN_RETAINED_FRACTION = 0.5  # of each PSF's integral inside the kernel; less means the cut dominates


def _check_readout(beta_px: float, gamma_px: float, theta_rad: float) -> None:
    check_positive(beta_px, "readout_beta_px", "px")
    check_positive(gamma_px, "readout_gamma_px", "px")
    if not math.isfinite(theta_rad):
        raise ValueError(f"readout_theta_rad must be finite; got {theta_rad!r}.")
    positivity = math.sin(theta_rad) + 2 * math.pi * beta_px / gamma_px * math.cos(theta_rad)
    if positivity <= 0:
        raise ValueError(
            "the read-out PSF must have a positive integral, sin(theta) + 2 pi beta/gamma cos(theta) > 0; "
            f"got {positivity:.3g} for theta={theta_rad!r} rad, beta={beta_px!r} px, gamma={gamma_px!r} px. "
            "Use theta in [0, pi/2]."
        )


@dataclass(frozen=True, kw_only=True)
class FastScanParams:
    """Detector-chain response along the fast-scan direction (eqs. 47-50), in pixel dwell times.

    The defaults are the fixed benchmark setting: detector HWHM 0.5 px; read-out decay 5/3 px, period
    2.5 pi px, theta 0 (a damped oscillator of natural frequency 1 rad per dwell time and damping
    ratio 0.6); its causal lag is 1.65 px.

    Parameters
    ----------
    detector_alpha_px : float
        alpha of the Lorentzian detector PSF (eq. 48), >= 0; its HWHM is alpha / (2 pi) px; 0 = none.
    readout_beta_px : float or None
        Decay length beta of the read-out oscillator (eq. 49), > 0, or None for an ideal read-out.
    readout_gamma_px : float
        Oscillation period gamma of the read-out, > 0.
    readout_theta_rad : float
        Phase theta of the read-out; sin theta + (2 pi beta / gamma) cos theta must be > 0.
    kernel_length_px : int
        Number of dwell times the kernels are evaluated over (>= 2).
    align : {"causal", "centroid", "matched"}
        "causal": the physical filter, which delays features by :func:`fast_scan_lag_px`;
        "centroid": the same blur shifted back so the mean displacement is zero;
        "matched": shifted back so that a Gaussian fit of a column keeps its position
        (:func:`fast_scan_matched_shift_px`).

    Raises
    ------
    ValueError
        For out-of-range values, a read-out PSF with a non-positive integral, or a kernel that keeps
        less than half of a PSF's integral.
    """

    detector_alpha_px: float = math.pi
    readout_beta_px: float | None = 5.0 / 3.0
    readout_gamma_px: float = 2.5 * math.pi
    readout_theta_rad: float = 0.0
    kernel_length_px: int = 32
    align: str = "causal"

    def __post_init__(self) -> None:
        """Validate the fields (see the class's Raises section).

        Raises
        ------
        ValueError
            For out-of-range values, a read-out PSF with a non-positive integral, or a kernel that keeps
            less than half of a PSF's integral.
        """
        check_positive(self.detector_alpha_px, "detector_alpha_px", "px", allow_zero=True)
        if int(self.kernel_length_px) != self.kernel_length_px or self.kernel_length_px < 2:
            raise ValueError(f"kernel_length_px must be an integer >= 2 pixels; got {self.kernel_length_px!r}.")
        if self.align not in ALIGN_MODES:
            raise ValueError(f"align must be one of {ALIGN_MODES}; got {self.align!r}.")
        if self.readout_beta_px is not None:
            _check_readout(self.readout_beta_px, self.readout_gamma_px, self.readout_theta_rad)
        for name, tail in psf_tail_mass(self).items():
            if 1.0 - tail < MIN_RETAINED_FRACTION:
                raise ValueError(
                    f"kernel_length_px={self.kernel_length_px} keeps only {1.0 - tail:.2f} of the {name} PSF's "
                    "integral; increase kernel_length_px or narrow the PSF."
                )

    @property
    def detector_hwhm_px(self) -> float:
        """Half width at half maximum of the detector Lorentzian, alpha / (2 pi), in px.

        Returns
        -------
        float
            HWHM [px] (0.5 px for the default alpha = pi).
        """
        return self.detector_alpha_px / (2 * math.pi)

    def to_dict(self) -> dict:
        """Return the fields and the derived HWHM as a dictionary.

        Returns
        -------
        dict
            Field name to value, plus ``detector_hwhm_px``.
        """
        return {**asdict(self), "detector_hwhm_px": self.detector_hwhm_px}


def readout_normalisation(*, beta_px: float, gamma_px: float, theta_rad: float) -> float:
    """Return a of eq. 50 as the text defines it: 1 / ∫ e^{-t/beta} sin(2 pi t/gamma + theta) dt over t >= 0.

    The printed eq. 50 is the integral at doubled frequency instead (see the module docstring).

    Parameters
    ----------
    beta_px : float
        Decay length beta [px], > 0.
    gamma_px : float
        Oscillation period gamma [px], > 0.
    theta_rad : float
        Phase theta [rad]; sin theta + (2 pi beta / gamma) cos theta must be > 0.

    Returns
    -------
    float
        (gamma² + 4 pi² beta²) / (beta gamma (gamma sin theta + 2 pi beta cos theta)) [1/px].

    Raises
    ------
    ValueError
        If a parameter is out of range or the integral is not positive.
    """
    _check_readout(beta_px, gamma_px, theta_rad)
    return (gamma_px**2 + 4 * math.pi**2 * beta_px**2) / (
        beta_px * gamma_px * (gamma_px * math.sin(theta_rad) + 2 * math.pi * beta_px * math.cos(theta_rad)))


def lorentzian_psf_continuous(t: torch.Tensor, *, alpha_px: float) -> torch.Tensor:
    """Evaluate the normalised causal detector PSF 4 alpha / (4 pi² t² + alpha²) for t >= 0 (eq. 48).

    Parameters
    ----------
    t : torch.Tensor
        Lags [px dwell times]; the PSF is 0 for t < 0.
    alpha_px : float
        alpha [px], > 0 (HWHM alpha / (2 pi)).

    Returns
    -------
    torch.Tensor
        PSF values [1/px], same shape as ``t``; the integral over t >= 0 is 1.

    Raises
    ------
    ValueError
        If ``alpha_px`` is not finite and positive.
    """
    check_positive(alpha_px, "alpha_px", "px")
    value = 4 * alpha_px / (4 * math.pi**2 * t**2 + alpha_px**2)
    return torch.where(t >= 0, value, torch.zeros_like(t))


def readout_psf_continuous(t: torch.Tensor, *, beta_px: float, gamma_px: float,
                           theta_rad: float) -> torch.Tensor:
    """Evaluate the read-out PSF a e^{-t/beta} sin(2 pi t/gamma + theta) for t >= 0 (eqs. 49-50).

    Parameters
    ----------
    t : torch.Tensor
        Lags [px dwell times]; the PSF is 0 for t < 0.
    beta_px : float
        Decay length beta [px], > 0.
    gamma_px : float
        Oscillation period gamma [px], > 0.
    theta_rad : float
        Phase theta [rad].

    Returns
    -------
    torch.Tensor
        PSF values [1/px], same shape as ``t``, with a from :func:`readout_normalisation` (integral 1).

    Raises
    ------
    ValueError
        If a parameter is out of range or the PSF's integral is not positive.
    """
    _check_readout(beta_px, gamma_px, theta_rad)
    a = readout_normalisation(beta_px=beta_px, gamma_px=gamma_px, theta_rad=theta_rad)
    value = a * torch.exp(-t / beta_px) * torch.sin(2 * math.pi * t / gamma_px + theta_rad)
    return torch.where(t >= 0, value, torch.zeros_like(t))


def _lorentzian_cdf(t: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return 2.0 / math.pi * torch.atan(2 * math.pi * t / alpha)


def _readout_cdf(t: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    # Exact antiderivative of e^{-t/beta} sin(omega t + theta), divided by its integral over [0, inf).
    omega = 2 * math.pi / gamma
    total = torch.sin(theta) / beta + omega * torch.cos(theta)
    phase = omega * t + theta
    return 1.0 - torch.exp(-t / beta) * (torch.sin(phase) / beta + omega * torch.cos(phase)) / total


def _binned(cdf_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    weights = cdf_values[..., 1:] - cdf_values[..., :-1]
    total = cdf_values[..., -1:] - cdf_values[..., :1]
    return weights / total, 1.0 - total


def lorentzian_psf(alpha_px, length: int, *, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Return the dwell-binned causal detector PSF, each kernel summing to 1.

    Parameters
    ----------
    alpha_px : float or torch.Tensor
        alpha of eq. 48 [px], a float or a tensor (B,); alpha = 0 gives a delta (not validated here).
    length : int
        Number of dwell intervals [0, 1), ..., [length - 1, length) the PSF is integrated over.
    dtype : torch.dtype
        Dtype of the result.
    device : str or torch.device
        Device of the result.

    Returns
    -------
    torch.Tensor
        Weights, shape (length,) or (B, length); entry k weights the pixel k dwell times earlier.
    """
    alpha_t = torch.as_tensor(alpha_px, dtype=dtype, device=device)
    edges = torch.arange(length + 1, dtype=dtype, device=device)
    safe = torch.clamp(alpha_t, min=1e-12)[..., None]
    weights, _ = _binned(_lorentzian_cdf(edges, safe))
    delta = torch.zeros_like(weights)
    delta[..., 0] = 1.0
    return torch.where(alpha_t[..., None] > 0, weights, delta)


def readout_psf(*, beta_px, gamma_px, theta_rad, length: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """Return the dwell-binned read-out PSF (eqs. 49-50), each kernel summing to 1.

    The weights are the exact integrals of the continuous PSF over each dwell interval, renormalised
    over the kernel. The parameters are not validated here.

    Parameters
    ----------
    beta_px : float or torch.Tensor
        Decay length beta [px], a float or a tensor (B,).
    gamma_px : float or torch.Tensor
        Oscillation period gamma [px], a float or a tensor (B,).
    theta_rad : float or torch.Tensor
        Phase theta [rad], a float or a tensor (B,).
    length : int
        Number of dwell intervals the PSF is integrated over.
    dtype : torch.dtype
        Dtype of the result.
    device : str or torch.device
        Device of the result.

    Returns
    -------
    torch.Tensor
        Weights, shape (length,) or (B, length); entry k weights the pixel k dwell times earlier.
    """
    beta = torch.as_tensor(beta_px, dtype=dtype, device=device)[..., None]
    gamma = torch.as_tensor(gamma_px, dtype=dtype, device=device)[..., None]
    theta = torch.as_tensor(theta_rad, dtype=dtype, device=device)[..., None]
    edges = torch.arange(length + 1, dtype=dtype, device=device)
    weights, _ = _binned(_readout_cdf(edges, beta, gamma, theta))
    return weights


def psf_tail_mass(params: FastScanParams) -> dict[str, float]:
    """Return the fraction of each continuous PSF's integral beyond ``kernel_length_px``.

    This mass is dropped when the binned kernels are renormalised.

    Parameters
    ----------
    params : FastScanParams
        PSF parameters and kernel length.

    Returns
    -------
    dict of str to float
        ``"detector"`` and ``"readout"`` tail fractions; 0 for a PSF that is absent.
    """
    edge = torch.tensor([0.0, float(params.kernel_length_px)], dtype=torch.float64)
    result = {"detector": 0.0, "readout": 0.0}
    if params.detector_alpha_px > 0:
        result["detector"] = float(_binned(_lorentzian_cdf(edge, torch.tensor(params.detector_alpha_px,
                                                                               dtype=torch.float64)))[1])
    if params.readout_beta_px is not None:
        values = [torch.tensor(v, dtype=torch.float64)
                  for v in (params.readout_beta_px, params.readout_gamma_px, params.readout_theta_rad)]
        result["readout"] = float(_binned(_readout_cdf(edge, *values))[1])
    return result


def fast_scan_kernel(params: list[FastScanParams] | FastScanParams, *, dtype=torch.float64,
                     device="cpu") -> torch.Tensor:
    """Return the combined causal kernel (detector ∗ read-out), cut at K dwell times and renormalised.

    Entry k is the weight of the pixel scanned k dwell times earlier; ``align`` is not applied here.

    Parameters
    ----------
    params : FastScanParams or list of FastScanParams
        One parameter set, or one per image.
    dtype : torch.dtype
        Dtype of the result.
    device : str or torch.device
        Device of the result.

    Returns
    -------
    torch.Tensor
        Shape (K,) for a single parameter set, (B, K) for a list; K is the largest ``kernel_length_px``
        of the list. Each kernel sums to 1.
    """
    single = isinstance(params, FastScanParams)
    plist = [params] if single else list(params)
    length = max(int(p.kernel_length_px) for p in plist)

    def column(name, fallback):
        """Return one field of every parameter set as a tensor (B,).

        Parameters
        ----------
        name : str
            Field of :class:`FastScanParams`.
        fallback : float
            Value used where the field is None.

        Returns
        -------
        torch.Tensor
            Shape (B,), of the kernel's dtype and device.
        """
        return torch.tensor([fallback if getattr(p, name) is None else getattr(p, name) for p in plist],
                            dtype=dtype, device=device)

    detector = lorentzian_psf(column("detector_alpha_px", 0.0), length, dtype=dtype, device=device)
    readout = readout_psf(beta_px=column("readout_beta_px", 1.0), gamma_px=column("readout_gamma_px", 1.0),
                          theta_rad=column("readout_theta_rad", 0.0), length=length, dtype=dtype, device=device)
    has_readout = torch.tensor([p.readout_beta_px is not None for p in plist], device=device)
    delta = torch.zeros_like(readout)
    delta[:, 0] = 1.0
    readout = torch.where(has_readout[:, None], readout, delta)
    # Causal convolution of the two kernels, cut at ``length`` dwell times and renormalised.
    kernel = F.conv1d(readout[None], detector.flip(-1)[:, None, :], padding=length - 1, groups=len(plist))[0]
    kernel = kernel[:, :length]
    kernel = kernel / kernel.sum(dim=-1, keepdim=True)
    return kernel[0] if single else kernel


def fast_scan_lag_px(params: FastScanParams) -> float:
    """Return the centroid sum_k k h_k of the causal binned kernel: the mean delay of features along x.

    It is the displacement the "causal" mode applies (0 with ``align="centroid"``). The Lorentzian's
    first moment diverges, so the lag grows with ``kernel_length_px`` (logarithmically).

    Parameters
    ----------
    params : FastScanParams
        PSF parameters (``align`` is ignored).

    Returns
    -------
    float
        Lag [px].
    """
    kernel = fast_scan_kernel(params)
    return float((torch.arange(kernel.shape[-1], dtype=kernel.dtype) * kernel).sum())


def _shifted_taps(kernel: torch.Tensor, mu: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Return causal kernels moved back by ``mu`` px with linear interpolation, on one lag grid.

    For mu = n + f (n integer, 0 <= f < 1) the taps are (1 - f) h_{j+n} + f h_{j+n+1}: the centroid moves
    by exactly -mu.

    Parameters
    ----------
    kernel : torch.Tensor
        Causal kernels, shape (B, K).
    mu : torch.Tensor
        Shift back of each kernel [px], shape (B,).

    Returns
    -------
    taps : torch.Tensor
        Shape (B, T), on the lag grid -lead ... T - 1 - lead.
    lead : int
        Number of taps at negative lags.
    """
    batch, length = kernel.shape
    n = torch.floor(mu)
    frac = (mu - n)[:, None]
    n = n.long()
    # One common lag grid for the batch: every image's taps run from -n-1 to length-1-n.
    lag_min = min(0, int((-n - 1).min()))
    lag_max = max(length - 1, int((length - 1 - n).max()))
    taps = torch.zeros((batch, lag_max - lag_min + 1), dtype=kernel.dtype, device=kernel.device)
    index = torch.arange(length, device=kernel.device)[None, :] - n[:, None] - lag_min
    taps.scatter_add_(1, index, (1.0 - frac) * kernel)
    taps.scatter_add_(1, index - 1, frac * kernel)
    return taps, -lag_min


def _matched_peak_px(taps: torch.Tensor, lead: int, sigma_px: float) -> torch.Tensor:
    """Return where Σ_i taps_i g(x - lag_i) peaks, g a Gaussian of variance 2 σ² (a fixed-width fit's shift).

    Parameters
    ----------
    taps : torch.Tensor
        Kernels, shape (B, T), on the lag grid -lead ... T - 1 - lead.
    lead : int
        Number of taps at negative lags.
    sigma_px : float
        Column width σ [px].

    Returns
    -------
    torch.Tensor
        Peak positions [px] on a 10⁻³ px grid, shape (B,).
    """
    lags = torch.arange(taps.shape[-1], dtype=taps.dtype, device=taps.device) - lead
    grid = torch.arange(float(lags[0]) - 1.0, float(lags[-1]) + 1.0, _MATCHED_GRID_STEP_PX, dtype=taps.dtype,
                        device=taps.device)
    response = torch.exp(-((grid[:, None] - lags[None, :]) ** 2) / (4 * sigma_px**2)) @ taps.T  # (G, B)
    return grid[response.argmax(dim=0)]


def fast_scan_matched_shift_px(params: FastScanParams | list[FastScanParams], *,
                               sigma_px: float = MATCHED_COLUMN_SIGMA_PX) -> torch.Tensor | float:
    """Return the shift back the "matched" alignment applies for columns of width ``sigma_px``.

    After it a fixed-width Gaussian fit of a column is where it was: the peak of h' ∗ g, g a Gaussian of
    variance 2 σ², lies at zero (within 10⁻³ px) for the taps h' actually applied. That is close to how
    far the causal blur moves the fit (within a few 10⁻² px: the linear sub-pixel shift blurs a little,
    and the shift is refined for it).

    Parameters
    ----------
    params : FastScanParams or list of FastScanParams
        PSF parameters (``align`` is ignored).
    sigma_px : float
        Gaussian width σ of the columns [px], > 0.

    Returns
    -------
    float or torch.Tensor
        Shift [px] (float64), a float for one parameter set, shape (B,) for a list.

    Raises
    ------
    ValueError
        If ``sigma_px`` is not positive.
    """
    check_positive(sigma_px, "sigma_px", "px")
    single = isinstance(params, FastScanParams)
    mu = _matched_shift(fast_scan_kernel([params] if single else list(params)), sigma_px)
    return float(mu[0]) if single else mu


def _matched_shift(kernel: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Return the "matched" shift back [px] of causal kernels (B, K): see :func:`fast_scan_matched_shift_px`.

    Parameters
    ----------
    kernel : torch.Tensor
        Causal kernels, shape (B, K).
    sigma_px : float
        Column width σ [px].

    Returns
    -------
    torch.Tensor
        Shift [px], shape (B,).
    """
    mu = _matched_peak_px(kernel, 0, sigma_px)
    for _ in range(_MATCHED_ITERATIONS):
        taps, lead = _shifted_taps(kernel, mu)
        mu = mu + _matched_peak_px(taps, lead, sigma_px)
    return mu


def fast_scan_taps(params: list[FastScanParams], *, dtype=torch.float64, device="cpu") -> tuple[torch.Tensor, int]:
    """Return the kernels actually applied and the number of taps ahead of the probe.

    Causal entries are :func:`fast_scan_kernel`; "centroid" entries are that kernel followed by a
    linear shift back by its centroid mu = n + f (n integer, 0 <= f < 1), whose taps
    (1 - f) h_{j+n} + f h_{j+n+1} have centroid exactly 0; "matched" entries are shifted back the same
    way by :func:`fast_scan_matched_shift_px`.

    Parameters
    ----------
    params : list of FastScanParams
        One parameter set per image.
    dtype : torch.dtype
        Dtype of the taps.
    device : str or torch.device
        Device of the taps.

    Returns
    -------
    taps : torch.Tensor
        Shape (B, T), on one common lag grid -lead ... T - 1 - lead for the batch.
    lead : int
        Number of taps at negative lags (pixels scanned after the current one).
    """
    params = list(params)
    kernel = fast_scan_kernel(params, dtype=dtype, device=device)
    lags = torch.arange(kernel.shape[-1], dtype=dtype, device=device)
    mu = torch.zeros(len(params), dtype=dtype, device=device)
    centred = torch.tensor([p.align == "centroid" for p in params], device=device)
    mu = torch.where(centred, (kernel * lags).sum(dim=-1), mu)
    matched = [i for i, p in enumerate(params) if p.align == "matched"]
    if matched:  # from the kernels already at hand, in float64 like the public function
        mu[matched] = _matched_shift(kernel[matched].to(torch.float64), MATCHED_COLUMN_SIGMA_PX).to(dtype)
    return _shifted_taps(kernel, mu)


def convolve_rows(images: torch.Tensor, taps: torch.Tensor, lead: int = 0) -> torch.Tensor:
    """Convolve every row: out[b, r, c] = sum_i taps[b, i] · images[b, r, c - i + lead] (grouped conv1d).

    Line ends are extended with their edge values. ``lead`` = 0 is a causal filter (taps[k] weights the
    pixel k dwell times earlier).

    Parameters
    ----------
    images : torch.Tensor
        Images, shape (B, H, W); axis -1 is the fast-scan direction.
    taps : torch.Tensor
        One kernel per image, shape (B, T) (cast to the images' dtype).
    lead : int
        Number of taps at negative lags, as returned by :func:`fast_scan_taps`.

    Returns
    -------
    torch.Tensor
        Filtered images, shape (B, H, W).
    """
    batch, height, _ = images.shape
    total = taps.shape[-1]
    before, after = total - 1 - lead, lead
    parts = [images[..., :1].expand(batch, height, before), images]
    if after > 0:
        parts.append(images[..., -1:].expand(batch, height, after))
    padded = torch.cat(parts, dim=-1)
    weight = taps.to(images.dtype).flip(-1)[:, None, :]
    return F.conv1d(padded.transpose(0, 1), weight, groups=batch).transpose(0, 1)


def causal_convolve_rows(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Filter every row causally: out[b, r, c] = sum_k kernels[b, k] · images[b, r, c - k].

    The left edge is extended with its first value.

    Parameters
    ----------
    images : torch.Tensor
        Images, shape (B, H, W).
    kernels : torch.Tensor
        Causal kernels, shape (B, K).

    Returns
    -------
    torch.Tensor
        Filtered images, shape (B, H, W).
    """
    return convolve_rows(images, kernels, 0)


def fast_scan_noise(images, params: FastScanParams, generator: GeneratorLike | None = None):
    """Convolve every scan line with the detector-chain PSF (eqs. 47-50).

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (H, W) or (B, H, W) signal; axis -1 is the fast-scan direction.
    params : FastScanParams
        PSF parameters and the alignment mode.
    generator : int, numpy.random.Generator or torch.Generator, optional
        Ignored: the model is deterministic; the argument keeps the signature of the other models.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Same type and shape as ``images``; the mean of every line is preserved away from its ends
        (kernel sum 1). "causal" delays features by :func:`fast_scan_lag_px`; "centroid" does not;
        "matched" keeps a Gaussian column fit's position.
    """
    x, restore = as_image_batch(images)
    taps, lead = fast_scan_taps([params] * x.shape[0], dtype=torch.float64, device=x.device)
    return restore(convolve_rows(x, taps, lead))
