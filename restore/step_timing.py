"""Time of one training step on this machine: ``bench train-step``.

Times the trainer's own optimiser step (:meth:`restore.train.TrainingRun.step`: forward, the full loss basket, with
or without the relativistic PatchGAN, backward, gradient clipping, Adam, EMA) for network sizes, patch
sizes, numeric paths and memory formats. The variants of one (size, patch) group are interleaved
(A B C … A B C …) and each is summarised by its median, because on a shared machine the load changes
while the measurement runs: interleaving spreads a busy period over all variants instead of one.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

import torch

from restore.losses import LossWeights
from restore.models import CGRDN, CGRDNConfig, PatchGANConfig
from restore.numerics import NumericPath, numeric_path
from restore.train import TrainingRun
from restore.training_config import TrainingConfig

SIZES = {
    "full": CGRDNConfig.full(),
    "1.45M": CGRDNConfig(features=48, growth=24, dense_layers=6, blocks_per_group=3, groups=3),
    "interim": CGRDNConfig(features=32, growth=16, dense_layers=4, blocks_per_group=2, groups=2),
    "tiny": CGRDNConfig.tiny(),
}
GAN_MIN_PX = 70  # the unpadded PatchGAN's receptive field


@dataclass(frozen=True)
class StepVariant:
    """One timed configuration: network size name, patch side [px], batch, numeric path, layout, GAN.

    Parameters
    ----------
    size : str
        A key of :data:`SIZES` ('full', '1.45M', 'interim', 'tiny').
    patch_px : int
        Side of the square training patches [px]; ≥ ``GAN_MIN_PX`` with the GAN.
    batch : int
        Patches per step.
    dtype : str
        Numeric mode for :func:`restore.numerics.numeric_path`: 'auto', 'bf16' or 'fp32'.
    channels_last : bool
        Channels-last memory format instead of contiguous.
    gan : bool
        Include the relativistic PatchGAN (adversarial weight 0.005) in the step.
    """

    size: str
    patch_px: int
    batch: int
    dtype: str
    channels_last: bool
    gan: bool

    def label(self) -> str:
        """Return a one-line label, e.g. ``tiny 4×64² fp32 contiguous +GAN``.

        Returns
        -------
        str
            Size, batch × patch², numeric mode, memory format and ``+GAN`` when the GAN runs.
        """
        return (f"{self.size} {self.batch}×{self.patch_px}² {self.dtype} "
                f"{'channels-last' if self.channels_last else 'contiguous'}{' +GAN' if self.gan else ''}")


def _config(variant: StepVariant) -> TrainingConfig:
    return TrainingConfig(data="npz:unused", validation="npz:unused", steps=10**6, batch_size=variant.batch,
                          patch_size=max(variant.patch_px, 16), warmup_steps=0, gan_start_step=0,
                          channels_last=variant.channels_last, generator=SIZES[variant.size],
                          discriminator=PatchGANConfig.tiny() if variant.size == "tiny" else PatchGANConfig(),
                          losses=LossWeights(adversarial=0.005 if variant.gan else 0.0))


def _batch(batch: int, patch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image-like pairs: a smooth positive target and a Poisson-noisy input (the values do not change the
    cost of the arithmetic, only realistic magnitudes keep the losses finite)."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.nn.functional.avg_pool2d(torch.rand(batch, 1, patch + 4, patch + 4, generator=generator), 5, 1)
    x = torch.poisson(30 * y, generator=generator) / 30
    return x, y


def time_steps(variants: list[StepVariant], repeats: int = 5, warmup: int = 2, seed: int = 0,
               flags: frozenset[str] | None = None, progress=None) -> list[dict]:
    """Median wall time of one optimiser step for each variant, interleaved within (size, patch) groups.

    Parameters
    ----------
    variants : list of StepVariant
    repeats : int
        Timed steps per variant (≥ 1).
    warmup : int
        Untimed steps per variant first (oneDNN creates its kernels for each shape and type on first use).
    seed : int
        Seed of the weights and the batch.
    flags : frozenset of str, optional
        CPU flags for the numeric-path decision (default: this machine's).
    progress : callable, optional
        Called with a line of text after each group.

    Returns
    -------
    list of dict
        Per variant: its fields, ``label``, ``median_s``, ``min_s``, ``max_s``, ``times_s`` and the
        numeric path's reason.

    Raises
    ------
    ValueError
        If ``repeats`` < 1, ``warmup`` < 0, or a GAN variant's patch is smaller than ``GAN_MIN_PX``.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats={repeats}, warmup={warmup}: need repeats ≥ 1 and warmup ≥ 0")
    groups: dict[tuple, list[StepVariant]] = {}
    for variant in variants:
        if variant.gan and variant.patch_px < GAN_MIN_PX:
            raise ValueError(f"{variant.label()}: the PatchGAN needs patches ≥ {GAN_MIN_PX} px")
        groups.setdefault((variant.size, variant.patch_px, variant.batch), []).append(variant)
    results = []
    for (_, patch, batch), members in groups.items():
        x, y = _batch(batch, patch, seed)
        runs, paths, times = {}, {}, {v: [] for v in members}
        for v in members:
            key = (v.channels_last, v.gan)
            if key not in runs:
                runs[key] = TrainingRun(replace(_config(v), seed=seed), torch.device("cpu"))
            paths[v] = numeric_path(v.dtype, "cpu", flags=flags, warn=False)

        def one(v: StepVariant, step: int, runs=runs, paths=paths, x=x, y=y) -> float:
            run, path = runs[(v.channels_last, v.gan)], paths[v]
            layout = torch.channels_last if v.channels_last else torch.contiguous_format
            xs, ys = x.contiguous(memory_format=layout), y.contiguous(memory_format=layout)
            nets = (run.generator, run.discriminator, run.discriminator)
            started = time.perf_counter()
            run.step(nets, xs, ys, step, path)
            return time.perf_counter() - started

        for v in members:
            for step in range(warmup):
                one(v, step)
        for repeat in range(repeats):
            for v in members:
                times[v].append(one(v, warmup + repeat))
        for v in members:
            results.append({**v.__dict__, "label": v.label(), "median_s": statistics.median(times[v]),
                            "min_s": min(times[v]), "max_s": max(times[v]), "times_s": times[v],
                            "reason": paths[v].reason})
            if progress is not None:
                progress(f"{v.label()}: median {statistics.median(times[v]):.3f} s")
    return results


def parameters(size: str) -> int:
    """Return the parameter count of a named CGRDN size.

    Parameters
    ----------
    size : str
        A key of :data:`SIZES`.

    Returns
    -------
    int
        Number of trainable and non-trainable parameters of the generator.
    """
    return sum(p.numel() for p in CGRDN(SIZES[size]).parameters())


def path_of_this_machine() -> NumericPath:
    """Return the numeric path ``"auto"`` chooses for training on this machine's CPU.

    Returns
    -------
    NumericPath
        bf16 autocast where the CPU multiplies bf16 natively, fp32 otherwise.
    """
    return numeric_path("auto", "cpu", warn=False)
