"""What every restoration method shares: the detector's noise model, the method interface, and the registry
of method families through which ``bench`` builds a method from its command-line name.

A method maps (B, H, W) images in detector units to (B, H, W) images in the same units, given the
:class:`NoiseModel` of the detector. A *family* is one kind of method (raw data, BM3D, CNN checkpoints …):
a module of :mod:`bench.methods` defines its method class and registers one :class:`MethodFamily` with
:func:`register_method_family` — which command-line names it answers to, how it builds a method from one,
and which of its methods the studies compare by default. A new family is one new file in this package.
"""
from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


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
        """Check the fields.

        Raises
        ------
        ValueError
            For a gain that is not a positive finite number, a negative or non-finite read noise, or a
            non-finite offset.
        """
        if not (math.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"NoiseModel.gain={self.gain!r} must be a positive number of units per electron")
        if not (math.isfinite(self.read_noise) and self.read_noise >= 0):
            raise ValueError(f"NoiseModel.read_noise={self.read_noise!r} must be >= 0 detector units")
        if not math.isfinite(self.offset):
            raise ValueError(f"NoiseModel.offset={self.offset!r} must be finite")

    @property
    def pure_poisson(self) -> bool:
        """Whether the model is plain Poisson counting (gain 1, no read noise, no offset).

        Returns
        -------
        bool
            True for gain 1, read noise 0 and offset 0.
        """
        return self.gain == 1.0 and self.read_noise == 0.0 and self.offset == 0.0


POISSON = NoiseModel()


def stem_noise_model(sigma_counts: float | None, *, scale: float = 1.0) -> NoiseModel:
    """Return the Poisson–Gaussian model of an S(T)EM detector signal (paper eqs. 45-46).

    Eq. 46 keeps one count per detected electron and adds a signal-independent Gaussian of standard
    deviation ``sigma_counts`` (``PmtParams.sigma_counts``; None for a pure counting detector). ``scale``
    multiplies the signal (e.g. 1/α for a training pair, whose x is in the units of its target).

    Parameters
    ----------
    sigma_counts : float or None
        Standard deviation of the additive Gaussian noise [counts]; None (or 0) for none.
    scale : float, default 1.0
        Detector units per count (> 0); multiplies both the gain and the read noise.

    Returns
    -------
    NoiseModel
        Gain ``scale``, read noise ``scale · sigma_counts`` [detector units], offset 0.

    Raises
    ------
    ValueError
        If ``scale`` is not a positive finite number.
    """
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale={scale!r} must be a positive factor (detector units per count)")
    return NoiseModel(gain=scale, read_noise=scale * float(sigma_counts or 0.0))


class Method(Protocol):
    """A restoration method: ``method(images, noise) -> restored`` with (B, H, W) float arrays."""

    name: str

    def __call__(self, images: np.ndarray, noise: NoiseModel = POISSON) -> np.ndarray:
        """Restore a stack of images.

        Parameters
        ----------
        images : ndarray, shape (B, H, W)
            Images in detector units.
        noise : NoiseModel, default POISSON
            The detector's noise model.

        Returns
        -------
        ndarray, shape (B, H, W)
            The restored images, in the same units.
        """
        ...

    def provenance(self) -> dict[str, Any]:
        """Return what identifies the method in the results' records.

        Returns
        -------
        dict
            JSON-ready description: at least ``name`` and ``kind``, plus what fixes the result (versions,
            weights and their SHA-256, options).
        """
        ...


@dataclass(frozen=True)
class TrainingData:
    """What a study lets a method that learns from data use, besides the noisy images it restores.

    No field ever holds a noise-free image.

    Attributes
    ----------
    budget : restore.self_supervised.SelfSupervisedBudget
        Steps, patch size and network size (a preset value, recorded with the results).
    seed : int
        Seed of the training (weights, patches, masks, synthesised noise).
    same_field : bool
        The images restored are independent noisy frames of one field (Noise2Noise pairs them).
    high_dose : callable or None
        ``draw(rng, n) -> (inputs, targets)``: n low-dose inputs synthesised by the study's noise model from
        high-dose noisy frames of *other* fields or thicknesses, and those frames (in the units of the images
        restored) as targets; None where the study has none.
    high_dose_frames : str
        What those frames are (for the records).
    """

    budget: Any
    seed: int
    same_field: bool = False
    high_dose: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None
    high_dose_frames: str = ""

    def offers(self) -> frozenset[str]:
        """Return what the data offers, as the names in a method's ``needs``.

        Returns
        -------
        frozenset of str
            A subset of {'same_field', 'high_dose'}.
        """
        return frozenset(name for name, present in (("same_field", self.same_field),
                                                    ("high_dose", self.high_dose is not None)) if present)


def learns_from_data(method: Any) -> bool:
    """Tell whether ``method`` trains on the study's data (it then takes a :class:`TrainingData`).

    Parameters
    ----------
    method : object
        Any method.

    Returns
    -------
    bool
        The method's ``learns_from_data`` attribute (False when it has none).
    """
    return bool(getattr(method, "learns_from_data", False))


def apply_method(method: Method, images: np.ndarray, noise: NoiseModel = POISSON,
                 training: TrainingData | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Restore ``images`` with ``method``; a method that learns from data first trains on ``training``.

    Parameters
    ----------
    method : Method
        Any method; one with ``learns_from_data`` gets ``training``.
    images : ndarray
        (B, H, W) images in detector units.
    noise : NoiseModel
        The detector's noise model.
    training : TrainingData, optional
        What a learning method may train on (ignored by the others).

    Returns
    -------
    restored : ndarray
        (B, H, W) restored images.
    record : dict
        How the method was trained (``training_s``, ``trained_on``, …); empty for a method that does not learn.
    """
    if learns_from_data(method):
        return method.restore(images, noise, training)
    return method(images, noise), {}


def as_stack(images: np.ndarray) -> np.ndarray:
    """Return ``images`` as a float64 (B, H, W) stack, checked.

    Parameters
    ----------
    images : array_like
        The images, shape (B, H, W).

    Returns
    -------
    ndarray, shape (B, H, W)
        The images as float64.

    Raises
    ------
    ValueError
        For another shape, sides under 8 px, or non-finite pixels.
    """
    array = np.asarray(images, dtype=np.float64)
    if array.ndim != 3 or min(array.shape[1:]) < 8:
        raise ValueError(f"images must be a (B, H, W) stack with sides >= 8 px, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("images contain NaN or infinite pixels")
    return array


@dataclass(frozen=True)
class MethodFamily:
    """One kind of restoration method, as ``bench`` finds it.

    Attributes
    ----------
    name : str
        The family's name (``raw``, ``bm3d``, ``cnn`` …).
    usage : str
        How its methods are named on the command line (for error messages and help).
    matches : callable
        ``matches(spec) -> bool``: whether a command-line name belongs to the family.
    build : callable
        ``build(spec, *, device) -> Method``; raises ValueError (naming the fix) for a name it cannot build.
    defaults : tuple of str
        Names of its methods compared by default (``bench run`` without ``--methods``).
    order : int
        Families are asked in this order (the first that matches builds the method) and listed in it.
    """

    name: str
    usage: str
    matches: Callable[[str], bool]
    build: Callable[..., Method]
    defaults: tuple[str, ...] = ()
    order: int = 100


_FAMILIES: dict[str, MethodFamily] = {}


def register_method_family(family: MethodFamily) -> MethodFamily:
    """Add a method family (called once, in its module).

    Registering the same family again (same name and usage, e.g. on a module reload) replaces it.

    Parameters
    ----------
    family : MethodFamily
        The family to add.

    Returns
    -------
    MethodFamily
        ``family`` itself.

    Raises
    ------
    ValueError
        If another family (with another usage) has the name.
    """
    previous = _FAMILIES.get(family.name)
    if previous is not None and previous.usage != family.usage:
        raise ValueError(f"method family {family.name!r} is registered twice; give the new family another name")
    _FAMILIES[family.name] = family
    return family


def method_families() -> list[MethodFamily]:
    """Return every registered family, in their order; every module of :mod:`bench.methods` is imported first.

    Returns
    -------
    list of MethodFamily
        Sorted by ``order``, then name.
    """
    package = importlib.import_module("bench.methods")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"bench.methods.{info.name}")
    return sorted(_FAMILIES.values(), key=lambda family: (family.order, family.name))


def make_method(spec: str, *, device: str | None = None) -> Method:
    """Build a method from its command-line name (``raw``, ``bm3d``, ``arch.tag``, ``PATH.safetensors`` …).

    Parameters
    ----------
    spec : str
        The method's name; surrounding blanks are ignored.
    device : str or None, optional
        Where a CNN runs (torch spelling); None chooses automatically.

    Returns
    -------
    Method
        The method built by the first family that matches ``spec``.

    Raises
    ------
    ValueError
        For an unknown method or model (the message lists the valid choices).
    """
    families = method_families()
    usage = "; ".join(family.usage for family in families)
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"method {spec!r}: give {usage}")
    spec = spec.strip()
    for family in families:
        if family.matches(spec):
            return family.build(spec, device=device)
    raise ValueError(f"method {spec!r} is unknown; valid: {usage}")


def default_methods(*, device: str | None = None) -> tuple[list[Method], str | None]:
    """Build the methods compared by default: each family's defaults that can be built here.

    Parameters
    ----------
    device : str or None, optional
        Where CNN methods run (torch spelling); None chooses automatically.

    Returns
    -------
    methods : list of Method
        The defaults that could be built, in the families' order.
    note : str or None
        Why a default method is missing, when one is.
    """
    methods: list[Method] = []
    notes = []
    for family in method_families():
        for spec in family.defaults:
            try:
                methods.append(family.build(spec, device=device))
            except ValueError as error:
                notes.append(f"the default method {spec} is not available, so the study runs without "
                             f"it ({error})")
    return methods, "; ".join(notes) or None


def method_label(method: Method) -> str:
    """Return the name a method's results carry.

    Parameters
    ----------
    method : Method
        The method.

    Returns
    -------
    str
        ``method.name`` as a string.
    """
    return str(method.name)
