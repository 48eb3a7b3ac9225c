"""What the two studies on distorted specimen images (dislocation, atom counting) share: one preset, one set
of options, the shipped specimen image as input, and tasks of one method, one dose and one block of
realisations."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from bench.studies.base import Inputs, Study
from bench.studies.presets import blocks, check_doses, check_integer
from bench.tasks import Task

SPECIMEN_OPTIONS = "use --doses, --realisations"


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


class DistortedSpecimenStudy(Study):
    """A study on a shipped specimen image distorted by the benchmark STEM distortions, fitted by least squares."""

    presets = DISTORTED_SPECIMEN_PRESETS
    specimen_kind: ClassVar[str]  # 'dislocation' or 'nanoparticle' (simulate.specimen_data)
    refusals = {"thicknesses": SPECIMEN_OPTIONS, "images": SPECIMEN_OPTIONS, "modalities": SPECIMEN_OPTIONS,
                "recipe": SPECIMEN_OPTIONS,
                "estimator": "its images carry detector noise in detector units (gain, read noise), not counts, so "
                             "the Poisson likelihood is not theirs; it fits by least squares"}
    float_format = "{:.4g}"
    not_sent: ClassVar[tuple[str, ...]] = ()  # keys of the shared references the tasks do not need

    def seeds(self, preset: DistortedSpecimenPreset) -> dict[str, Any]:
        """One seed for the distortions and the bootstrap."""
        return {"distortions": preset.seed, "bootstrap": preset.seed}

    def describe(self, preset: DistortedSpecimenPreset) -> str:
        """Doses and realisations."""
        return f"doses {', '.join(f'{d:g}' for d in preset.doses)} e⁻/Å², {preset.realisations} realisations"

    def inputs(self, preset: DistortedSpecimenPreset) -> Inputs:
        """The shipped specimen image (its specimen and recipe enter the configuration)."""
        from simulate.specimen_data import load_shipped

        specimen = load_shipped(self.specimen_kind)
        return Inputs(config={"specimen": specimen.specimen, "recipe": specimen.recipe.to_dict()},
                      provenance={"estimator": "least_squares",
                                  "specimen_image": {"specimen": specimen.specimen, "metadata": specimen.metadata}},
                      data={"specimen": specimen})

    def plan(self, preset: DistortedSpecimenPreset, methods: Sequence[Any], shared: dict) -> list[Task]:
        """One task per method, dose and block of realisations; each carries the shared references."""
        return dose_block_tasks(preset, methods, {k: v for k, v in shared.items() if k not in self.not_sent})
