"""What the studies' presets share: choosing a preset with overrides, validating its numbers, and splitting
realisations into blocks."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

PresetT = TypeVar("PresetT")


def configure_preset(presets: Mapping[str, PresetT], preset: str | PresetT,
                     overrides: Mapping[str, Any]) -> PresetT:
    """Return a named (or given) preset with ``overrides`` applied; None values are ignored, lists become tuples.

    Parameters
    ----------
    presets : mapping of str to dataclass
        The study's presets by name.
    preset : str or dataclass
        A name of ``presets``, or a preset instance.
    overrides : mapping of str to object
        Preset fields to replace.

    Returns
    -------
    dataclass
        A new preset (validated by its own ``__post_init__``).

    Raises
    ------
    ValueError
        For an unknown preset name (the message lists the valid ones), or invalid overrides (raised by the
        preset's own validation).
    """
    if isinstance(preset, str):
        if preset not in presets:
            raise ValueError(f"preset {preset!r} is unknown; valid: {', '.join(presets)}")
        preset = presets[preset]
    return replace(preset, **{k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items()
                              if v is not None})


def check_doses(doses: Sequence[float]) -> None:
    """Require at least one dose, all finite, positive and distinct.

    Parameters
    ----------
    doses : sequence of float
        Electron doses [e⁻/Å²].

    Raises
    ------
    ValueError
        For an empty list, or a dose that is not finite and positive, or a repeated dose.
    """
    if not doses:
        raise ValueError("doses is empty: give at least one dose in e⁻/Å² (e.g. --doses 500,50000)")
    if any(not (np.isfinite(d) and d > 0) for d in doses) or len(set(doses)) != len(doses):
        raise ValueError(f"doses={doses!r} must be distinct positive numbers of e⁻/Å²")


def check_integer(name: str, value: Any, minimum: int, unit: str = "") -> None:
    """Require ``value`` to be an integer >= ``minimum``.

    Parameters
    ----------
    name : str
        The field's name, for the message.
    value : int or float
        The value; a float with an integer value passes.
    minimum : int
        The smallest value allowed.
    unit : str, optional
        Appended to the message after ``minimum`` (e.g. ``" px"``).

    Raises
    ------
    ValueError
        If ``value`` is not a whole number or is below ``minimum``.
    """
    if int(value) != value or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}{unit}")


def blocks(total: int, block_size: int) -> Iterator[tuple[int, int]]:
    """Split ``range(total)`` into consecutive blocks of at most ``block_size`` items.

    Parameters
    ----------
    total : int
        Number of items (realisations).
    block_size : int
        Largest block (≥ 1).

    Yields
    ------
    tuple of int
        ``(first, count)`` of each block, in order.
    """
    for first in range(0, total, block_size):
        yield first, min(block_size, total - first)


def omit_named_values(config: dict[str, Any], preset: Any, presets: Mapping[str, Any],
                      names: Sequence[str]) -> dict[str, Any]:
    """Drop from ``config`` the fields ``names`` where they hold the value of the preset of the same name.

    For fields added after results directories were written (the self-supervised training budget, the
    denoise scenario's beam): such a directory's configuration, and so its hash, stays what it was, while the
    preset's name — part of the configuration — still fixes the value. A value set otherwise enters the
    configuration. The runner records the budget actually used in the manifest (``training_budget``).

    Parameters
    ----------
    config : dict
        The preset's configuration; modified in place.
    preset : dataclass
        The preset it came from (its ``name`` picks the named preset).
    presets : mapping of str to dataclass
        The study's named presets.
    names : sequence of str
        The fields that may be dropped.

    Returns
    -------
    dict
        ``config`` itself.
    """
    named = presets.get(preset.name)
    for name in names:
        if named is not None and getattr(preset, name) == getattr(named, name):
            config.pop(name, None)
    return config
