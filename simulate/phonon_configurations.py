"""Per-configuration storage of frozen-phonon runs, resumable across configuration counts.

Each finished configuration k is one ``.npy`` (its image) with a ``.json`` beside it (run time, load
average, thread settings) in the ``partial/`` folder of a cache entry whose key is the request **without**
``phonon_configurations``: configuration k has the same seed whatever the count, so an interrupted run
resumes and a run with a larger count computes only the new configurations. A finished run leaves the
folder in place for that reason; delete it to free space.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from _shared.files import write_arrays_atomic, write_json_atomic
from simulate.cache import CacheEntry, cache_entry


def configurations_entry(kind: str, request: dict[str, Any], cache_dir=None) -> CacheEntry:
    """The entry ``<cache>/<kind>-configurations/<key>/`` of a request (JSON-able dict).

    Parameters
    ----------
    kind : str
        Kind of the complete result (e.g. 'nanoparticle-haadf').
    request : dict
        Everything that defines the images; every ``phonon_configurations`` key in it (at any depth) is
        left out of the key.
    cache_dir : path, optional
        Cache root (default :func:`simulate.cache.cache_root`).
    """
    return cache_entry(f"{kind}-configurations", json.dumps(_without_count(request), sort_keys=True), cache_dir)


def _without_count(value):
    if isinstance(value, dict):
        return {k: _without_count(v) for k, v in value.items() if k != "phonon_configurations"}
    return value


def configuration_path(entry: CacheEntry, configuration: int) -> Path:
    """The ``.npy`` of configuration ``configuration`` in ``entry``'s ``partial/`` folder."""
    if int(configuration) != configuration or configuration < 0:
        raise ValueError(f"configuration={configuration!r} must be an integer >= 0")
    return entry.partial_directory / f"configuration-{configuration:04d}.npy"


def load_configuration(entry: CacheEntry, configuration: int, shape: tuple[int, ...]
                       ) -> tuple[np.ndarray | None, float | None]:
    """A finished configuration's image and wall time [s], or ``(None, None)``.

    A file of the wrong shape, with non-finite values or unreadable is removed so that it is recomputed.
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
    """Store a finished configuration atomically: its record first, the image last (the image marks it done)."""
    path = configuration_path(entry, configuration)
    record = {"wall_time_s": seconds, "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
              "threads": {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "DASK_NUM_WORKERS")}}
    write_json_atomic(path.with_suffix(".json"), record, indent=None)
    write_arrays_atomic(path, {"image": values})
