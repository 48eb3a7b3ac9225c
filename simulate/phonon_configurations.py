"""The frozen-phonon runner: one abTEM run per phonon configuration, each stored as it finishes.

:func:`run_configurations` is used by every simulation that averages frozen-phonon configurations (the bulk
thickness series and the specimen images). Each finished configuration k is one ``.npy`` (its image) with a
``.json`` beside it (run time, load average, thread settings) in the ``partial/`` folder of a cache entry,
so an interrupted run resumes where it stopped. The specimen images keep them in an entry whose key is the
request **without** ``phonon_configurations`` (:func:`configurations_entry`): configuration k has the same
seed whatever the count, so a run with a larger count computes only the new configurations, and a finished
run leaves the folder in place for that reason (delete it to free space).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from _shared.files import write_arrays_atomic, write_json_atomic
from simulate.cache import CacheEntry, cache_entry


def configuration_seed(phonon_seed: int, configuration: int) -> int:
    """Return the seed of frozen-phonon configuration ``configuration`` (independent streams per configuration).

    Parameters
    ----------
    phonon_seed : int
        The recipe's phonon seed.
    configuration : int
        Configuration index k.

    Returns
    -------
    int
        Seed from ``numpy.random.SeedSequence([phonon_seed, k])``; it does not depend on the number of
        configurations, so a run extended to more configurations keeps the first ones.
    """
    return int(np.random.SeedSequence([int(phonon_seed), int(configuration)]).generate_state(1)[0])


def configurations_entry(kind: str, request: dict[str, Any], cache_dir=None) -> CacheEntry:
    """Return the entry ``<cache>/<kind>-configurations/<key>/`` of a request (JSON-able dict).

    Parameters
    ----------
    kind : str
        Kind of the complete result (e.g. 'nanoparticle-haadf').
    request : dict
        Everything that defines the images; every ``phonon_configurations`` key in it (at any depth) is
        left out of the key.
    cache_dir : path, optional
        Cache root (default :func:`simulate.cache.cache_root`).

    Returns
    -------
    CacheEntry
        The entry; its ``partial/`` folder holds the configurations.
    """
    return cache_entry(f"{kind}-configurations", json.dumps(_without_count(request), sort_keys=True), cache_dir)


def _without_count(value):
    if isinstance(value, dict):
        return {k: _without_count(v) for k, v in value.items() if k != "phonon_configurations"}
    return value


def configuration_path(entry: CacheEntry, configuration: int) -> Path:
    """Return the ``.npy`` of configuration ``configuration`` in ``entry``'s ``partial/`` folder.

    Parameters
    ----------
    entry : CacheEntry
        Entry that keeps the configurations.
    configuration : int
        Configuration index k, ≥ 0.

    Returns
    -------
    Path
        ``partial/configuration-kkkk.npy`` (its record is the ``.json`` beside it).

    Raises
    ------
    ValueError
        If ``configuration`` is not an integer ≥ 0.
    """
    if int(configuration) != configuration or configuration < 0:
        raise ValueError(f"configuration={configuration!r} must be an integer >= 0")
    return entry.partial_directory / f"configuration-{configuration:04d}.npy"


def load_configuration(entry: CacheEntry, configuration: int, shape: tuple[int, ...]
                       ) -> tuple[np.ndarray | None, float | None]:
    """Return a finished configuration's image and wall time, or ``(None, None)``.

    A file of the wrong shape, with non-finite values or unreadable is removed so that it is recomputed.

    Parameters
    ----------
    entry : CacheEntry
        Entry that keeps the configurations.
    configuration : int
        Configuration index k, ≥ 0.
    shape : tuple of int
        Expected shape of the image.

    Returns
    -------
    values : numpy.ndarray or None
        The stored image, or None when it is absent or was removed.
    seconds : float or None
        Its recorded wall time [s]; None when unknown or when there is no image.
    """
    path = configuration_path(entry, configuration)
    if not path.exists():
        return None, None
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        values = None
    if values is None or values.shape != tuple(shape) or not np.all(np.isfinite(values)):
        path.unlink(missing_ok=True)  # partial or corrupt: recompute it
        return None, None
    try:
        seconds = json.loads(path.with_suffix(".json").read_text()).get("wall_time_s")
    except (OSError, ValueError):
        seconds = None
    return values, seconds


def save_configuration(entry: CacheEntry, configuration: int, values: np.ndarray, seconds: float | None) -> None:
    """Store a finished configuration atomically: its record first, the image last (the image marks it done).

    The record holds the wall time, the 1/5/15-minute load average and the ``OMP_NUM_THREADS`` and
    ``DASK_NUM_WORKERS`` settings.

    Parameters
    ----------
    entry : CacheEntry
        Entry that keeps the configurations.
    configuration : int
        Configuration index k, ≥ 0.
    values : numpy.ndarray
        The configuration's image.
    seconds : float or None
        Wall time of its computation [s]; None when unknown (computed on a cluster).
    """
    path = configuration_path(entry, configuration)
    record = {"wall_time_s": seconds, "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
              "threads": {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "DASK_NUM_WORKERS")}}
    write_json_atomic(path.with_suffix(".json"), record, indent=None)
    write_arrays_atomic(path, {"image": values})


@dataclass(frozen=True)
class ConfigurationRun:
    """The images of every configuration of a frozen-phonon run.

    Attributes
    ----------
    images : ndarray, shape (K, ...)
        Configuration k's image at index k.
    seconds : dict of int to float or None
        Wall time of each configuration computed locally [s] (None when computed on a cluster or unknown).
    resumed : int
        Configurations read from the ``partial/`` folder instead of computed.
    """

    images: np.ndarray
    seconds: dict[int, float | None]
    resumed: int


def run_configurations(build: Callable[[int], Any], count: int, pieces: CacheEntry, shape: tuple[int, ...], *,
                       scheduler: str | None = None, progress: bool = True, description: str = "phonon configurations",
                       orient: Callable[[np.ndarray], np.ndarray] = np.asarray, settings: dict | None = None,
                       reuse: bool = True) -> ConfigurationRun:
    """Compute the configurations 0 … count − 1 not yet stored in ``pieces`` and store each as it finishes.

    Parameters
    ----------
    build : callable
        ``build(k)`` → the lazy abTEM measurement of configuration k (its seed depends on k only).
    count : int
        Number of configurations.
    pieces : CacheEntry
        Where finished configurations are kept (its ``partial/`` folder).
    shape : tuple of int
        Shape of one configuration's image after ``orient``; a stored file of another shape is recomputed.
    scheduler : str, optional
        Address of a dask.distributed scheduler; None computes here with dask's threads.
    progress : bool
        Show a progress bar.
    description : str
        The progress bar's label.
    orient : callable
        Maps abTEM's array to the stored image (e.g. a transpose from abTEM's [x, y] to [row, column]).
    settings : dict, optional
        Further ``abtem.config`` settings (e.g. ``{"device": "gpu"}``).
    reuse : bool
        Read finished configurations from ``pieces``; False recomputes (and overwrites) every one.

    Returns
    -------
    ConfigurationRun
        The K = ``count`` images stacked along axis 0, the wall times and the number resumed.
    """
    import abtem  # noqa: PLC0415  (abTEM and its numba kernels load in seconds: only when simulating)

    results: dict[int, np.ndarray] = {}
    seconds: dict[int, float | None] = {}
    for k in range(count if reuse else 0):
        values, took = load_configuration(pieces, k, shape)
        if values is not None:
            results[k], seconds[k] = values, took
    missing = [k for k in range(count) if k not in results]
    bar = tqdm(total=count, initial=len(results), desc=description, unit="config", disable=not progress)
    with abtem.config.set({"diagnostics.progress_bar": False, **(settings or {})}):
        if scheduler is None:
            for k in missing:
                tick = time.perf_counter()
                values = orient(np.asarray(build(k).compute(scheduler="threads").array))
                seconds[k] = round(time.perf_counter() - tick, 1)
                save_configuration(pieces, k, values, seconds[k])
                results[k] = values
                bar.update()
        else:
            from dask.distributed import Client, as_completed

            with Client(scheduler) as client:
                futures = {client.compute(build(k).array): k for k in missing}
                for future in as_completed(futures):
                    k = futures[future]
                    values = orient(np.asarray(future.result()))
                    save_configuration(pieces, k, values, None)
                    results[k] = values
                    bar.update()
    bar.close()
    return ConfigurationRun(np.stack([results[k] for k in range(count)]), seconds, len(results) - len(missing))
