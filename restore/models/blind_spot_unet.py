"""The small U-Net of the self-supervised denoisers (``n2v2``, ``structn2v``, ``n2n``), with N2V2's fixes.

N2V2 (Höck et al., ECCV Workshops 2022) traced the checkerboard artefacts of Noise2Void to two parts of the
U-Net and changed both; this network has them:

- down-sampling by *max-blur-pool* (Zhang, ICML 2019): a 2 × 2 max over every position (stride 1), then a
  3 × 3 binomial blur [1 2 1]ᵀ[1 2 1]/16 taken at every second pixel, instead of a strided max pool;
- no skip connection at the top (full-resolution) level: the decoder's last block sees only the up-sampled
  features, so the network cannot pass the input's pixel grid straight to its output.

Layout: ``depth`` levels of two 3 × 3 convolutions with ReLU (``features · 2^level`` channels), max-blur-pool
between levels, bilinear up-sampling followed by a 3 × 3 convolution on the way up, concatenated skips at
every level but the top, and a 1 × 1 output convolution. Heights and widths must be multiples of 2^depth;
:func:`restore.self_supervised.predict` pads the images it restores.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812  (torch's own spelling)

from restore.models.register import register_architecture


@dataclass(frozen=True)
class BlindSpotUNetConfig:
    """Sizes of a :class:`BlindSpotUNet`.

    Parameters
    ----------
    features : int
        Channels of the top level (doubled at every level down), ≥ 1.
    depth : int
        Down-sampling steps, 1 … 4.
    top_skip : bool
        Keep the top-level skip connection (N2V's original U-Net); N2V2 removes it (False).
    """

    features: int = 16
    depth: int = 2
    top_skip: bool = False

    def __post_init__(self) -> None:
        """Check the sizes.

        Raises
        ------
        ValueError
            If ``features`` is not an integer ≥ 1 or ``depth`` not an integer from 1 to 4.
        """
        if int(self.features) != self.features or self.features < 1:
            raise ValueError(f"features={self.features!r} must be an integer >= 1")
        if int(self.depth) != self.depth or not 1 <= self.depth <= 4:
            raise ValueError(f"depth={self.depth!r} must be an integer from 1 to 4")

    def to_dict(self) -> dict:
        """Return the sizes as a JSON-serialisable dict (the ``config`` of a checkpoint sidecar).

        Returns
        -------
        dict
            ``features``, ``depth`` and ``top_skip``.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> BlindSpotUNetConfig:
        """Build a configuration from :meth:`to_dict`'s output.

        Parameters
        ----------
        config : dict
            Field name -> value; missing fields take their defaults.

        Returns
        -------
        BlindSpotUNetConfig
            The configuration.

        Raises
        ------
        TypeError
            For an unknown field.
        ValueError
            For a value outside its range.
        """
        return cls(**config)


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect"), nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, 3, padding=1, padding_mode="reflect"), nn.ReLU())


class MaxBlurPool(nn.Module):
    """Anti-aliased 2× down-sampling: max over 2 × 2 at stride 1, then a binomial 3 × 3 blur at stride 2."""

    def __init__(self) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (taps[:, None] * taps[None, :] / 16.0)[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Down-sample ``x`` by 2 in height and width.

        Parameters
        ----------
        x : torch.Tensor
            Feature maps, (B, C, H, W).

        Returns
        -------
        torch.Tensor
            (B, C, ⌈H/2⌉, ⌈W/2⌉) feature maps.
        """
        peak = F.max_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), kernel_size=2, stride=1)
        channels = peak.shape[1]
        blurred = F.conv2d(F.pad(peak, (1, 1, 1, 1), mode="reflect"), self.kernel.expand(channels, 1, 3, 3),
                           stride=2, groups=channels)
        return blurred


class BlindSpotUNet(nn.Module):
    """The U-Net of N2V2 (see the module docstring); maps (B, 1, H, W) to (B, 1, H, W).

    Parameters
    ----------
    config : BlindSpotUNetConfig, optional
        Network sizes; the defaults of :class:`BlindSpotUNetConfig` when omitted.
    """

    arch = "blind_spot_unet"

    def __init__(self, config: BlindSpotUNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or BlindSpotUNetConfig()
        f, depth = self.config.features, self.config.depth
        self.encoders = nn.ModuleList([_block(1, f)] + [_block(f * 2 ** (k - 1), f * 2 ** k)
                                                        for k in range(1, depth + 1)])
        self.pool = MaxBlurPool()
        self.ups = nn.ModuleList([nn.Conv2d(f * 2 ** (k + 1), f * 2 ** k, 3, padding=1, padding_mode="reflect")
                                  for k in range(depth)])
        decoders = []
        for k in range(depth):
            skip = k > 0 or self.config.top_skip
            decoders.append(_block(f * 2 ** k * (2 if skip else 1), f * 2 ** k))
        self.decoders = nn.ModuleList(decoders)
        self.head = nn.Conv2d(f, 1, 1)

    @property
    def multiple(self) -> int:
        """Heights and widths must be multiples of this (2^depth).

        Returns
        -------
        int
            ``2 ** config.depth``.
        """
        return 2 ** self.config.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a batch of images.

        Parameters
        ----------
        x : torch.Tensor
            Noisy images, (B, 1, H, W); H and W multiples of :attr:`multiple`.

        Returns
        -------
        torch.Tensor
            Predicted clean images, (B, 1, H, W).

        Raises
        ------
        ValueError
            If H or W is not a multiple of :attr:`multiple`.
        """
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise ValueError(f"input of {tuple(x.shape[-2:])} px: height and width must be multiples of "
                             f"{self.multiple} (pad the image first)")
        skips = []
        for level, encoder in enumerate(self.encoders):
            x = encoder(x if level == 0 else self.pool(x))
            skips.append(x)
        for k in reversed(range(self.config.depth)):
            x = self.ups[k](F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))
            if k > 0 or self.config.top_skip:
                x = torch.cat([x, skips[k]], dim=1)
            x = self.decoders[k](x)
        return self.head(x)


register_architecture("blind_spot_unet", BlindSpotUNet,
                      lambda config: BlindSpotUNet(BlindSpotUNetConfig.from_dict(config)))
