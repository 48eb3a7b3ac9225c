"""The loss basket of Lobato, Friedrich & Van Aert (2023), eqs. 2–15.

All pixel terms take (batch, channels, H, W) tensors and return a scalar, computed in float32 even under
autocast. Intensities are those of the training targets y, which the pair generator normalises to a
maximum of 1 (paper eq. 26): σ_min (eqs. 5 and 7) is therefore a fraction of the target's maximum.

- Eqs. 4–6: ``L1 = E{w_y |y − y_g|}``, ``L2 = E{w_y |y − y_g|²}`` with the per-example weight
  ``w_y = 1/max(σ_min, Std{y})`` (eq. 5). Where ``Std{y} > σ_min`` it equalises examples of different
  contrast: L1 is then unchanged by ``y → c + s·(y − c)`` applied to target and prediction alike, and L2
  (``w_y`` times a squared error, as printed) scales by ``s``.
- Eqs. 7–8: multi-local whitening over sliding S×S windows, S = 2, 4, 8, 16 (:func:`local_whitening`).
- Eq. 9: ``E{|F(y − y_g)|^γ}``, γ = 0.125, unweighted as printed.
- Eqs. 10–11: ``|E{y} − E{y_g}|`` and ``|Std{y} − Std{y_g}|`` per example, unweighted as printed;
  ``LossWeights.moments_weighted`` multiplies them by eq. 5's ``w_y`` (errors in units of Std{y}), so that a
  low-contrast example whose contrast is flattened costs as much as a high-contrast one (an option of the
  suite's, off by default).
- Eqs. 2–3, 12, 15: relativistic average GAN on the PatchGAN's logit maps.

σ_min is chosen from the targets of the current generator (:func:`target_std_quantiles`, 200 hrstem pairs
of 256², seed 0: Std{y} quantiles 1 / 5 / 25 / 50 % = 0.037 / 0.066 / 0.106 / 0.137). The published code's
0.1 would clamp a quarter of the examples to one constant weight, so eq. 5 would no longer equalise them;
``SIGMA_MIN = 0.05`` clamps only the flattest ≈ 3 %. Eq. 7's floor acts on local windows, whose std is far
smaller (median of the 2×2-window std 0.015, 25 % below 0.0035): ``MLWT_SIGMA_MIN = 0.005`` whitens the
faint structure eq. 8 is meant to emphasise while keeping flat regions (vacuum, crop fills) from
amplifying noise without bound. Re-measure both when the generator changes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from restore.dataset import SyntheticPairDataset

SIGMA_MIN = 0.05  # eq. 5, in units of y (targets have max 1); see the module docstring
MLWT_SIGMA_MIN = 0.005  # eq. 7, in units of y; see the module docstring
FOURIER_GAMMA = 0.125  # eq. 9, the paper's value
MLWT_WINDOWS_PX = (2, 4, 8, 16)  # eq. 8, the paper's window sizes


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must have the "
                         "same (batch, channels, H, W) shape")


def _check_sigma_min(sigma_min: float) -> None:
    if not sigma_min > 0:
        raise ValueError(f"sigma_min={sigma_min!r}: must be > 0 (a fraction of the targets' maximum intensity)")


def example_weights(target: torch.Tensor, sigma_min: float = SIGMA_MIN) -> torch.Tensor:
    """Eq. 5: ``w_y = 1/max(σ_min, Std{y})`` per example (population std over channels and pixels).

    Parameters
    ----------
    target : torch.Tensor
        Targets y, (B, C, H, W), intensities in units of the target maximum.
    sigma_min : float
        Floor of the std, same units as y, > 0.

    Returns
    -------
    torch.Tensor
        (B, 1, 1, 1) weights.

    Raises
    ------
    ValueError
        If ``sigma_min`` ≤ 0.
    """
    _check_sigma_min(sigma_min)
    std = target.float().flatten(1).std(dim=1, unbiased=False)
    return (1.0 / std.clamp_min(sigma_min)).view(-1, 1, 1, 1)


def weighted_l1(prediction, target, sigma_min: float = SIGMA_MIN) -> torch.Tensor:
    """Eq. 4: mean over examples and pixels of ``w_y·|y − y_g|``.

    Parameters
    ----------
    prediction : torch.Tensor
        Generator output y_g, (B, C, H, W), in the units of the target.
    target : torch.Tensor
        Targets y, (B, C, H, W), intensities in units of the target maximum.
    sigma_min : float
        Floor of the per-example std in eq. 5, same units as y, > 0.

    Returns
    -------
    torch.Tensor
        Scalar loss, float32.

    Raises
    ------
    ValueError
        If the shapes differ or are not 4-D, or if ``sigma_min`` ≤ 0.
    """
    _check_pair(prediction, target)
    w = example_weights(target, sigma_min)
    return (w * (target.float() - prediction.float()).abs()).mean()


def weighted_l2(prediction, target, sigma_min: float = SIGMA_MIN) -> torch.Tensor:
    """Eq. 6: mean over examples and pixels of ``w_y·|y − y_g|²`` (the weight of eq. 5, not squared).

    Parameters
    ----------
    prediction : torch.Tensor
        Generator output y_g, (B, C, H, W), in the units of the target.
    target : torch.Tensor
        Targets y, (B, C, H, W), intensities in units of the target maximum.
    sigma_min : float
        Floor of the per-example std in eq. 5, same units as y, > 0.

    Returns
    -------
    torch.Tensor
        Scalar loss, float32.

    Raises
    ------
    ValueError
        If the shapes differ or are not 4-D, or if ``sigma_min`` ≤ 0.
    """
    _check_pair(prediction, target)
    w = example_weights(target, sigma_min)
    return (w * (target.float() - prediction.float()).square()).mean()


def local_moments(image: torch.Tensor, *, window_px: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population variance over the S×S window of every pixel (stride 1), S = ``window_px``.

    The window of pixel (i, j) spans rows ``i − S//2 … i + (S − 1)//2`` (for even S:
    ``i − S/2 … i + S/2 − 1``) and the same columns; the image is extended by reflection (edge pixel not
    repeated) so that every window holds S² values. Both are box filters (``avg_pool2d`` with stride 1).

    Parameters
    ----------
    image : torch.Tensor
        Images, (B, C, H, W).
    window_px : int
        Window side S [px], ≥ 2.

    Returns
    -------
    mean : torch.Tensor
        Local mean, same shape as ``image``.
    variance : torch.Tensor
        Local population variance (clamped at 0), same shape as ``image``.

    Raises
    ------
    ValueError
        If the window is < 2 px or the image is not larger than half the window.
    """
    if int(window_px) != window_px or window_px < 2:
        raise ValueError(f"window_px={window_px!r}: need an integer window ≥ 2 pixels")
    window_px = int(window_px)
    before, after = window_px // 2, window_px - 1 - window_px // 2
    if min(image.shape[-2:]) <= before:
        raise ValueError(f"window_px={window_px}: the image {tuple(image.shape[-2:])} must be larger than "
                         f"{before} px (half the window) on each side for reflection padding")
    padded = F.pad(image, (before, after, before, after), mode="reflect")
    mean = F.avg_pool2d(padded, window_px, stride=1)
    variance = (F.avg_pool2d(padded.square(), window_px, stride=1) - mean.square()).clamp_min(0.0)
    return mean, variance


def local_whitening(image: torch.Tensor, *, window_px: int, sigma_min: float = SIGMA_MIN) -> torch.Tensor:
    """Eq. 7: ``(y_ij − E_Ŝ{y}) / max(σ_min, Std_Ŝ{y})`` over the sliding window of :func:`local_moments`.

    ``σ_min`` is in the intensity units of ``image`` (targets: fractions of their maximum): windows whose
    local std is below it are divided by σ_min instead, which keeps flat (vacuum, pedestal) regions finite.
    ``max(σ, ·)`` is evaluated as ``sqrt(max(σ², var))`` so the gradient stays finite where var = 0.

    Parameters
    ----------
    image : torch.Tensor
        Images, (B, C, H, W).
    window_px : int
        Window side S [px], ≥ 2.
    sigma_min : float
        Floor of the local std, > 0; default ``SIGMA_MIN`` (eq. 5's value, not ``MLWT_SIGMA_MIN``).

    Returns
    -------
    torch.Tensor
        Whitened images, same shape as ``image``.

    Raises
    ------
    ValueError
        If ``sigma_min`` ≤ 0 or the window does not fit (see :func:`local_moments`).
    """
    _check_sigma_min(sigma_min)
    mean, variance = local_moments(image, window_px=window_px)
    return (image - mean) / variance.clamp_min(sigma_min ** 2).sqrt()


def mlwt_loss(prediction, target, windows=MLWT_WINDOWS_PX, sigma_min: float = SIGMA_MIN) -> torch.Tensor:
    """Eqs. 7–8: ``(1/4) Σ_S E{|y^S − y_g^S|}`` over the window sizes S in ``windows``.

    Each image is whitened by :func:`local_whitening` (sliding windows, stride 1, reflection at the
    borders), so the loss is unchanged by a constant offset of both images and by a common gain where the
    local std exceeds ``sigma_min``, and it weighs a structural error in a faint region as much as in a
    bright one. Both images are first shifted by the target's mean, which eq. 7 removes anyway, to keep
    the float32 variance ``E{y²} − E{y}²`` free of cancellation on a bright pedestal.

    Parameters
    ----------
    prediction : torch.Tensor
        Generator output y_g, (B, C, H, W), in the units of the target.
    target : torch.Tensor
        Targets y, (B, C, H, W), intensities in units of the target maximum.
    windows : sequence of int
        Window sides S [px], each ≥ 2; the loss is the mean over them. Default (2, 4, 8, 16).
    sigma_min : float
        Floor of the local std (eq. 7), > 0; default ``SIGMA_MIN`` (training passes
        ``LossWeights.mlwt_sigma_min``).

    Returns
    -------
    torch.Tensor
        Scalar loss, float32.

    Raises
    ------
    ValueError
        If the shapes differ or are not 4-D, ``windows`` is empty, a window does not fit or ``sigma_min`` ≤ 0.
    """
    _check_pair(prediction, target)
    if not windows:
        raise ValueError("windows: give at least one window size (the paper's: 2, 4, 8, 16)")
    offset = target.float().mean(dim=(1, 2, 3), keepdim=True)
    y, g = target.float() - offset, prediction.float() - offset
    terms = [(local_whitening(y, window_px=n, sigma_min=sigma_min)
              - local_whitening(g, window_px=n, sigma_min=sigma_min)).abs().mean() for n in windows]
    return torch.stack(terms).mean()


def fourier_loss(prediction, target, gamma: float = FOURIER_GAMMA, floor: float = 1e-4) -> torch.Tensor:
    """Eq. 9: mean over examples and frequencies of ``|F(y − y_g)|^γ``, orthonormal 2-D DFT.

    With the orthonormal DFT a white error of r.m.s. δ has ``|F| ≈ δ`` at every frequency, independent of
    the image size. A small γ makes weak (high-frequency) components count. ``|F|^γ`` has an infinite
    slope at 0, so below ``floor`` (in units of y, i.e. of the target maximum) it is replaced by
    ``floor^γ·(|F|/floor)²``: continuous, 0 at F = 0 (identical images give exactly 0), and with a slope
    of at most ``2·floor^(γ−1)``. Frequencies with ``|F| ≥ floor`` contribute exactly ``|F|^γ``.

    Parameters
    ----------
    prediction : torch.Tensor
        Generator output y_g, (B, C, H, W), in the units of the target.
    target : torch.Tensor
        Targets y, (B, C, H, W), intensities in units of the target maximum.
    gamma : float
        Exponent γ, in (0, 1]; default 0.125 (the paper's).
    floor : float
        Magnitude below which the quadratic continuation is used, units of y, > 0; default 1e-4.

    Returns
    -------
    torch.Tensor
        Scalar loss, float32.

    Raises
    ------
    ValueError
        If the shapes differ or are not 4-D, ``gamma`` is outside (0, 1] or ``floor`` ≤ 0.
    """
    _check_pair(prediction, target)
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma={gamma!r}: must be in (0, 1] (eq. 9; the paper uses 0.125)")
    if not floor > 0:
        raise ValueError(f"floor={floor!r}: must be > 0 (units of the target intensity)")
    spectrum = torch.fft.fft2(target.float() - prediction.float(), norm="ortho")
    power = spectrum.real.square() + spectrum.imag.square()
    above = power >= floor ** 2
    # both branches are evaluated: the clamp keeps the unused power branch's gradient finite at 0
    value = torch.where(above, power.clamp_min(floor ** 2) ** (gamma / 2), power * floor ** (gamma - 2))
    return value.mean()


def _moment_weights(target: torch.Tensor, sigma_min: float | None) -> torch.Tensor | float:
    return 1.0 if sigma_min is None else example_weights(target, sigma_min).flatten()


def mean_loss(prediction, target, sigma_min: float | None = None) -> torch.Tensor:
    """Eq. 10: ``|E{y} − E{y_g}|`` per example (mean over channels and pixels), averaged over the batch.

    Parameters
    ----------
    prediction : torch.Tensor
        Generator output y_g, (B, C, H, W), in the units of the target.
    target : torch.Tensor
        Targets y, (B, C, H, W), intensities in units of the target maximum.
    sigma_min : float or None, optional
        None: as printed. A value: each example's term times eq. 5's ``w_y`` with this floor [units of y].

    Returns
    -------
    torch.Tensor
        Scalar loss, float32.

    Raises
    ------
    ValueError
        If the shapes differ or are not 4-D, or ``sigma_min`` ≤ 0.
    """
    _check_pair(prediction, target)
    difference = target.float().flatten(1).mean(1) - prediction.float().flatten(1).mean(1)
    return (difference.abs() * _moment_weights(target, sigma_min)).mean()


def std_loss(prediction, target, sigma_min: float | None = None) -> torch.Tensor:
    """Eq. 11: ``|Std{y} − Std{y_g}|`` per example (population std), averaged over the batch.

    Parameters
    ----------
    prediction : torch.Tensor
        Generator output y_g, (B, C, H, W), in the units of the target.
    target : torch.Tensor
        Targets y, (B, C, H, W), intensities in units of the target maximum.
    sigma_min : float or None, optional
        None: as printed. A value: each example's term times eq. 5's ``w_y`` with this floor, i.e. the
        relative std error where ``Std{y}`` exceeds the floor [units of y].

    Returns
    -------
    torch.Tensor
        Scalar loss, float32.

    Raises
    ------
    ValueError
        If the shapes differ or are not 4-D, or ``sigma_min`` ≤ 0.
    """
    _check_pair(prediction, target)
    difference = (target.float().flatten(1).std(1, unbiased=False)
                  - prediction.float().flatten(1).std(1, unbiased=False))
    return (difference.abs() * _moment_weights(target, sigma_min)).mean()


def relativistic_logits(critic_a: torch.Tensor, critic_b: torch.Tensor) -> torch.Tensor:
    """Eqs. 2–3 before the sigmoid: ``C(a) − E{C(b)}``, so that ``D_Rap(a, b) = σ(·)``.

    The expectation runs over the batch and the patch map: the critic is fully convolutional, so every
    patch of every example is one sample of the distribution of C(b).

    Parameters
    ----------
    critic_a : torch.Tensor
        Critic logit map C(a), e.g. (B, 1, h, w).
    critic_b : torch.Tensor
        Critic logit map C(b), averaged over all its elements.

    Returns
    -------
    torch.Tensor
        Relativistic logits, float32, shape of ``critic_a``.
    """
    return critic_a.float() - critic_b.float().mean()


def relativistic_discriminator_loss(critic_real: torch.Tensor, critic_fake: torch.Tensor,
                                    real_label: float = 1.0) -> torch.Tensor:
    """Eq. 15: ``L_D = −E{log D_Rap(y, y_g)} − E{log(1 − D_Rap(y_g, y))}``.

    ``critic_real`` = C(x, y), ``critic_fake`` = C(x, y_g). ``real_label`` < 1 applies one-sided label
    smoothing (the published code uses 0.95); with 1.0 this is eq. 15 exactly.

    Parameters
    ----------
    critic_real : torch.Tensor
        Critic logit map of real pairs, C(x, y).
    critic_fake : torch.Tensor
        Critic logit map of generated pairs, C(x, y_g).
    real_label : float
        Target probability for real pairs, in (0.5, 1]; default 1.0.

    Returns
    -------
    torch.Tensor
        Scalar discriminator loss, float32.

    Raises
    ------
    ValueError
        If ``real_label`` is outside (0.5, 1].
    """
    if not 0.5 < real_label <= 1.0:
        raise ValueError(f"real_label={real_label!r}: must be in (0.5, 1]")
    real = relativistic_logits(critic_real, critic_fake)
    fake = relativistic_logits(critic_fake, critic_real)
    return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_label))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def relativistic_generator_loss(critic_real: torch.Tensor, critic_fake: torch.Tensor) -> torch.Tensor:
    """Eq. 12: ``L_Adv = −E{log(1 − D_Rap(y, y_g))} − E{log D_Rap(y_g, y)}``.

    Parameters
    ----------
    critic_real : torch.Tensor
        Critic logit map of real pairs, C(x, y).
    critic_fake : torch.Tensor
        Critic logit map of generated pairs, C(x, y_g).

    Returns
    -------
    torch.Tensor
        Scalar adversarial loss of the generator, float32.
    """
    real = relativistic_logits(critic_real, critic_fake)
    fake = relativistic_logits(critic_fake, critic_real)
    return (F.binary_cross_entropy_with_logits(real, torch.zeros_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)))


@dataclass(frozen=True)
class LossWeights:
    """Weights λ of eqs. 13–14 and the loss parameters. The λ are our defaults (the paper gives none).

    ``sigma_min`` is eq. 5's floor, ``mlwt_sigma_min`` eq. 7's (the paper writes σ_min for both; local windows
    have far smaller stds than whole images, so the suite gives each its own value, see the module
    docstring). Both are in units of the target maximum.

    Parameters
    ----------
    l1, l2, mlwt, fourier, mean, std : float
        λ of the pixel terms (eqs. 4, 6, 8, 9, 10, 11), ≥ 0; a term with weight 0 is not computed.
    adversarial : float
        λ_Adv of eq. 13, ≥ 0.
    sigma_min : float
        Eq. 5's std floor, > 0.
    fourier_gamma : float
        Eq. 9's exponent γ, in (0, 1].
    mlwt_windows : tuple of int
        Eq. 8's window sides [px], each ≥ 2 (stored as a tuple of int).
    mlwt_sigma_min : float
        Eq. 7's local std floor, > 0.
    moments_weighted : bool
        Weight eqs. 10–11 per example by eq. 5's ``w_y`` (mean and std errors in units of Std{y}) instead
        of leaving them unweighted as printed.

    Raises
    ------
    ValueError
        If a value is outside its range.
    """

    l1: float = 1.0
    l2: float = 0.5
    mlwt: float = 0.1
    fourier: float = 0.02
    mean: float = 0.5
    std: float = 0.5
    adversarial: float = 0.005
    sigma_min: float = SIGMA_MIN
    fourier_gamma: float = FOURIER_GAMMA
    mlwt_windows: tuple[int, ...] = MLWT_WINDOWS_PX
    mlwt_sigma_min: float = MLWT_SIGMA_MIN
    moments_weighted: bool = False

    def __post_init__(self):
        """Check the ranges and store ``mlwt_windows`` as a tuple of int.

        Raises
        ------
        ValueError
            If a value is outside its range.
        """
        for name in ("l1", "l2", "mlwt", "fourier", "mean", "std", "adversarial"):
            if getattr(self, name) < 0:
                raise ValueError(f"LossWeights.{name}={getattr(self, name)!r}: must be ≥ 0")
        if not self.sigma_min > 0:
            raise ValueError(f"LossWeights.sigma_min={self.sigma_min!r}: must be > 0")
        if not self.mlwt_sigma_min > 0:
            raise ValueError(f"LossWeights.mlwt_sigma_min={self.mlwt_sigma_min!r}: must be > 0")
        if not isinstance(self.moments_weighted, bool):
            raise ValueError(f"LossWeights.moments_weighted={self.moments_weighted!r}: give true or false")
        if not 0 < self.fourier_gamma <= 1:
            raise ValueError(f"LossWeights.fourier_gamma={self.fourier_gamma!r}: must be in (0, 1]")
        windows = tuple(int(n) for n in self.mlwt_windows)
        if not windows or min(windows) < 2:
            raise ValueError(f"LossWeights.mlwt_windows={self.mlwt_windows!r}: need window sizes ≥ 2 px")
        object.__setattr__(self, "mlwt_windows", windows)

    def to_dict(self) -> dict:
        """Return the fields as a JSON-serialisable dict.

        Returns
        -------
        dict
            Field name -> value, ``mlwt_windows`` as a list.
        """
        values = asdict(self)
        values["mlwt_windows"] = list(self.mlwt_windows)
        return values


def pixel_losses(prediction, target, weights: LossWeights) -> dict[str, torch.Tensor]:
    """Return the pixel-wise basket (eq. 14): every term with a non-zero weight, unweighted, by name.

    Parameters
    ----------
    prediction : torch.Tensor
        Generator output y_g, (B, C, H, W), in the units of the target.
    target : torch.Tensor
        Targets y, (B, C, H, W), intensities in units of the target maximum.
    weights : LossWeights
        Selects the terms (weight > 0) and gives their parameters; the weights themselves are not applied.

    Returns
    -------
    dict of str to torch.Tensor
        Term name ('l1', 'l2', 'mlwt', 'fourier', 'mean', 'std') -> scalar loss.

    Raises
    ------
    ValueError
        If the shapes differ or are not 4-D.
    """
    s = weights.sigma_min
    moments_floor = s if weights.moments_weighted else None
    terms = {
        "l1": lambda: weighted_l1(prediction, target, s),
        "l2": lambda: weighted_l2(prediction, target, s),
        "mlwt": lambda: mlwt_loss(prediction, target, weights.mlwt_windows, weights.mlwt_sigma_min),
        "fourier": lambda: fourier_loss(prediction, target, weights.fourier_gamma),
        "mean": lambda: mean_loss(prediction, target, moments_floor),
        "std": lambda: std_loss(prediction, target, moments_floor),
    }
    return {name: term() for name, term in terms.items() if getattr(weights, name) > 0}


def generator_loss(prediction, target, weights: LossWeights,
                   adversarial: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Eqs. 13–14: ``Σ λ_i L_i`` plus ``λ_Adv L_Adv`` when ``adversarial`` is given.

    Parameters
    ----------
    prediction : torch.Tensor
        Generator output y_g, (B, C, H, W), in the units of the target.
    target : torch.Tensor
        Targets y, (B, C, H, W), intensities in units of the target maximum.
    weights : LossWeights
        The λ and the loss parameters.
    adversarial : torch.Tensor or None, optional
        L_Adv (:func:`relativistic_generator_loss`); added only when given and ``weights.adversarial`` > 0.

    Returns
    -------
    total : torch.Tensor
        The scalar to minimise.
    parts : dict
        Each unweighted term as a float, for logging.

    Raises
    ------
    ValueError
        If every weight is 0, or the shapes differ or are not 4-D.
    """
    parts = pixel_losses(prediction, target, weights)
    total = sum(getattr(weights, name) * value for name, value in parts.items())
    if adversarial is not None and weights.adversarial > 0:
        parts["adversarial"] = adversarial
        total = total + weights.adversarial * adversarial
    if not parts:
        raise ValueError("LossWeights: every weight is 0; nothing to minimise")
    return total, {name: float(value.detach()) for name, value in parts.items()}


def target_std_quantiles(n: int, seed: int, *, modality: str = "hrstem", size_px: int = 256,
                         quantiles=(0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99),
                         windows=MLWT_WINDOWS_PX) -> dict:
    """Distribution of Std{y} (eq. 5) and of the local stds Std_Ŝ{y} (eq. 7) over generated targets.

    For choosing σ_min: eq. 5 equalises contrast only for examples with ``Std{y} > σ_min``, eq. 7 whitens
    only windows with ``Std_Ŝ{y} > σ_min``. Targets are those of training
    (:class:`restore.dataset.SyntheticPairDataset` with this seed), max-normalised.

    Parameters
    ----------
    n : int
        Number of pairs, ≥ 1.
    seed : int
        Data-set seed, ≥ 0.
    modality : str
        Pair preset ('hrstem', 'lrstem', 'hrtem', 'lrtem').
    size_px : int
        Image side [px].
    quantiles : sequence of float
        Probabilities in [0, 1].
    windows : sequence of int
        Window sizes S [px] for the local stds (over all pixels of all targets).

    Returns
    -------
    dict
        ``quantiles``, ``std`` (the quantiles of Std{y}), ``local_std`` ({S: quantiles}), and the inputs.

    Raises
    ------
    ValueError
        If ``n`` < 1 or a quantile is outside [0, 1] (the data set raises for a bad seed or modality).
    """
    if n < 1:
        raise ValueError(f"n={n!r}: need at least one pair")
    q = torch.tensor([float(p) for p in quantiles], dtype=torch.float64)
    if q.numel() == 0 or q.min() < 0 or q.max() > 1:
        raise ValueError(f"quantiles={quantiles!r}: give probabilities in [0, 1]")
    data = SyntheticPairDataset(modality, size_px, seed, length=n)
    stds, local = [], {int(s): [] for s in windows}
    for i in range(n):
        y = data.pair(i)[1].double().cpu()[None, None]
        stds.append(float(y.std(unbiased=False)))
        for s in local:
            local[s].append(local_moments(y - y.mean(), window_px=s)[1].sqrt().flatten())
    return {"n": n, "seed": seed, "modality": modality, "size_px": size_px, "quantiles": q.tolist(),
            "std": _quantiles(torch.tensor(stds, dtype=torch.float64), q),
            "local_std": {s: _quantiles(torch.cat(v), q) for s, v in local.items()}}


def _quantiles(values: torch.Tensor, q: torch.Tensor) -> list[float]:
    # nearest-rank quantiles: torch.quantile refuses inputs beyond 2²⁴ elements
    ordered = values.sort().values
    index = (q * (ordered.numel() - 1)).round().long()
    return ordered[index].tolist()
