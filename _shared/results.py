"""The layout of a study's results directory, and the one store that writes and reads it.

::

    RESULTS/
      manifest.json          study, configuration and its hash, provenance, status, run segments
      tasks/KEY.parquet      one finished task (its tidy rows); KEY.npz beside it holds its arrays
      realisations.parquet   all task tables together
      summary.parquet        the study's statistics
      *.parquet, *.json      further tables and records of the study (reference, crlb, library …)
      examples.npz/.json     example images for the report and their index
      report/                figures and report.html (written by ``reports``)

A finished task is written to a temporary file and renamed, arrays before the table that marks it done,
so an interrupted run leaves only whole files and a rerun does only the tasks that are missing. A results
directory belongs to one study and one configuration; :meth:`ResultStore.admit` refuses anything else
before a byte is written. ``bench`` writes through :class:`ResultStore`; ``reports`` and ``bench check`` open
it read-only with :meth:`ResultStore.load`.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from _shared.files import load_arrays, sha256_json, write_arrays_atomic, write_json_atomic, write_table_atomic
from _shared.legacy_names import rename_legacy_keys, upgrade_manifest_names

MANIFEST = "manifest.json"
# Version of this layout. Directories written by every earlier version of the suite carry 1.
FORMAT_VERSION = 1
TASKS = "tasks"
EXAMPLES = "examples"


def config_hash(config: dict) -> str:
    """Return the SHA-256 (first 16 hex digits) of a configuration's canonical JSON.

    Parameters
    ----------
    config : dict
        The run's configuration (JSON-ready).

    Returns
    -------
    str
        16 hex digits (see :func:`_shared.files.sha256_json`).
    """
    return sha256_json(config, digits=16)


def read_manifest(directory: str | Path) -> dict:
    """Read the manifest of a results directory, checked for a layout this code reads.

    Parameters
    ----------
    directory : str or pathlib.Path
        The results directory.

    Returns
    -------
    dict
        The parsed ``manifest.json``; a manifest without ``format_version`` counts as layout 1. Names written
        before the unit-suffix convention (``pixel_size_angstrom``, ``fit_method`` …) are renamed
        (:func:`_shared.legacy_names.upgrade_manifest_names`), so such a directory is reported, checked and
        resumed like a new one.

    Raises
    ------
    FileNotFoundError
        If there is no ``manifest.json``: not a results directory.
    ValueError
        If the manifest is not JSON, or was written by a newer layout (the message names the fix).
    """
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{directory} holds no {MANIFEST}: not a bench results directory")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); choose another results directory") from error
    version = manifest.get("format_version", 1) if isinstance(manifest, dict) else None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path} has results layout {version!r}; this version of stem-restore-bench reads layouts "
                         f"up to {FORMAT_VERSION}: update the package, or rerun the study into a new directory")
    try:
        return upgrade_manifest_names(manifest, config_hash)
    except ValueError as error:
        raise ValueError(f"{path}: {error}; choose another results directory (--output)") from error


class ResultStore:
    """The results directory of one study run (see the module docstring).

    Construct it with :meth:`open` (to write) or :meth:`load` (to read); the constructor checks nothing.

    Parameters
    ----------
    directory : pathlib.Path
        The results directory.
    manifest : dict
        Its manifest, kept in memory and written by :meth:`save_manifest`.
    """

    def __init__(self, directory: Path, manifest: dict):
        self.directory = Path(directory)
        self.manifest = manifest

    # Opening -------------------------------------------------------------------------------------------
    @classmethod
    def admit(cls, directory: Path, study: str, config: dict) -> dict | None:
        """Validate that ``directory`` may hold this study and configuration, without writing anything.

        Parameters
        ----------
        directory : Path
            The results directory (it need not exist).
        study : str
            The study's registered name.
        config : dict
            The run's configuration (JSON-ready); its hash must match an existing manifest's.

        Returns
        -------
        dict or None
            The existing manifest (None for a new or empty directory).

        Raises
        ------
        ValueError
            If the directory holds another study, another configuration of this study, or files that are
            not a study's results.
        """
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"results directory {directory} is a file; give a directory path")
        if not (directory / MANIFEST).exists():
            if directory.exists() and any(directory.iterdir()):
                raise ValueError(f"results directory {directory} is not empty and holds no {MANIFEST}: it is not "
                                 "a bench results directory; choose a new or empty directory")
            return None
        manifest = read_manifest(directory)
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
    def open(cls, directory: Path, study: str, config: dict, provenance: dict | None = None) -> ResultStore:
        """Open (or create) the results directory of a run; see :meth:`check` for the errors.

        Parameters
        ----------
        directory : Path
            The results directory.
        study : str
            The study's registered name.
        config : dict
            The run's configuration.
        provenance : dict, optional
            Manifest entries to record (``methods`` is merged with the methods already recorded).

        Returns
        -------
        ResultStore
        """
        directory = Path(directory)
        existing = cls.admit(directory, study, config)
        manifest = existing or {
            "format_version": FORMAT_VERSION, "study": study, "config": config, "config_hash": config_hash(config),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_time_s": 0.0, "runs": [],
        }
        store = cls(directory, manifest)
        if provenance:
            provenance = dict(provenance)
            store.merge_methods(provenance.pop("methods", []))
            manifest.update(provenance)
        manifest["status"] = "running"
        directory.mkdir(parents=True, exist_ok=True)
        store.save_manifest()
        return store

    @classmethod
    def load(cls, directory: Path) -> ResultStore:
        """Open an existing results directory read-only (for reports and checks).

        Parameters
        ----------
        directory : pathlib.Path
            The results directory.

        Returns
        -------
        ResultStore
            The store with the manifest read from disk (nothing is written).

        Raises
        ------
        FileNotFoundError
            If the directory holds no manifest.
        ValueError
            If the manifest is unreadable or of a newer layout.
        """
        return cls(Path(directory), read_manifest(directory))

    @property
    def study(self) -> str | None:
        """The study recorded in the manifest.

        Returns
        -------
        str or None
            The study's registered name, None when the manifest names none.
        """
        return self.manifest.get("study")

    def merge_methods(self, methods: Iterable[dict]) -> None:
        """Add method provenance to the manifest's ``methods`` (in memory; see :meth:`save_manifest`).

        Methods already recorded under the same name and weights are skipped.

        Parameters
        ----------
        methods : iterable of dict
            One record per method, each with a ``"name"`` and, for a trained model, the ``"sha256"`` of
            its weights.

        Raises
        ------
        ValueError
            If a method name is already recorded with a different ``sha256``, or with another arithmetic (its
            ``numeric_path``'s ``dtype``: a network's ``auto`` path can differ between CPUs, and once its
            weights record a bf16 check).
        """
        known = {m["name"]: m for m in self.manifest.setdefault("methods", [])}
        for method in methods:
            previous = known.get(method["name"])
            if previous is not None and previous.get("sha256") != method.get("sha256"):
                raise ValueError(f"results directory {self.directory} has results of method {method['name']!r} "
                                 f"with weights sha256 {previous.get('sha256')}, not {method.get('sha256')}; "
                                 "use another results directory")
            before, now = (method_dtype(previous), method_dtype(method)) if previous is not None else (None, None)
            if before != now:
                raise ValueError(f"results directory {self.directory} has results of method {method['name']!r} "
                                 f"computed in {before}; here it would run in {now}; use another results "
                                 "directory")
            if previous is None:
                self.manifest["methods"].append(method)
                known[method["name"]] = method

    # Tasks ---------------------------------------------------------------------------------------------
    @property
    def task_directory(self) -> Path:
        """The ``tasks/`` folder: one table (and optional arrays) per finished task.

        Returns
        -------
        pathlib.Path
            ``DIRECTORY/tasks``.
        """
        return self.directory / TASKS

    def table_path(self, key: str) -> Path:
        """Return where the table of task ``key`` lies.

        Parameters
        ----------
        key : str
            The task's key.

        Returns
        -------
        pathlib.Path
            ``tasks/KEY.parquet`` (it may not exist).
        """
        return self.task_directory / f"{key}.parquet"

    def arrays_path(self, key: str) -> Path:
        """Return where the arrays of task ``key`` lie.

        Parameters
        ----------
        key : str
            The task's key.

        Returns
        -------
        pathlib.Path
            ``tasks/KEY.npz`` (it may not exist).
        """
        return self.task_directory / f"{key}.npz"

    def done(self, key: str) -> bool:
        """Tell whether task ``key`` is stored.

        Parameters
        ----------
        key : str
            The task's key.

        Returns
        -------
        bool
            True when its table exists (the table is written last).
        """
        return self.table_path(key).exists()

    def stored_task_count(self) -> int:
        """Count the stored tasks.

        Returns
        -------
        int
            The number of ``tasks/*.parquet`` files.
        """
        return len(list(self.task_directory.glob("*.parquet")))

    def write_task(self, key: str, table: Any, arrays: dict[str, np.ndarray] | None = None) -> None:
        """Store a finished task: arrays first, the table last (the table marks the task as done).

        Parameters
        ----------
        key : str
            The task's key (the file stem under ``tasks/``).
        table : pandas.DataFrame
            The task's tidy rows, written to ``tasks/KEY.parquet``.
        arrays : dict of str to ndarray, optional
            Arrays written, compressed, to ``tasks/KEY.npz``; none written when None or empty.
        """
        if arrays:
            write_arrays_atomic(self.arrays_path(key), arrays, compressed=True)
        write_table_atomic(self.table_path(key), table)

    def read_tasks(self, keys: Sequence[str] | None = None) -> Any:
        """Concatenate the stored task tables (all, or those of ``keys``).

        Parameters
        ----------
        keys : sequence of str, optional
            The tasks to read, in this order; keys without a stored table are skipped. By default all
            stored tasks, in sorted file-name order.

        Returns
        -------
        pandas.DataFrame
            The tables' rows, with a fresh index.

        Raises
        ------
        ValueError
            If no task is stored.
        """
        import pandas as pd  # noqa: PLC0415  (pandas takes ~0.5 s to load: `bench --help` opens no table)

        paths = ([self.table_path(k) for k in keys] if keys is not None
                 else sorted(self.task_directory.glob("*.parquet")))
        tables = [pd.read_parquet(p) for p in paths if p.exists()]
        if not tables:
            raise ValueError(f"no finished tasks in {self.task_directory}")
        return pd.concat(tables, ignore_index=True)

    def read_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        """Read the arrays of task ``key``.

        Parameters
        ----------
        key : str
            The task's key.

        Returns
        -------
        dict of str to ndarray or None
            The arrays of ``tasks/KEY.npz``, or None when the task stored none.
        """
        path = self.arrays_path(key)
        return load_arrays(path) if path.exists() else None

    # Tables, records and manifest ----------------------------------------------------------------------
    def write_table(self, name: str, table: Any) -> Path:
        """Write ``NAME.parquet`` in the directory, atomically.

        Parameters
        ----------
        name : str
            The table's name (file stem).
        table : pandas.DataFrame
            The table; its index is not written.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        path = self.directory / f"{name}.parquet"
        write_table_atomic(path, table)
        return path

    def write_record(self, name: str, value: Any) -> Path:
        """Write ``NAME.json`` in the directory (canonical JSON), atomically.

        Parameters
        ----------
        name : str
            The record's name (file stem).
        value : Any
            A JSON-encodable value (numpy values and paths allowed).

        Returns
        -------
        pathlib.Path
            The path written.
        """
        path = self.directory / f"{name}.json"
        write_json_atomic(path, value)
        return path

    def write_examples(self, images: dict[str, np.ndarray], index: list[dict]) -> None:
        """Write example images for the report (``examples.npz``) and their description (``examples.json``).

        Parameters
        ----------
        images : dict of str to ndarray
            The images under their keys, written compressed.
        index : list of dict
            The description of the examples, written as JSON.
        """
        write_arrays_atomic(self.directory / f"{EXAMPLES}.npz", images, compressed=True)
        write_json_atomic(self.directory / f"{EXAMPLES}.json", index)

    def read_examples(self) -> dict:
        """Read the example images and their index written by :meth:`write_examples`.

        Returns
        -------
        dict
            ``{"index": [...], "images": {key: array}}``, or ``{}`` when either file is missing; old names in
            the index are renamed (:mod:`_shared.legacy_names`).
        """
        index_path, arrays_path = self.directory / f"{EXAMPLES}.json", self.directory / f"{EXAMPLES}.npz"
        if not (index_path.exists() and arrays_path.exists()):
            return {}
        return {"index": rename_legacy_keys(json.loads(index_path.read_text())), "images": load_arrays(arrays_path)}

    def write_summary(self, summarise: Callable) -> Any:
        """Collect the finished tasks as ``realisations``, write ``summary`` = ``summarise(realisations)``.

        Parameters
        ----------
        summarise : callable
            Maps the realisations table (pandas.DataFrame) to the summary table.

        Returns
        -------
        pandas.DataFrame
            The summary, as written to ``summary.parquet``.

        Raises
        ------
        ValueError
            If no task is stored.
        """
        table = self.read_tasks()
        self.write_table("realisations", table)
        summary = summarise(table)
        self.write_table("summary", summary)
        return summary

    def has_table(self, name: str) -> bool:
        """Tell whether ``NAME.parquet`` exists in the directory.

        Parameters
        ----------
        name : str
            The table's name (file stem).

        Returns
        -------
        bool
            True when the file exists.
        """
        return (self.directory / f"{name}.parquet").exists()

    def read_table(self, name: str) -> Any:
        """Read ``NAME.parquet``.

        Parameters
        ----------
        name : str
            The table's name (file stem).

        Returns
        -------
        pandas.DataFrame
            The table.

        Raises
        ------
        FileNotFoundError
            If the table does not exist (the run has not finished).
        """
        import pandas as pd  # noqa: PLC0415  (see read_tasks)

        path = self.directory / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; run the study to completion first")
        return pd.read_parquet(path)

    def save_manifest(self) -> None:
        """Write ``manifest.json`` atomically."""
        write_json_atomic(self.directory / MANIFEST, self.manifest)


def method_dtype(method: dict) -> str | None:
    """Return the arithmetic a method's provenance record ran in.

    Parameters
    ----------
    method : dict
        One entry of a manifest's ``methods``.

    Returns
    -------
    str or None
        Its ``numeric_path``'s ``dtype`` (``"fp32"``, ``"bf16"``); ``"fp32"`` for a network recorded before
        numeric paths were (``kind`` ``"cnn"``: restoration was float32 then); None for methods that run no
        network (raw, BM3D, …).
    """
    path = method.get("numeric_path")
    if isinstance(path, dict):
        return path.get("dtype")
    return "fp32" if method.get("kind") == "cnn" else None
