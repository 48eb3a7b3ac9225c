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
from _shared.sidecar import SIDECAR_FORMAT, read_sidecar, sidecar_path  # noqa: F401  (SIDECAR_FORMAT: for callers)
from restore.models import architecture_of, build_model
from restore.numerics import BF16_CHECK_KEY

# Checkpoints are meant to be shared: world-readable, unlike mkstemp's 0600.
SHARED_FILE_MODE = 0o644


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` atomically (:func:`_shared.files.write_bytes_atomic`), readable by everyone.

    Parameters
    ----------
    path : str or Path
        Destination file; replaced in one step, with mode ``0o644``.
    data : bytes
        The bytes to write.
    """
    write_bytes_atomic(path, data, mode=SHARED_FILE_MODE)


def atomic_write_json(path: str | Path, value: dict) -> None:
    """Write ``value`` as canonical JSON with a trailing newline, atomically, readable by everyone.

    Parameters
    ----------
    path : str or Path
        Destination file; replaced in one step, with mode ``0o644``.
    value : dict
        JSON-serialisable mapping.
    """
    write_json_atomic(path, value, newline=True, mode=SHARED_FILE_MODE)


def provenance() -> dict:
    """Return the library versions and the git commit of this checkout.

    Returns
    -------
    dict
        ``python``, ``torch``, ``numpy``, ``safetensors``, ``stem_restore_bench`` (version strings, None for
        a library that is not installed) and ``git_commit`` (None outside a git work tree).
    """
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

    Raises
    ------
    ValueError
        If ``weights_path`` does not end in ``.safetensors``.
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

    Parameters
    ----------
    weights_path : str or Path
        The ``*.safetensors`` file; its sidecar ``NAME.json`` must lie beside it.
    expected_sha256 : str or None, optional
        Hex digest the file must also match (e.g. from the model registry); None (default) checks the
        sidecar's digest only.

    Returns
    -------
    state : dict
        Tensor name -> CPU tensor.
    sidecar : dict
        The sidecar's contents.

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

    Parameters
    ----------
    sidecar : dict
        A checkpoint sidecar; its ``arch`` (registered name) and ``config`` (dict) keys are used.

    Returns
    -------
    torch.nn.Module
        A freshly initialised model (weights not loaded).

    Raises
    ------
    ValueError
        For an unknown architecture or a config that is not a dict.
    """
    return build_model(sidecar.get("arch"), sidecar.get("config"))


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model``, explaining missing, unexpected and mis-shaped tensors in one ValueError.

    Parameters
    ----------
    model : torch.nn.Module
        The model to fill in place.
    state : dict
        Tensor name -> tensor; must match ``model.state_dict()`` in names and shapes.
    source : str
        Where ``state`` came from (e.g. the weights path), quoted in the error message.

    Raises
    ------
    ValueError
        If a tensor is missing, unexpected or of another shape than the model's.
    """
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

    Parameters
    ----------
    weights_path : str or Path
        The ``*.safetensors`` file; its sidecar names the architecture and its configuration.
    expected_sha256 : str or None, optional
        Hex digest the file must also match; None (default) checks the sidecar's digest only.

    Returns
    -------
    model : torch.nn.Module
        The model with its weights loaded, in eval mode. Its attribute ``bf16_check`` holds the sidecar's bf16
        record when that was measured on these weights (same SHA-256), else None: what lets
        :func:`restore.inference.restore_image`'s ``numeric="auto"`` choose bf16 (:mod:`restore.numerics`).
    sidecar : dict
        The sidecar's contents.

    Raises
    ------
    FileNotFoundError
        If the weights or the sidecar are missing.
    ValueError
        If a checksum differs, the architecture is unknown or the weights do not match the model.
    """
    state, sidecar = load_weights(weights_path, expected_sha256)
    model = model_from_sidecar(sidecar)
    load_state_strict(model, state, str(weights_path))
    model.bf16_check = bf16_check_of(sidecar)
    return model.eval(), sidecar


def bf16_check_of(sidecar: dict) -> dict | None:
    """Return a sidecar's bf16 record when it was measured on the weights the sidecar describes.

    Parameters
    ----------
    sidecar : dict
        A weights sidecar (:func:`read_sidecar`).

    Returns
    -------
    dict or None
        Its ``bf16_check`` entry (``bench check-bf16 --record``) when that names the sidecar's
        ``sha256``; None when there is none or it belongs to other weights.
    """
    check = sidecar.get(BF16_CHECK_KEY)
    if isinstance(check, dict) and sidecar.get("sha256") and check.get("weights_sha256") == sidecar["sha256"]:
        return check
    return None


def record_in_sidecar(weights_path: str | Path, key: str, value) -> dict:
    """Add or replace one entry of a weights file's sidecar, atomically; the weights are not touched.

    Parameters
    ----------
    weights_path : str or Path
        The ``*.safetensors`` file whose sidecar ``NAME.json`` is updated.
    key : str
        The sidecar entry (not one that describes the weights: ``arch``, ``config``, ``format``, ``sha256``).
    value : object
        JSON-serialisable value.

    Returns
    -------
    dict
        The sidecar written.

    Raises
    ------
    FileNotFoundError
        If the sidecar is missing.
    ValueError
        If ``key`` would change what the weights are.
    """
    if key in ("arch", "config", "format", "sha256"):
        raise ValueError(f"sidecar entry {key!r} describes the weights themselves; re-export them instead")
    sidecar = read_sidecar(weights_path)
    sidecar[key] = value
    atomic_write_json(sidecar_path(weights_path), sidecar)
    return sidecar


def save_model(weights_path: str | Path, model: nn.Module, arch: str | None = None, **metadata) -> dict:
    """Save a model's weights with its architecture, ``config.to_dict()`` and ``metadata`` in the sidecar.

    Parameters
    ----------
    weights_path : str or Path
        Destination ``*.safetensors``; the sidecar ``NAME.json`` is written beside it.
    model : torch.nn.Module
        The model to save; must have a ``config`` with ``to_dict()``.
    arch : str or None, optional
        Architecture name for the sidecar; None (default) uses the registered name of the model's class
        (:mod:`restore.models.register`).
    **metadata
        Further JSON-serialisable sidecar entries (modality, dose and sampling range, training step, …).

    Returns
    -------
    dict
        The sidecar written.

    Raises
    ------
    ValueError
        If ``weights_path`` does not end in ``.safetensors`` or, with ``arch`` None, the model's class is not
        registered.
    """
    return save_weights(weights_path, model.state_dict(),
                        {"arch": arch or architecture_of(model), "config": model.config.to_dict(), **metadata})


def save_tensor_state(path: str | Path, state: dict) -> None:
    """Atomically ``torch.save`` a nested dict of tensors and plain numbers (e.g. optimizer state).

    Parameters
    ----------
    path : str or Path
        Destination file, written with mode ``0o644``.
    state : dict
        Nested dict of tensors and plain numbers, loadable with ``weights_only=True``.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_tensor_state(path: str | Path) -> dict:
    """Read a :func:`save_tensor_state` file with ``weights_only=True`` (no arbitrary unpickling).

    Parameters
    ----------
    path : str or Path
        The file written by :func:`save_tensor_state`.

    Returns
    -------
    dict
        The saved state, tensors on the CPU.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is unreadable or holds objects that ``weights_only`` loading refuses.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: training state not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError … for bad files
        raise ValueError(f"{path}: unreadable or unsafe training state ({type(error).__name__}: {error})") from error
