"""Data-parallel training across processes: the process group, collectives and rank bookkeeping of training.

Under ``torchrun --nproc_per_node N`` (or a caller that has initialised a process group) every process is one
rank: NCCL on CUDA (one GPU per rank, ``cuda:LOCAL_RANK``), gloo on the CPU. :func:`restore.train.train`
uses these helpers to join the group, wrap its networks in DistributedDataParallel, split validation pairs
over the ranks, sum metrics across them and keep a resumed run on the number of processes that wrote it.
With one process (no group, ``WORLD_SIZE`` unset or 1) rank is 0 and world size 1.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch


def process_device(device=None) -> torch.device:
    """The device of this process.

    Parameters
    ----------
    device : str or torch.device, optional
        Default: CUDA when available, else CPU. A CUDA device without an index becomes ``cuda:LOCAL_RANK``
        (one GPU per rank; ``LOCAL_RANK`` defaults to 0).

    Returns
    -------
    torch.device
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def join_process_group(device: torch.device) -> tuple[int, int, bool]:
    """Join the process group of this run, initialising it under torchrun if nobody has.

    Uses a process group the caller initialised; else, when ``WORLD_SIZE`` > 1 (as torchrun sets it),
    initialises one from the environment with NCCL for a CUDA device and gloo for the CPU.

    Parameters
    ----------
    device : torch.device
        This rank's device (see :func:`process_device`).

    Returns
    -------
    rank : int
    world : int
        Number of processes (1 without a group).
    owns_group : bool
        Whether this call initialised the group (and its caller must destroy it).

    Raises
    ------
    ValueError
        If an existing group uses NCCL but ``device`` is not CUDA, or ``WORLD_SIZE`` > 1 on a torch build
        without ``torch.distributed``.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        backend = torch.distributed.get_backend()
        if backend == "nccl" and device.type != "cuda":
            raise ValueError(f"device={str(device)!r}: the process group uses NCCL, which needs CUDA tensors; "
                             "initialise it with 'gloo' to train on the CPU")
        return torch.distributed.get_rank(), torch.distributed.get_world_size(), False
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, False
    if not torch.distributed.is_available():
        raise ValueError(f"WORLD_SIZE={world}: this torch build has no torch.distributed; run one process")
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return torch.distributed.get_rank(), world, True


@contextmanager
def process_group(device: torch.device) -> Iterator[tuple[int, int]]:
    """Context in which this process is a rank of the run's group; a group it initialised is destroyed on exit.

    Parameters
    ----------
    device : torch.device
        This rank's device; a CUDA device becomes the current one (NCCL and DDP expect each rank on its own).

    Yields
    ------
    rank, world : int
        This process's rank and the number of processes (0 and 1 without a group).

    Raises
    ------
    ValueError
        As :func:`join_process_group`.
    """
    if device.type == "cuda":
        torch.cuda.set_device(device)
    rank, world, owns_group = join_process_group(device)
    try:
        yield rank, world
    finally:
        if owns_group:
            torch.distributed.destroy_process_group()


def barrier(device: torch.device) -> None:
    """Wait until every rank reaches this call.

    Parameters
    ----------
    device : torch.device
        This rank's device; NCCL needs to know a rank's GPU, or it guesses one (and warns).
    """
    torch.distributed.barrier(device_ids=[device.index] if device.type == "cuda" else None)


def all_reduce_sum(values: np.ndarray, device: torch.device) -> np.ndarray:
    """Sum of a vector over the ranks, in float64.

    Parameters
    ----------
    values : array_like
        This rank's 1-D vector (the same length on every rank).
    device : torch.device
        Where the reduction runs (NCCL reduces CUDA tensors only).

    Returns
    -------
    numpy.ndarray
        float64 sum over all ranks, the same on every rank.
    """
    tensor = torch.as_tensor(np.asarray(values, np.float64), device=device)
    torch.distributed.all_reduce(tensor)
    return tensor.cpu().numpy()


def mean_over_ranks(values: dict, device: torch.device, world: int) -> dict:
    """Mean of each scalar in ``values`` over the ranks (every rank passes the same keys in the same order).

    Parameters
    ----------
    values : dict
        Name → this rank's number.
    device : torch.device
        Where the reduction runs (see :func:`all_reduce_sum`).
    world : int
        Number of processes.

    Returns
    -------
    dict
        Name → float mean over all ranks.
    """
    names = list(values)
    sums = all_reduce_sum(np.array([values[k] for k in names]), device)
    return dict(zip(names, (float(v) / world for v in sums)))


def rank_share(count: int, rank: int, world: int) -> list[int]:
    """Indices of the items ``0 … count − 1`` this rank handles: ``rank, rank + world, …``.

    Parameters
    ----------
    count : int
        Number of items shared among the ranks.
    rank, world : int
        This process's rank and the number of processes.

    Returns
    -------
    list of int
    """
    return list(range(rank, count, world))


def wrap_data_parallel(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` wrapped in DistributedDataParallel, which averages its gradients over the ranks.

    Parameters
    ----------
    module : torch.nn.Module
        The network, already on ``device``.
    device : torch.device
        This rank's device (its GPU index is given to DDP on CUDA).

    Returns
    -------
    torch.nn.parallel.DistributedDataParallel
    """
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def check_same_step(step: int, device: torch.device, world: int) -> None:
    """Check that every rank resumed from the same step (a collective: call it on every rank).

    Parameters
    ----------
    step : int
        The step this rank resumed from.
    device : torch.device
        Where the reduction runs.
    world : int
        Number of processes.

    Raises
    ------
    RuntimeError
        If the ranks hold different steps.
    """
    steps = all_reduce_sum(np.array([step, step ** 2]), device)
    if steps[0] ** 2 != world * steps[1]:  # Cauchy–Schwarz: equal iff all ranks hold the same step
        raise RuntimeError(f"ranks resumed from different steps (this rank: {step}); rerun the resume")


def check_resume_world_size(record: dict, world: int, source: Path) -> None:
    """Check that a resume runs on as many processes as wrote the checkpoint.

    The number of processes decides which pairs each step draws and the effective batch size, so a run
    continues exactly only with the same number.

    Parameters
    ----------
    record : dict
        The checkpoint record (``latest.json``); without ``world_size`` it was written by one process.
    world : int
        Number of processes of this resume.
    source : Path
        The record's file, named in the error.

    Raises
    ------
    ValueError
        If the numbers differ.
    """
    written_by = int(record.get("world_size", 1))  # checkpoints from before DDP support: one process
    if written_by != world:
        raise ValueError(f"{source}: the run was trained by {written_by} processes, this resume has {world}; "
                         f"resume with the same number (torchrun --nproc_per_node {written_by}): it decides "
                         "which pairs each step draws and the effective batch size")
