"""The 8-layer "reverse-hourglass" CNN of Williams et al. (abstract, ``shared/reference``): feature counts grow
towards the middle of the network and shrink again, at full resolution throughout.

The abstract gives the depth (8 layers) and the shape (more filters closer to the middle); the rest is ours:
3 × 3 convolutions with reflect padding, ReLU after each but the last, channels
``f, 2f, 4f, 8f, 4f, 2f, f, 1`` for ``features = f``, and a residual output (input plus the last layer),
the usual form of a denoiser that learns the noise. Without down-sampling any height and width work; the
receptive field is 17 × 17 px.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from restore.models.register import register_architecture

LAYERS = 8


@dataclass(frozen=True)
class HourglassConfig:
    """Sizes of a :class:`ReverseHourglass`.

    Parameters
    ----------
    features : int
        Channels of the first and seventh layers (``f``; the middle layers have 8f), ≥ 1.
    """

    features: int = 8

    def __post_init__(self) -> None:
        """Check the sizes.

        Raises
        ------
        ValueError
            If ``features`` is not an integer ≥ 1.
        """
        if int(self.features) != self.features or self.features < 1:
            raise ValueError(f"features={self.features!r} must be an integer >= 1")

    def to_dict(self) -> dict:
        """Return the sizes as a JSON-serialisable dict (the ``config`` of a checkpoint sidecar).

        Returns
        -------
        dict
            ``features``.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> HourglassConfig:
        """Build a configuration from :meth:`to_dict`'s output.

        Parameters
        ----------
        config : dict
            Field name -> value; missing fields take their defaults.

        Returns
        -------
        HourglassConfig
            The configuration.

        Raises
        ------
        TypeError
            For an unknown field.
        ValueError
            For a value outside its range.
        """
        return cls(**config)

    def channels(self) -> tuple[int, ...]:
        """Return the output channels of the eight layers.

        Returns
        -------
        tuple of int
            ``(f, 2f, 4f, 8f, 4f, 2f, f, 1)`` for ``f = features``.
        """
        f = self.features
        return (f, 2 * f, 4 * f, 8 * f, 4 * f, 2 * f, f, 1)


class ReverseHourglass(nn.Module):
    """Eight 3 × 3 convolutions, widest in the middle, with a residual output; (B, 1, H, W) → (B, 1, H, W).

    Parameters
    ----------
    config : HourglassConfig, optional
        Network sizes; the defaults of :class:`HourglassConfig` when omitted.
    """

    arch = "reverse_hourglass"
    multiple = 1  # no down-sampling: any size

    def __init__(self, config: HourglassConfig | None = None) -> None:
        super().__init__()
        self.config = config or HourglassConfig()
        layers: list[nn.Module] = []
        previous = 1
        for index, channels in enumerate(self.config.channels()):
            layers.append(nn.Conv2d(previous, channels, 3, padding=1, padding_mode="reflect"))
            if index < LAYERS - 1:
                layers.append(nn.ReLU())
            previous = channels
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a batch of images: the input plus the network's (noise-removing) residual.

        Parameters
        ----------
        x : torch.Tensor
            Noisy images, (B, 1, H, W), any H and W.

        Returns
        -------
        torch.Tensor
            Predicted clean images, (B, 1, H, W).
        """
        return x + self.body(x)


register_architecture("reverse_hourglass", ReverseHourglass,
                      lambda config: ReverseHourglass(HourglassConfig.from_dict(config)))
