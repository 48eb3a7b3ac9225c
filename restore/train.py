"""Training of the CGRDN (optionally with the relativistic PatchGAN): ``bench train CONFIG``.

One code path serves a GPU run (bf16 autocast, channels-last, optional ``torch.compile``, DDP under
``torchrun``) and the tiny CPU configuration of the tests. Batches are drawn by a seeded sampler that is a
function of the step alone, and every other state (weights, EMA, Adam moments) is checkpointed, so that
``resume=True`` continues an interrupted run exactly.

Distributed runs (``torchrun --nproc_per_node N -m bench train …``, or a caller that has initialised a
process group): NCCL on CUDA, gloo on the CPU. Every rank draws its own pairs, DDP averages the gradients,
validation is split over the ranks and averaged, and rank 0 alone logs and writes checkpoints. A resumed
run must use the same number of processes (it determines the pairs and the effective batch). The process
group and the collectives live in :mod:`restore.distributed`.

Run directory layout::

    config.json                     the TrainingConfig
    train_log.csv, val_log.csv      one row per logged / validated step
    checkpoints/step_00001000/      generator, ema, discriminator (.safetensors + .json), training_state.pt
    checkpoints/latest.json         the newest complete checkpoint (written last, atomically)
    model.safetensors (+ .json)     the EMA generator at the end, ready for ``bench restore --model``
"""
from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler

from restore.checkpoint import (atomic_write_json, load_state_strict, load_tensor_state, load_weights,
                                save_model, save_tensor_state)
from restore.distributed import (all_reduce_sum, barrier, check_resume_world_size, check_same_step,
                                 mean_over_ranks, process_device, process_group, rank_share, wrap_data_parallel)
from restore.losses import generator_loss, relativistic_discriminator_loss, relativistic_generator_loss
from restore.models import CGRDN, PatchGAN
from restore.training_config import TrainingConfig

KEEP_CHECKPOINTS = 3
TRAIN_FIELDS = ["step", "lr", "loss", "loss_d", "l1", "l2", "mlwt", "fourier", "mean", "std", "adversarial",
                "seconds"]
VAL_FIELDS = ["step", "psnr_db", "ssim", "l1"]


class ArrayPairDataset(Dataset):
    """In-memory (x, y) pairs from arrays of shape (N, H, W), served as float32 tensors (1, H, W)."""

    def __init__(self, x, y):
        x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
        if x.shape != y.shape or x.ndim != 3 or len(x) == 0:
            raise ValueError(f"x {x.shape} and y {y.shape}: need equal non-empty (N, H, W) arrays")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("x, y: contain NaN or inf")
        self.x, self.y = torch.from_numpy(x[:, None]), torch.from_numpy(y[:, None])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int):
        return self.x[index], self.y[index]


def resolve_dataset(spec: str, split: str, seed: int, size: int = 256) -> Dataset:
    """Dataset for a spec: ``npz:<path>`` (arrays x, y) or ``synthetic:<modality>`` (:mod:`restore.dataset`).

    ``size`` is the side in pixels of synthetic pairs; npz pairs keep their own size.
    """
    kind, _, value = spec.partition(":")
    if kind == "npz":
        with np.load(value, allow_pickle=False) as archive:
            if "x" not in archive or "y" not in archive:
                raise ValueError(f"{value}: npz needs arrays 'x' and 'y', has {list(archive)}")
            return ArrayPairDataset(archive["x"], archive["y"])
    if kind == "synthetic":
        from restore import dataset  # written by the synthetic-pairs task; imported only when used

        if split == "validation":
            return dataset.validation_set(value, size=size)
        return dataset.SyntheticPairDataset(value, size=size, seed=seed)
    raise ValueError(f"data spec {spec!r}: kind {kind!r} unknown; use 'synthetic:<modality>' or 'npz:<path>'")


class StepBatchSampler(Sampler):
    """Yields the index batch of each step from ``start_step`` on, as a function of the step alone.

    Finite data sets: ``batch_size`` indices drawn with a generator seeded by (seed, step, rank). Infinite
    indexable streams (``length`` None): fresh consecutive indices ``((step·world + rank)·batch_size + j``,
    so no pair is used twice and a resumed run draws exactly the pairs the interrupted one would have.
    """

    def __init__(self, size: int | None, batch_size: int, seed: int, start_step: int, steps: int,
                 rank: int = 0, world: int = 1):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.start_step, self.steps, self.rank, self.world = start_step, steps, rank, world

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step)

    def __iter__(self):
        for step in range(self.start_step, self.steps):
            if self.size is None:
                first = (step * self.world + self.rank) * self.batch_size
                yield list(range(first, first + self.batch_size))
            else:
                generator = torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 131 + self.rank)
                yield torch.randint(self.size, (self.batch_size,), generator=generator).tolist()


class _Indexed(Dataset):
    """Map-style view of an indexable stream (an IterableDataset that also has ``__getitem__``)."""

    def __init__(self, stream):
        self.stream = stream

    def __getitem__(self, index: int):
        return self.stream[index]


def _length(dataset) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


def _batches(dataset, config: TrainingConfig, start_step: int, rank: int, world: int, pin: bool):
    workers = dict(num_workers=config.workers, pin_memory=pin)
    if isinstance(dataset, IterableDataset) and not hasattr(dataset, "__getitem__"):
        iterator = iter(DataLoader(dataset, batch_size=config.batch_size, **workers))
        for _ in range(start_step):  # a plain stream cannot seek: skip what the interrupted run consumed
            next(iterator)
        return iterator
    length = _length(dataset)
    source = dataset if not isinstance(dataset, IterableDataset) else _Indexed(dataset)
    sampler = StepBatchSampler(length, config.batch_size, config.seed, start_step, config.steps, rank, world)
    return iter(DataLoader(source, batch_sampler=sampler, **workers))


@dataclass
class TrainResult:
    """Where a run ended: the last step, the run directory, the final validation metrics (averaged over
    the ranks) and this process's trained networks (the generator and its EMA, unwrapped)."""

    step: int
    run_dir: Path
    validation: dict
    generator: torch.nn.Module | None = None
    ema: torch.nn.Module | None = None


def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    decay = min(decay, (1 + step) / (10 + step))  # short memory at the start, when weights move fast
    with torch.no_grad():
        for average, current in zip(ema.parameters(), model.parameters()):
            average.lerp_(current.detach(), 1 - decay)


def validate(model: torch.nn.Module, dataset: Dataset, config: TrainingConfig, device, rank: int = 0,
             world: int = 1) -> dict:
    """Mean PSNR (dB), SSIM and L1 over the first ``val_batches·batch_size`` pairs (data range max(y) − min(y)).

    With ``world`` > 1 (an initialised process group) rank r scores pairs r, r + world, … and the sums are
    all-reduced, so every rank returns the mean over all the pairs.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    mine = rank_share(min(len(dataset), config.val_batches * config.batch_size), rank, world)
    sums = np.zeros(4)  # psnr, ssim, l1, count
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(mine), config.batch_size):
            pairs = [dataset[i] for i in mine[first:first + config.batch_size]]
            x = torch.stack([p[0] for p in pairs]).to(device)
            prediction = model(x).float().cpu().numpy()[:, 0].astype(np.float64)
            for (_, y), p in zip(pairs, prediction):
                target = y.numpy()[0].astype(np.float64)
                data_range = float(target.max() - target.min()) or 1.0
                sums += (peak_signal_noise_ratio(target, p, data_range=data_range),
                         structural_similarity(target, p, data_range=data_range), np.abs(target - p).mean(), 1)
    if world > 1:
        sums = all_reduce_sum(sums, device)
    return {"psnr_db": float(sums[0] / sums[3]), "ssim": float(sums[1] / sums[3]), "l1": float(sums[2] / sums[3])}


def _append_csv(path: Path, fields: list[str], row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.7g}" if isinstance(v, float) else v) for k, v in row.items()})


def _truncate_csv(path: Path, last_step: int) -> None:
    """Drop rows written after the checkpoint we resume from, so that the log has no duplicates."""
    if path.exists():
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
            fields = list(rows[0]) if rows else None
        if fields:
            with open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                writer.writerows(r for r in rows if int(r["step"]) <= last_step)


class _Run:
    """Networks, optimisers and their (de)serialisation for one training run."""

    def __init__(self, config: TrainingConfig, device: torch.device):
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.generator = CGRDN(config.generator).to(device)
            self.discriminator = PatchGAN(config.discriminator).to(device)
        if device.type == "cuda" and config.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.learning_rate, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.learning_rate, betas=config.betas)

    def save(self, run_dir: Path, step: int, world: int = 1) -> None:
        checkpoints = run_dir / "checkpoints"
        final = checkpoints / f"step_{step:08d}"
        scratch = checkpoints / f".tmp-step_{step:08d}"
        shutil.rmtree(scratch, ignore_errors=True)
        meta = {"step": step, "training_config": self.config.to_dict()}
        save_model(scratch / "generator.safetensors", self.generator, "cgrdn", **meta)
        save_model(scratch / "ema.safetensors", self.ema, "cgrdn", **meta)
        save_model(scratch / "discriminator.safetensors", self.discriminator, "patchgan", **meta)
        save_tensor_state(scratch / "training_state.pt", {"step": step, "world_size": world,
                                                          "opt_g": self.opt_g.state_dict(),
                                                          "opt_d": self.opt_d.state_dict()})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
        atomic_write_json(checkpoints / "latest.json", {"step": step, "path": final.name, "world_size": world})
        for old in sorted(checkpoints.glob("step_*"))[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)

    def load(self, run_dir: Path, world: int = 1) -> int:
        latest = run_dir / "checkpoints" / "latest.json"
        if not latest.is_file():
            raise FileNotFoundError(f"{latest}: no checkpoint to resume from; start without --resume")
        record = json.loads(latest.read_text())
        check_resume_world_size(record, world, latest)
        folder = run_dir / "checkpoints" / record["path"]
        for name, module in (("generator", self.generator), ("ema", self.ema),
                             ("discriminator", self.discriminator)):
            state, sidecar = load_weights(folder / f"{name}.safetensors")
            if sidecar.get("training_config") != self.config.to_dict():
                raise ValueError(f"{folder}: checkpoint was written with a different training config; resume "
                                 "with the run's own config.json")
            load_state_strict(module, state, str(folder / name))
        state = load_tensor_state(folder / "training_state.pt")
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        return int(state["step"])


def _clip(parameters, limit: float) -> None:
    if limit > 0:
        torch.nn.utils.clip_grad_norm_(parameters, limit)


def train(config: TrainingConfig, run_dir: str | Path, *, resume: bool = False, device=None,
          train_data: Dataset | None = None, val_data: Dataset | None = None, stop_at: int | None = None,
          progress: bool = True) -> TrainResult:
    """Train a CGRDN (+ PatchGAN after ``gan_start_step``) and write checkpoints, logs and the final model.

    Under ``torchrun`` (or inside a process group the caller initialised) each process is one DDP rank;
    call this function on every rank with the same arguments.

    Parameters
    ----------
    config : TrainingConfig
    run_dir : str or Path
        Output directory (created). With ``resume=False`` it must not hold a checkpoint already.
    resume : bool
        Continue from ``run_dir/checkpoints/latest.json``; the config and the number of processes must equal
        the stored ones.
    device : str or torch.device, optional
        Default: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU; ``"cuda"`` means ``cuda:LOCAL_RANK``.
    train_data, val_data : Dataset, optional
        Override the datasets named by ``config.data`` / ``config.validation``; items are (x, y) float32
        tensors of shape (1, H, W) with even H, W. Under DDP, a stream without ``__getitem__`` must shard
        itself by rank (as :class:`restore.dataset.SyntheticPairDataset` does).
    stop_at : int, optional
        Stop (with a checkpoint) after this step, as if interrupted; the schedule still follows ``steps``.
    progress : bool
        Show a tqdm progress bar (rank 0 only).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If ``run_dir`` already holds a checkpoint without ``resume``, or the checkpoint was written with
        another config or number of processes.
    """
    device = process_device(device)
    with process_group(device) as (rank, world):
        return _train(config, Path(run_dir), resume, device, rank, world, train_data, val_data, stop_at,
                      progress)


def _train(config: TrainingConfig, run_dir: Path, resume: bool, device: torch.device, rank: int, world: int,
           train_data, val_data, stop_at: int | None, progress: bool) -> TrainResult:
    from tqdm import tqdm

    if not resume and (run_dir / "checkpoints" / "latest.json").exists():
        raise ValueError(f"run_dir={str(run_dir)!r} already holds a checkpoint; pass resume=True (--resume) "
                         "or choose a new directory")
    if world > 1:  # no rank may look at run_dir after rank 0 has started writing into it
        barrier(device)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
    if train_data is None:
        train_data = resolve_dataset(config.data, "train", config.seed, config.patch_size)
    if val_data is None:
        val_data = resolve_dataset(config.validation, "validation", config.seed, config.patch_size)
    run = _Run(config, device)
    step = run.load(run_dir, world) if resume else 0
    if world > 1:  # every rank has read the same checkpoint before rank 0 may write or prune one
        check_same_step(step, device, world)
    if rank == 0:
        atomic_write_json(run_dir / "config.json", config.to_dict())
        for name in ("train_log.csv", "val_log.csv"):
            (_truncate_csv(run_dir / name, step) if resume else (run_dir / name).unlink(missing_ok=True))
    generator, discriminator, critic = run.generator, run.discriminator, run.discriminator
    if world > 1:
        generator, discriminator = wrap_data_parallel(generator, device), wrap_data_parallel(discriminator, device)
    if config.compile and device.type == "cuda":
        generator, discriminator = torch.compile(generator), torch.compile(discriminator)
        critic = torch.compile(critic)
    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=config.bf16 and device.type == "cuda")
    memory = torch.channels_last if device.type == "cuda" and config.channels_last else torch.contiguous_format
    last_stop = min(config.steps, stop_at if stop_at is not None else config.steps)
    metrics: dict = {}
    bar = tqdm(total=config.steps, initial=step, disable=not progress or rank != 0, desc="train", unit="step")
    started = time.perf_counter()
    batches = _batches(train_data, config, step, rank, world, device.type == "cuda")
    while step < last_stop:
        x, y = (t.to(device, non_blocking=True).contiguous(memory_format=memory) for t in next(batches))
        lr = config.learning_rate_at(step)
        for optimiser in (run.opt_g, run.opt_d):
            for group in optimiser.param_groups:
                group["lr"] = lr
        generator.train()
        with torch.autocast(**autocast):
            prediction = generator(x)
        adversarial, loss_d = None, float("nan")
        if config.losses.adversarial > 0 and step >= config.gan_start_step:
            with torch.autocast(**autocast):
                critic_real, critic_fake = discriminator(x, y), discriminator(x, prediction.detach())
            d_loss = relativistic_discriminator_loss(critic_real, critic_fake, config.real_label)
            run.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            _clip(run.discriminator.parameters(), config.grad_clip)
            run.opt_d.step()
            loss_d = float(d_loss.detach())
            # The generator's adversarial term needs no discriminator gradients: the unwrapped critic with
            # frozen weights spares DDP a forward that prepares a gradient reduction for nothing.
            run.discriminator.requires_grad_(False)
            with torch.autocast(**autocast):
                adversarial = relativistic_generator_loss(critic(x, y), critic(x, prediction))
        total, parts = generator_loss(prediction, y, config.losses, adversarial)
        run.opt_g.zero_grad(set_to_none=True)
        total.backward()
        run.discriminator.requires_grad_(True)
        _clip(run.generator.parameters(), config.grad_clip)
        run.opt_g.step()
        _update_ema(run.ema, run.generator, config.ema_decay, step)
        step += 1
        bar.update(1)
        row = {"step": step, "lr": lr, "loss": float(total.detach()), "loss_d": loss_d, **parts}
        if step % config.log_every == 0 or step == last_stop:
            if world > 1:  # log the loss of the whole (all-rank) batch
                row.update(mean_over_ranks({k: v for k, v in row.items() if k not in ("step", "lr")}, device,
                                           world))
            if rank == 0:
                _append_csv(run_dir / "train_log.csv", TRAIN_FIELDS,
                            {**row, "seconds": time.perf_counter() - started})
                bar.set_postfix(loss=f"{row['loss']:.4g}")
        if step % config.val_every == 0 or step == config.steps:
            metrics = validate(run.ema, val_data, config, device, rank, world)
            if rank == 0:
                _append_csv(run_dir / "val_log.csv", VAL_FIELDS, {"step": step, **metrics})
        if rank == 0 and (step % config.checkpoint_every == 0 or step == last_stop):
            run.save(run_dir, step, world)
    bar.close()
    if rank == 0 and step == config.steps:
        save_model(run_dir / "model.safetensors", run.ema, "cgrdn", step=step, data=config.data,
                   training_config=config.to_dict(), validation=metrics, world_size=world)
    if world > 1:  # nobody returns (or resumes) before rank 0's checkpoint and model are on disk
        barrier(device)
    return TrainResult(step=step, run_dir=run_dir, validation=metrics, generator=run.generator, ema=run.ema)
