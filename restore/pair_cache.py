"""Pre-generated, seeded training pairs on disk: ``bench train-cache build`` and the ``cache:<dir>`` data spec.

A synthetic 256² pair costs ≈ 40–70 ms of one core, as much as a training step of a small network; a cache
generated once (with every core) lets the training process spend both cores on training. Pair ``i`` of a
cache is exactly pair ``i`` of :class:`restore.dataset.SyntheticPairDataset` with the same modality, size
and seed (same seed derivation, :func:`restore.dataset.pair_generator`), so a cache is a pure speed-up:
a run trained from ``cache:<dir>`` at the cache's size reads the pairs a ``synthetic:<modality>`` run reads,
for as many steps as the cache has pairs (then it starts over: epoch 2 repeats them).

Layout of a cache folder::

    manifest.json         recipe (modality, size, seed, first index, pairs, dtype,
                          SYNTHETIC_RECIPE_VERSION), library versions, per-shard SHA-256
    shard_00000.npy …     float32 (or float16) arrays of shape (pairs, 2, size, size): [:, 0] = x, [:, 1] = y

Every shard and the manifest are written through a temporary file and an atomic rename, and the
manifest lists a shard only once it is complete, so an interrupted build continues with the missing shards.
A cache made with another ``SYNTHETIC_RECIPE_VERSION`` is refused with the command that rebuilds it.

Crops (``patch_size`` < cache size): item ``v`` is a ``patch_size``² window of pair ``v mod N`` at an offset
drawn from a generator seeded by (crop seed, v). A window is a translation of the frame: it keeps the
fast-scan axis, the scan direction and the causal order of the scan distortions, so the pair stays a
physically valid (x, y). No flips, transposes or rotations: they would move the fast-scan axis or reverse
the scan direction, making the distorted image one no scan can produce.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from _shared.files import sha256_bytes, sha256_file
from restore.checkpoint import atomic_write_bytes, atomic_write_json, provenance
from restore.dataset import SyntheticPairDataset, check_recipe_version
from simulate.cache import cache_root
from simulate.synthetic import SYNTHETIC_RECIPE_VERSION
from simulate.synthetic.modalities import get_modality

CACHE_FORMAT = "stem-restore-bench/pair-cache-v1"
MANIFEST = "manifest.json"
DTYPES = ("float32", "float16")


def pair_cache_root() -> Path:
    """Return the folder of named pair caches.

    Returns
    -------
    Path
        ``<bench cache root>/pair-cache`` (root ``$STEM_BENCH_CACHE`` or ``~/.cache/stem-restore-bench``);
        not created here.
    """
    return cache_root() / "pair-cache"


def default_cache_dir(modality: str, size: int, seed: int) -> Path:
    """Return the default folder of a cache (outside the repository).

    Parameters
    ----------
    modality : str
        Modality name.
    size : int
        Pair side [px].
    seed : int
        Data-set seed.

    Returns
    -------
    Path
        ``<pair cache root>/<modality>-<size>px-seed<seed>``.

    Raises
    ------
    ValueError
        If ``modality`` is not a known modality.
    """
    return pair_cache_root() / f"{get_modality(modality).name}-{int(size)}px-seed{int(seed)}"


def resolve_cache_dir(value: str) -> Path:
    """Return the folder of a ``cache:`` spec.

    A bare name (no ``/`` or ``\\``, not ``.`` or ``..``) is a folder of :func:`pair_cache_root`, so configs
    stay portable (``cache:hrstem-256px-seed0``); anything else is a path (``~`` expanded).

    Parameters
    ----------
    value : str
        The spec without its ``cache:`` prefix.

    Returns
    -------
    Path
        The cache folder (not checked to exist).
    """
    if "/" not in value and "\\" not in value and value not in (".", ".."):
        return pair_cache_root() / value
    return Path(value).expanduser()


def spec_of(directory) -> str:
    """Return the shortest ``cache:`` data spec that names ``directory``.

    Parameters
    ----------
    directory : path-like
        A cache folder.

    Returns
    -------
    str
        ``cache:<name>`` for a folder of :func:`pair_cache_root`, else ``cache:<absolute path>``.
    """
    directory = Path(directory).resolve()
    if directory.parent == pair_cache_root().resolve():
        return f"cache:{directory.name}"
    return f"cache:{directory}"


def cache_recipe(modality: str, size: int, seed: int, first_index: int, dtype: str, shard_pairs: int) -> dict:
    """Return what determines the content of a cache (besides its number of pairs).

    Parameters
    ----------
    modality : str
        Modality name.
    size : int
        Pair side [px].
    seed : int
        Data-set seed.
    first_index : int
        Stream index of the first pair.
    dtype : str
        Storage type, ``"float32"`` or ``"float16"`` (not checked here).
    shard_pairs : int
        Pairs per shard file.

    Returns
    -------
    dict
        The recipe as stored in the manifest (modality as a dict, ``size_px``, the synthetic recipe
        version, …).

    Raises
    ------
    ValueError
        If ``modality`` is not a known modality.
    """
    return {"generator": "simulate.synthetic.make_pair",
            "seed_derivation": "restore.dataset.pair_generator(seed, modality, index)",
            "synthetic_recipe_version": SYNTHETIC_RECIPE_VERSION, "modality": get_modality(modality).to_dict(),
            "size_px": int(size), "seed": int(seed), "first_index": int(first_index), "dtype": dtype,
            "shard_pairs": int(shard_pairs)}


def build_command(recipe: dict, pairs: int, directory) -> str:
    """Return the ``bench train-cache build`` command line of a recipe.

    Parameters
    ----------
    recipe : dict
        A recipe of :func:`cache_recipe`.
    pairs : int
        Number of pairs.
    directory : path-like
        Output folder (``-o``).

    Returns
    -------
    str
        The command line.
    """
    return (f"bench train-cache build --modality {recipe['modality']['name']} --size {recipe['size_px']} "
            f"--pairs {pairs} --seed {recipe['seed']} --first-index {recipe['first_index']} "
            f"--dtype {recipe['dtype']} --shard-pairs {recipe['shard_pairs']} -o {directory}")


def _shard_name(k: int) -> str:
    return f"shard_{k:05d}.npy"


class _ShardJobs(Dataset):
    """Data-loader items = shards: a worker generates a shard's pairs and writes the shard atomically."""

    def __init__(self, directory: Path, recipe: dict, jobs: list[tuple[int, int, int]]):
        self.directory, self.recipe, self.jobs = directory, recipe, jobs

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, job: int):
        k, first, count = self.jobs[job]
        size, dtype = self.recipe["size_px"], np.dtype(self.recipe["dtype"])
        source = SyntheticPairDataset(self.recipe["modality"]["name"], size=size, seed=self.recipe["seed"])
        shard = np.empty((count, 2, size, size), dtype)
        for j in range(count):
            x, y = source[first + j]
            shard[j, 0], shard[j, 1] = x[0].numpy(), y[0].numpy()
        buffer = io.BytesIO()
        np.save(buffer, shard, allow_pickle=False)
        data = buffer.getvalue()
        atomic_write_bytes(self.directory / _shard_name(k), data)
        return {"file": _shard_name(k), "first_index": first, "pairs": count,
                "sha256": sha256_bytes(data), "bytes": len(data)}


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # one generating process per core


def read_manifest(directory) -> dict:
    """Read the manifest of a cache folder (format checked, recipe version not).

    Parameters
    ----------
    directory : path-like
        Cache folder.

    Returns
    -------
    dict
        The manifest: ``format``, ``recipe``, ``pairs``, ``complete``, ``versions`` and ``shards``.

    Raises
    ------
    FileNotFoundError
        If the folder has no manifest.
    ValueError
        If the manifest is not of this cache format.
    """
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a pair cache; build one with "
                                f"`bench train-cache build … -o {directory}`")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != CACHE_FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {CACHE_FORMAT!r}")
    return manifest


def build_pair_cache(directory, *, modality: str = "hrstem", size: int = 256, pairs: int, seed: int = 0,
                     first_index: int = 0, dtype: str = "float32", shard_pairs: int = 64, workers: int = 2,
                     progress: bool = True) -> dict:
    """Generate (or complete, or extend) a pair cache.

    Parameters
    ----------
    directory : path-like
        Cache folder (created).
    modality : str
        Modality ('hrstem', 'lrstem', 'hrtem', 'lrtem').
    size : int
        Pair side [px], ≥ 16.
    pairs : int
        Number of pairs, ≥ 1; a cache may be extended to more pairs later, never shrunk.
    seed : int
        Data-set seed, ≥ 0 (the training seed of a ``synthetic:`` run whose pairs it reproduces).
    first_index : int
        Stream index of the first pair, ≥ 0.
    dtype : {"float32", "float16"}
        Storage type; float32 is bit-exact, float16 rounds to 2⁻¹¹ relative (half the disk).
    shard_pairs : int
        Pairs per shard file, ≥ 1.
    workers : int
        Generating processes (0: in this process).
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        The manifest written.

    Raises
    ------
    ValueError
        If an argument is invalid, or the folder holds a cache with another recipe (or more pairs).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r}: use one of {DTYPES}")
    for name, value, low in (("pairs", pairs, 1), ("size", size, 16), ("seed", seed, 0),
                             ("first_index", first_index, 0), ("shard_pairs", shard_pairs, 1), ("workers", workers, 0)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name}={value!r}: must be an integer ≥ {low}")
    if size % 2:
        raise ValueError(f"size={size} px: must be even (the CGRDN halves and doubles the image)")
    directory = Path(directory)
    recipe = cache_recipe(modality, size, seed, first_index, dtype, shard_pairs)
    shards: dict[str, dict] = {}
    if (directory / MANIFEST).exists():
        manifest = read_manifest(directory)
        old = manifest["recipe"]
        check_recipe_version(old.get("synthetic_recipe_version"), f"{directory} (pair cache)",
                             f"Build a new cache in another folder (or delete this one): "
                             f"{build_command(recipe, pairs, directory)}")
        if old != recipe:
            changed = sorted(k for k in set(old) | set(recipe) if old.get(k) != recipe.get(k))
            raise ValueError(f"{directory} holds a pair cache with another recipe (differs in {changed}); "
                             "choose another folder")
        if manifest["pairs"] > pairs:
            raise ValueError(f"{directory} holds {manifest['pairs']} pairs, more than pairs={pairs}; a cache is "
                             "never shrunk: ask for ≥ its size or use another folder")
        shards = manifest["shards"]
    jobs = []
    for k, first in enumerate(range(first_index, first_index + pairs, shard_pairs)):
        count = min(shard_pairs, first_index + pairs - first)
        entry = shards.get(_shard_name(k))
        path = directory / _shard_name(k)
        if entry is None or entry["pairs"] != count or not path.is_file() or path.stat().st_size != entry["bytes"]:
            shards.pop(_shard_name(k), None)
            jobs.append((k, first, count))
    manifest = {"format": CACHE_FORMAT, "recipe": recipe, "pairs": int(pairs), "complete": False,
                "versions": provenance(), "shards": shards}
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_json(directory / MANIFEST, manifest)
    if jobs:
        loader = DataLoader(_ShardJobs(directory, recipe, jobs), batch_size=None, num_workers=workers,
                            worker_init_fn=_worker_init if workers else None)
        done = pairs - sum(count for _, _, count in jobs)
        with tqdm(total=pairs, initial=done, unit="pair", desc="pair cache", disable=not progress) as bar:
            for entry in loader:
                shards[entry["file"]] = entry
                atomic_write_json(directory / MANIFEST, manifest)  # a finished shard survives an interruption
                bar.update(entry["pairs"])
    manifest["shards"] = dict(sorted(shards.items()))
    manifest["complete"] = True
    atomic_write_json(directory / MANIFEST, manifest)
    return manifest


def verify_pair_cache(directory, *, regenerate: int = 0, seed: int = 0) -> dict:
    """Check every shard's SHA-256 and, optionally, regenerate a few random pairs and compare them exactly.

    Parameters
    ----------
    directory : path-like
        Cache folder.
    regenerate : int
        Number of pairs (chosen by a generator seeded with ``seed``) regenerated from the recipe.
    seed : int
        Seed of the choice of pairs to regenerate.

    Returns
    -------
    dict
        ``{"shards": n, "pairs": N, "regenerated": [indices], "max_abs_difference": d}``.

    Raises
    ------
    FileNotFoundError
        If the folder holds no cache or a shard listed in the manifest is missing.
    ValueError
        If a shard is corrupt, the cache is incomplete, the recipe version is not the generator's, or a
        regenerated pair differs (beyond float16 rounding for a float16 cache).
    """

    cache = CachedPairDataset(directory)
    for name, entry in cache.manifest["shards"].items():
        digest = sha256_file(cache.directory / name)
        if digest != entry["sha256"]:
            raise ValueError(f"{cache.directory / name}: SHA-256 {digest} differs from the manifest's "
                             f"{entry['sha256']}; rebuild it (delete the shard and run the build command again)")
    recipe = cache.manifest["recipe"]
    chosen = np.random.default_rng(seed).choice(cache.pairs, min(regenerate, cache.pairs), replace=False)
    source = SyntheticPairDataset(recipe["modality"]["name"], size=recipe["size_px"], seed=recipe["seed"])
    worst = 0.0
    for offset in sorted(int(i) for i in chosen):
        stored = cache.pair(offset)
        fresh = source[recipe["first_index"] + offset]
        fresh = [t.numpy().astype(recipe["dtype"]).astype(np.float32) for t in fresh]
        worst = max(worst, *(float(np.abs(a.numpy() - b).max()) for a, b in zip(stored, fresh)))
    if worst > 0:
        raise ValueError(f"{cache.directory}: regenerated pairs differ from the cache by up to {worst:.3g}; the "
                         "generator changed without a new SYNTHETIC_RECIPE_VERSION, or the cache is corrupt")
    return {"shards": len(cache.manifest["shards"]), "pairs": cache.pairs,
            "regenerated": sorted(int(i) for i in chosen), "max_abs_difference": worst}


class CachedPairDataset(Dataset):
    """The pairs of a cache folder, memory-mapped, served as an endless indexable stream.

    Item ``v`` (any v ≥ 0) is pair ``v mod N``: the whole pair when ``patch_size`` is None or equals the
    cache's size, else a ``patch_size``² window at an offset seeded by (``crop_seed``, v). It has no
    length, so the trainer reads it like the synthetic stream: fresh consecutive indices per step.

    Parameters
    ----------
    directory : path-like
        A complete cache (``bench train-cache build``); a bare name (str without ``/``) is a folder of
        :func:`pair_cache_root`.
    patch_size : int, optional
        Crop side [px], even, ≤ the cache's size.
    crop_seed : int
        Seed of the crop offsets.

    Raises
    ------
    FileNotFoundError
        If the folder holds no cache.
    ValueError
        If the cache is incomplete, was made with another synthetic recipe version, or ``patch_size`` is
        larger than its pairs.
    """

    def __init__(self, directory, patch_size: int | None = None, crop_seed: int = 0):
        self.directory = resolve_cache_dir(directory) if isinstance(directory, str) else Path(directory)
        self.manifest = read_manifest(self.directory)
        recipe = self.manifest["recipe"]
        command = build_command({**recipe, "synthetic_recipe_version": SYNTHETIC_RECIPE_VERSION},
                                self.manifest["pairs"], f"{self.directory}-v{SYNTHETIC_RECIPE_VERSION}")
        check_recipe_version(recipe.get("synthetic_recipe_version"), f"{self.directory} (pair cache)",
                             f"Rebuild it (≈ 65 ms of one core per 256² pair): {command}")
        if not self.manifest.get("complete"):
            raise ValueError(f"{self.directory}: the cache build was interrupted; complete it with "
                             f"{build_command(recipe, self.manifest['pairs'], self.directory)}")
        self.size, self.pairs = int(recipe["size_px"]), int(self.manifest["pairs"])
        self.patch_size = self.size if patch_size is None else int(patch_size)
        if not 0 < self.patch_size <= self.size or self.patch_size % 2:
            raise ValueError(f"patch_size={patch_size!r} px: must be even and ≤ the cache's pair size {self.size}")
        self.crop_seed = int(crop_seed)
        self._shard_pairs = int(recipe["shard_pairs"])
        self._maps: dict[int, np.ndarray] = {}

    def _shard(self, k: int) -> np.ndarray:
        if k not in self._maps:  # opened lazily, so every data-loader worker maps the files itself
            path = self.directory / _shard_name(k)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: shard missing; run the build command again to restore it")
            self._maps[k] = np.load(path, mmap_mode="r", allow_pickle=False)
        return self._maps[k]

    def pair(self, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return pair ``offset`` of the cache (stream index ``first_index + offset``), uncropped.

        Parameters
        ----------
        offset : int
            Position in the cache, in [0, N).

        Returns
        -------
        x : torch.Tensor
            Distorted image, float32, (1, size, size).
        y : torch.Tensor
            Target, float32, (1, size, size).

        Raises
        ------
        IndexError
            If ``offset`` is outside [0, N).
        FileNotFoundError
            If the shard holding it is missing.
        """
        if not 0 <= offset < self.pairs:
            raise IndexError(f"offset={offset} is outside [0, {self.pairs})")
        stored = self._shard(offset // self._shard_pairs)[offset % self._shard_pairs]
        return (torch.from_numpy(np.array(stored[0:1], np.float32)),
                torch.from_numpy(np.array(stored[1:2], np.float32)))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return item ``index``: pair ``index mod N``, cropped to ``patch_size`` at a seeded offset.

        Parameters
        ----------
        index : int
            Stream index, ≥ 0.

        Returns
        -------
        x : torch.Tensor
            Distorted image, float32, (1, patch_size, patch_size).
        y : torch.Tensor
            Target, float32, the same window of the pair.

        Raises
        ------
        IndexError
            If ``index`` < 0.
        """
        index = int(index)
        if index < 0:
            raise IndexError(f"index={index} must be ≥ 0")
        x, y = self.pair(index % self.pairs)
        if self.patch_size == self.size:
            return x, y
        top, left = np.random.default_rng([self.crop_seed, index]).integers(0, self.size - self.patch_size + 1, 2)
        window = (slice(None), slice(top, top + self.patch_size), slice(left, left + self.patch_size))
        return x[window].contiguous(), y[window].contiguous()

    def whole_pairs(self) -> _WholePairs:
        """Return a map-style view of the N whole pairs in order (e.g. a validation split).

        Returns
        -------
        torch.utils.data.Dataset
            Item i is :meth:`pair` ``(i)``, uncropped; its length is N.
        """
        return _WholePairs(self)


class _WholePairs(Dataset):
    def __init__(self, cache: CachedPairDataset):
        self.cache = cache

    def __len__(self) -> int:
        return self.cache.pairs

    def __getitem__(self, index: int):
        if not 0 <= int(index) < self.cache.pairs:
            raise IndexError(f"index={index} is outside [0, {self.cache.pairs})")
        return self.cache.pair(int(index))
