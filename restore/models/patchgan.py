"""Conditional 70×70 PatchGAN discriminator (Isola et al. 2017) as modified by Lobato et al. (2023).

C64-C128-C256-C512 then a 1-channel map, all 4×4 convolutions with LeakyReLU(0.2); the first three have
stride 2, the last two stride 1. Following the paper, there is no zero padding (every output value sees a
full 70×70 input patch, no border artefacts are learned) and C128…C512 use instance normalisation (no
normalisation on C64, as in pix2pix; convolutions followed by a normalisation carry no bias). The input is
the concatenation of the distorted image x and either the target y or the restoration G(x).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


def _block(in_channels: int, out_channels: int, stride: int, normalise: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, stride=stride, padding=0,
                                         bias=not normalise)]
    if normalise:
        layers.append(nn.InstanceNorm2d(out_channels, affine=True))
    layers.append(nn.LeakyReLU(0.2))
    return layers


class PatchGAN(nn.Module):
    """Critic C(x, ·) returning one logit per 70×70 patch (no sigmoid: the relativistic losses need C).

    Parameters
    ----------
    config : PatchGANConfig
        Channel widths.
    """

    def __init__(self, config: PatchGANConfig | None = None):
        super().__init__()
        self.config = config = config or PatchGANConfig()
        widths = [config.width * 2 ** k for k in range(4)]
        layers = _block(2 * config.in_channels, widths[0], 2, normalise=False)
        layers += _block(widths[0], widths[1], 2, normalise=True)
        layers += _block(widths[1], widths[2], 2, normalise=True)
        layers += _block(widths[2], widths[3], 1, normalise=True)
        layers.append(nn.Conv2d(widths[3], 1, 4, stride=1, padding=0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4:
            raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must have the same (B, C, H, W) shape")
        if min(x.shape[-2:]) < RECEPTIVE_FIELD:
            raise ValueError(f"x: images of {tuple(x.shape[-2:])} px are smaller than the {RECEPTIVE_FIELD}×"
                             f"{RECEPTIVE_FIELD} receptive field of the unpadded PatchGAN")
        return self.net(torch.cat([x, y], dim=1))


RECEPTIVE_FIELD = 70


@dataclass(frozen=True)
class PatchGANConfig:
    """Widths of a :class:`PatchGAN`: ``width``·(1, 2, 4, 8) channels (64 in the paper)."""

    in_channels: int = 1
    width: int = 64

    def __post_init__(self):
        for name in ("in_channels", "width"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"PatchGANConfig.{name}={getattr(self, name)!r}: must be a positive integer")

    @classmethod
    def tiny(cls) -> PatchGANConfig:
        return cls(width=4)

    def to_dict(self) -> dict:
        return asdict(self)
