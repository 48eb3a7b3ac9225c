"""Training and applying the self-supervised denoisers: blind-spot (N2V2, structN2V) and noisy-target pairs
(Noise2Noise, the reverse-hourglass CNN trained on high-dose frames).

No trainer here is ever given a noise-free image: the blind-spot trainer sees only the noisy stack it will
restore, and the pair trainer only what its ``draw`` function hands it (two noisy frames of one field, or a
synthesised low-dose input and the noisy high-dose frame it came from). The studies say what each saw.

Written here, not taken from a library (docs/self_supervised.md says what was checked): CAREamics 0.3.5
(N2V, N2V2, structN2V) requires ``torchvision <= 0.26.0``, and torchvision 0.26.0 requires ``torch == 2.11.0``,
so it cannot be installed beside the suite's torch 2.13; DeepInverse 0.5.0 has no blind-spot loss (its
self-supervised losses are measurement splitting, Neighbor2Neighbor, R2R, SURE and equivariant imaging) and
imports torchvision, which the suite does not otherwise need.

Every image is normalised by its own mean and standard deviation before it enters a network (a pair's target
by its input's), and mapped back afterwards; training draws square patches with random flips along both axes
(no rotations: they would turn the fast-scan axis), Adam with a cosine-decaying learning rate, and a mean
squared error. Random steps take the ``seed``; the network's initial weights come from a torch generator of
the same seed, so that a run is reproducible on the CPU.

Weights start from torch's default (Kaiming uniform, ``a = √5``) but biases at zero: torch's random biases
dominate those small weights, so that some networks started with every ReLU of a layer off and their output
constant. Even so, a training can end on the constant prediction (the mean; normalised loss ≈ 1): seen with
random biases in the quick precision-vs-dose run at 5·10⁴ e⁻/Å² (20 atoms, both blind-spot methods). Such a
network is refused (:func:`check_collapse`) rather than handed to a fit, which reads a flat image as
perfectly precise columns at their start positions; :mod:`bench.methods.self_supervised` then retrains from
the next seed of a fixed sequence. (He initialisation with zero biases made collapses more frequent at these
learning rates.) An image without structure is rightly restored as a constant and so refused too.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from restore.blind_spot import mask_positions, masked_inputs
from restore.models.blind_spot_unet import BlindSpotUNet, BlindSpotUNetConfig
from restore.models.hourglass import HourglassConfig, ReverseHourglass
from restore.self_supervised_budget import SelfSupervisedBudget

NETWORKS = ("unet", "hourglass")
__all__ = ["COLLAPSE_RATIO", "NETWORKS", "SelfSupervisedBudget", "TrainedDenoiser", "build_network", "check_collapse",
           "check_stack", "normalise", "train_blind_spot", "train_on_pairs"]


def check_stack(images: Any, budget: SelfSupervisedBudget, *, what: str = "images", minimum: int = 1) -> np.ndarray:
    """``images`` as a float64 (B, H, W) stack a network can learn from, or a ValueError that says why not.

    Parameters
    ----------
    images : array_like
        (B, H, W) or (H, W) noisy images.
    budget : SelfSupervisedBudget
        Its ``patch_px`` is the smallest side a stack may have.
    what : str
        What the images are, for the messages.
    minimum : int
        Fewest images (2 for Noise2Noise pairs).

    Returns
    -------
    ndarray
        The (B, H, W) float64 stack.

    Raises
    ------
    ValueError
        For NaN or infinite pixels, a constant image, sides under the patch size or too few images.
    """
    array = np.asarray(images, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[0] < 1:
        raise ValueError(f"{what} must be a (B, H, W) stack, got shape {np.shape(images)}")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(f"{what} contain {bad} NaN or infinite pixels: a denoiser cannot be trained on them; "
                         "replace or crop them first")
    if array.shape[0] < minimum:
        raise ValueError(f"{what}: {array.shape[0]} image(s) is too small a stack to train on; this method needs at "
                         f"least {minimum}")
    if min(array.shape[1:]) < budget.patch_px:
        raise ValueError(f"{what} of {array.shape[1]} × {array.shape[2]} px are too small to train on: the training "
                         f"patches are {budget.patch_px} px (budget.patch_px); give larger images or a smaller patch")
    spread = array.std(axis=(1, 2))
    if np.any(spread == 0):
        index = int(np.argmin(spread))
        raise ValueError(f"{what}: image {index} is constant (every pixel {array[index, 0, 0]:g}); there is no signal "
                         "or noise to learn a denoiser from")
    return array


def normalise(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise each image to zero mean and unit standard deviation: (x − mean) / std.

    Parameters
    ----------
    images : ndarray
        (B, H, W) stack; no image may be constant (its std would be 0).

    Returns
    -------
    normalised : ndarray
        (B, H, W) normalised stack.
    shift : ndarray
        Per-image means, (B, 1, 1).
    scale : ndarray
        Per-image population standard deviations, (B, 1, 1).

    Raises
    ------
    ValueError
        If an image is constant: there is nothing to denoise.
    """
    shift = images.mean(axis=(1, 2), keepdims=True)
    scale = images.std(axis=(1, 2), keepdims=True)
    if np.any(scale == 0):
        raise ValueError("an image to restore is constant: there is nothing to denoise")
    return (images - shift) / scale, shift, scale


def build_network(network: str, budget: SelfSupervisedBudget, seed: int) -> nn.Module:
    """Build a freshly initialised network (``unet`` or ``hourglass``), its weights drawn from ``seed``.

    The global torch RNG is left untouched; convolution weights are Kaiming uniform (``a = √5``), biases zero.

    Parameters
    ----------
    network : str
        ``"unet"`` (:class:`restore.models.BlindSpotUNet`) or ``"hourglass"``
        (:class:`restore.models.ReverseHourglass`).
    budget : SelfSupervisedBudget
        Its ``features`` (and, for the U-Net, ``depth``) size the network.
    seed : int
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Module
        The network, on the CPU.

    Raises
    ------
    ValueError
        For an unknown network name.
    """
    if network not in NETWORKS:
        raise ValueError(f"network={network!r} must be one of {NETWORKS}")
    with torch.random.fork_rng(devices=[]):  # construction draws default weights: keep the global RNG untouched
        if network == "unet":
            model = BlindSpotUNet(BlindSpotUNetConfig(features=budget.features, depth=budget.depth))
        else:
            model = ReverseHourglass(HourglassConfig(features=budget.features))
    generator = torch.Generator().manual_seed(int(seed))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5.0), generator=generator)
            nn.init.zeros_(module.bias)  # torch's random biases dominate the small weights: ReLUs start dead
    return model


COLLAPSE_RATIO = 1e-3  # spread (of the output, or of its change) / input spread: below it, a collapse


def check_collapse(restored: np.ndarray, images: np.ndarray, record: dict) -> None:
    """Refuse the output of a network that collapsed to (nearly) one value for every pixel, or to its input.

    Parameters
    ----------
    restored : ndarray
        (B, H, W) output of the network.
    images : ndarray
        (B, H, W) images it restored.
    record : dict
        The network's training record (its kind, seed and final loss go into the message).

    Raises
    ------
    RuntimeError
        If any restored image's standard deviation, or that of its change from the input, is below
        :data:`COLLAPSE_RATIO` times its input's.
    """
    spread = images.std(axis=(1, 2))
    ratio = restored.std(axis=(1, 2)) / spread
    change = (restored - images).std(axis=(1, 2)) / spread
    what = None
    if np.any(ratio < COLLAPSE_RATIO):
        what = f"collapsed to a constant output (spread {float(ratio.min()):.1e} of the input's"
    elif np.any(change < COLLAPSE_RATIO):  # a residual network whose branch died returns its input
        what = f"collapsed to the identity (change {float(change.min()):.1e} of the input's spread"
    if what:
        raise RuntimeError(f"{record.get('kind', 'the')} network (seed {record.get('seed')}) {what}, final loss "
                           f"{record.get('final_loss', float('nan')):.3g}): its images cannot be scored; train "
                           "with more steps, a smaller learning_rate or another seed")


@dataclass
class TrainedDenoiser:
    """A trained network and how it was trained; :meth:`restore` applies it to images of the same kind.

    Parameters
    ----------
    model : torch.nn.Module
        The trained network, (B, 1, H, W) → (B, 1, H, W) on normalised images.
    record : dict
        How it was trained: kind, network, architecture and config, budget, seed, final loss, training
        time [s] and what it was trained on.
    """

    model: nn.Module
    record: dict

    def restore(self, images: np.ndarray, *, device: str | None = None, chunk: int = 4) -> np.ndarray:
        """Denoise (B, H, W) images (each normalised by its own statistics, padded as the network needs).

        Parameters
        ----------
        images : ndarray
            (B, H, W) noisy images, finite, none constant.
        device : str, optional
            Torch device to run on (default CPU); the model is moved there.
        chunk : int
            Images per forward pass (default 4).

        Returns
        -------
        ndarray
            (B, H, W) float64 restored images, in the intensity units of ``images``.

        Raises
        ------
        ValueError
            For a stack that is not 3-D, NaN or infinite pixels, or a constant image.
        RuntimeError
            If the network collapsed to a constant output (:func:`check_collapse`).
        """
        stack = np.asarray(images, dtype=np.float64)
        if stack.ndim != 3 or not np.all(np.isfinite(stack)):
            raise ValueError("images to restore must be a finite (B, H, W) stack")
        normalised, shift, scale = normalise(stack)
        multiple = int(getattr(self.model, "multiple", 1))
        height, width = stack.shape[1:]
        pad = (-height % multiple, -width % multiple)
        padded = np.pad(normalised, ((0, 0), (0, pad[0]), (0, pad[1])), mode="reflect")
        model = self.model.to(device or "cpu").eval()
        out = np.empty_like(normalised)
        with torch.no_grad():
            for first in range(0, stack.shape[0], chunk):
                batch = torch.as_tensor(padded[first:first + chunk, None], dtype=torch.float32, device=device or "cpu")
                out[first:first + chunk] = model(batch)[:, 0, :height, :width].double().cpu().numpy()
        restored = out * scale + shift
        check_collapse(restored, stack, self.record)
        return restored


def _crop(stacks: tuple[np.ndarray, ...], patch: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The same random patch (and random flips) of each image of aligned stacks, one patch per image."""
    count, height, width = stacks[0].shape
    rows = rng.integers(0, height - patch + 1, size=count)
    cols = rng.integers(0, width - patch + 1, size=count)
    flips = rng.integers(0, 2, size=(count, 2)).astype(bool)
    out = []
    for stack in stacks:
        patches = np.stack([stack[i, r:r + patch, c:c + patch] for i, (r, c) in enumerate(zip(rows, cols))])
        patches[flips[:, 0]] = patches[flips[:, 0], ::-1, :]
        patches[flips[:, 1]] = patches[flips[:, 1], :, ::-1]
        out.append(patches)
    return tuple(out)


def _optimise(model: nn.Module, budget: SelfSupervisedBudget, batches: Callable[[], tuple], device: str) -> list[float]:
    """Adam on ``batches() -> (inputs, targets, weights)`` (numpy (B, P, P)) for ``budget.steps`` steps."""
    model.to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=budget.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=budget.steps)
    losses = []
    for _ in range(budget.steps):
        inputs, targets, weights = (torch.as_tensor(a[:, None], dtype=torch.float32, device=device)
                                    for a in batches())
        loss = (weights * (model(inputs) - targets) ** 2).sum() / weights.sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    return losses


def _record(kind: str, network: str, model: nn.Module, budget: SelfSupervisedBudget, seed: int, losses: list[float],
            seconds: float, images_seen: str) -> dict:
    tail = losses[-max(1, len(losses) // 10):]
    return {"kind": kind, "network": network, "arch": type(model).arch, "config": model.config.to_dict(),
            "parameters": int(sum(p.numel() for p in model.parameters())), "budget": budget.to_config(),
            "seed": int(seed), "final_loss": float(np.mean(tail)), "training_s": round(seconds, 3),
            "trained_on": images_seen}


def train_blind_spot(images: Any, budget: SelfSupervisedBudget, *, line_px: int = 1, seed: int,
                     device: str | None = None) -> TrainedDenoiser:
    """Train the N2V2 U-Net with blind-spot masking on the noisy images it will restore.

    Parameters
    ----------
    images : array_like
        (B, H, W) noisy images, the only data the network sees.
    budget : SelfSupervisedBudget
        Steps, batch, patch and network size.
    line_px : int
        1 for N2V2; the length of structN2V's masked segment along axis −1 [px] otherwise.
    seed : int
        Seed of the weights, patches and masks.
    device : str, optional
        Torch device (default CPU).

    Returns
    -------
    TrainedDenoiser

    Raises
    ------
    ValueError
        For a stack that cannot be trained on (:func:`check_stack`).
    """
    stack = check_stack(images, budget)
    normalised, _, _ = normalise(stack)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    model = build_network("unet", budget, seed)
    patch = budget.patch_px

    def batches():
        """Draw one masked training batch.

        Returns
        -------
        inputs : ndarray
            (batch, P, P) patches with the masked pixels replaced.
        targets : ndarray
            (batch, P, P) the unmasked patches.
        weights : ndarray
            (batch, P, P) 1 at the masked pixels, 0 elsewhere (the loss sees only those).
        """
        chosen = normalised[rng.integers(0, normalised.shape[0], size=budget.batch_size)]
        (targets,) = _crop((chosen,), patch, rng)
        positions = mask_positions(budget.batch_size, patch_px=patch, rng=rng)
        weights = np.zeros_like(targets)
        weights[positions] = 1.0
        return masked_inputs(targets, positions, line_px=line_px), targets, weights

    clock = time.perf_counter()
    losses = _optimise(model, budget, batches, device or "cpu")
    kind = "n2v2" if line_px == 1 else "structn2v"
    return TrainedDenoiser(model, _record(kind, "unet", model, budget, seed, losses, time.perf_counter() - clock,
                                          f"the {stack.shape[0]} noisy images it restores"))


def train_on_pairs(draw: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]],
                   budget: SelfSupervisedBudget, *, network: str, seed: int, kind: str, trained_on: str,
                   device: str | None = None) -> TrainedDenoiser:
    """Train a network to map noisy inputs to independent noisy targets (Noise2Noise, the hourglass).

    Parameters
    ----------
    draw : callable
        ``draw(rng, n) -> (inputs, targets)``: n aligned pairs of whole (H, W) noisy images, e.g. two frames
        of one field, or a synthesised low-dose image and its high-dose frame. Every pair is checked
        (:func:`check_stack`) before training.
    budget : SelfSupervisedBudget
    network : str
        'unet' or 'hourglass'.
    seed : int
        Seed of the weights, the draws and the patches.
    kind : str
        The method's name, for the record.
    trained_on : str
        What the pairs are, for the record.
    device : str, optional

    Returns
    -------
    TrainedDenoiser

    Raises
    ------
    ValueError
        If a drawn pair cannot be trained on, or inputs and targets differ in shape.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    model = build_network(network, budget, seed)
    patch = budget.patch_px

    def batches():
        """Draw, check and normalise one batch of pairs and crop one patch of each.

        Returns
        -------
        inputs : ndarray
            (batch, P, P) normalised input patches.
        targets : ndarray
            (batch, P, P) target patches, normalised by their input's mean and std.
        weights : ndarray
            (batch, P, P) ones (every pixel counts).

        Raises
        ------
        ValueError
            If a drawn pair cannot be trained on, or inputs and targets differ in shape.
        """
        inputs, targets = draw(rng, budget.batch_size)
        inputs = check_stack(inputs, budget, what=f"{kind} training inputs")
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != inputs.shape or not np.all(np.isfinite(targets)):
            raise ValueError(f"{kind} training targets must be finite and of the inputs' shape {inputs.shape}")
        normalised, shift, scale = normalise(inputs)
        crops = _crop((normalised, (targets - shift) / scale), patch, rng)
        return crops[0], crops[1], np.ones_like(crops[0])

    clock = time.perf_counter()
    losses = _optimise(model, budget, batches, device or "cpu")
    return TrainedDenoiser(model, _record(kind, network, model, budget, seed, losses, time.perf_counter() - clock,
                                          trained_on))
