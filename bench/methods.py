"""Restoration methods compared by the studies: one interface, a stack of images in, a stack out.

- ``raw``: the measured image itself (no restoration).
- ``bm3d``: BM3D behind a variance-stabilising transform — the Anscombe transform 2√(z + 3/8) for pure
  Poisson counts, the generalised Anscombe transform for Poisson–Gaussian data — followed by the closed-form
  approximation of the exact unbiased inverse (Mäkitalo & Foi, IEEE TIP 20 (2011) 2697 and 22 (2013) 91).
  After the transform the noise is close to Gaussian with unit variance, so BM3D runs with σ = 1.
- a registered CNN (``arch.tag``, see ``bench models list``) or a ``.safetensors`` checkpoint path, run by
  :func:`restore.inference.restore_stack`, which batches the tiles of all images of the stack (e.g. the
  noise realisations of one task) into the forward passes — on a GPU, 64 tiles per pass by default; the
  network normalises each image itself, so it gets the image as measured.

Every method maps (B, H, W) images in detector units to (B, H, W) images in the same units, given the
:class:`NoiseModel` of the detector (only the VST uses it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

BUILTIN_METHODS = ("raw", "bm3d")
DEFAULT_MODEL = "cgrdn.hrstem_default"


@dataclass(frozen=True)
class NoiseModel:
    """Measured image = gain · Poisson(λ) + Normal(offset, read_noise²), in detector units.

    Attributes
    ----------
    gain : float
        Detector units per detected electron (> 0); 1 for images in counts.
    read_noise : float
        Standard deviation of the additive Gaussian noise [detector units] (≥ 0).
    offset : float
        Mean of the additive Gaussian noise [detector units].
    """

    gain: float = 1.0
    read_noise: float = 0.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"NoiseModel.gain={self.gain!r} must be a positive number of units per electron")
        if not (math.isfinite(self.read_noise) and self.read_noise >= 0):
            raise ValueError(f"NoiseModel.read_noise={self.read_noise!r} must be >= 0 detector units")
        if not math.isfinite(self.offset):
            raise ValueError(f"NoiseModel.offset={self.offset!r} must be finite")

    @property
    def pure_poisson(self) -> bool:
        return self.gain == 1.0 and self.read_noise == 0.0 and self.offset == 0.0


POISSON = NoiseModel()


def stem_noise_model(sigma_counts: float | None, *, scale: float = 1.0) -> NoiseModel:
    """The Poisson–Gaussian model of an S(T)EM detector signal (paper eqs. 45-46).

    Eq. 46 keeps one count per detected electron and adds a signal-independent Gaussian of standard
    deviation ``sigma_counts`` (``PmtParams.sigma_counts``; None for a pure counting detector). ``scale``
    multiplies the signal (e.g. 1/α for a training pair, whose x is in the units of its target).
    """
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale={scale!r} must be a positive factor (detector units per count)")
    return NoiseModel(gain=scale, read_noise=scale * float(sigma_counts or 0.0))


class Method(Protocol):
    """A restoration method: ``method(images, noise) -> restored`` with (B, H, W) float arrays."""

    name: str

    def __call__(self, images: np.ndarray, noise: NoiseModel = POISSON) -> np.ndarray: ...

    def provenance(self) -> dict[str, Any]: ...


# Variance-stabilising transforms ------------------------------------------------------------------------

def anscombe(counts: np.ndarray) -> np.ndarray:
    """Anscombe transform 2√(z + 3/8) of Poisson counts z ≥ 0: variance ≈ 1 for λ ≳ 4."""
    return 2.0 * np.sqrt(np.maximum(np.asarray(counts, dtype=np.float64), 0.0) + 0.375)


def inverse_anscombe_unbiased(transformed: np.ndarray) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse of the Anscombe transform.

    Maps E[2√(z + 3/8)], z ~ Poisson(λ), back to λ (Mäkitalo & Foi 2011). Unlike the algebraic inverse
    (D/2)² − 3/8 it stays unbiased at low counts; values below the transform of λ = 0 map to 0.

    Parameters
    ----------
    transformed : ndarray
        Denoised values D in the Anscombe domain.

    Returns
    -------
    ndarray
        Estimated Poisson means λ ≥ 0 [counts].
    """
    d = np.asarray(transformed, dtype=np.float64)
    # Below the Anscombe value of zero counts, 2√(3/8) ≈ 1.22, the series diverges; λ = 0 there.
    safe = np.maximum(d, 2.0 * math.sqrt(0.375))
    root = math.sqrt(1.5)
    value = 0.25 * safe**2 + 0.25 * root / safe - 1.375 / safe**2 + 0.625 * root / safe**3 - 0.125
    return np.where(d > 2.0 * math.sqrt(0.375), np.maximum(value, 0.0), 0.0)


def generalized_anscombe(values: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Generalised Anscombe transform of gain·Poisson + Normal(offset, σ²) data (variance ≈ 1).

    f(z) = 2√(max(y + 3/8 + s², 0)) with y = (z − offset)/gain and s = σ/gain; for pure Poisson counts it
    is the Anscombe transform.
    """
    scaled = (np.asarray(values, dtype=np.float64) - noise.offset) / noise.gain
    sigma = noise.read_noise / noise.gain
    return 2.0 * np.sqrt(np.maximum(scaled + 0.375 + sigma**2, 0.0))


def inverse_generalized_anscombe(transformed: np.ndarray, noise: NoiseModel) -> np.ndarray:
    """Closed-form approximation of the exact unbiased inverse of :func:`generalized_anscombe`.

    The Poisson closed form minus s² (s = σ/gain), clipped at zero and mapped back to detector units
    (Mäkitalo & Foi 2013). Returns gain·λ + offset.
    """
    sigma = noise.read_noise / noise.gain
    # below the transform of zero counts the Poisson closed form is 0 (see inverse_anscombe_unbiased)
    value = inverse_anscombe_unbiased(transformed) - sigma**2
    return np.maximum(value, 0.0) * noise.gain + noise.offset


# Methods ------------------------------------------------------------------------------------------------

def _as_stack(images: np.ndarray) -> np.ndarray:
    array = np.asarray(images, dtype=np.float64)
    if array.ndim != 3 or min(array.shape[1:]) < 8:
        raise ValueError(f"images must be a (B, H, W) stack with sides >= 8 px, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("images contain NaN or infinite pixels")
    return array


@dataclass(frozen=True)
class RawMethod:
    """No restoration: the measured image."""

    name: str = "raw"

    def __call__(self, images: np.ndarray, noise: NoiseModel = POISSON) -> np.ndarray:
        return _as_stack(images).copy()

    def provenance(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "raw"}


@dataclass(frozen=True)
class BM3DMethod:
    """BM3D (``bm3d`` package, all stages, profile 'np', one thread) behind the (generalised) Anscombe VST.

    One thread because BM3D's result depends slightly on the thread count (reproducibility).
    """

    name: str = "bm3d"

    def __call__(self, images: np.ndarray, noise: NoiseModel = POISSON) -> np.ndarray:
        import bm3d

        stack = _as_stack(images)
        profile = bm3d.BM3DProfile()  # the 'np' (normal profile) defaults
        profile.num_threads = 1
        out = np.empty_like(stack)
        for index, image in enumerate(stack):
            if noise.pure_poisson:
                stabilised = anscombe(image)
            else:
                stabilised = generalized_anscombe(image, noise)
            # scalar σ: an array-valued sigma_psd fails inside bm3d with numpy ≥ 2.4 (np.trapz removed)
            denoised = np.asarray(bm3d.bm3d(stabilised, sigma_psd=1.0, profile=profile,
                                            stage_arg=bm3d.BM3DStages.ALL_STAGES), dtype=np.float64)
            if noise.pure_poisson:
                out[index] = inverse_anscombe_unbiased(denoised)
            else:
                out[index] = inverse_generalized_anscombe(denoised, noise)
        return out

    def provenance(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {"name": self.name, "kind": "bm3d", "bm3d_version": version("bm3d"), "profile": "np",
                "num_threads": 1, "vst": "Anscombe / generalised Anscombe, closed-form exact unbiased inverse"}


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

    def _model(self):
        key = (self.weights, self.sha256)
        if key not in _MODEL_CACHE:
            from restore.checkpoint import load_model

            _MODEL_CACHE[key] = load_model(self.weights, expected_sha256=self.sha256)[0]
        return _MODEL_CACHE[key]

    def __call__(self, images: np.ndarray, noise: NoiseModel = POISSON) -> np.ndarray:
        import torch

        from restore.inference import restore_stack

        stack = _as_stack(images)
        on_gpu = (self.device is None and torch.cuda.is_available()) or str(self.device).startswith("cuda")
        batch_size = self.batch_size if self.batch_size is not None else (64 if on_gpu else 8)
        restored = restore_stack(stack.astype(np.float32), self._model(), tile=self.tile, batch_size=batch_size,
                                 device=self.device)
        return np.asarray(restored, dtype=np.float64)

    def provenance(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "cnn", "weights": self.weights, "sha256": self.sha256,
                "arch": self.sidecar.get("arch"), "config": self.sidecar.get("config"),
                "modality": self.sidecar.get("modality")}


def cnn_method(name_or_path: str, *, device: str | None = None) -> CNNMethod:
    """Build a :class:`CNNMethod` from a registry name or a checkpoint path.

    Raises
    ------
    ValueError
        If the name is unknown or not installed (the message says how to install it), or the path does
        not exist or lacks its JSON sidecar.
    """
    from restore.checkpoint import read_sidecar
    from restore.registry import resolve_weights

    spec = str(name_or_path)
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
    return CNNMethod(name=label, weights=str(path), sha256=str(sidecar["sha256"]), sidecar=sidecar, device=device)


def make_method(spec: str, *, device: str | None = None) -> Method:
    """Build a method from its command-line name: ``raw``, ``bm3d``, ``arch.tag`` or ``PATH.safetensors``.

    Raises
    ------
    ValueError
        For an unknown method or model (the message lists the valid choices).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"method {spec!r}: give raw, bm3d, a registered model (arch.tag) or a .safetensors path")
    spec = spec.strip()
    if spec == "raw":
        return RawMethod()
    if spec == "bm3d":
        return BM3DMethod()
    if spec.endswith(".safetensors") or "." in spec:
        return cnn_method(spec, device=device)
    raise ValueError(f"method {spec!r} is unknown; valid: raw, bm3d, a registered model name such as "
                     f"{DEFAULT_MODEL} (see `bench models list`) or a path to a .safetensors checkpoint")


def default_methods(*, device: str | None = None) -> tuple[list[Method], str | None]:
    """raw, BM3D and the suite's default model when it is installed.

    Returns
    -------
    methods : list of Method
    note : str or None
        Why the default model is missing, when it is.
    """
    methods: list[Method] = [RawMethod(), BM3DMethod()]
    try:
        methods.append(cnn_method(DEFAULT_MODEL, device=device))
        note = None
    except ValueError as error:
        note = f"the default model {DEFAULT_MODEL} is not available, so the study runs without it ({error})"
    return methods, note


def method_label(method: Method) -> str:
    return str(method.name)
