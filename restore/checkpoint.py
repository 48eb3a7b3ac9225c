"""Checkpoints: safetensors weights with a JSON sidecar, written atomically, loaded without unpickling.

A model file ``NAME.safetensors`` comes with ``NAME.json`` holding the architecture, its configuration,
the file's SHA-256, provenance (versions, git commit) and free metadata (modality, dose and sampling range,
training step). Optimizer state is stored apart (``torch.save`` of tensors and numbers only) and read back
with ``torch.load(weights_only=True)``, which refuses arbitrary pickled objects.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from _shared.files import sha256_bytes, write_bytes_atomic, write_json_atomic
from _shared.files import sha256_file as file_sha256  # noqa: F401  (kept for callers of restore.checkpoint)
from _shared.provenance import git_commit, library_versions
from _shared.sidecar import SIDECAR_FORMAT, read_sidecar, sidecar_path  # noqa: F401  (read_sidecar: for callers)
from restore.models import architecture_of, build_model

# Checkpoints are meant to be shared: world-readable, unlike mkstemp's 0600.
SHARED_FILE_MODE = 0o644


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` atomically (:func:`_shared.files.write_bytes_atomic`), readable by everyone."""
    write_bytes_atomic(path, data, mode=SHARED_FILE_MODE)


def atomic_write_json(path: str | Path, value: dict) -> None:
    """Write ``value`` as canonical JSON with a trailing newline, atomically, readable by everyone."""
    write_json_atomic(path, value, newline=True, mode=SHARED_FILE_MODE)


def provenance() -> dict:
    """Library versions and the git commit of this checkout (None outside a git work tree)."""
    versions = library_versions(("torch", "numpy", "safetensors", "stem-restore-bench"))
    return {"python": versions["python"], "torch": versions.get("torch"), "numpy": versions.get("numpy"),
            "safetensors": versions.get("safetensors"), "stem_restore_bench": versions.get("stem-restore-bench"),
            "git_commit": git_commit(Path(__file__).resolve().parent)}


def save_weights(weights_path: str | Path, state_dict: dict[str, torch.Tensor], metadata: dict) -> dict:
    """Write ``state_dict`` as safetensors and its JSON sidecar, both atomically.

    Parameters
    ----------
    weights_path : str or Path
        Destination ``*.safetensors``.
    state_dict : dict
        Tensor name -> tensor (copied to contiguous CPU memory).
    metadata : dict
        JSON-serialisable description; must contain ``arch`` and ``config`` for :func:`load_model`.

    Returns
    -------
    dict
        The sidecar written (with ``sha256``, ``format`` and ``provenance`` added).
    """
    from safetensors.torch import save

    weights_path = Path(weights_path)
    if weights_path.suffix != ".safetensors":
        raise ValueError(f"weights_path={str(weights_path)!r}: must end in .safetensors")
    tensors = {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in state_dict.items()}
    data = save(tensors)
    sidecar = {**metadata, "format": SIDECAR_FORMAT, "sha256": sha256_bytes(data),
               "weights_file": weights_path.name, "provenance": provenance()}
    atomic_write_bytes(weights_path, data)
    atomic_write_json(sidecar_path(weights_path), sidecar)
    return sidecar


def load_weights(weights_path: str | Path, expected_sha256: str | None = None) -> tuple[dict, dict]:
    """Read a safetensors file after checking its SHA-256 against the sidecar (and ``expected_sha256``).

    Raises
    ------
    FileNotFoundError
        If the weights or the sidecar are missing.
    ValueError
        If a checksum differs or the file is not a valid safetensors file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: weights file not found")
    sidecar = read_sidecar(weights_path)
    data = weights_path.read_bytes()
    digest = sha256_bytes(data)
    for label, expected in (("sidecar", sidecar.get("sha256")), ("registry", expected_sha256)):
        if expected is not None and digest != expected:
            raise ValueError(f"{weights_path}: SHA-256 {digest} differs from the {label}'s {expected}; "
                             "the file is corrupt or does not belong to this record")
    try:
        state = load(data)
    except SafetensorError as error:
        raise ValueError(f"{weights_path}: not a valid safetensors file ({error})") from error
    return state, sidecar


def model_from_sidecar(sidecar: dict) -> nn.Module:
    """Instantiate the registered architecture named in a sidecar (``arch`` and ``config``), untrained.

    Raises
    ------
    ValueError
        For an unknown architecture or a config that is not a dict.
    """
    return build_model(sidecar.get("arch"), sidecar.get("config"))


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict`` that explains missing, unexpected and mis-shaped tensors in one ValueError."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(f"{source}: checkpoint does not match the model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, shape mismatches {shapes[:5]}")
    model.load_state_dict(state)


def load_model(weights_path: str | Path, expected_sha256: str | None = None) -> tuple[nn.Module, dict]:
    """Load a model from ``*.safetensors`` + sidecar, in eval mode on the CPU.

    Returns
    -------
    model : torch.nn.Module
    sidecar : dict
    """
    state, sidecar = load_weights(weights_path, expected_sha256)
    model = model_from_sidecar(sidecar)
    load_state_strict(model, state, str(weights_path))
    return model.eval(), sidecar


def save_model(weights_path: str | Path, model: nn.Module, arch: str | None = None, **metadata) -> dict:
    """Save a model's weights with its architecture, ``config.to_dict()`` and ``metadata`` in the sidecar.

    ``arch`` defaults to the registered name of the model's class (:mod:`restore.models.register`).
    """
    return save_weights(weights_path, model.state_dict(),
                        {"arch": arch or architecture_of(model), "config": model.config.to_dict(), **metadata})


def save_tensor_state(path: str | Path, state: dict) -> None:
    """Atomically ``torch.save`` a nested dict of tensors and plain numbers (e.g. optimizer state)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_tensor_state(path: str | Path) -> dict:
    """Read a :func:`save_tensor_state` file with ``weights_only=True`` (no arbitrary unpickling)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training state not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError … for bad files
        raise ValueError(f"{path}: unreadable or unsafe training state ({type(error).__name__}: {error})") from error
