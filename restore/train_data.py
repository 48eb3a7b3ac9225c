"""Training data of :func:`restore.train.train`: data specs, in-memory pairs and step-indexed batches.

Data specs (``TrainingConfig.data`` / ``.validation``):

- ``synthetic:<modality>``: the seeded pair stream of :class:`restore.dataset.SyntheticPairDataset`
  (validation: the fixed split of :func:`restore.dataset.validation_set`);
- ``cache:<dir>``: the same pairs pre-generated on disk by ``bench train-cache build``
  (:class:`restore.pair_cache.CachedPairDataset`);
- ``npz:<path>``: arrays ``x``, ``y`` of shape (N, H, W).

Batches are a function of the step alone (:class:`StepBatchSampler`), so a resumed run reads exactly the
pairs the interrupted one would have read.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler

from restore import dataset
from restore.pair_cache import CachedPairDataset
from restore.training_config import TrainingConfig


class ArrayPairDataset(Dataset):
    """In-memory (x, y) pairs from arrays of shape (N, H, W), served as float32 tensors (1, H, W).

    Parameters
    ----------
    x : array_like
        Distorted inputs, (N, H, W), finite; converted to float32.
    y : array_like
        Targets, same shape as ``x``, finite.

    Raises
    ------
    ValueError
        If the shapes differ, are not (N, H, W) with N ≥ 1, or a value is NaN or infinite.
    """

    def __init__(self, x, y):
        x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
        if x.shape != y.shape or x.ndim != 3 or len(x) == 0:
            raise ValueError(f"x {x.shape} and y {y.shape}: need equal non-empty (N, H, W) arrays")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("x, y: contain NaN or inf")
        self.x, self.y = torch.from_numpy(x[:, None]), torch.from_numpy(y[:, None])

    def __len__(self) -> int:
        """Return the number of pairs.

        Returns
        -------
        int
            N.
        """
        return len(self.x)

    def __getitem__(self, index: int):
        """Return pair ``index``.

        Parameters
        ----------
        index : int
            Pair index, in [0, N).

        Returns
        -------
        tuple of torch.Tensor
            ``(x, y)``, each float32 of shape (1, H, W).
        """
        return self.x[index], self.y[index]


def data_kind(spec: str) -> str:
    """Return the kind of a data spec: ``"synthetic"``, ``"cache"`` or ``"npz"``.

    Parameters
    ----------
    spec : str
        A data spec ``kind:value``.

    Returns
    -------
    str
        The part before the first ``:`` (not checked to be a known kind).
    """
    return spec.partition(":")[0]


def resolve_dataset(spec: str, split: str, seed: int, size: int = 256) -> Dataset:
    """Return the dataset of a data spec (see the module docstring).

    Parameters
    ----------
    spec : str
        ``synthetic:<modality>``, ``cache:<dir>`` or ``npz:<path>``.
    split : {"train", "validation"}
        Validation gets a finite, map-style set (a cache serves its whole pairs, in index order).
    seed : int
        Training seed: the stream's seed, and the seed of a cache's random crops.
    size : int
        Side [px] of synthetic pairs and of the crops taken from cached pairs; npz pairs keep their size.

    Returns
    -------
    Dataset
        Training: an :class:`ArrayPairDataset`, an infinite :class:`restore.dataset.SyntheticPairDataset`
        or a :class:`restore.pair_cache.CachedPairDataset`; validation: a finite, map-style set. Items are
        ``(x, y)`` float32 tensors of shape (1, H, W).

    Raises
    ------
    ValueError
        If the kind is unknown or the file/folder is not valid data.
    FileNotFoundError
        If the npz file or the cache folder does not exist.
    """
    kind, _, value = spec.partition(":")
    if kind == "npz":
        with np.load(value, allow_pickle=False) as archive:
            if "x" not in archive or "y" not in archive:
                raise ValueError(f"{value}: npz needs arrays 'x' and 'y', has {list(archive)}")
            return ArrayPairDataset(archive["x"], archive["y"])
    if kind == "synthetic":
        if split == "validation":
            return dataset.validation_set(value, size=size)
        return dataset.SyntheticPairDataset(value, size=size, seed=seed)
    if kind == "cache":
        cache = CachedPairDataset(value, patch_size=size, crop_seed=seed)
        return cache.whole_pairs() if split == "validation" else cache
    raise ValueError(f"data spec {spec!r}: kind {kind!r} unknown; use 'synthetic:<modality>', 'cache:<dir>' or "
                     "'npz:<path>'")


class StepBatchSampler(Sampler):
    """Yields the index batch of each step from ``start_step`` on, as a function of the step alone.

    Finite data sets: ``batch_size`` indices drawn (with replacement) with a generator seeded by (seed,
    step, rank). Infinite indexable streams (``size`` None): fresh consecutive indices
    ``(step·world + rank)·batch_size + j``, so no pair is used twice and a resumed run draws exactly the
    pairs the interrupted one would have.

    Parameters
    ----------
    size : int or None
        Number of items of a finite data set; None for an infinite indexable stream.
    batch_size : int
        Indices per batch.
    seed : int
        Training seed (finite data sets only).
    start_step : int
        First step to yield.
    steps : int
        Total steps of the schedule; the last batch is that of step ``steps − 1``.
    rank : int
        This process's rank (default 0).
    world : int
        Number of processes (default 1).
    """

    def __init__(self, size: int | None, batch_size: int, seed: int, start_step: int, steps: int,
                 rank: int = 0, world: int = 1):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.start_step, self.steps, self.rank, self.world = start_step, steps, rank, world

    def __len__(self) -> int:
        """Return the number of batches still to yield.

        Returns
        -------
        int
            ``max(0, steps − start_step)``.
        """
        return max(0, self.steps - self.start_step)

    def __iter__(self):
        """Iterate over the index batches of steps ``start_step`` … ``steps − 1``.

        Yields
        ------
        list of int
            The ``batch_size`` item indices of one step.
        """
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


def _single_thread_worker(_worker_id: int) -> None:
    torch.set_num_threads(1)  # W workers × all-core intra-op pools would oversubscribe the CPU


def step_batches(dataset, config: TrainingConfig, start_step: int, rank: int, world: int, pin: bool):
    """Return an iterator over the (x, y) batches of steps ``start_step`` … ``config.steps − 1`` of this rank.

    Indexable data sets go through :class:`StepBatchSampler`; a plain stream (no ``__getitem__``) is read in
    order, its first ``start_step`` batches generated and skipped.

    Parameters
    ----------
    dataset : Dataset or IterableDataset
        The training pairs, items ``(x, y)`` of shape (1, H, W).
    config : TrainingConfig
        Its ``batch_size``, ``seed``, ``steps`` and ``workers`` are used.
    start_step : int
        First step (the resumed step, 0 for a new run).
    rank : int
        This process's rank.
    world : int
        Number of processes.
    pin : bool
        Pin the batches' memory (for CUDA).

    Returns
    -------
    iterator of tuple of torch.Tensor
        Batches ``(x, y)``, each of shape (batch_size, 1, H, W).
    """
    workers = dict(num_workers=config.workers, pin_memory=pin)
    if config.workers:
        workers["worker_init_fn"] = _single_thread_worker
    if isinstance(dataset, IterableDataset) and not hasattr(dataset, "__getitem__"):
        iterator = iter(DataLoader(dataset, batch_size=config.batch_size, **workers))
        for _ in range(start_step):  # a plain stream cannot seek: skip what the interrupted run consumed
            next(iterator)
        return iterator
    length = _length(dataset)
    source = dataset if not isinstance(dataset, IterableDataset) else _Indexed(dataset)
    sampler = StepBatchSampler(length, config.batch_size, config.seed, start_step, config.steps, rank, world)
    return iter(DataLoader(source, batch_sampler=sampler, **workers))
