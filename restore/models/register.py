"""Where the networks and their named weights are declared: each architecture's module registers itself and
the weights that exist for it (as timm's ``register_model`` and default configurations do).

- :func:`register_architecture` names an ``nn.Module`` class and says how to build it from a sidecar's
  ``config`` dict; :func:`build_model` builds any registered architecture (used by
  :func:`restore.checkpoint.load_model`, the one loader of checkpoints).
- :func:`register_weights` declares named weights ``arch.tag`` of an architecture: modality, description,
  how to obtain them when missing and, for weights the package ships, their SHA-256.
  :mod:`restore.registry` finds the installed files.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Architecture:
    """A registered network: its name, class and how a sidecar's ``config`` dict becomes a model.

    Parameters
    ----------
    name : str
        The architecture's name (a sidecar's ``arch``).
    cls : type
        The ``nn.Module`` subclass.
    from_config : callable
        Builds an untrained model from a ``config`` dict.
    """

    name: str
    cls: type
    from_config: Callable[[dict], nn.Module]


@dataclass(frozen=True)
class NamedWeights:
    """Weights ``arch.tag`` declared beside their architecture.

    Parameters
    ----------
    name : str
        ``arch.tag``, e.g. ``cgrdn.hrstem_default``.
    arch : str
        The registered architecture.
    modality : str
        The imaging mode it was trained for (HRSTEM, LRSTEM, HRTEM …).
    description : str
        One line for ``bench models list``.
    how_to_install : str
        What to do when the file is missing.
    shipped_sha256 : str or None
        SHA-256 of ``restore/weights/NAME.safetensors`` when the package ships it (checked on every load).
    """

    name: str
    arch: str
    modality: str
    description: str
    how_to_install: str
    shipped_sha256: str | None = None


ARCHITECTURES: dict[str, Architecture] = {}
WEIGHTS: dict[str, NamedWeights] = {}


def register_architecture(name: str, cls: type, from_config: Callable[[dict], nn.Module]) -> Architecture:
    """Register a network class under ``name`` (the sidecar's ``arch``); sets ``cls.arch = name``.

    Registering the same class (same qualified name) again replaces the entry.

    Parameters
    ----------
    name : str
        Architecture name.
    cls : type
        The ``nn.Module`` subclass.
    from_config : callable
        ``config dict -> nn.Module``: builds an untrained model (used by :func:`build_model`).

    Returns
    -------
    Architecture
        The registered entry.

    Raises
    ------
    ValueError
        If another class has the name.
    """
    previous = ARCHITECTURES.get(name)
    if previous is not None and previous.cls.__qualname__ != cls.__qualname__:
        raise ValueError(f"architecture {name!r} is registered twice; give the new one another name")
    cls.arch = name
    ARCHITECTURES[name] = Architecture(name, cls, from_config)
    return ARCHITECTURES[name]


def register_weights(*entries: NamedWeights) -> None:
    """Declare named weights of registered architectures.

    Parameters
    ----------
    *entries : NamedWeights
        The weights to declare; an entry with a name already declared replaces it.

    Raises
    ------
    ValueError
        If an entry's architecture is not registered or its name does not start with ``arch.``.
    """
    for entry in entries:
        if entry.arch not in ARCHITECTURES or not entry.name.startswith(f"{entry.arch}."):
            raise ValueError(f"weights {entry.name!r}: architecture {entry.arch!r} is not registered, or the name does "
                             "not start with it")
        WEIGHTS[entry.name] = entry


def architecture_of(model: nn.Module) -> str:
    """Return the registered name of a model's class.

    Parameters
    ----------
    model : torch.nn.Module
        A model; its exact class (not a subclass) must be registered.

    Returns
    -------
    str
        The architecture name.

    Raises
    ------
    ValueError
        For a class that is not registered.
    """
    for architecture in ARCHITECTURES.values():
        if type(model) is architecture.cls:
            return architecture.name
    raise ValueError(f"{type(model).__name__} is not a registered architecture; known: {sorted(ARCHITECTURES)}")


def build_model(arch: str, config: dict) -> nn.Module:
    """Build an untrained model of a registered architecture from its ``config`` dict.

    Parameters
    ----------
    arch : str
        Registered architecture name.
    config : dict
        The architecture's configuration (a sidecar's ``config``).

    Returns
    -------
    torch.nn.Module
        A freshly initialised model.

    Raises
    ------
    ValueError
        For an unknown architecture or a config that is not a dict.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch={arch!r}: unknown architecture; known: {sorted(ARCHITECTURES)}")
    if not isinstance(config, dict):
        raise ValueError("sidecar: 'config' must be a JSON object")
    return ARCHITECTURES[arch].from_config(config)
