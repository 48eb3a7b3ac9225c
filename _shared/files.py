"""Atomic writes and digests: a file is either absent, the old one, or the whole new one.

Every writer builds the complete content in memory, writes it to a temporary file in the destination's
folder, flushes and fsyncs it, then renames it over the destination (``os.replace`` is atomic on POSIX and
Windows within one file system). An interrupted write leaves no partial file under the real name, which
is what resumable runs rely on: a file that exists is finished.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

CHUNK_BYTES = 1 << 20


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; missing parent folders are created.
    data : bytes
        The complete file content (flushed and fsynced before the rename).
    mode : int, optional
        Permission bits given to the file before the rename (e.g. ``0o644`` for files meant to be
        shared); by default the temporary file's ``0o600`` from :func:`tempfile.mkstemp` is kept.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` as UTF-8, atomically (see :func:`write_bytes_atomic`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination; missing parent folders are created.
    text : str
        The complete file content.
    mode : int, optional
        Permission bits (see :func:`write_bytes_atomic`).
    """
    write_bytes_atomic(path, text.encode("utf-8"), mode=mode)


def json_default(value: Any) -> Any:
    """Convert a value :func:`json.dumps` cannot encode (its ``default`` hook).

    Numpy scalars become Python numbers or bools, numpy arrays nested lists, paths strings.

    Parameters
    ----------
    value : Any
        The object ``json.dumps`` met.

    Returns
    -------
    Any
        A JSON-encodable equivalent of ``value``.

    Raises
    ------
    TypeError
        For any other type (as :func:`json.dumps` does).
    """
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def json_text(value: Any, *, indent: int | None = 2, newline: bool = False) -> str:
    """Return the canonical JSON of ``value``: sorted keys, numpy values converted (:func:`json_default`).

    Parameters
    ----------
    value : Any
        A JSON-encodable value (numpy scalars and arrays and paths allowed).
    indent : int or None, default 2
        Indentation passed to :func:`json.dumps`; None for a single line.
    newline : bool, default False
        Append a trailing newline.

    Returns
    -------
    str
        The JSON text.
    """
    return json.dumps(value, indent=indent, sort_keys=True, default=json_default) + ("\n" if newline else "")


def write_json_atomic(path: str | os.PathLike, value: Any, *, indent: int | None = 2, newline: bool = False,
                      mode: int | None = None) -> None:
    """Write ``value`` as canonical JSON (:func:`json_text`), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; missing parent folders are created.
    value : Any
        A JSON-encodable value (numpy scalars and arrays and paths allowed).
    indent : int or None, default 2
        Indentation (see :func:`json_text`).
    newline : bool, default False
        Append a trailing newline.
    mode : int, optional
        Permission bits (see :func:`write_bytes_atomic`).
    """
    write_text_atomic(path, json_text(value, indent=indent, newline=newline), mode=mode)


def write_arrays_atomic(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], *, compressed: bool = False,
                        mode: int | None = None) -> None:
    """Save named arrays as ``.npz`` (or a single array as ``.npy``), atomically and without pickles.

    Parameters
    ----------
    path : str or os.PathLike
        ``*.npz`` for any number of arrays, ``*.npy`` for exactly one.
    arrays : mapping of str to ndarray
        The arrays; object arrays are refused by numpy when read back (``allow_pickle=False``).
    compressed : bool, default False
        ``np.savez_compressed`` instead of ``np.savez`` (npz only).
    mode : int, optional
        Permission bits (see :func:`write_bytes_atomic`).

    Raises
    ------
    ValueError
        For a ``.npy`` path with other than one array.
    """
    buffer = io.BytesIO()
    if Path(path).suffix == ".npy":
        if len(arrays) != 1:
            raise ValueError(f"{path}: an .npy file holds exactly one array, got {len(arrays)}; use .npz")
        (array,) = arrays.values()
        np.save(buffer, np.asarray(array), allow_pickle=False)
    else:
        save = np.savez_compressed if compressed else np.savez
        save(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    write_bytes_atomic(path, buffer.getvalue(), mode=mode)


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load the arrays of an ``.npz`` file (never unpickles).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.

    Returns
    -------
    dict of str to ndarray
        Each array under its name in the archive, read into memory.
    """
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def write_table_atomic(path: str | os.PathLike, table: Any) -> None:
    """Write a pandas DataFrame as parquet (pyarrow, no index), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, ``*.parquet``; missing parent folders are created.
    table : pandas.DataFrame
        The table; its index is not written.
    """
    buffer = io.BytesIO()
    table.to_parquet(buffer, engine="pyarrow", index=False)
    write_bytes_atomic(path, buffer.getvalue())


def write_figure_atomic(path: str | os.PathLike, figure: Any, *, mode: int | None = None, **savefig: Any) -> None:
    """Render a matplotlib figure into memory and write it atomically; the format follows the suffix.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, e.g. ``*.png`` or ``*.pdf``.
    figure : matplotlib.figure.Figure
        The figure to render.
    mode : int, optional
        Permission bits (see :func:`write_bytes_atomic`).
    **savefig
        Further keyword arguments of ``Figure.savefig`` (``dpi``, ``bbox_inches`` …).
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format=savefig.pop("format", Path(path).suffix.lstrip(".")), **savefig)
    write_bytes_atomic(path, buffer.getvalue(), mode=mode)


def sha256_bytes(data: bytes) -> str:
    """Return the SHA-256 hex digest of ``data``.

    Parameters
    ----------
    data : bytes
        The bytes to hash.

    Returns
    -------
    str
        64 lower-case hex digits.
    """
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Return the SHA-256 hex digest of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : str or os.PathLike
        The file to hash.

    Returns
    -------
    str
        64 lower-case hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(value: Any, *, digits: int | None = None) -> str:
    """Return the SHA-256 hex digest of the canonical JSON of ``value``.

    The JSON is ``json.dumps(value, sort_keys=True)`` on one line with :func:`json.dumps`'s default
    separators (``", "`` and ``": "``), numpy values converted by :func:`json_default`.

    Parameters
    ----------
    value : Any
        A JSON-encodable value (numpy scalars and arrays and paths allowed).
    digits : int, optional
        Keep only the first ``digits`` hex digits; None (or 0) keeps all 64.

    Returns
    -------
    str
        The hex digest, or its first ``digits`` characters.
    """
    text = json.dumps(value, sort_keys=True, default=json_default)
    digest = sha256_bytes(text.encode())
    return digest[:digits] if digits else digest
