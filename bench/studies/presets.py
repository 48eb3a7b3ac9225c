"""What the studies' presets share: choosing a preset with overrides, validating its numbers, and splitting
realisations into tasks of one method, one dose and one block of realisations."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

import numpy as np

from bench.tasks import Task

PresetT = TypeVar("PresetT")


def configure_preset(presets: Mapping[str, PresetT], preset: str | PresetT,
                     overrides: Mapping[str, Any]) -> PresetT:
    """A named (or given) preset with ``overrides`` applied; None values are ignored, lists become tuples.

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
    """Require at least one dose, all finite, positive and distinct [e⁻/Å²]; ValueError otherwise."""
    if not doses:
        raise ValueError("doses is empty: give at least one dose in e⁻/Å² (e.g. --doses 500,50000)")
    if any(not (np.isfinite(d) and d > 0) for d in doses) or len(set(doses)) != len(doses):
        raise ValueError(f"doses={doses!r} must be distinct positive numbers of e⁻/Å²")


def check_integer(name: str, value: Any, minimum: int, unit: str = "") -> None:
    """Require ``value`` to be an integer >= ``minimum``; the ValueError names ``name`` and ``unit``."""
    if int(value) != value or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}{unit}")


def blocks(total: int, block_size: int) -> Iterator[tuple[int, int]]:
    """(first, count) of consecutive blocks of at most ``block_size`` items covering ``range(total)``."""
    for first in range(0, total, block_size):
        yield first, min(block_size, total - first)


def dose_block_tasks(preset: Any, methods: Sequence[Any], reference: dict) -> list[Task]:
    """One task per method, dose of ``preset.doses`` and block of ``preset.block_size`` realisations.

    Each task's params hold the method, the dose [e⁻/Å²] and its index, the block's first realisation and
    size, the preset and ``reference`` (shared by all tasks, read only).
    """
    tasks = []
    for method in methods:
        for dose_index, dose in enumerate(preset.doses):
            for first, count in blocks(preset.realisations, preset.block_size):
                key = f"{method.name}__d{dose:.0e}__r{first:04d}".replace("+", "")
                tasks.append(Task(key, {"method": method, "dose": float(dose), "dose_index": dose_index,
                                        "first": first, "count": count, "preset": preset,
                                        "reference": reference}))
    return tasks


@dataclass(frozen=True)
class DistortedSpecimenPreset:
    """Preset of the studies on distorted specimen images (dislocation, atom-counting): doses [e⁻/Å²],
    realisations per dose, realisations per task, scan-line jitter (innovation std [Å], lag-1 correlation),
    the fit protocol of :mod:`bench.studies.fit_protocol` (search/bound radius as a fraction of the
    nearest-neighbour distance, objective tolerance in units of one pixel's noise, iteration cap), seed and
    bootstrap resamples."""

    name: str
    doses: tuple[float, ...] = (5e2, 5e3, 5e4, 5e5)
    realisations: int = 100
    block_size: int = 25
    jitter_sigma_angstrom: float = 0.05
    jitter_phi: float = 0.5
    search_radius_fraction: float = 0.25
    objective_tolerance: float = 1e-6
    max_iterations: int = 300
    seed: int = 2023
    bootstrap: int = 1000

    def __post_init__(self) -> None:
        check_doses(self.doses)
        check_integer("realisations", self.realisations, 2)
        check_integer("block_size", self.block_size, 1)
        check_integer("max_iterations", self.max_iterations, 1)
        if not 0 < self.search_radius_fraction < 0.5:
            raise ValueError(f"search_radius_fraction={self.search_radius_fraction!r} must lie in (0, 0.5): a "
                             "larger radius lets two columns start on the same peak")
        if not self.objective_tolerance > 0:
            raise ValueError(f"objective_tolerance={self.objective_tolerance!r} must be positive")

    def to_config(self) -> dict[str, Any]:
        config = asdict(self)
        config["doses"] = [float(d) for d in self.doses]
        return config


DISTORTED_SPECIMEN_PRESETS = {
    "paper": DistortedSpecimenPreset(name="paper"),
    "quick": DistortedSpecimenPreset(name="quick", realisations=10, block_size=5),
}
