"""Configuration of a training run (``bench train CONFIG``), read from TOML or JSON.

Example ``train.toml``::

    data = "synthetic:hrstem"      # or "cache:DIR" (bench train-cache build), "npz:pairs.npz" (x, y: (N, H, W))
    validation = "synthetic:hrstem"
    steps = 100000
    batch_size = 16
    [generator]                    # CGRDNConfig fields; omitted = published size
    features = 64
    [losses]                       # LossWeights fields
    adversarial = 0.005
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from restore.losses import LossWeights
from restore.models import CGRDNConfig, PatchGANConfig
from restore.numerics import normalise_mode


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that determines a training run (with the seed, the run is reproducible on one device).

    Parameters
    ----------
    data, validation : str
        Data specs: ``"synthetic:<modality>"`` (streaming pairs from :mod:`restore.dataset`),
        ``"cache:<dir>"`` (the same pairs pre-generated on disk, :mod:`restore.pair_cache`; crops of
        ``patch_size`` when its pairs are larger) or ``"npz:<path>"`` (arrays ``x`` and ``y`` of shape (N, H, W)).
    steps : int
        Optimiser steps.
    batch_size : int
        Pairs per step (per process under DDP).
    patch_size : int
        Side of the synthetic training and validation pairs in pixels (even).
    learning_rate : float
        Peak Adam learning rate, reached after ``warmup_steps`` of linear warm-up; then a cosine decay to
        ``learning_rate · final_lr_fraction``.
    betas : tuple of float
        Adam's (β₁, β₂) for generator and discriminator.
    warmup_steps : int
        Steps of linear learning-rate warm-up of a new run, ≥ 0.
    init_warmup_steps : int
        Warm-up instead of ``warmup_steps`` for a run started from trained weights (``--init-from``): the
        fresh Adam moments need a few steps at a low rate, the weights need no long warm-up.
    final_lr_fraction : float
        Learning rate at ``steps`` as a fraction of ``learning_rate``, in (0, 1].
    ema_decay : float
        Decay of the exponential moving average of the generator weights (the EMA is what is exported).
    grad_clip : float
        Max global gradient norm (0 = off).
    gan_start_step : int
        First step with the discriminator and the adversarial term (the pixel losses alone before).
    real_label : float
        One-sided label smoothing of the discriminator (0.95 in the published code).
    val_every, checkpoint_every, log_every : int
        Periods in steps.
    val_batches : int
        Validation batches of ``batch_size`` pairs taken from the fixed validation set.
    seed : int
        Seed of weight initialisation and batch sampling.
    workers : int
        DataLoader worker processes (0 = load in the training process).
    bf16 : {"auto", "bf16", "fp32"}
        Numeric path (:func:`restore.numerics.numeric_path`): bfloat16 autocast over float32 master weights,
        or float32. ``"auto"``: bf16 on CUDA and on CPUs with AMX or AVX-512-BF16, fp32 elsewhere. Old
        boolean configs read ``true`` as ``"auto"``, ``false`` as ``"fp32"``. Validation always runs in fp32
        so that curves from different machines compare.
    channels_last : bool
        Channels-last memory format of networks and batches (CPU and CUDA; faster on both, see
        docs/benchmarks.md "CPU training step").
    compile : bool
        ``torch.compile`` of the networks (CUDA only: on the CPU it measured slower, see the same section).
    generator : CGRDNConfig
        Size of the generator (default: the published size).
    discriminator : PatchGANConfig
        Widths of the PatchGAN.
    losses : LossWeights
        Loss weights and parameters (eqs. 13–14).

    Raises
    ------
    ValueError
        If a value is outside its range or a data spec has no ``kind:``.
    """

    data: str = "synthetic:hrstem"
    validation: str = "synthetic:hrstem"
    steps: int = 100_000
    batch_size: int = 16
    patch_size: int = 256
    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 1000
    init_warmup_steps: int = 100
    final_lr_fraction: float = 0.01
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    gan_start_step: int = 5000
    real_label: float = 0.95
    val_every: int = 1000
    val_batches: int = 8
    checkpoint_every: int = 1000
    log_every: int = 50
    seed: int = 0
    workers: int = 0
    bf16: str = "auto"
    channels_last: bool = True
    compile: bool = False
    generator: CGRDNConfig = field(default_factory=CGRDNConfig.full)
    discriminator: PatchGANConfig = field(default_factory=PatchGANConfig)
    losses: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self):
        """Check the values; normalise ``bf16`` to a mode name and ``betas`` to a tuple of float.

        Raises
        ------
        ValueError
            If a value is outside its range or a data spec has no ``kind:``.
        """
        if not isinstance(self.patch_size, int) or self.patch_size < 16 or self.patch_size % 2:
            raise ValueError(f"TrainingConfig.patch_size={self.patch_size!r}: must be an even integer ≥ 16")
        positive = ("steps", "batch_size", "val_every", "checkpoint_every", "log_every", "val_batches")
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"TrainingConfig.{name}={getattr(self, name)!r}: must be a positive integer")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainingConfig.learning_rate={self.learning_rate!r}: must be > 0")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"TrainingConfig.ema_decay={self.ema_decay!r}: must be in [0, 1)")
        if not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"TrainingConfig.workers={self.workers!r}: must be an integer ≥ 0")
        if self.grad_clip < 0 or self.warmup_steps < 0 or self.gan_start_step < 0 or self.init_warmup_steps < 0:
            raise ValueError("TrainingConfig: grad_clip, warmup_steps, init_warmup_steps and gan_start_step must "
                             "be ≥ 0")

        try:
            object.__setattr__(self, "bf16", normalise_mode(self.bf16))
        except ValueError as error:
            raise ValueError(f"TrainingConfig.bf16: {error}") from error
        if not 0 < self.final_lr_fraction <= 1:
            raise ValueError(f"TrainingConfig.final_lr_fraction={self.final_lr_fraction!r}: must be in (0, 1]")
        for name in ("data", "validation"):
            if ":" not in getattr(self, name):
                raise ValueError(f"TrainingConfig.{name}={getattr(self, name)!r}: expected 'synthetic:<modality>', "
                                 "'cache:<dir>' or 'npz:<path>'")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    def learning_rate_at(self, step: int, warmup_steps: int | None = None) -> float:
        """Return the learning rate of a step: linear warm-up, then cosine decay to ``final_lr_fraction``.

        Parameters
        ----------
        step : int
            The step (0-based).
        warmup_steps : int, optional
            Warm-up length (default: the config's ``warmup_steps``; a run started ``--init-from`` passes
            ``init_warmup_steps``).

        Returns
        -------
        float
            ``learning_rate·(step + 1)/warmup`` during the warm-up, then a cosine from ``learning_rate`` to
            ``learning_rate·final_lr_fraction`` at ``steps`` (held there after).
        """
        warmup = self.warmup_steps if warmup_steps is None else warmup_steps
        if step < warmup:
            return self.learning_rate * (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, self.steps - warmup))
        floor = self.final_lr_fraction
        return self.learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    def to_dict(self) -> dict:
        """Return the configuration as a JSON-serialisable dict (nested configs as dicts).

        Returns
        -------
        dict
            Field name -> value; :meth:`from_dict` reads it back.
        """
        values = asdict(self)
        values["losses"] = self.losses.to_dict()
        values["betas"] = list(self.betas)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> TrainingConfig:
        """Build a configuration from a dict (a parsed TOML/JSON file or :meth:`to_dict`'s output).

        Parameters
        ----------
        values : dict
            Field name -> value; ``generator``, ``discriminator`` and ``losses`` as nested dicts. Missing
            fields take their defaults.

        Returns
        -------
        TrainingConfig
            The configuration.

        Raises
        ------
        ValueError
            For an unknown key (top level or nested), a nested value that is not a dict, or a value outside
            its range.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"training config: unknown keys {unknown}; known: {sorted(known)}")
        values = dict(values)
        nested = {"generator": CGRDNConfig.from_dict, "discriminator": lambda v: PatchGANConfig(**v),
                  "losses": lambda v: LossWeights(**v)}
        for name, build in nested.items():
            if name in values:
                if not isinstance(values[name], dict):
                    raise ValueError(f"training config: '{name}' must be a table/object")
                try:
                    values[name] = build(values[name])
                except TypeError as error:
                    raise ValueError(f"training config [{name}]: {error}") from error
        return cls(**values)

    @classmethod
    def read(cls, path: str | Path) -> TrainingConfig:
        """Read a ``.toml`` or ``.json`` config file.

        Parameters
        ----------
        path : str or Path
            The file; its suffix (``.toml`` or ``.json``) selects the parser.

        Returns
        -------
        TrainingConfig
            The configuration.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            If the suffix is neither, the text cannot be parsed, or the content is not a valid configuration.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: training config not found")
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix == ".toml":
                return cls.from_dict(tomllib.loads(text))
            if path.suffix == ".json":
                return cls.from_dict(json.loads(text))
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: cannot parse ({error})") from error
        raise ValueError(f"{path}: config must be .toml or .json")
