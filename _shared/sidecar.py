"""The JSON sidecar beside every ``NAME.safetensors`` checkpoint: its format and how to read it.

``restore.checkpoint`` writes sidecars; a report reads them (for a model's card) without importing torch or
the networks, so the format lives here.
"""
from __future__ import annotations

import json
from pathlib import Path

SIDECAR_FORMAT = "stem-restore-bench/weights-v1"


def sidecar_path(weights_path: str | Path) -> Path:
    """Return the sidecar path, ``NAME.json`` beside ``NAME.safetensors``.

    Parameters
    ----------
    weights_path : str or pathlib.Path
        The checkpoint, ``NAME.safetensors`` (only its suffix is replaced; the file need not exist).

    Returns
    -------
    pathlib.Path
        ``weights_path`` with the suffix ``.json``.
    """
    return Path(weights_path).with_suffix(".json")


def read_sidecar(weights_path: str | Path) -> dict:
    """Read the JSON sidecar of ``weights_path``.

    Parameters
    ----------
    weights_path : str or pathlib.Path
        The checkpoint, ``NAME.safetensors``; its sidecar is ``NAME.json`` (:func:`sidecar_path`).

    Returns
    -------
    dict
        The parsed sidecar; its ``"format"`` is :data:`SIDECAR_FORMAT`.

    Raises
    ------
    FileNotFoundError
        If the sidecar is missing.
    ValueError
        If it is not JSON or not a sidecar of this format.
    """
    path = sidecar_path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: sidecar missing; every .safetensors checkpoint needs its .json")
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(sidecar, dict) or sidecar.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"{path}: not a {SIDECAR_FORMAT} sidecar")
    return sidecar
