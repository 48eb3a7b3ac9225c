"""Synthetic training pairs for the trainer: a seeded stream and a fixed validation set on disk.

Pair ``i`` of a data set is a pure function of (seed, modality, i): its generator is
``numpy.random.default_rng(SeedSequence([seed, modality_key, i]))``, so any pair can be regenerated
from its index, on any worker, in any order. Items are ``(x, y)`` float32 tensors of shape (1, H, W).

- Streaming (``length=None``): an infinite ``IterableDataset``; data-loader worker ``w`` of ``W`` (and
  distributed rank ``r`` of ``R``) yields the indices ``k·(W·R) + r·W + w``, so no two workers or ranks
  ever produce the same pair.
- Map-style (``length=n``): ``dataset[i]`` for i < n, e.g. for a sampler or a fixed validation split.

The validation set is written once (``write_validation_set``), atomically, as an ``.npz`` holding x, y
and a JSON header with the seed, the modality recipe, the size, the generator's
``SYNTHETIC_RECIPE_VERSION`` and every pair's record. A set (or a pair cache, or a training run) made
with another recipe version is refused (:func:`check_recipe_version`): its pairs are not what the
generator now makes.
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from _shared.files import write_arrays_atomic
from _shared.legacy_names import rename_legacy_keys
from simulate.synthetic import SYNTHETIC_RECIPE_VERSION, make_pair
from simulate.synthetic.modalities import get_modality

VALIDATION_SEED = 2_024_033_017  # distinct from training seeds, which are small integers by convention
FORMAT_VERSION = 1
# What a data set, cache or run made before the generator recorded its recipe version was made with.
UNRECORDED_RECIPE_VERSION = 1


def check_recipe_version(found, source: str, rebuild: str) -> None:
    """Refuse data (or a run) made with another synthetic recipe version than the generator's.

    Parameters
    ----------
    found : int or None
        The version recorded by ``source``; None (not recorded) means :data:`UNRECORDED_RECIPE_VERSION`.
    source : str
        What is checked, for the message (a path and what it is).
    rebuild : str
        The command (or action) that makes a current one.

    Raises
    ------
    ValueError
        If ``found`` differs from ``simulate.synthetic.SYNTHETIC_RECIPE_VERSION``; the message names both
        versions and ``rebuild``.
    """
    version = UNRECORDED_RECIPE_VERSION if found is None else int(found)
    if version != SYNTHETIC_RECIPE_VERSION:
        recorded = "" if found is not None else " (not recorded: made before versions were recorded)"
        raise ValueError(f"{source} was made with synthetic recipe version {version}{recorded}, but the pair "
                         f"generator is now version {SYNTHETIC_RECIPE_VERSION}: its pairs are not what the "
                         f"generator makes any more and are never reused silently. {rebuild}")


def pair_generator(seed: int, modality: str, index: int) -> np.random.Generator:
    """Return the random generator of pair ``index``: an independent stream for every (seed, modality, index).

    Parameters
    ----------
    seed : int
        Data-set seed, ≥ 0.
    modality : str
        Modality name ('hrstem', 'lrstem', 'hrtem' or 'lrtem'; case, '-' and '_' ignored).
    index : int
        Pair index, ≥ 0.

    Returns
    -------
    numpy.random.Generator
        Seeded with ``SeedSequence([seed, crc32(modality name), index])``.

    Raises
    ------
    ValueError
        If ``modality`` is not a known preset.
    """
    key = zlib.crc32(get_modality(modality).name.encode())
    return np.random.default_rng(np.random.SeedSequence([int(seed), key, int(index)]))


class SyntheticPairDataset(IterableDataset):
    """Seeded synthetic (x, y) pairs, streamed or indexed.

    Parameters
    ----------
    modality : str
        'hrstem', 'lrstem', 'hrtem' or 'lrtem'.
    size : int
        Image side [px], ≥ 16.
    seed : int
        Data-set seed, ≥ 0.
    length : int, optional
        Number of pairs for map-style access and a finite stream; infinite stream when omitted.
    device : str, optional
        Device for rendering and distortions (CPU by default; keep CPU inside data-loader workers).
    cache : bool
        Keep generated items in memory (useful for a small validation split).

    Raises
    ------
    ValueError
        If an argument is outside its valid range.
    """

    def __init__(self, modality: str = "hrstem", size: int = 256, seed: int = 0, length: int | None = None,
                 device: str | None = None, cache: bool = False):
        super().__init__()
        self.modality = get_modality(modality).name
        if not isinstance(size, (int, np.integer)) or size < 16:
            raise ValueError(f"size={size!r} px must be an integer ≥ 16")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative integer")
        if length is not None and (not isinstance(length, (int, np.integer)) or length < 1):
            raise ValueError(f"length={length!r} must be a positive integer or None (infinite stream)")
        self.size, self.seed, self.length = int(size), int(seed), None if length is None else int(length)
        self.device = device
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        """Return the number of pairs (map-style use).

        Returns
        -------
        int
            ``length``.

        Raises
        ------
        TypeError
            For an infinite stream (``length`` None).
        """
        if self.length is None:
            raise TypeError("an infinite SyntheticPairDataset has no length; give length=n for map-style use")
        return self.length

    def pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Generate pair ``index`` with its record (not cached).

        Parameters
        ----------
        index : int
            Pair index, in [0, ``length``) for a finite set, ≥ 0 otherwise.

        Returns
        -------
        x : torch.Tensor
            Distorted image, shape (size, size), float32, on ``device``.
        y : torch.Tensor
            Undistorted target, shape (size, size), float32, on ``device``.
        record : dict
            The pair's JSON-serialisable record (see :func:`simulate.synthetic.make_pair`).

        Raises
        ------
        IndexError
            If ``index`` is outside the data set.
        """
        if index < 0 or (self.length is not None and index >= self.length):
            raise IndexError(f"index={index} is outside [0, {self.length})")
        return make_pair(pair_generator(self.seed, self.modality, index), self.modality, self.size, self.device)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return pair ``index`` as CPU tensors with a channel axis (from the cache when enabled).

        Parameters
        ----------
        index : int
            Pair index (see :meth:`pair`).

        Returns
        -------
        x : torch.Tensor
            Distorted image, shape (1, size, size), float32, on the CPU.
        y : torch.Tensor
            Undistorted target, shape (1, size, size), float32, on the CPU.
        """
        index = int(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        x, y, _ = self.pair(index)
        item = (x[None].cpu(), y[None].cpu())
        if self._cache is not None:
            self._cache[index] = item
        return item

    def _shard(self) -> tuple[int, int]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rank, ranks = 0, 1
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, ranks = torch.distributed.get_rank(), torch.distributed.get_world_size()
        return rank * workers + worker, workers * ranks

    def __iter__(self):
        """Iterate over this worker's and rank's share of the pairs (see the module docstring).

        Yields
        ------
        tuple of torch.Tensor
            ``(x, y)`` as from :meth:`__getitem__`; endless when ``length`` is None.
        """
        if get_worker_info() is not None:
            torch.set_num_threads(1)  # W workers × all-core intra-op pools would oversubscribe the CPU
        offset, stride = self._shard()
        index = offset
        while self.length is None or index < self.length:
            yield self[index]
            index += stride


def _recipe(modality: str, n: int, seed: int, size: int) -> dict:
    return {"format_version": FORMAT_VERSION, "generator": "simulate.synthetic.make_pair",
            "synthetic_recipe_version": SYNTHETIC_RECIPE_VERSION,
            "modality": get_modality(modality).to_dict(), "n": int(n), "seed": int(seed), "size": int(size)}


def _rebuild_validation(path, recipe: dict) -> str:
    return (f"Delete {path} and write it again: python -c \"from restore.dataset import write_validation_set; "
            f"write_validation_set('{path}', '{recipe['modality']['name']}', n={recipe['n']}, "
            f"seed={recipe['seed']}, size={recipe['size']})\"")


def write_validation_set(path: str | os.PathLike, modality: str = "hrstem", n: int = 512,
                         seed: int = VALIDATION_SEED, size: int = 256, workers: int = 0) -> Path:
    """Generate ``n`` pairs once and write them atomically to ``path`` (.npz).

    If ``path`` already holds a set with the same recipe it is kept and returned; a different recipe at
    the same path raises, so a validation set never changes silently.

    Parameters
    ----------
    path : path-like
        Output file (``.npz``); its folder is created.
    modality : str
        Modality.
    n : int
        Number of pairs, ≥ 1.
    seed : int
        Data-set seed, ≥ 0.
    size : int
        Image side [px].
    workers : int
        Data-loader worker processes for the generation (0: in this process).

    Returns
    -------
    Path
        The written (or already present) file.

    Raises
    ------
    ValueError
        If an argument is invalid or ``path`` holds a set with another recipe.
    """
    path = Path(path)
    dataset = SyntheticPairDataset(modality, size=size, seed=seed, length=n)
    recipe = _recipe(dataset.modality, n, seed, size)
    if path.exists():
        existing = load_validation_set(path).metadata["recipe"]  # refuses another recipe version
        if existing != recipe:
            raise ValueError(f"{path} holds a validation set with recipe {existing}, not {recipe}; "
                             "delete it or choose another path")
        return path
    loader = torch.utils.data.DataLoader(_IndexedRecords(dataset), batch_size=None, num_workers=workers)
    xs, ys, records = np.empty((n, size, size), np.float32), np.empty((n, size, size), np.float32), []
    for index, (x, y, record) in enumerate(loader):
        xs[index], ys[index] = x.numpy(), y.numpy()
        records.append(json.loads(record))
    header = json.dumps({"recipe": recipe, "records": records})
    write_arrays_atomic(path, {"x": xs, "y": ys, "metadata": np.frombuffer(header.encode(), dtype=np.uint8)},
                        compressed=True)
    return path


class _IndexedRecords(torch.utils.data.Dataset):
    def __init__(self, dataset: SyntheticPairDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        x, y, record = self.dataset.pair(index)
        # as JSON text: the data loader would turn numpy scalars of the record (float subclasses) into tensors
        return x.cpu(), y.cpu(), json.dumps(record)


@dataclass(frozen=True)
class ValidationSet(Dataset):
    """A validation set loaded from disk: x, y of shape (n, 1, H, W) and the header."""

    x: torch.Tensor
    y: torch.Tensor
    metadata: dict

    def __len__(self) -> int:
        """Return the number of pairs.

        Returns
        -------
        int
            ``len(x)``.
        """
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return pair ``index``.

        Parameters
        ----------
        index : int
            Pair index.

        Returns
        -------
        tuple of torch.Tensor
            ``(x, y)``, each of shape (1, H, W).
        """
        return self.x[index], self.y[index]


def load_validation_set(path: str | os.PathLike) -> ValidationSet:
    """Read a set written by :func:`write_validation_set`.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.

    Returns
    -------
    ValidationSet
        x, y of shape (n, 1, H, W), float32, and the JSON header (``recipe``, ``records``) as ``metadata``
        (names of the unit-suffix convention: :mod:`_shared.legacy_names`).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a validation set of this format, or was made with another synthetic recipe
        version.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no validation set; create it with write_validation_set()")
    with np.load(path, allow_pickle=False) as archive:
        if not {"x", "y", "metadata"} <= set(archive.files):
            raise ValueError(f"{path}: not a validation set (needs arrays x, y, metadata; has {archive.files})")
        metadata = rename_legacy_keys(json.loads(archive["metadata"].tobytes().decode()))
        x, y = archive["x"], archive["y"]
    if metadata.get("recipe", {}).get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format version {metadata.get('recipe', {}).get('format_version')!r}, "
                         f"expected {FORMAT_VERSION}")
    recipe = metadata["recipe"]
    check_recipe_version(recipe.get("synthetic_recipe_version"), f"{path} (validation set)",
                         _rebuild_validation(path, recipe))
    return ValidationSet(torch.from_numpy(x[:, None]), torch.from_numpy(y[:, None]), metadata)


def validation_set(modality: str, n: int = 64, size: int = 256, path: str | os.PathLike | None = None) -> Dataset:
    """Return the fixed validation split of a modality, as the trainer uses it.

    With ``path`` (or the environment variable ``STEM_VALIDATION_DIR`` holding ``<modality>.npz``) the
    set on disk is loaded; otherwise the same pairs (seed ``VALIDATION_SEED``) are generated on demand
    and kept in memory.

    Parameters
    ----------
    modality : str
        Modality name.
    n : int, default 64
        Number of pairs when generated; a set loaded from disk keeps its own size.
    size : int, default 256
        Image side [px] when generated; a set loaded from disk keeps its own size.
    path : str or path-like, optional
        A set written by :func:`write_validation_set`.

    Returns
    -------
    torch.utils.data.Dataset
        A :class:`ValidationSet` (from disk) or a cached map-style :class:`SyntheticPairDataset`; items are
        ``(x, y)`` of shape (1, H, W).

    Raises
    ------
    ValueError
        If the modality is unknown or a set on disk is invalid.
    FileNotFoundError
        If ``path`` is given and does not exist.
    """
    name = get_modality(modality).name
    if path is None and os.environ.get("STEM_VALIDATION_DIR"):
        candidate = Path(os.environ["STEM_VALIDATION_DIR"]) / f"{name}.npz"
        path = candidate if candidate.exists() else None
    if path is not None:
        return load_validation_set(path)
    return SyntheticPairDataset(name, size=size, seed=VALIDATION_SEED, length=n, cache=True)
