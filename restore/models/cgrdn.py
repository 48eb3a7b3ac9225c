"""CGRDN: the concatenated grouped residual dense network of Lobato, Friedrich & Van Aert (2023).

Reads top-down: the dense layer, the residual dense block (RDB), the grouped RDB (GRDB), then the network
and its configuration. At full size (:meth:`CGRDNConfig.full`) it has exactly the structure of the
authors' published ``tk_r_em`` 1.0.4 models: 7,035,521 parameters in 153 convolutions.

Convolution order: the modules are created in the order in which Keras numbers the published layers
(``layer_with_weights-0`` … ``-152``), so that :meth:`CGRDN.conv_layers` maps index i to layer i:

* 0: 3×3 conv 1→64 (``gen_fst_0_conv``); 1: 4×4 stride-2 conv 64→64 (``gen_down_spl_0_conv``);
* for each GRDB g = 1…4: for each RDB r = 1…4: the 8 dense 3×3 convs (64 + 32k → 32, k = 0…7,
  ``gen_g_{g}_rdb_{r}_cpl_{k+1}_1_conv``) then the 1×1 fusion 320→64 (``…_fsl_conv``); after the 4 RDBs
  the GRDB's 1×1 fusion 256→64 (``gen_g_{g}_fsl_0_conv``);
* then the global 1×1 fusion 256→64 (``gen_g_fsl_conv``), the 4×4 stride-2 transposed conv 64→64
  (``gen_up_spl_0_dconv``) and the 3×3 conv 64→1 (``gen_last_0_conv``).

Count: 2 + 4·(4·(8 + 1) + 1) + 3 = 2 + 148 + 3 = 153.

Padding follows Keras ``padding="same"`` for even sizes (1 pixel each side for the 4×4 stride-2 pair),
which is why the network only accepts even heights and widths; :func:`restore.inference.restore_image`
pads odd images.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from restore.models.register import NamedWeights, register_architecture, register_weights


def normalisation(x: torch.Tensor, std_floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the per-image shift (mean) and scale (max(population std, ``std_floor``)) over the last two axes.

    Parameters
    ----------
    x : torch.Tensor
        Images, (..., H, W), any float dtype.
    std_floor : float
        Lower bound of the scale, in the intensity units of ``x``.

    Returns
    -------
    shift : torch.Tensor
        Mean over H and W, float32, shape (..., 1, 1).
    scale : torch.Tensor
        ``max(std, std_floor)``, float32, shape (..., 1, 1).
    """
    x32 = x.float()
    shift = x32.mean(dim=(-2, -1), keepdim=True)
    scale = x32.var(dim=(-2, -1), keepdim=True, unbiased=False).sqrt().clamp_min(std_floor)
    return shift, scale


def check_input(x: torch.Tensor, in_channels: int) -> None:
    """Raise ``ValueError`` unless x is (batch, in_channels, H, W) with even H and W (stride-2 down/up-sampling).

    Parameters
    ----------
    x : torch.Tensor
        The network input to check.
    in_channels : int
        Required number of channels.

    Raises
    ------
    ValueError
        If ``x`` is not 4-D with ``in_channels`` channels, or H or W is odd.
    """
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"x: expected shape (batch, {in_channels}, H, W), got {tuple(x.shape)}")
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f"x: height and width must be even (stride-2 down/up-sampling), got "
                         f"{tuple(x.shape[-2:])}; pad the image or use restore.inference.restore_image")


class DenseLayer(nn.Module):
    """3×3 conv + ReLU whose output is concatenated after its input: [input, new].

    Parameters
    ----------
    in_channels : int
        Channels of the input.
    growth : int
        Channels added (output channels of the convolution).
    """

    def __init__(self, in_channels: int, growth: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, growth, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Append the new features to the input.

        Parameters
        ----------
        x : torch.Tensor
            Feature maps, (B, in_channels, H, W).

        Returns
        -------
        torch.Tensor
            (B, in_channels + growth, H, W).
        """
        return torch.cat([x, torch.relu(self.conv(x))], dim=1)


class ResidualDenseBlock(nn.Module):
    """RDB: ``dense_layers`` dense layers, a 1×1 fusion back to ``features`` channels, local residual.

    Parameters
    ----------
    features : int
        Channels of the block's input and output.
    growth : int
        Channels added by each dense layer.
    dense_layers : int
        Number of dense layers.
    """

    def __init__(self, features: int, growth: int, dense_layers: int):
        super().__init__()
        self.dense = nn.Sequential(*[DenseLayer(features + k * growth, growth) for k in range(dense_layers)])
        self.fusion = nn.Conv2d(features + dense_layers * growth, features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Parameters
        ----------
        x : torch.Tensor
            Feature maps, (B, features, H, W).

        Returns
        -------
        torch.Tensor
            ``x`` plus the fused dense features, (B, features, H, W).
        """
        return x + self.fusion(self.dense(x))


class GroupedResidualDenseBlock(nn.Module):
    """GRDB: a chain of RDBs whose outputs are concatenated, fused by a 1×1 conv and added to the input.

    Parameters
    ----------
    features : int
        Channels of the group's input and output.
    growth : int
        Channels added by each dense layer.
    dense_layers : int
        Dense layers per RDB.
    blocks : int
        Number of RDBs.
    """

    def __init__(self, features: int, growth: int, dense_layers: int, blocks: int):
        super().__init__()
        self.blocks = nn.ModuleList(ResidualDenseBlock(features, growth, dense_layers) for _ in range(blocks))
        self.fusion = nn.Conv2d(blocks * features, features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the group.

        Parameters
        ----------
        x : torch.Tensor
            Feature maps, (B, features, H, W).

        Returns
        -------
        torch.Tensor
            ``x`` plus the fused outputs of all RDBs, (B, features, H, W).
        """
        outputs, h = [], x
        for block in self.blocks:
            h = block(h)
            outputs.append(h)
        return x + self.fusion(torch.cat(outputs, dim=1))


class CGRDN(nn.Module):
    """Concatenated grouped residual dense network with per-image intensity normalisation.

    The input is normalised per image and channel, ``xn = (x − mean) / max(std, std_floor)`` (population
    std), the network predicts a residual on ``xn`` and the result is mapped back by the same scale and
    shift, so the output keeps the input's intensity scale.

    Parameters
    ----------
    config : CGRDNConfig, optional
        Sizes of the network; the published size (:meth:`CGRDNConfig.full`) when omitted.

    Notes
    -----
    Input and output have shape (batch, 1, H, W) with H and W even.
    """

    def __init__(self, config: CGRDNConfig | None = None):
        super().__init__()
        self.config = config = config or CGRDNConfig.full()
        c = config
        self.head = nn.Conv2d(c.in_channels, c.features, 3, padding=1)
        self.down = nn.Conv2d(c.features, c.features, 4, stride=2, padding=1)
        self.groups = nn.ModuleList(
            GroupedResidualDenseBlock(c.features, c.growth, c.dense_layers, c.blocks_per_group)
            for _ in range(c.groups))
        self.fusion = nn.Conv2d(c.groups * c.features, c.features, 1)
        self.up = nn.ConvTranspose2d(c.features, c.features, 4, stride=2, padding=1)
        self.tail = nn.Conv2d(c.features, c.in_channels, 3, padding=1)

    def conv_layers(self) -> list[nn.Module]:
        """Return all convolutions in the Keras ``layer_with_weights-i`` order (see the module docstring).

        Returns
        -------
        list of torch.nn.Module
            The ``Conv2d`` and ``ConvTranspose2d`` modules, ``config.n_conv_layers`` of them.
        """
        layers: list[nn.Module] = [self.head, self.down]
        for group in self.groups:
            for block in group.blocks:
                layers.extend(layer.conv for layer in block.dense)
                layers.append(block.fusion)
            layers.append(group.fusion)
        layers.extend([self.fusion, self.up, self.tail])
        return layers

    def normalisation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the per-image shift (mean) and scale (max(population std, std_floor)), computed in float32.

        Parameters
        ----------
        x : torch.Tensor
            Images, (B, C, H, W).

        Returns
        -------
        shift : torch.Tensor
            Per-image and channel mean, float32, (B, C, 1, 1).
        scale : torch.Tensor
            Per-image and channel ``max(std, config.std_floor)``, float32, (B, C, 1, 1).
        """
        return normalisation(x, self.config.std_floor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore a batch of images.

        Parameters
        ----------
        x : torch.Tensor
            Distorted images, (B, in_channels, H, W), H and W even, any intensity scale.

        Returns
        -------
        torch.Tensor
            Restored images, same shape and dtype as ``x``, in the input's intensity scale.

        Raises
        ------
        ValueError
            If the shape is not (B, in_channels, H, W) with even H and W.
        """
        check_input(x, self.config.in_channels)
        shift, scale = self.normalisation(x)
        xn = (x.float() - shift) / scale
        h0 = self.down(self.head(xn.to(x.dtype)))
        h, outputs = h0, []
        for group in self.groups:
            h = group(h)
            outputs.append(h)
        h = h0 + self.fusion(torch.cat(outputs, dim=1))
        residual = self.tail(self.up(h)).float()
        return ((residual + xn) * scale + shift).to(x.dtype)


@dataclass(frozen=True)
class CGRDNConfig:
    """Sizes of a :class:`CGRDN`.

    Parameters
    ----------
    in_channels : int
        Image channels (1 for (S)TEM intensities).
    features : int
        Channels of the half-resolution trunk (64 published).
    growth : int
        Channels added by each dense layer (32 published).
    dense_layers : int
        Dense layers per RDB (8 published).
    blocks_per_group : int
        RDBs per GRDB (4 published).
    groups : int
        GRDBs (4 published).
    std_floor : float
        Lower bound of the normalisation scale, in input intensity units (0.1 published).
    """

    in_channels: int = 1
    features: int = 64
    growth: int = 32
    dense_layers: int = 8
    blocks_per_group: int = 4
    groups: int = 4
    std_floor: float = 0.1

    def __post_init__(self):
        """Check the sizes.

        Raises
        ------
        ValueError
            If a size is not a positive integer or ``std_floor`` ≤ 0.
        """
        for name in ("in_channels", "features", "growth", "dense_layers", "blocks_per_group", "groups"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"CGRDNConfig.{name}={value!r}: must be a positive integer")
        if not self.std_floor > 0:
            raise ValueError(f"CGRDNConfig.std_floor={self.std_floor!r}: must be > 0")

    @classmethod
    def full(cls) -> CGRDNConfig:
        """Return the published size: 7,035,521 parameters, 153 convolutions.

        Returns
        -------
        CGRDNConfig
            The default configuration.
        """
        return cls()

    @classmethod
    def tiny(cls) -> CGRDNConfig:
        """Return a few-thousand-parameter variant with the same topology, for CPU tests.

        Returns
        -------
        CGRDNConfig
            ``features=8, growth=4, dense_layers=2, blocks_per_group=2, groups=2``.
        """
        return cls(features=8, growth=4, dense_layers=2, blocks_per_group=2, groups=2)

    @property
    def n_conv_layers(self) -> int:
        """Number of convolutions of the network (153 at full size).

        Returns
        -------
        int
            ``2 + groups·(blocks_per_group·(dense_layers + 1) + 1) + 3``.
        """
        return 2 + self.groups * (self.blocks_per_group * (self.dense_layers + 1) + 1) + 3

    def to_dict(self) -> dict:
        """Return the sizes as a JSON-serialisable dict (the ``config`` of a checkpoint sidecar).

        Returns
        -------
        dict
            Field name -> value.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> CGRDNConfig:
        """Build a configuration from :meth:`to_dict`'s output.

        Parameters
        ----------
        values : dict
            Field name -> value; missing fields take their defaults.

        Returns
        -------
        CGRDNConfig
            The configuration.

        Raises
        ------
        ValueError
            For an unknown field or a value outside its range.
        """
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"CGRDNConfig: unknown fields {sorted(unknown)}")
        return cls(**values)


register_architecture("cgrdn", CGRDN, lambda config: CGRDN(CGRDNConfig.from_dict(config)))

# Named weights of the CGRDN. The shipped default is the training campaign's model (docs/model_card_hrstem_default.md:
# 11448 CPU steps through seven recipes, docs/training_campaign.md); its SHA-256 is checked on every load.
HRSTEM_DEFAULT_SHA256 = "48bf0de77218df8028d9eeee1e97a1970f1b2125ed55fb852674a7476231d4c1"
# The published tk_r_em 1.0.4 models (imported from the user's own download by `bench models import-r-em`).
R_EM_MODELS = ("sfr_hrstem", "sfr_lrstem", "sfr_hrtem", "sfr_lrtem", "sfr_hrsem", "sfr_lrsem")

register_weights(
    NamedWeights("cgrdn.hrstem_default", "cgrdn", "HRSTEM",
                 "the suite's own CGRDN (1.45 M parameters) trained on synthetic HR-STEM pairs on the CPU; see its "
                 "model card",
                 "shipped weights restore/weights/cgrdn.hrstem_default.safetensors are missing (broken install): "
                 "reinstall the package; docs/model_card_hrstem_default.md says how they were trained (and how to "
                 "train them again)", HRSTEM_DEFAULT_SHA256),
    *(NamedWeights(f"cgrdn.{tag}", "cgrdn", tag.split("_")[1].upper(),
                   f"published tk_r_em 1.0.4 model {tag} (Lobato et al. 2023, GPL-3.0)",
                   "not installed: `pip download --no-deps --no-binary :all: tk_r_em==1.0.4 -d DIR` then "
                   "`bench models import-r-em DIR/tk_r_em-1.0.4.tar.gz`") for tag in R_EM_MODELS),
)
