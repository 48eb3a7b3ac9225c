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
    """``$STEM_BENCH_MODELS`` if set, else ``~/.local/share/stem-restore-bench/models``."""
    configured = os.environ.get("STEM_BENCH_MODELS")
    return Path(configured).expanduser() if configured else Path.home() / ".local/share/stem-restore-bench/models"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"model name {name!r}: must look like 'arch.tag' (lower-case, e.g. 'cgrdn.sfr_hrstem')")
    return name


def _search_dirs() -> list[Path]:
    return [user_model_dir(), PACKAGE_WEIGHTS]


def weights_path(name: str) -> Path | None:
    """Path of the installed ``NAME.safetensors`` (user directory first), or None."""
    check_name(name)
    for folder in _search_dirs():
        candidate = folder / f"{name}.safetensors"
        if candidate.is_file():
            return candidate
    return None


def installed_models() -> dict[str, Path]:
    """Every ``arch.tag.safetensors`` with a sidecar in the search directories (user directory wins)."""
    found: dict[str, Path] = {}
    for folder in reversed(_search_dirs()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.safetensors")):
                if _NAME.match(path.stem) and path.with_suffix(".json").is_file():
                    found[path.stem] = path
    return found


def list_models() -> list[dict]:
    """One row per known or installed model: name, arch, modality, installed path (or None), description."""
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
    """The weights file of a registered model.

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the available ones) or known but not installed (the
        message says how to install it).
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
    """The registry's SHA-256 for ``path`` if it is the package's shipped file of ``name``, else None."""
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

    Returns
    -------
    model : torch.nn.Module
        In eval mode on the CPU.
    sidecar : dict
        The checkpoint's metadata (config, sha256, modality, dose/sampling range …).
    """
    if str(name_or_path).endswith(".safetensors"):
        return load_model(name_or_path)
    path = resolve_weights(name_or_path)
    return load_model(path, expected_sha256=shipped_sha256(name_or_path, path))
