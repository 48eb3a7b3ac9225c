"""CNN restoration: a registered network (``arch.tag``, see ``bench models list``) or a ``.safetensors``
checkpoint path, optionally with its numeric path as a suffix (``cgrdn.hrstem_default+bf16``, ``…+fp32``;
default ``+auto``, :func:`restore.numerics.inference_path`), run by :func:`restore.inference.restore_stack`,
which batches the tiles of all images of the stack (e.g. the noise realisations of one task) into the
forward passes — on a GPU, 64 tiles per pass by default; the network normalises each image itself, so it
gets the image as measured.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from _shared.model_spec import split_numeric
from bench.methods.base import POISSON, MethodFamily, NoiseModel, as_stack, register_method_family

DEFAULT_MODEL = "cgrdn.hrstem_default"

_MODEL_CACHE: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class CNNMethod:
    """A restoration network from the registry (``arch.tag``) or a ``.safetensors`` checkpoint.

    The weights are located and their SHA-256 read when the method is built (so an unknown or missing
    model fails at once); the network itself is loaded lazily, once per process, so that the method can be
    sent to worker processes cheaply.
    """

    name: str
    weights: str
    sha256: str
    sidecar: dict = field(default_factory=dict, compare=False, hash=False)
    device: str | None = None
    tile: int = 256
    # tiles per forward pass, taken across the realisations of the stack; None: 64 on CUDA, 8 on CPU
    batch_size: int | None = None
    numeric: str = "auto"
    # the arithmetic decided once, where the method is built (restore.numerics.NumericPath): every worker then
    # computes what the provenance says, whatever its own CPU would choose for "auto"
    path: Any = field(default=None, compare=False, hash=False)

    def _model(self):
        key = (self.weights, self.sha256)
        if key not in _MODEL_CACHE:
            from restore.checkpoint import load_model

            _MODEL_CACHE[key] = load_model(self.weights, expected_sha256=self.sha256)[0]
        return _MODEL_CACHE[key]

    def __call__(self, images: np.ndarray, noise: NoiseModel = POISSON) -> np.ndarray:
        """Restore the stack with the network, tile by tile, batching tiles across the images.

        Parameters
        ----------
        images : ndarray, shape (B, H, W)
            Images in detector units.
        noise : NoiseModel, default POISSON
            The detector's noise model (unused: the network normalises each image).

        Returns
        -------
        ndarray, shape (B, H, W)
            The restored images [detector units], float64.
        """
        import torch

        from restore.inference import restore_stack

        stack = as_stack(images)
        on_gpu = (self.device is None and torch.cuda.is_available()) or str(self.device).startswith("cuda")
        batch_size = self.batch_size if self.batch_size is not None else (64 if on_gpu else 8)
        restored = restore_stack(stack.astype(np.float32), self._model(), tile=self.tile, batch_size=batch_size,
                                 device=self.device, numeric=self.numeric_path().dtype)
        return np.asarray(restored, dtype=np.float64)

    def numeric_path(self):
        """Return the numeric path this method runs on: decided when it was built, else now.

        Returns
        -------
        restore.numerics.NumericPath
            The arithmetic chosen for ``numeric`` on ``device`` and these weights (their bf16 check).
        """
        if self.path is not None:
            return self.path
        from restore.checkpoint import bf16_check_of
        from restore.inference import numeric_path_for

        return numeric_path_for(self.numeric, self.device, bf16_check=bf16_check_of(self.sidecar))

    def provenance(self) -> dict[str, Any]:
        """Return the method's record: weights, their SHA-256, architecture and numeric path.

        Returns
        -------
        dict
            ``name``, ``kind``, ``weights``, ``sha256``, ``arch``, ``config``, ``modality`` (from the sidecar)
            and ``numeric_path``.
        """
        return {"name": self.name, "kind": "cnn", "weights": self.weights, "sha256": self.sha256,
                "arch": self.sidecar.get("arch"), "config": self.sidecar.get("config"),
                "modality": self.sidecar.get("modality"), "numeric_path": self.numeric_path().to_dict()}


def cnn_method(name_or_path: str, *, device: str | None = None) -> CNNMethod:
    """Build a :class:`CNNMethod` from a registry name or a checkpoint path, with an optional ``+bf16``/``+fp32``.

    Parameters
    ----------
    name_or_path : str
        ``arch.tag`` or a ``.safetensors`` path, optionally followed by ``+auto``, ``+bf16`` or ``+fp32``
        (the numeric path; the suffix stays in the method's name so that both can run in one study).
    device : str, optional
        Where the network runs (default: CUDA when available, else CPU).

    Returns
    -------
    CNNMethod

    Raises
    ------
    ValueError
        If the name is unknown or not installed (the message says how to install it), the path does not
        exist or lacks its JSON sidecar, or the numeric suffix is unknown.
    """
    from restore.checkpoint import read_sidecar
    from restore.registry import resolve_weights

    spec, numeric = split_numeric(name_or_path)
    if spec.endswith(".safetensors"):
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"model checkpoint {spec!r} does not exist")
        label = path.stem
    else:
        path = resolve_weights(spec)
        label = spec
    sidecar = read_sidecar(path)
    if "sha256" not in sidecar:
        raise ValueError(f"model checkpoint {path}: its sidecar records no sha256; re-save it with restore.checkpoint")
    if numeric != "auto" or "+" in str(name_or_path):
        label = f"{label}+{numeric}"
    method = CNNMethod(name=label, weights=str(path), sha256=str(sidecar["sha256"]), sidecar=sidecar, device=device,
                       numeric=numeric)
    return replace(method, path=method.numeric_path())


def keep_recorded_arithmetic(method, manifest: dict | None):
    """Return ``method`` computing in the arithmetic a results directory began it with, when it asks for auto.

    A network's ``auto`` path can change between two runs into one directory (another CPU, or a bf16 check
    recorded in between); resuming keeps what the directory's results were computed in, so that one method
    name never mixes two arithmetics. Forced paths (``+fp32``, ``+bf16``) cannot change.

    Parameters
    ----------
    method : Method
        A method of the run (only :class:`CNNMethod` with ``numeric="auto"`` is affected).
    manifest : dict or None
        The directory's manifest (:meth:`_shared.results.ResultStore.admit`), None for a new directory.

    Returns
    -------
    Method
        ``method``, or a copy whose numeric path is the recorded one, its reason saying why.
    """
    from _shared.results import method_dtype
    from restore.numerics import NumericPath

    if manifest is None or not isinstance(method, CNNMethod) or method.numeric != "auto":
        return method
    record = next((m for m in manifest.get("methods", []) if m.get("name") == method.name), None)
    path = method.numeric_path()
    before = method_dtype(record) if record is not None else None
    if before is None or before == path.dtype:
        return method
    reason = f"resumed: this results directory's {method.name} results are {before} (a new run would take " \
             f"{path.dtype}: {path.reason})"
    return replace(method, path=NumericPath(path.device, before, "auto", reason, path.cpu_flags, path.native_bf16))


FAMILY = register_method_family(MethodFamily(
    "cnn", f"a registered model name such as {DEFAULT_MODEL} (see `bench models list`) or a path to a .safetensors "
           "checkpoint",
    lambda spec: split_numeric(spec)[0].endswith(".safetensors") or "." in spec,
    lambda spec, *, device=None: cnn_method(spec, device=device),
    defaults=(DEFAULT_MODEL,), order=3))
