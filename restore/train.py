"""Training of the CGRDN (optionally with the relativistic PatchGAN): ``bench train CONFIG``.

One code path serves the CPU and CUDA: the numeric path (bf16 autocast over float32 master weights, or
float32) is decided by :func:`restore.numerics.numeric_path` from ``config.bf16`` and the hardware and
printed at the start; channels-last, optional ``torch.compile`` (CUDA), DDP under ``torchrun``. Batches are
drawn by a seeded sampler that is a function of the step alone, and every other state (weights, EMA, Adam
moments) is checkpointed, so that ``resume=True`` continues an interrupted run exactly (on the same
numeric path).

Chunks: ``max_minutes`` stops a chunk cleanly after a validation and a checkpoint, and so does SIGTERM or
Ctrl-C (a second one stops at once); ``resume=True`` continues it, and ``init_from`` starts a new run from
trained generator weights with fresh optimisers and a short warm-up. The totals of wall time and CPU/GPU
hours over chunks (:mod:`restore.run_log`) go into every checkpoint and ``val_log.csv``. A run made from
synthetic pairs records the generator's ``SYNTHETIC_RECIPE_VERSION`` and is not resumed with another.

Distributed runs (``torchrun --nproc_per_node N -m bench train …``, or a caller that has initialised a
process group): NCCL on CUDA, gloo on the CPU. Every rank draws its own pairs, DDP averages the gradients,
validation is split over the ranks and averaged, and rank 0 alone logs and writes checkpoints. A resumed
run must use the same number of processes (it determines the pairs and the effective batch). The process
group and the collectives live in :mod:`restore.distributed`.

Run directory layout::

    config.json                     the TrainingConfig
    run.json                        one record per chunk: steps, numeric path and why, hardware, recipe version
    train_log.csv, val_log.csv      one row per logged / validated step (val: + CPU-hours, chunk, bf16)
    checkpoints/step_00001000/      generator, ema, discriminator (.safetensors + .json), training_state.pt
    checkpoints/latest.json         the newest complete checkpoint (written last, atomically)
    model.safetensors (+ .json)     the EMA generator at the end, ready for ``bench restore --model``
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from restore.checkpoint import (
    atomic_write_json,
    load_state_strict,
    load_tensor_state,
    load_weights,
    save_model,
    save_tensor_state,
)
from restore.dataset import check_recipe_version
from restore.distributed import (
    all_reduce_sum,
    barrier,
    check_resume_world_size,
    check_same_step,
    mean_over_ranks,
    process_device,
    process_group,
    rank_share,
    wrap_data_parallel,
)
from restore.losses import generator_loss, relativistic_discriminator_loss, relativistic_generator_loss
from restore.models import CGRDN, CGRDNConfig, PatchGAN
from restore.numerics import NumericPath, hardware_description, numeric_path
from restore.run_log import TRAIN_FIELDS, VAL_FIELDS, ChunkClock, append_csv, new_lineage, record_chunk, truncate_csv
from restore.train_data import ArrayPairDataset, StepBatchSampler, data_kind, resolve_dataset, step_batches
from restore.training_config import TrainingConfig
from simulate.synthetic import SYNTHETIC_RECIPE_VERSION

__all__ = ["ArrayPairDataset", "StepBatchSampler", "TrainResult", "resolve_dataset", "train", "validate"]
KEEP_CHECKPOINTS = 3


@dataclass
class TrainResult:
    """Where a run ended.

    Parameters
    ----------
    step : int
        The last step trained.
    run_dir : Path
        The run directory.
    validation : dict
        The last validation metrics (``psnr_db``, ``ssim``, ``l1``; averaged over the ranks); empty when no
        validation ran in this chunk.
    generator : torch.nn.Module, optional
        This process's trained generator (unwrapped).
    ema : torch.nn.Module, optional
        Its exponential moving average (the network that is validated and exported).
    numeric_path : NumericPath, optional
        The numeric path the chunk ran on.
    stopped_by : str
        Why the chunk stopped: ``"steps"``, ``"stop_at"`` or ``"time budget"``.
    lineage : dict
        The totals over all chunks at the last step (:mod:`restore.run_log`).
    """

    step: int
    run_dir: Path
    validation: dict
    generator: torch.nn.Module | None = None
    ema: torch.nn.Module | None = None
    numeric_path: NumericPath | None = None
    stopped_by: str = "steps"
    lineage: dict = field(default_factory=dict)


def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    decay = min(decay, (1 + step) / (10 + step))  # short memory at the start, when weights move fast
    with torch.no_grad():
        for average, current in zip(ema.parameters(), model.parameters()):
            average.lerp_(current.detach(), 1 - decay)


def validate(model: torch.nn.Module, dataset: Dataset, config: TrainingConfig, device, rank: int = 0,
             world: int = 1) -> dict:
    """Mean PSNR (dB), SSIM and L1 over the first ``val_batches·batch_size`` pairs (data range max(y) − min(y)).

    Always float32 (no autocast), whatever the training's numeric path, so that curves of chunks run on
    different machines compare. With ``world`` > 1 (an initialised process group) rank r scores pairs
    r, r + world, … and the sums are all-reduced, so every rank returns the mean over all the pairs.

    Parameters
    ----------
    model : torch.nn.Module
        The network to score (put in eval mode).
    dataset : Dataset
        Map-style validation pairs ``(x, y)``, each of shape (1, H, W).
    config : TrainingConfig
        Its ``val_batches``, ``batch_size`` and ``channels_last`` are used.
    device : str or torch.device
        Where the network runs.
    rank : int
        This process's rank (default 0).
    world : int
        Number of processes (default 1).

    Returns
    -------
    dict
        ``psnr_db`` [dB], ``ssim`` and ``l1`` (in the units of y), means over the scored pairs.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    mine = rank_share(min(len(dataset), config.val_batches * config.batch_size), rank, world)
    sums = np.zeros(4)  # psnr, ssim, l1, count
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(mine), config.batch_size):
            pairs = [dataset[i] for i in mine[first:first + config.batch_size]]
            x = torch.stack([p[0] for p in pairs]).to(device).contiguous(memory_format=_memory_format(config))
            prediction = model(x).float().cpu().numpy()[:, 0].astype(np.float64)
            for (_, y), p in zip(pairs, prediction):
                target = y.numpy()[0].astype(np.float64)
                data_range = float(target.max() - target.min()) or 1.0
                sums += (peak_signal_noise_ratio(target, p, data_range=data_range),
                         structural_similarity(target, p, data_range=data_range), np.abs(target - p).mean(), 1)
    if world > 1:
        sums = all_reduce_sum(sums, device)
    return {"psnr_db": float(sums[0] / sums[3]), "ssim": float(sums[1] / sums[3]), "l1": float(sums[2] / sums[3])}


def _memory_format(config: TrainingConfig) -> torch.memory_format:
    return torch.channels_last if config.channels_last else torch.contiguous_format


def _recipe_version(config: TrainingConfig) -> int | None:
    """The synthetic recipe version a run depends on (None for npz data only)."""
    if {data_kind(config.data), data_kind(config.validation)} & {"synthetic", "cache"}:
        return SYNTHETIC_RECIPE_VERSION
    return None


def _clip(parameters, limit: float) -> None:
    if limit > 0:
        torch.nn.utils.clip_grad_norm_(parameters, limit)


class TrainingRun:
    """Networks, optimisers, their (de)serialisation and the optimiser step of one training run.

    The networks are initialised from ``config.seed`` without touching the global torch RNG; the EMA starts
    as a copy of the generator.

    Parameters
    ----------
    config : TrainingConfig
        The run's configuration (network sizes, optimiser, losses, schedule).
    device : torch.device
        Where the networks live.
    """

    def __init__(self, config: TrainingConfig, device: torch.device):
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.generator = CGRDN(config.generator).to(device)
            self.discriminator = PatchGAN(config.discriminator).to(device)
        self.generator.to(memory_format=_memory_format(config))
        self.discriminator.to(memory_format=_memory_format(config))
        self.ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.learning_rate, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.learning_rate, betas=config.betas)
        self.lineage = new_lineage(warmup_steps=config.warmup_steps)

    def save(self, run_dir: Path, step: int, world: int = 1, lineage: dict | None = None) -> None:
        """Write a checkpoint ``run_dir/checkpoints/step_NNNNNNNN`` and point ``latest.json`` at it.

        The folder is written under a temporary name and renamed, ``latest.json`` last; only the newest
        ``KEEP_CHECKPOINTS`` checkpoints are kept.

        Parameters
        ----------
        run_dir : Path
            The run directory.
        step : int
            The step the checkpoint stores.
        world : int
            Number of processes of the run (default 1), recorded for :meth:`load`.
        lineage : dict, optional
            The lineage to store (default: the run's lineage at its start).
        """
        checkpoints = run_dir / "checkpoints"
        final = checkpoints / f"step_{step:08d}"
        scratch = checkpoints / f".tmp-step_{step:08d}"
        shutil.rmtree(scratch, ignore_errors=True)
        meta = {"step": step, "training_config": self.config.to_dict(), "lineage": lineage or self.lineage,
                "synthetic_recipe_version": _recipe_version(self.config)}
        save_model(scratch / "generator.safetensors", self.generator, **meta)
        save_model(scratch / "ema.safetensors", self.ema, **meta)
        save_model(scratch / "discriminator.safetensors", self.discriminator, **meta)
        save_tensor_state(scratch / "training_state.pt", {"step": step, "world_size": world,
                                                          "opt_g": self.opt_g.state_dict(),
                                                          "opt_d": self.opt_d.state_dict()})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
        atomic_write_json(checkpoints / "latest.json", {"step": step, "path": final.name, "world_size": world})
        for old in sorted(checkpoints.glob("step_*"))[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)

    def load(self, run_dir: Path, world: int = 1) -> int:
        """Restore networks, optimisers and lineage from the checkpoint named by ``latest.json``.

        Parameters
        ----------
        run_dir : Path
            The run directory.
        world : int
            Number of processes of this resume (default 1); must equal the checkpoint's.

        Returns
        -------
        int
            The step the checkpoint was written at.

        Raises
        ------
        FileNotFoundError
            If the run has no checkpoint, or a file of it is missing.
        ValueError
            If the number of processes, the training config or the synthetic recipe version differs from
            the checkpoint's, or a file is corrupt or does not match the networks.
        """
        latest = run_dir / "checkpoints" / "latest.json"
        if not latest.is_file():
            raise FileNotFoundError(f"{latest}: no checkpoint to resume from; start without --resume (or give "
                                    "--init-from WEIGHTS to start from trained weights)")
        record = json.loads(latest.read_text())
        check_resume_world_size(record, world, latest)
        folder = run_dir / "checkpoints" / record["path"]
        for name, module in (("generator", self.generator), ("ema", self.ema),
                             ("discriminator", self.discriminator)):
            state, sidecar = load_weights(folder / f"{name}.safetensors")
            if TrainingConfig.from_dict(sidecar.get("training_config", {})) != self.config:
                raise ValueError(f"{folder}: checkpoint was written with a different training config; resume "
                                 "with the run's own config.json")
            if _recipe_version(self.config) is not None:
                check_recipe_version(sidecar.get("synthetic_recipe_version"), f"training run {run_dir}",
                                     "Start a new run directory (optionally --init-from its model or a "
                                     "checkpoint's ema.safetensors) instead of --resume.")
            load_state_strict(module, state, str(folder / name))
        self.lineage = sidecar.get("lineage") or new_lineage(warmup_steps=self.config.warmup_steps)
        state = load_tensor_state(folder / "training_state.pt")
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        return int(state["step"])

    def initialise_from(self, weights: Path) -> None:
        """Load the generator and EMA from trained weights (a model or checkpoint ``.safetensors``).

        Optimisers and discriminator stay fresh; the lineage continues the weights' and the warm-up is
        ``config.init_warmup_steps``. A different synthetic recipe version only warns (fine-tuning).

        Parameters
        ----------
        weights : Path
            CGRDN weights with their sidecar.

        Raises
        ------
        ValueError
            If the weights are not a CGRDN, are of another size than ``config.generator``, or are corrupt.
        FileNotFoundError
            If the weights or their sidecar are missing.
        """
        state, sidecar = load_weights(weights)
        if sidecar.get("arch") != CGRDN.arch:
            raise ValueError(f"{weights}: arch {sidecar.get('arch')!r}; --init-from needs CGRDN generator weights")
        if CGRDNConfig.from_dict(sidecar["config"]) != self.config.generator:
            raise ValueError(f"{weights}: a CGRDN with {sidecar['config']}, but the training config's [generator] "
                             f"is {self.config.generator.to_dict()}; make them equal")
        for module in (self.generator, self.ema):
            load_state_strict(module, state, str(weights))
        source_version = sidecar.get("synthetic_recipe_version")
        if _recipe_version(self.config) not in (None, source_version):
            warnings.warn(f"{weights}: trained on synthetic recipe version {source_version or 'unrecorded'}, the "
                          f"run trains on version {_recipe_version(self.config)} (fine-tuning, not a resume)",
                          stacklevel=2)
        record = {"path": str(weights), "sha256": sidecar["sha256"], "step": sidecar.get("step"),
                  "synthetic_recipe_version": source_version}
        self.lineage = new_lineage(sidecar, record, self.config.init_warmup_steps)

    def step(self, nets: tuple, x: torch.Tensor, y: torch.Tensor, step: int, path: NumericPath) -> dict:
        """Take one optimiser step (discriminator first when the GAN is on); return the logged losses.

        Parameters
        ----------
        nets : tuple of torch.nn.Module
            ``(generator, discriminator, critic)``: the (DDP-wrapped, compiled) modules to run; the critic is
            the unwrapped discriminator used for the generator's adversarial term.
        x : torch.Tensor
            Distorted inputs, (B, 1, H, W), on the run's device.
        y : torch.Tensor
            Targets, (B, 1, H, W).
        step : int
            The step being taken (0-based): sets the learning rate, whether the GAN is on and the EMA decay.
        path : NumericPath
            Autocast (bf16) or float32 for the forward passes.

        Returns
        -------
        dict
            ``step`` (``step + 1``), ``lr``, ``loss`` (the weighted total), ``loss_d`` (NaN without the GAN)
            and each unweighted loss term.
        """
        config = self.config
        generator, discriminator, critic = nets
        lr = config.learning_rate_at(step, self.lineage["warmup_steps"])
        for optimiser in (self.opt_g, self.opt_d):
            for group in optimiser.param_groups:
                group["lr"] = lr
        generator.train()
        with path.autocast():
            prediction = generator(x)
        adversarial, loss_d = None, float("nan")
        if config.losses.adversarial > 0 and step >= config.gan_start_step:
            with path.autocast():
                critic_real, critic_fake = discriminator(x, y), discriminator(x, prediction.detach())
            d_loss = relativistic_discriminator_loss(critic_real, critic_fake, config.real_label)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            _clip(self.discriminator.parameters(), config.grad_clip)
            self.opt_d.step()
            loss_d = float(d_loss.detach())
            # The generator's adversarial term needs no discriminator gradients: the unwrapped critic with
            # frozen weights spares DDP a forward that prepares a gradient reduction for nothing.
            self.discriminator.requires_grad_(False)
            with path.autocast():
                adversarial = relativistic_generator_loss(critic(x, y), critic(x, prediction))
        total, parts = generator_loss(prediction, y, config.losses, adversarial)  # float32 inside
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.discriminator.requires_grad_(True)
        _clip(self.generator.parameters(), config.grad_clip)
        self.opt_g.step()
        _update_ema(self.ema, self.generator, config.ema_decay, step)
        return {"step": step + 1, "lr": lr, "loss": float(total.detach()), "loss_d": loss_d, **parts}


class _StopRequest:
    """Turn SIGTERM and SIGINT into a request to stop after the current step (with validation and checkpoint).

    A second signal restores the previous handlers and raises :class:`KeyboardInterrupt` at once. Signals
    can only be caught in the main thread; elsewhere nothing is installed and ``signal_name`` stays None.
    """

    SIGNALS = ("SIGTERM", "SIGINT")

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.signal_name is not None:
            self._restore()
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopped without a checkpoint")
        self.signal_name = signal.Signals(signum).name

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name)
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()


def train(config: TrainingConfig, run_dir: str | Path, *, resume: bool = False, device=None,
          train_data: Dataset | None = None, val_data: Dataset | None = None, stop_at: int | None = None,
          progress: bool = True, init_from: str | Path | None = None,
          max_minutes: float | None = None) -> TrainResult:
    """Train a CGRDN (+ PatchGAN after ``gan_start_step``) and write checkpoints, logs and the final model.

    Under ``torchrun`` (or inside a process group the caller initialised) each process is one DDP rank;
    call this function on every rank with the same arguments.

    Parameters
    ----------
    config : TrainingConfig
    run_dir : str or Path
        Output directory (created). Without ``resume`` it must not hold a checkpoint already.
    resume : bool
        Continue from ``run_dir/checkpoints/latest.json``; the config, the number of processes and the
        synthetic recipe version must equal the stored ones. With ``init_from`` and no checkpoint in
        ``run_dir``, start from ``init_from`` instead.
    device : str or torch.device, optional
        Default: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU; ``"cuda"`` means ``cuda:LOCAL_RANK``.
    train_data, val_data : Dataset, optional
        Override the datasets named by ``config.data`` / ``config.validation``; items are (x, y) float32
        tensors of shape (1, H, W) with even H, W. Under DDP, a stream without ``__getitem__`` must shard
        itself by rank (as :class:`restore.dataset.SyntheticPairDataset` does).
    stop_at : int, optional
        Stop (with a checkpoint) after this step, as if interrupted; the schedule still follows ``steps``.
    progress : bool
        Show a tqdm progress bar (rank 0 only; rank 0 always prints the numeric path and hardware).
    init_from : str or Path, optional
        CGRDN weights (``.safetensors`` with sidecar, e.g. a registered model or a run's ``model``) to start
        a new run from: generator and EMA from them, fresh Adam moments and discriminator, warm-up
        ``config.init_warmup_steps``. Ignored when resuming from a checkpoint.
    max_minutes : float, optional
        Time budget of this chunk [min]: after the first step that ends past it, validate, write a
        checkpoint and stop (``stopped_by="time budget"``); continue later with ``resume=True``. SIGTERM or
        Ctrl-C stops the same way after the current step (``stopped_by="signal SIGTERM"``, …); a second
        signal stops at once, keeping the last regular checkpoint.

    Returns
    -------
    TrainResult
        The last step, the final validation metrics, the trained networks and why the chunk stopped.

    Raises
    ------
    ValueError
        If ``run_dir`` already holds a checkpoint without ``resume``, the checkpoint was written with
        another config, number of processes or synthetic recipe version, or ``init_from`` holds another
        architecture or size.
    KeyboardInterrupt
        On a second SIGTERM or Ctrl-C while the first one's step finishes.
    """
    if max_minutes is not None and not max_minutes > 0:
        raise ValueError(f"max_minutes={max_minutes!r}: must be > 0")
    device = process_device(device)
    with process_group(device) as (rank, world), _StopRequest() as stop:
        return _train(config, Path(run_dir), resume, device, rank, world, train_data, val_data, stop_at,
                      progress, None if init_from is None else Path(init_from), max_minutes, stop)


def _train(config: TrainingConfig, run_dir: Path, resume: bool, device: torch.device, rank: int, world: int,
           train_data, val_data, stop_at: int | None, progress: bool, init_from: Path | None,
           max_minutes: float | None, stop: _StopRequest) -> TrainResult:
    has_checkpoint = (run_dir / "checkpoints" / "latest.json").exists()
    if not resume and has_checkpoint:
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
    run = TrainingRun(config, device)
    resuming = resume and (has_checkpoint or init_from is None)
    step = run.load(run_dir, world) if resuming else 0
    if not resuming and init_from is not None:
        run.initialise_from(init_from)
    if world > 1:  # every rank has read the same checkpoint before rank 0 may write or prune one
        check_same_step(step, device, world)
    path = numeric_path(config.bf16, device)
    clock = ChunkClock(run.lineage, device, world)
    chunk = {"chunk": clock.lineage["chunk"], "start_step": step, "end_step": step, "stopped_by": None,
             "numeric_path": path.to_dict(), "hardware": hardware_description(device), "world_size": world,
             "synthetic_recipe_version": _recipe_version(config), "init_from": run.lineage.get("init_from"),
             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if rank == 0:
        atomic_write_json(run_dir / "config.json", config.to_dict())
        for name in ("train_log.csv", "val_log.csv"):
            (truncate_csv(run_dir / name, step) if resuming else (run_dir / name).unlink(missing_ok=True))
        record_chunk(run_dir, chunk)
        source = (f"; resuming {run_dir} (--init-from {init_from} not used)" if resuming and init_from
                  else f"; weights from {init_from}" if init_from else "")
        print(f"{path.describe()}\nhardware: {chunk['hardware']}; chunk {chunk['chunk']} from step {step}{source}",
              flush=True)
    generator, discriminator, critic = run.generator, run.discriminator, run.discriminator
    if world > 1:
        generator, discriminator = wrap_data_parallel(generator, device), wrap_data_parallel(discriminator, device)
    if config.compile and device.type == "cuda":
        generator, discriminator = torch.compile(generator), torch.compile(discriminator)
        critic = torch.compile(critic)
    memory = _memory_format(config)
    last_stop = min(config.steps, stop_at if stop_at is not None else config.steps)
    metrics: dict = {}
    stopped_by = "steps" if last_stop == config.steps else "stop_at"
    bar = tqdm(total=config.steps, initial=step, disable=not progress or rank != 0, desc="train", unit="step")
    batches = step_batches(train_data, config, step, rank, world, device.type == "cuda")
    while step < last_stop:
        x, y = (t.to(device, non_blocking=True).contiguous(memory_format=memory) for t in next(batches))
        row = run.step((generator, discriminator, critic), x, y, step, path)
        step += 1
        bar.update(1)
        out_of_time = max_minutes is not None and clock.elapsed_s() >= 60 * max_minutes and step < last_stop
        signalled = stop.signal_name is not None and step < last_stop
        if world > 1:  # every rank stops at the same step, whichever rank was told
            out_of_time, signalled = (bool(v > 0) for v in all_reduce_sum(
                np.array([float(out_of_time), float(signalled)]), device))
        halt = out_of_time or signalled
        if step % config.log_every == 0 or step == last_stop or halt:
            if world > 1:  # log the loss of the whole (all-rank) batch
                row.update(mean_over_ranks({k: v for k, v in row.items() if k not in ("step", "lr")}, device,
                                           world))
            if rank == 0:
                append_csv(run_dir / "train_log.csv", TRAIN_FIELDS, {**row, "seconds": clock.elapsed_s()})
                bar.set_postfix(loss=f"{row['loss']:.4g}")
        if step % config.val_every == 0 or step == config.steps or halt:
            metrics = validate(run.ema, val_data, config, device, rank, world)
            if rank == 0:
                lineage = clock.lineage_at(step)
                append_csv(run_dir / "val_log.csv", VAL_FIELDS,
                           {"step": step, **metrics, "total_steps": lineage["steps"],
                            **{k: lineage[k] for k in ("wall_s", "cpu_hours", "gpu_hours", "chunk")},
                            "bf16": int(path.bf16)})
        if rank == 0 and (step % config.checkpoint_every == 0 or step == last_stop or halt):
            run.save(run_dir, step, world, clock.lineage_at(step))
            # a run killed later (SIGTERM, a session's limit) still says how far this chunk got
            record_chunk(run_dir, {**chunk, "end_step": step, "wall_s": clock.elapsed_s()})
        if halt:
            stopped_by = "time budget" if out_of_time else f"signal {stop.signal_name or 'on another rank'}"
            break
    bar.close()
    lineage = clock.lineage_at(step)
    if rank == 0:
        record_chunk(run_dir, {**chunk, "end_step": step, "stopped_by": stopped_by, "wall_s": clock.elapsed_s()})
        if step == config.steps:
            save_model(run_dir / "model.safetensors", run.ema, step=step, data=config.data,
                       training_config=config.to_dict(), validation=metrics, world_size=world, lineage=lineage,
                       synthetic_recipe_version=_recipe_version(config), numeric_path=path.to_dict())
    if world > 1:  # nobody returns (or resumes) before rank 0's checkpoint and model are on disk
        barrier(device)
    return TrainResult(step=step, run_dir=run_dir, validation=metrics, generator=run.generator, ema=run.ema,
                       numeric_path=path, stopped_by=stopped_by, lineage=lineage)
