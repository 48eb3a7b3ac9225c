"""Model registry: names ``arch.tag`` mapping to an architecture and a weights record.

Weights are looked up, in this order, in the user's model directory (``$STEM_BENCH_MODELS`` or
``~/.local/share/stem-restore-bench/models``) and in the package's ``restore/weights`` folder, as
``NAME.safetensors`` with its ``NAME.json`` sidecar (see :mod:`restore.checkpoint`). Built-in names are
listed even before their weights exist, so that the error can say how to get them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9][a-z0-9_\-]*$")
PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"
R_EM_MODELS = ("sfr_hrstem", "sfr_lrstem", "sfr_hrtem", "sfr_lrtem", "sfr_hrsem", "sfr_lrsem")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: ``name`` = ``arch.tag``, its modality and how to obtain missing weights."""

    name: str
    arch: str
    modality: str
    description: str
    how_to_install: str


def _builtin_entries() -> dict[str, ModelEntry]:
    entries = {"cgrdn.hrstem_default": ModelEntry(
        "cgrdn.hrstem_default", "cgrdn", "HRSTEM",
        "the suite's own CGRDN trained on synthetic Pt HAADF pairs (bench train)",
        "model not trained/installed yet: train it with `bench train CONFIG` and copy the best checkpoint "
        "to the user model directory as cgrdn.hrstem_default.safetensors (+ .json)")}
    for tag in R_EM_MODELS:
        entries[f"cgrdn.{tag}"] = ModelEntry(
            f"cgrdn.{tag}", "cgrdn", tag.split("_")[1].upper(),
            f"published tk_r_em 1.0.4 model {tag} (Lobato et al. 2023, GPL-3.0)",
            "not installed: `pip download --no-deps --no-binary :all: tk_r_em==1.0.4 -d DIR` then "
            "`bench models import-r-em DIR/tk_r_em-1.0.4.tar.gz`")
    return entries


BUILTIN = _builtin_entries()


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
        return path
    if name in BUILTIN:
        raise ValueError(f"model {name!r}: {BUILTIN[name].how_to_install}. Installed models: "
                         f"{sorted(installed_models()) or 'none'} (in {user_model_dir()})")
    raise ValueError(f"model {name!r} is unknown; available: {sorted(set(BUILTIN) | set(installed_models()))}")


def load_registered_model(name_or_path: str):
    """Load a model by registry name or by the path of a ``.safetensors`` file.

    Returns
    -------
    model : torch.nn.Module
        In eval mode on the CPU.
    sidecar : dict
        The checkpoint's metadata (config, sha256, modality, dose/sampling range …).
    """
    from restore.checkpoint import load_model

    if str(name_or_path).endswith(".safetensors"):
        return load_model(name_or_path)
    return load_model(resolve_weights(name_or_path))
