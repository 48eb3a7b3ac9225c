"""Resumable, task-split study runs: per-task tidy tables on disk and a JSON manifest of the run.

A study is split into independent tasks (method, dose, thickness, realisation block …). Each finished
task is stored at once as ``tasks/KEY.parquet`` (plus optional ``tasks/KEY.npz`` arrays), written to a
temporary file and renamed, so an interrupted run leaves only whole files and a rerun does only the
tasks that are missing. ``manifest.json`` records the study, its configuration, library versions,
seeds, model hashes, hardware and wall time; a results directory belongs to one study and configuration.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulate.cache import write_bytes_atomic  # re-exported: bench code writes through bench.tasks

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_KEY = re.compile(r"^[A-Za-z0-9_.+\-]+$")


@dataclass(frozen=True)
class Task:
    """One unit of work: a file-safe unique ``key`` and the JSON-ready ``params`` that define it."""

    key: str
    params: dict

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"task key {self.key!r} must contain only letters, digits and _ . + -")


def write_json_atomic(path: Path, value: Any) -> None:
    write_bytes_atomic(path, json.dumps(value, indent=2, sort_keys=True, default=_json_default).encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def write_table_atomic(path: Path, table) -> None:
    """Write a pandas DataFrame as parquet (pyarrow), atomically."""
    import io

    buffer = io.BytesIO()
    table.to_parquet(buffer, engine="pyarrow", index=False)
    write_bytes_atomic(path, buffer.getvalue())


def write_arrays_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def config_hash(config: dict) -> str:
    """SHA-256 (first 16 hex digits) of a configuration's canonical JSON."""
    text = json.dumps(config, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("stem-restore-bench", "numpy", "scipy", "pandas", "pyarrow", "torch", "abtem", "bm3d",
                    "matplotlib", "dask", "distributed"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "processor": platform.processor(),
                            "cpu_count": os.cpu_count(), "platform": platform.platform()}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return info


class ResultStore:
    """The results directory of one study run (see the module docstring)."""

    def __init__(self, directory: Path, manifest: dict):
        self.directory = Path(directory)
        self.manifest = manifest

    # Opening -------------------------------------------------------------------------------------------
    @classmethod
    def check(cls, directory: Path, study: str, config: dict) -> dict | None:
        """Validate that ``directory`` may hold this study and configuration, without writing anything.

        Returns the existing manifest (None for a new or empty directory).

        Raises
        ------
        ValueError
            If the directory holds another study, another configuration of this study, or files that are
            not a study's results.
        """
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"results directory {directory} is a file; give a directory path")
        manifest_path = directory / MANIFEST
        if not manifest_path.exists():
            if directory.exists() and any(directory.iterdir()):
                raise ValueError(f"results directory {directory} is not empty and holds no {MANIFEST}: it is not "
                                 "a bench results directory; choose a new or empty directory")
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{manifest_path} is not valid JSON ({error}); choose another results directory") from error
        if manifest.get("study") != study:
            raise ValueError(f"results directory {directory} holds the study {manifest.get('study')!r}, not "
                             f"{study!r}; choose another results directory (--output)")
        if manifest.get("config_hash") != config_hash(config):
            changed = sorted(k for k in set(config) | set(manifest.get("config", {}))
                             if config.get(k) != manifest.get("config", {}).get(k))
            raise ValueError(f"results directory {directory} holds {study!r} with another configuration "
                             f"(differs in: {', '.join(changed)}); rerun with the same settings to resume, or "
                             "choose another results directory (--output)")
        return manifest

    @classmethod
    def open(cls, directory: Path, study: str, config: dict, provenance: dict | None = None) -> "ResultStore":
        """Open (or create) the results directory of a run; see :meth:`check` for the errors."""
        directory = Path(directory)
        existing = cls.check(directory, study, config)
        manifest = existing or {
            "format_version": FORMAT_VERSION, "study": study, "config": config, "config_hash": config_hash(config),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_time_s": 0.0, "runs": [],
        }
        store = cls(directory, manifest)
        if provenance:
            store.merge_methods(provenance.pop("methods", []))
            manifest.update(provenance)
        manifest["status"] = "running"
        directory.mkdir(parents=True, exist_ok=True)
        store.save_manifest()
        return store

    @classmethod
    def load(cls, directory: Path) -> "ResultStore":
        """Open an existing results directory read-only (for reports and checks)."""
        path = Path(directory) / MANIFEST
        if not path.exists():
            raise FileNotFoundError(f"{directory} holds no {MANIFEST}: not a bench results directory")
        return cls(Path(directory), json.loads(path.read_text()))

    def merge_methods(self, methods: Iterable[dict]) -> None:
        """Add method provenance; a method name already recorded with other weights raises ValueError."""
        known = {m["name"]: m for m in self.manifest.setdefault("methods", [])}
        for method in methods:
            previous = known.get(method["name"])
            if previous is not None and previous.get("sha256") != method.get("sha256"):
                raise ValueError(f"results directory {self.directory} has results of method {method['name']!r} "
                                 f"with weights sha256 {previous.get('sha256')}, not {method.get('sha256')}; "
                                 "use another results directory")
            if previous is None:
                self.manifest["methods"].append(method)
                known[method["name"]] = method

    # Tasks ---------------------------------------------------------------------------------------------
    @property
    def task_directory(self) -> Path:
        return self.directory / "tasks"

    def table_path(self, key: str) -> Path:
        return self.task_directory / f"{key}.parquet"

    def arrays_path(self, key: str) -> Path:
        return self.task_directory / f"{key}.npz"

    def done(self, key: str) -> bool:
        return self.table_path(key).exists()

    def write_task(self, key: str, table, arrays: dict[str, np.ndarray] | None = None) -> None:
        """Store a finished task: arrays first, the table last (the table marks the task as done)."""
        if arrays:
            write_arrays_atomic(self.arrays_path(key), arrays)
        write_table_atomic(self.table_path(key), table)

    def read_tasks(self, keys: Sequence[str] | None = None):
        """Concatenate the stored task tables (all, or those of ``keys``)."""
        import pandas as pd

        paths = ([self.table_path(k) for k in keys] if keys is not None
                 else sorted(self.task_directory.glob("*.parquet")))
        tables = [pd.read_parquet(p) for p in paths if p.exists()]
        if not tables:
            raise ValueError(f"no finished tasks in {self.task_directory}")
        return pd.concat(tables, ignore_index=True)

    def read_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.arrays_path(key)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}

    # Tables and manifest -------------------------------------------------------------------------------
    def write_table(self, name: str, table) -> Path:
        path = self.directory / f"{name}.parquet"
        write_table_atomic(path, table)
        return path

    def write_examples(self, images: dict[str, np.ndarray], index: list[dict]) -> None:
        """Example images for the report (``examples.npz``) and their description (``examples.json``)."""
        write_arrays_atomic(self.directory / "examples.npz", images)
        write_json_atomic(self.directory / "examples.json", index)

    def write_summary(self, summarise: Callable) -> Any:
        """Collect the finished tasks as ``realisations``, write ``summary`` = ``summarise(realisations)``."""
        table = self.read_tasks()
        self.write_table("realisations", table)
        summary = summarise(table)
        self.write_table("summary", summary)
        return summary

    def read_table(self, name: str):
        import pandas as pd

        path = self.directory / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; run the study to completion first")
        return pd.read_parquet(path)

    def save_manifest(self) -> None:
        write_json_atomic(self.directory / MANIFEST, self.manifest)


def run_tasks(
    tasks: Sequence[Task],
    function: Callable[[dict], tuple[Any, dict | None]],
    store: ResultStore,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    description: str = "tasks",
    on_task_done: Callable[[str], None] | None = None,
) -> list[str]:
    """Run the tasks not yet stored and store each one as it finishes.

    Pending tasks run in round-robin order of their kinds (:func:`bench.workers.interleave`) and the
    progress bar's ETA weights each pending task by the measured cost of its kind
    (:class:`bench.workers.CostModel`). Local worker processes end when this process ends, however it ends.

    Parameters
    ----------
    tasks : sequence of Task
        Keys must be unique.
    function : callable
        Top-level (picklable) function ``params -> (pandas.DataFrame, arrays dict or None)``.
    store : ResultStore
        Where finished tasks go (only this process writes).
    scheduler : str, optional
        Address of an existing dask.distributed scheduler; default: local processes.
    workers : int, optional
        Local worker processes (default: CPU count); 1 runs the tasks in this process.
    progress : bool
        Show a progress bar.
    on_task_done : callable, optional
        Called with each stored key (e.g. to stop a run part-way).

    Returns
    -------
    list of str
        The keys run (and stored) by this call.

    Raises
    ------
    ValueError
        If keys repeat or ``workers`` < 1.
    """
    from functools import partial

    from tqdm.auto import tqdm

    from bench.workers import CostModel, interleave, timed_call, worker_init

    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("task keys must be unique")
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers={workers!r} must be >= 1")
    pending = interleave([t for t in tasks if not store.done(t.key)])
    remaining = {t.key: t for t in pending}
    finished: list[str] = []
    cost = CostModel()
    start = time.perf_counter()
    busy = [0.0]  # worker seconds of the tasks finished by this call
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(pending), desc=description, unit="task",
               disable=not progress, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
    run = partial(timed_call, function)

    def parallel() -> float:
        if scheduler is not None:  # unknown cluster size: the measured ratio of work to wall time
            return max(busy[0] / max(time.perf_counter() - start, 1e-9), 1.0)
        return float(min(workers, max(len(remaining), 1)))

    def finish(key: str, outcome) -> None:
        (table, arrays), seconds = outcome
        store.write_task(key, table, arrays)
        finished.append(key)
        cost.record(remaining.pop(key), seconds)
        busy[0] += seconds
        bar.set_postfix_str(cost.eta_text(list(remaining.values()), parallel()), refresh=False)
        bar.update()
        if on_task_done is not None:
            on_task_done(key)

    try:
        if not pending:
            pass
        elif scheduler is not None:
            from dask.distributed import Client, as_completed

            with Client(scheduler) as client:
                futures = {client.submit(run, t.params, key=f"bench-{t.key}", pure=False): t.key for t in pending}
                for future in as_completed(futures):
                    finish(futures[future], future.result())
        elif workers == 1 or len(pending) == 1:
            for task in pending:
                finish(task.key, run(task.params))
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed as completed

            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=context,
                                     initializer=worker_init, initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(run, t.params): t.key for t in pending}
                try:
                    for future in completed(futures):
                        finish(futures[future], future.result())
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
        store.manifest["wall_time_s"] = round(float(store.manifest.get("wall_time_s", 0.0))
                                              + time.perf_counter() - start, 1)
        store.save_manifest()
    return finished
