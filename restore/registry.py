"""Model registry: where the weights of a name ``arch.tag`` are installed, and loading them by name.

Which named weights exist is declared beside each architecture (:mod:`restore.models.register`, e.g. the end
of :mod:`restore.models.cgrdn`). Weights are looked up, in this order, in the user's model directory
(``$STEM_BENCH_MODELS`` or ``~/.local/share/stem-restore-bench/models``) and in the package's
``restore/weights`` folder, as ``NAME.safetensors`` with its ``NAME.json`` sidecar (see
:mod:`restore.checkpoint`). Named weights are listed even before their file exists, so that the error can
say how to get them. Weights the package ships carry their SHA-256 in their declaration; the shipped file is
checked against it whenever it is resolved, so a corrupted or swapped file fails loudly.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from _shared.files import sha256_file
from restore.checkpoint import load_model
from restore.models import WEIGHTS

_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9][a-z0-9_\-]*$")
PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"


# The named weights, declared beside their architectures (restore/models/*.py); the same dict, so a test may
# patch an entry.
BUILTIN = WEIGHTS


def user_model_dir() -> Path:
    """Return the user's model directory, searched before the package's weights.

    Returns
    -------
    Path
        ``$STEM_BENCH_MODELS`` (``~`` expanded) if set, else ``~/.local/share/stem-restore-bench/models``;
        not created here.
    """
    configured = os.environ.get("STEM_BENCH_MODELS")
    return Path(configured).expanduser() if configured else Path.home() / ".local/share/stem-restore-bench/models"


def check_name(name: str) -> str:
    """Check that ``name`` has the form ``arch.tag`` and return it.

    Parameters
    ----------
    name : str
        Model name ``arch.tag`` (lower case, e.g. ``cgrdn.hrstem_default``).

    Returns
    -------
    str
        ``name`` unchanged.

    Raises
    ------
    ValueError
        If ``name`` is not a string of the form ``arch.tag`` (lower-case letters, digits, ``_``; ``-`` also in
        the tag).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"model name {name!r}: must look like 'arch.tag' (lower-case, e.g. 'cgrdn.sfr_hrstem')")
    return name


def _search_dirs() -> list[Path]:
    return [user_model_dir(), PACKAGE_WEIGHTS]


def weights_path(name: str) -> Path | None:
    """Return the path of the installed ``NAME.safetensors`` (user directory first), or None.

    Parameters
    ----------
    name : str
        Model name ``arch.tag`` (lower case, e.g. ``cgrdn.hrstem_default``).

    Returns
    -------
    Path or None
        The first ``NAME.safetensors`` found, or None when none is installed (its sidecar is not checked).

    Raises
    ------
    ValueError
        If ``name`` is not of the form ``arch.tag``.
    """
    check_name(name)
    for folder in _search_dirs():
        candidate = folder / f"{name}.safetensors"
        if candidate.is_file():
            return candidate
    return None


def installed_models() -> dict[str, Path]:
    """Return every ``arch.tag.safetensors`` with a sidecar in the search directories (user directory wins).

    Returns
    -------
    dict of str to Path
        Model name -> weights file.
    """
    found: dict[str, Path] = {}
    for folder in reversed(_search_dirs()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.safetensors")):
                if _NAME.match(path.stem) and path.with_suffix(".json").is_file():
                    found[path.stem] = path
    return found


def list_models() -> list[dict]:
    """Return one row per known or installed model.

    Returns
    -------
    list of dict
        Sorted by name; each row has ``name``, ``arch``, ``modality`` (None for a user model), ``path`` (str,
        None when not installed) and ``description``.
    """
    installed = installed_models()
    rows = []
    for name in sorted(set(BUILTIN) | set(installed)):
        entry = BUILTIN.get(name)
        rows.append({"name": name, "arch": name.split(".")[0],
                     "modality": entry.modality if entry else None,
                     "path": str(installed[name]) if name in installed else None,
                     "description": entry.description if entry else "user model"})
    return rows


def resolve_weights(name: str) -> Path:
    """Return the weights file of a registered model, checking a shipped file's SHA-256.

    Parameters
    ----------
    name : str
        Model name ``arch.tag`` (lower case, e.g. ``cgrdn.hrstem_default``).

    Returns
    -------
    Path
        The installed ``NAME.safetensors``.

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the available ones) or known but not installed (the
        message says how to install it), or if a shipped file's SHA-256 differs from its declaration.
    """
    check_name(name)
    path = weights_path(name)
    if path is not None:
        _verify_shipped(name, path)
        return path
    if name in BUILTIN:
        raise ValueError(f"model {name!r}: {BUILTIN[name].how_to_install}. Installed models: "
                         f"{sorted(installed_models()) or 'none'} (in {user_model_dir()})")
    raise ValueError(f"model {name!r} is unknown; available: {sorted(set(BUILTIN) | set(installed_models()))}")


def shipped_sha256(name: str, path: Path) -> str | None:
    """Return the registry's SHA-256 for ``path`` if it is the package's shipped file of ``name``, else None.

    Parameters
    ----------
    name : str
        Model name ``arch.tag`` (lower case, e.g. ``cgrdn.hrstem_default``).
    path : Path
        A weights file of that model.

    Returns
    -------
    str or None
        The declared hex digest when ``path`` lies in the package's ``restore/weights`` and the declaration
        has one; None for a user-installed file or undeclared weights.
    """
    entry = BUILTIN.get(name)
    if entry is None or entry.shipped_sha256 is None or Path(path).resolve().parent != PACKAGE_WEIGHTS:
        return None
    return entry.shipped_sha256


def _verify_shipped(name: str, path: Path) -> None:
    expected = shipped_sha256(name, path)
    if expected is not None and (digest := sha256_file(path)) != expected:
        raise ValueError(f"model {name!r}: {path} has SHA-256 {digest}, the registry expects {expected}; "
                         "the shipped weights are corrupt or were replaced (reinstall the package)")


def load_registered_model(name_or_path: str):
    """Load a model by registry name or by the path of a ``.safetensors`` file.

    Parameters
    ----------
    name_or_path : str or Path
        A name ``arch.tag`` (resolved by :func:`resolve_weights`), or a path ending in ``.safetensors``.

    Returns
    -------
    model : torch.nn.Module
        In eval mode on the CPU.
    sidecar : dict
        The checkpoint's metadata (config, sha256, modality, dose/sampling range …).

    Raises
    ------
    ValueError
        If the name is unknown or not installed, or a checksum or the weights do not match.
    FileNotFoundError
        If the weights file or its sidecar is missing.
    """
    if str(name_or_path).endswith(".safetensors"):
        return load_model(name_or_path)
    path = resolve_weights(name_or_path)
    return load_model(path, expected_sha256=shipped_sha256(name_or_path, path))
