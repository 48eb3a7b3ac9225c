"""Conditional 70×70 PatchGAN discriminator (Isola et al. 2017) as modified by Lobato et al. (2023).

C64-C128-C256-C512 then a 1-channel map, all 4×4 convolutions; the first three have stride 2, the last
two stride 1; LeakyReLU(0.2) after every convolution but the last. C128…C512 use instance normalisation
(the paper's replacement of batch normalisation; none on C64, as in pix2pix; convolutions followed by a
normalisation carry no bias). The input is the concatenation of the distorted image x and either the
target y or the restoration G(x).

Padding: the paper removes the two explicit zero-padding layers that pix2pix puts before the stride-1
convolutions and reports a 32×32 output for 256² inputs (its Fig. 10). That is what every convolution
with TensorFlow's ``'same'`` zero padding gives, so each convolution here pads like ``'same'``: an output
of ``ceil(n / stride)`` samples, a total padding of ``max((ceil(n/s) − 1)·s + 4 − n, 0)`` split with the
smaller half before (top/left) and the larger after (bottom/right). For even n that is (1, 1) for the
stride-2 layers (256 → 128 → 64 → 32) and (1, 2) for both stride-1 layers (32 → 32 → 32).

Receptive field: 1 + 3·(1 + 2 + 4 + 8 + 8) = 70 px, output stride 8 px. Output (i, j) sees the input rows
``8i − 23 … 8i + 46`` (and the same columns), where rows outside the image are zero padding; with the
padding above, output (i, j) of an n×n input exists for 0 ≤ i < ceil(n/8).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from restore.models.register import register_architecture

KERNEL_PX = 4
RECEPTIVE_FIELD = 70  # px: 1 + (KERNEL_PX − 1)·(1 + 2 + 4 + 8 + 8)
OUTPUT_STRIDE = 8  # px of input per output sample
WINDOW_START = -23  # px: output i sees input rows OUTPUT_STRIDE·i + WINDOW_START … + RECEPTIVE_FIELD − 1


class SameConv2d(nn.Conv2d):
    """A zero-padded convolution with TensorFlow's ``'same'`` output size ``ceil(n / stride)``.

    The total padding ``max((ceil(n/s) − 1)·s + k − n, 0)`` is split with ``total // 2`` before (top,
    left) and the rest after (bottom, right), as TensorFlow does, for any input size.

    Parameters
    ----------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels.
    kernel_size : int
        Side of the square kernel [px].
    stride : int
        Stride in both directions.
    bias : bool
        Add a learnable bias (default True).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)

    def same_padding(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Return the (left, right, top, bottom) padding for an input of ``height`` × ``width`` px.

        Parameters
        ----------
        height : int
            Input height [px].
        width : int
            Input width [px].

        Returns
        -------
        tuple of int
            ``(left, right, top, bottom)`` zero padding [px], as :func:`torch.nn.functional.pad` takes it.
        """
        pads = []
        for n, k, s in ((width, self.kernel_size[1], self.stride[1]), (height, self.kernel_size[0], self.stride[0])):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad ``x`` like ``'same'`` and convolve.

        Parameters
        ----------
        x : torch.Tensor
            Input, (B, in_channels, H, W).

        Returns
        -------
        torch.Tensor
            (B, out_channels, ⌈H/stride⌉, ⌈W/stride⌉).
        """
        return super().forward(F.pad(x, self.same_padding(*x.shape[-2:])))


def _block(in_channels: int, out_channels: int, stride: int, normalise: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [SameConv2d(in_channels, out_channels, KERNEL_PX, stride, bias=not normalise)]
    if normalise:
        layers.append(nn.InstanceNorm2d(out_channels, affine=True))
    layers.append(nn.LeakyReLU(0.2))
    return layers


class PatchGAN(nn.Module):
    """Critic C(x, ·) returning one logit per 70×70 patch, 8 px apart (no sigmoid: eqs. 2–3 need C).

    Parameters
    ----------
    config : PatchGANConfig, optional
        Channel widths; the paper's (:class:`PatchGANConfig` defaults) when omitted.

    Notes
    -----
    An n×m input gives a ``ceil(n/8)`` × ``ceil(m/8)`` map (32×32 for 256²). Inputs must be at least
    ``RECEPTIVE_FIELD`` px on each side, so that some patches lie mostly inside the image.
    """

    def __init__(self, config: PatchGANConfig | None = None):
        super().__init__()
        self.config = config = config or PatchGANConfig()
        widths = [config.width * 2 ** k for k in range(4)]
        layers = _block(2 * config.in_channels, widths[0], 2, normalise=False)
        layers += _block(widths[0], widths[1], 2, normalise=True)
        layers += _block(widths[1], widths[2], 2, normalise=True)
        layers += _block(widths[2], widths[3], 1, normalise=True)
        layers.append(SameConv2d(widths[3], 1, KERNEL_PX, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Score the pair (x, y) patch by patch.

        Parameters
        ----------
        x : torch.Tensor
            Distorted images, (B, in_channels, H, W), H and W ≥ ``RECEPTIVE_FIELD``.
        y : torch.Tensor
            Targets or restorations G(x), same shape as ``x``.

        Returns
        -------
        torch.Tensor
            Logit map C(x, y), (B, 1, ⌈H/8⌉, ⌈W/8⌉).

        Raises
        ------
        ValueError
            If the shapes differ, are not 4-D, or H or W is below ``RECEPTIVE_FIELD``.
        """
        if x.shape != y.shape or x.ndim != 4:
            raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must have the same (B, C, H, W) shape")
        if min(x.shape[-2:]) < RECEPTIVE_FIELD:
            raise ValueError(f"x: images of {tuple(x.shape[-2:])} px are smaller than one {RECEPTIVE_FIELD}×"
                             f"{RECEPTIVE_FIELD} px patch of the PatchGAN; use larger training crops")
        return self.net(torch.cat([x, y], dim=1))


@dataclass(frozen=True)
class PatchGANConfig:
    """Widths of a :class:`PatchGAN`: ``width``·(1, 2, 4, 8) channels (64 in the paper).

    Parameters
    ----------
    in_channels : int
        Channels of each image of the pair (1 for (S)TEM intensities); the critic sees twice as many.
    width : int
        Channels of the first layer (64 in the paper).
    """

    in_channels: int = 1
    width: int = 64

    def __post_init__(self):
        """Check the widths.

        Raises
        ------
        ValueError
            If ``in_channels`` or ``width`` is not a positive integer.
        """
        for name in ("in_channels", "width"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"PatchGANConfig.{name}={getattr(self, name)!r}: must be a positive integer")

    @classmethod
    def tiny(cls) -> PatchGANConfig:
        """Return a small variant (``width=4``) for CPU tests.

        Returns
        -------
        PatchGANConfig
            The configuration.
        """
        return cls(width=4)

    def to_dict(self) -> dict:
        """Return the widths as a JSON-serialisable dict (the ``config`` of a checkpoint sidecar).

        Returns
        -------
        dict
            ``in_channels`` and ``width``.
        """
        return asdict(self)


register_architecture("patchgan", PatchGAN, lambda config: PatchGAN(PatchGANConfig(**config)))
