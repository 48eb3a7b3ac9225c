"""The loss basket of Lobato, Friedrich & Van Aert (2023), eqs. 2–15.

Every pixel-wise term is weighted per example by ``w = 1 / max(σ_min, std(y))`` (eqs. 4–6): the published
code uses ``1 / max(std(y), 0.1)``, which makes the terms independent of the image's intensity scale as
long as ``std(y) > σ_min``. All terms take (batch, channels, H, W) tensors and return a scalar; they are
computed in float32 even under autocast.

Where the paper's exact definition is not public (its supplementary information is not available to us)
the choice made here is stated in the docstring.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must have the "
                         "same (batch, channels, H, W) shape")


def example_weights(target: torch.Tensor, sigma_min: float = 0.1) -> torch.Tensor:
    """Per-example weight ``1 / max(σ_min, std(y))`` (population std over channels and pixels), (B, 1, 1, 1)."""
    if not sigma_min > 0:
        raise ValueError(f"sigma_min={sigma_min!r}: must be > 0 (intensity units of y)")
    std = target.float().flatten(1).std(dim=1, unbiased=False)
    return (1.0 / std.clamp_min(sigma_min)).view(-1, 1, 1, 1)


def weighted_l1(prediction, target, sigma_min: float = 0.1) -> torch.Tensor:
    """Eq. 4–5: mean of ``w·|y − G(x)|``."""
    _check_pair(prediction, target)
    w = example_weights(target, sigma_min)
    return (w * (target.float() - prediction.float()).abs()).mean()


def weighted_l2(prediction, target, sigma_min: float = 0.1) -> torch.Tensor:
    """Eq. 4, 6: mean of ``(w·(y − G(x)))²`` — the squared error in units of the example's std."""
    _check_pair(prediction, target)
    w = example_weights(target, sigma_min)
    return (w * (target.float() - prediction.float())).square().mean()


def _local_whitening(image: torch.Tensor, window: int, eps: float) -> torch.Tensor:
    mean = F.avg_pool2d(image, window)
    var = (F.avg_pool2d(image.square(), window) - mean.square()).clamp_min(0.0)
    mean = mean.repeat_interleave(window, -2).repeat_interleave(window, -1)
    std = (var + eps ** 2).sqrt().repeat_interleave(window, -2).repeat_interleave(window, -1)
    return (image - mean) / std


def mlwt_loss(prediction, target, windows=(2, 4, 8, 16), sigma_min: float = 0.1,
              eps: float = 0.05) -> torch.Tensor:
    """Eqs. 7–8: multi-local whitening transform loss.

    Both images are expressed in units of the example's std (``w·(I − mean(y))``), each non-overlapping
    ``n×n`` block (n in ``windows``) is whitened to zero mean and unit std, and the loss is the mean
    absolute difference of the whitened images, averaged over the window sizes. Pixels beyond the largest
    multiple of n are left out. ``eps`` (in units of the example's std) keeps flat blocks finite.

    Our reading of the paper: whitening over non-overlapping blocks; the loss is therefore invariant to any
    common affine intensity change ``a·I + b`` (a > 0) of both images when ``std(y) > σ_min``.
    """
    _check_pair(prediction, target)
    if not windows or any(int(n) < 2 for n in windows):
        raise ValueError(f"windows={windows!r}: need window sizes ≥ 2 pixels")
    w = example_weights(target, sigma_min)
    y = target.float()
    offset = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - offset) * w
    g = (prediction.float() - offset) * w
    terms = []
    for n in windows:
        h, wd = (y.shape[-2] // n) * n, (y.shape[-1] // n) * n
        if h == 0 or wd == 0:
            raise ValueError(f"windows: {n} px exceeds the image size {tuple(y.shape[-2:])}")
        terms.append((_local_whitening(y[..., :h, :wd], n, eps)
                      - _local_whitening(g[..., :h, :wd], n, eps)).abs().mean())
    return torch.stack(terms).mean()


def fourier_loss(prediction, target, gamma: float = 0.125, sigma_min: float = 0.1,
                 eps: float = 1e-8) -> torch.Tensor:
    """Eq. 9: mean over frequencies of ``|F(w·(y − G(x)))|^γ`` with the orthonormal 2-D DFT.

    The power is evaluated as ``(|F|² + eps)^(γ/2) − eps^(γ/2)`` so that the gradient stays finite at
    ``F = 0`` and identical images give exactly 0. A small γ (0.125) makes the loss sensitive to weak
    frequencies, i.e. to faint periodic artefacts.
    """
    _check_pair(prediction, target)
    if not 0 < gamma <= 2:
        raise ValueError(f"gamma={gamma!r}: must be in (0, 2]")
    w = example_weights(target, sigma_min)
    spectrum = torch.fft.fft2(w * (target.float() - prediction.float()), norm="ortho")
    power = spectrum.real.square() + spectrum.imag.square()
    return ((power + eps) ** (gamma / 2) - eps ** (gamma / 2)).mean()


def mean_loss(prediction, target, sigma_min: float = 0.1) -> torch.Tensor:
    """Eq. 10: ``w·|mean(y) − mean(G(x))|`` averaged over the batch."""
    _check_pair(prediction, target)
    w = example_weights(target, sigma_min).flatten()
    difference = target.float().flatten(1).mean(1) - prediction.float().flatten(1).mean(1)
    return (w * difference.abs()).mean()


def std_loss(prediction, target, sigma_min: float = 0.1) -> torch.Tensor:
    """Eq. 11: ``w·|std(y) − std(G(x))|`` (population std) averaged over the batch."""
    _check_pair(prediction, target)
    w = example_weights(target, sigma_min).flatten()
    difference = (target.float().flatten(1).std(1, unbiased=False)
                  - prediction.float().flatten(1).std(1, unbiased=False))
    return (w * difference.abs()).mean()


def relativistic_discriminator_loss(critic_real: torch.Tensor, critic_fake: torch.Tensor,
                                    real_label: float = 1.0) -> torch.Tensor:
    """Eqs. 2–3: relativistic average discriminator loss.

    ``D_Ra(a, b) = σ(C(a) − E[C(b)])``; ``L_D = −E[log D_Ra(y, G(x))] − E[log(1 − D_Ra(G(x), y))]``. The
    expectations run over the batch and the patch map. ``real_label`` < 1 applies one-sided label
    smoothing (the published code uses 0.95).
    """
    if not 0.5 < real_label <= 1.0:
        raise ValueError(f"real_label={real_label!r}: must be in (0.5, 1]")
    real = critic_real.float() - critic_fake.float().mean()
    fake = critic_fake.float() - critic_real.float().mean()
    return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_label))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def relativistic_generator_loss(critic_real: torch.Tensor, critic_fake: torch.Tensor) -> torch.Tensor:
    """Eqs. 12, 15: ``L_G^Ra = −E[log(1 − D_Ra(y, G(x)))] − E[log D_Ra(G(x), y)]``."""
    real = critic_real.float() - critic_fake.float().mean()
    fake = critic_fake.float() - critic_real.float().mean()
    return (F.binary_cross_entropy_with_logits(real, torch.zeros_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)))


@dataclass(frozen=True)
class LossWeights:
    """Weights λ of eqs. 13–14. Our defaults (the paper's values are in its unavailable supplement)."""

    l1: float = 1.0
    l2: float = 0.5
    mlwt: float = 0.1
    fourier: float = 0.02
    mean: float = 0.5
    std: float = 0.5
    adversarial: float = 0.005
    sigma_min: float = 0.1
    fourier_gamma: float = 0.125
    mlwt_windows: tuple[int, ...] = (2, 4, 8, 16)

    def __post_init__(self):
        for name in ("l1", "l2", "mlwt", "fourier", "mean", "std", "adversarial"):
            if getattr(self, name) < 0:
                raise ValueError(f"LossWeights.{name}={getattr(self, name)!r}: must be ≥ 0")
        if not self.sigma_min > 0:
            raise ValueError(f"LossWeights.sigma_min={self.sigma_min!r}: must be > 0")
        object.__setattr__(self, "mlwt_windows", tuple(int(n) for n in self.mlwt_windows))

    def to_dict(self) -> dict:
        values = asdict(self)
        values["mlwt_windows"] = list(self.mlwt_windows)
        return values


def pixel_losses(prediction, target, weights: LossWeights) -> dict[str, torch.Tensor]:
    """The pixel-wise basket (eq. 13): every term with a non-zero weight, unweighted, by name."""
    s = weights.sigma_min
    terms = {
        "l1": lambda: weighted_l1(prediction, target, s),
        "l2": lambda: weighted_l2(prediction, target, s),
        "mlwt": lambda: mlwt_loss(prediction, target, weights.mlwt_windows, s),
        "fourier": lambda: fourier_loss(prediction, target, weights.fourier_gamma, s),
        "mean": lambda: mean_loss(prediction, target, s),
        "std": lambda: std_loss(prediction, target, s),
    }
    return {name: term() for name, term in terms.items() if getattr(weights, name) > 0}


def generator_loss(prediction, target, weights: LossWeights,
                   adversarial: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 14: ``Σ λ_i L_i`` plus ``λ_adv L_G^Ra`` when ``adversarial`` is given.

    Returns
    -------
    total : torch.Tensor
        The scalar to minimise.
    parts : dict
        Each unweighted term as a float, for logging.
    """
    parts = pixel_losses(prediction, target, weights)
    total = sum(getattr(weights, name) * value for name, value in parts.items())
    if adversarial is not None and weights.adversarial > 0:
        parts["adversarial"] = adversarial
        total = total + weights.adversarial * adversarial
    if not parts:
        raise ValueError("LossWeights: every weight is 0; nothing to minimise")
    return total, {name: float(value.detach()) for name, value in parts.items()}
