"""A small content-addressed cache for expensive simulation results.

An entry is a directory ``<root>/<kind>/<key>/`` holding ``result.npz`` (arrays only, loaded without
pickle) and ``meta.json`` (recipe, library versions, run time and the SHA-256 of ``result.npz``). The key
hashes the kind, the recipe's canonical JSON and the abTEM/ase versions, so a matching request reuses the
entry and any change of physics or library makes a new one. Every file is written to a temporary name and
renamed into place, so an interrupted write never leaves a half-written entry; an entry whose hash does
not match (corrupt or partial) is reported and removed so that it is recomputed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _shared.files import load_arrays, sha256_file, write_arrays_atomic, write_json_atomic
from _shared.provenance import SIMULATION_PACKAGES, library_versions

# 2: the grid rounding changed to even sizes (odd grids are wrong in abTEM 1.0.11)
CACHE_SCHEMA = 2


def cache_root() -> Path:
    """Return the root of the cache: ``$STEM_BENCH_CACHE`` or ``~/.cache/stem-restore-bench``.

    Returns
    -------
    Path
        The cache root directory (not created here).
    """
    return Path(os.environ.get("STEM_BENCH_CACHE", Path.home() / ".cache" / "stem-restore-bench"))


def cache_key(kind: str, recipe_json: str, versions: dict[str, str]) -> str:
    """Return the SHA-256 (first 20 hex digits) of the kind, the recipe and the abTEM/ase versions.

    Parameters
    ----------
    kind : str
        Kind of result (the cache sub-directory), e.g. ``"pt001-thickness-series"``.
    recipe_json : str
        Canonical JSON of the recipe; it is parsed so that formatting does not change the key.
    versions : dict of str to str
        Library versions; only the ``"abtem"`` and ``"ase"`` entries enter the key.

    Returns
    -------
    str
        20 lowercase hex digits; :data:`CACHE_SCHEMA` is hashed too.
    """
    payload = json.dumps(
        {"schema": CACHE_SCHEMA, "kind": kind, "recipe": json.loads(recipe_json),
         "abtem": versions.get("abtem"), "ase": versions.get("ase")},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class CacheEntry:
    """One cache entry: ``directory/result.npz`` + ``directory/meta.json`` and a ``partial/`` folder.

    Parameters
    ----------
    directory : Path
        Directory of the entry, ``<root>/<kind>/<key>`` (see :func:`cache_entry`).
    """

    directory: Path

    @property
    def result_path(self) -> Path:
        """Path of the result arrays.

        Returns
        -------
        Path
            ``directory/result.npz``.
        """
        return self.directory / "result.npz"

    @property
    def meta_path(self) -> Path:
        """Path of the metadata.

        Returns
        -------
        Path
            ``directory/meta.json``.
        """
        return self.directory / "meta.json"

    @property
    def partial_directory(self) -> Path:
        """Directory where resumable intermediate pieces (one file per finished unit of work) are kept.

        Returns
        -------
        Path
            ``directory/partial`` (not created here).
        """
        return self.directory / "partial"

    def load(self) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """Return the arrays and metadata of a complete, verified entry.

        A corrupt or partial entry (unreadable, missing ``meta.json`` or hash mismatch) is reported on stderr
        and its files are removed so that it is recomputed.

        Returns
        -------
        tuple of (dict of str to numpy.ndarray, dict) or None
            The arrays of ``result.npz`` and the parsed ``meta.json``; ``None`` when absent or corrupt.
        """
        if not self.meta_path.exists() and not self.result_path.exists():
            return None
        try:
            meta = json.loads(self.meta_path.read_text())
            if sha256_file(self.result_path) != meta["result_sha256"]:
                raise ValueError("SHA-256 of result.npz does not match meta.json")
            arrays = load_arrays(self.result_path)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as problem:
            print(f"cache: entry {self.directory} is corrupt or partial ({problem}); recomputing it",
                  file=sys.stderr)
            self.result_path.unlink(missing_ok=True)
            self.meta_path.unlink(missing_ok=True)
            return None
        return arrays, meta

    def store(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Write the result, then its metadata (with the result's hash) last.

        A crash in between leaves an entry without meta, which :meth:`load` treats as partial. The
        ``partial/`` directory is removed once the entry is complete.

        Parameters
        ----------
        arrays : dict of str to numpy.ndarray
            Arrays written to ``result.npz``.
        meta : dict
            JSON-serialisable metadata; ``result_sha256`` is added before it is written to ``meta.json``.
        """
        write_arrays_atomic(self.result_path, arrays)
        write_json_atomic(self.meta_path, {**meta, "result_sha256": sha256_file(self.result_path)})
        if self.partial_directory.exists():
            shutil.rmtree(self.partial_directory, ignore_errors=True)


def cache_entry(kind: str, recipe_json: str, root: Path | None = None) -> CacheEntry:
    """Return the entry for a recipe of a given kind under ``root``.

    Parameters
    ----------
    kind : str
        Kind of result (the sub-directory of ``root``).
    recipe_json : str
        Canonical JSON of the recipe.
    root : Path, optional
        Cache root; default :func:`cache_root`.

    Returns
    -------
    CacheEntry
        The entry ``<root>/<kind>/<key>``, keyed with the installed abTEM/ase versions; it may not exist yet.
    """
    key = cache_key(kind, recipe_json, library_versions(SIMULATION_PACKAGES))
    return CacheEntry(Path(root or cache_root()) / kind / key)


def write_shipped_arrays(npz: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write shipped data: the npz atomically, then its JSON holding ``meta`` and the npz's SHA-256.

    Parameters
    ----------
    npz : Path
        Destination of the arrays; the metadata goes to ``npz.with_suffix('.json')``.
    arrays : dict of str to numpy.ndarray
        Arrays to write.
    meta : dict
        JSON-serialisable metadata; ``result_sha256`` is added.
    """
    write_arrays_atomic(npz, arrays)
    write_json_atomic(Path(npz).with_suffix(".json"), {**meta, "result_sha256": sha256_file(npz)})


def read_shipped_arrays(npz: Path, what: str, regenerate: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Return the arrays and metadata of data written by :func:`write_shipped_arrays`, verified against the hash.

    Parameters
    ----------
    npz : Path
        The npz file; its metadata is read from ``npz.with_suffix('.json')``.
    what : str
        Description of the data, used in error messages.
    regenerate : str
        Command that rebuilds the data, quoted in error messages.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        The arrays of the npz.
    meta : dict
        The parsed JSON metadata (including ``result_sha256``).

    Raises
    ------
    FileNotFoundError
        If the npz or its JSON is missing (the message names ``regenerate``, the command that rebuilds it).
    ValueError
        If the npz does not match the SHA-256 recorded in its JSON.
    """
    npz = Path(npz)
    meta_path = npz.with_suffix(".json")
    if not npz.exists() or not meta_path.exists():
        raise FileNotFoundError(f"{what} missing at {npz}; regenerate it with `{regenerate}`")
    meta = json.loads(meta_path.read_text())
    if sha256_file(npz) != meta["result_sha256"]:
        raise ValueError(f"{what} {npz} does not match the SHA-256 recorded in {meta_path}; restore it from git "
                         f"or regenerate it with `{regenerate}`")
    return load_arrays(npz), meta
