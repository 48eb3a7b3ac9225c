"""What the two studies on distorted specimen images (dislocation, atom counting) share: one preset, one set
of options, the shipped specimen image as input, and tasks of one method, one dose and one block of
realisations."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from bench.studies.base import Inputs, Study
from bench.studies.presets import check_doses, check_integer, omit_named_values
from bench.studies.training_data import HIGH_DOSE_FRAMES, task_blocks
from bench.tasks import Task
from restore.self_supervised_budget import PAPER_BUDGET, QUICK_BUDGET, SelfSupervisedBudget

SPECIMEN_OPTIONS = "use --doses, --realisations"


def dose_block_tasks(preset: Any, methods: Sequence[Any], reference: dict) -> list[Task]:
    """Split a run into tasks: one per method, dose and block of ``preset.block_size`` realisations.

    A method that trains one network per point gets every block of a dose in one task. Each task's params
    hold the method, the dose [e⁻/Å²] and its index, the blocks' (first, count), the first realisation and
    their total, the preset and ``reference`` (shared by all tasks, read only).

    Parameters
    ----------
    preset : DistortedSpecimenPreset
        The study's preset (doses, realisations, block size).
    methods : sequence of Method
        The methods compared.
    reference : dict
        The shared noise-free references sent with every task.

    Returns
    -------
    list of Task
        The tasks, keyed ``METHOD__dDOSE__rFIRST``.
    """
    tasks = []
    for method in methods:
        for dose_index, dose in enumerate(preset.doses):
            for group in task_blocks(method, preset.realisations, preset.block_size):
                first = group[0][0]
                key = f"{method.name}__d{dose:.0e}__r{first:04d}".replace("+", "")
                tasks.append(Task(key, {"method": method, "dose": float(dose), "dose_index": dose_index,
                                        "first": first, "count": sum(n for _, n in group), "blocks": group,
                                        "preset": preset, "reference": reference}))
    return tasks


def distorted_realisations(params: dict, distortion) -> np.ndarray:
    """Draw the distorted images of a task's realisations, block by block with each block's own seed.

    The seed of a block depends on the preset's seed, the dose index and the block's first realisation, not
    on the method (common random numbers).

    Parameters
    ----------
    params : dict
        The task's parameters (``preset``, ``reference`` with its noise-free ``image``, ``dose_index``, and
        ``blocks`` or ``first`` and ``count``).
    distortion : simulate.distortions.StemDistortionParams
        The benchmark distortions at the task's dose.

    Returns
    -------
    ndarray, shape (R, H, W)
        The R distorted realisations in counts (with the PMT's Gaussian noise), float64, in block order.
    """
    from simulate.distortions import apply_stem_distortions

    preset, image = params["preset"], params["reference"]["image"]
    stacks = []
    for first, count in params.get("blocks") or ((params["first"], params["count"]),):
        seed = int(np.random.SeedSequence([preset.seed, params["dose_index"], first]).generate_state(1)[0])
        measured, _ = apply_stem_distortions(np.repeat(image[None], count, axis=0), distortion, seed)
        stacks.append(np.asarray(measured, dtype=np.float64))
    return np.concatenate(stacks)


def _acquire(preset: DistortedSpecimenPreset, pixel_size_A: float, stack, dose: float, generator):
    """The study's acquisition (benchmark distortions) of noise-free ``stack`` at ``dose``."""
    from simulate.distortions import apply_stem_distortions, benchmark_stem_params

    params = benchmark_stem_params(dose_e_per_A2=dose, pixel_size_A=pixel_size_A, jitter_sigma=preset.jitter_sigma_A,
                                   jitter_phi=preset.jitter_phi)
    return apply_stem_distortions(stack, params, generator)[0]


def training_data(params: dict, pmt):
    """Return what a self-supervised method may train on in this task.

    The task's realisations are frames of one field; hourglass gets high-dose frames of the other shipped
    specimen, acquired with the benchmark distortions.

    Parameters
    ----------
    params : dict
        The task's parameters (``method``, ``preset``, ``reference``, ``dose``, ``dose_index``).
    pmt : simulate.distortions.PmtParams or None
        The PMT noise added to hourglass's synthesised low-dose inputs; None for pure Poisson counting.

    Returns
    -------
    TrainingData or None
        None for a method that does not learn from data.
    """
    from functools import partial

    from bench.methods import TrainingData, learns_from_data
    from bench.studies.training_data import high_dose_frames, synthesised_pairs

    if not learns_from_data(params["method"]):
        return None
    preset, ref, dose = params["preset"], params["reference"], params["dose"]
    budget, seed = preset.training, [preset.seed, params["dose_index"], 7]
    pairs, described = None, ""
    if "high_dose" in getattr(params["method"], "needs", ()):
        other = ref["training_image"]
        frames = high_dose_frames(other["image"][None], dose=dose, factor=budget.hourglass_dose_factor,
                                  pixel_size_A=ref["pixel_size_A"], seed=seed,
                                  distortion=partial(_acquire, preset, ref["pixel_size_A"]))
        pairs = synthesised_pairs(frames, factor=budget.hourglass_dose_factor, dose=dose,
                                  pixel_size_A=ref["pixel_size_A"], pmt=pmt)
        described = (f"{frames.shape[0]} frames of the {other['specimen']} image at {budget.hourglass_dose_factor:g} × "
                     f"{dose:g} e⁻/Å² (benchmark distortions)")
    return TrainingData(budget=budget, seed=int(np.random.SeedSequence(seed).generate_state(1)[0]), same_field=True,
                        high_dose=pairs, high_dose_frames=described)


@dataclass(frozen=True)
class DistortedSpecimenPreset:
    """Preset of the studies on distorted specimen images (dislocation, atom-counting): doses [e⁻/Å²],
    realisations per dose, realisations per task, scan-line jitter (innovation std [Å], lag-1 correlation),
    the fit protocol of :mod:`bench.studies.fit_protocol` (search/bound radius as a fraction of the
    nearest-neighbour distance, objective tolerance in units of one pixel's noise, iteration cap), seed,
    bootstrap resamples and the training budget of the self-supervised methods (one network per dose)."""

    name: str
    doses: tuple[float, ...] = (5e2, 5e3, 5e4, 5e5)
    realisations: int = 100
    block_size: int = 25
    jitter_sigma_A: float = 0.05
    jitter_phi: float = 0.5
    search_radius_fraction: float = 0.25
    objective_tolerance: float = 1e-6
    max_iterations: int = 300
    seed: int = 2023
    bootstrap: int = 1000
    training: SelfSupervisedBudget = QUICK_BUDGET

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            For invalid doses, fewer than 2 realisations, a block size or iteration cap below 1, a search radius
            fraction outside (0, 0.5) or a non-positive objective tolerance.
        """
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
        """Return the preset as the run's configuration.

        Returns
        -------
        dict
            The fields (doses as a list of floats); the training budget only where it differs from the named
            preset's (:func:`bench.studies.presets.omit_named_values`).
        """
        config = asdict(self)
        config["doses"] = [float(d) for d in self.doses]
        return omit_named_values(config, self, DISTORTED_SPECIMEN_PRESETS, ("training",))


DISTORTED_SPECIMEN_PRESETS = {
    "paper": DistortedSpecimenPreset(name="paper", training=PAPER_BUDGET),
    "quick": DistortedSpecimenPreset(name="quick", realisations=10, block_size=5),
}


class DistortedSpecimenStudy(Study):
    """A study on a shipped specimen image distorted by the benchmark STEM distortions, fitted by least squares."""

    presets = DISTORTED_SPECIMEN_PRESETS
    specimen_kind: ClassVar[str]  # 'dislocation' or 'nanoparticle' (simulate.specimen_data)
    training_specimen: ClassVar[str]  # the other shipped specimen: hourglass's high-dose frames
    refusals = {"thicknesses": SPECIMEN_OPTIONS, "images": SPECIMEN_OPTIONS, "modalities": SPECIMEN_OPTIONS,
                "recipe": SPECIMEN_OPTIONS,
                "estimator": "its images carry detector noise in detector units (gain, read noise), not counts, so "
                             "the Poisson likelihood is not theirs; it fits by least squares"}
    float_format = "{:.4g}"
    not_sent: ClassVar[tuple[str, ...]] = ()  # keys of the shared references the tasks do not need

    def seeds(self, preset: DistortedSpecimenPreset) -> dict[str, Any]:
        """Return the seeds recorded in the manifest: one seed for the distortions and the bootstrap.

        Parameters
        ----------
        preset : DistortedSpecimenPreset
            The study's preset.

        Returns
        -------
        dict
            ``distortions`` and ``bootstrap``, both ``preset.seed``.
        """
        return {"distortions": preset.seed, "bootstrap": preset.seed}

    def describe(self, preset: DistortedSpecimenPreset) -> str:
        """Return one line on the doses and realisations of a run.

        Parameters
        ----------
        preset : DistortedSpecimenPreset
            The study's preset.

        Returns
        -------
        str
            The doses [e⁻/Å²] and realisations per dose.
        """
        return f"doses {', '.join(f'{d:g}' for d in preset.doses)} e⁻/Å², {preset.realisations} realisations"

    def inputs(self, preset: DistortedSpecimenPreset) -> Inputs:
        """Name the shipped specimen image as the input (its specimen and recipe enter the configuration).

        Parameters
        ----------
        preset : DistortedSpecimenPreset
            The study's preset.

        Returns
        -------
        Inputs
            Configuration, provenance and, in ``data["specimen"]``, the loaded image.
        """
        from simulate.specimen_data import load_shipped

        specimen = load_shipped(self.specimen_kind)
        return Inputs(config={"specimen": specimen.specimen, "recipe": specimen.recipe.to_dict()},
                      provenance={"estimator": "least_squares",
                                  "specimen_image": {"specimen": specimen.specimen, "metadata": specimen.metadata}},
                      data={"specimen": specimen})

    def training_offers(self, preset: DistortedSpecimenPreset) -> dict[str, str]:
        """Return what the study gives methods that learn from data.

        The realisations of a dose are frames of one field (each with its own scan jitter); hourglass gets
        high-dose frames of the other shipped specimen.

        Parameters
        ----------
        preset : DistortedSpecimenPreset
            The study's preset.

        Returns
        -------
        dict
            'same_field' and 'high_dose', each with one sentence saying what it is.
        """
        return {"same_field": "the realisations of a dose: independent frames of one field (each with its own scan "
                              "jitter, so not exactly the same field)",
                "high_dose": f"{HIGH_DOSE_FRAMES} frames of the shipped {self.training_specimen} image at "
                             f"{preset.training.hourglass_dose_factor:g} × the dose, with the same benchmark "
                             "distortions"}

    def plan(self, preset: DistortedSpecimenPreset, methods: Sequence[Any], shared: dict) -> list[Task]:
        """Split the run into tasks: one per method, dose and block of realisations.

        Each task carries the shared references (and, where a method needs it, the other specimen's noise-free
        image, of which it gets only high-dose noisy frames).

        Parameters
        ----------
        preset : DistortedSpecimenPreset
            The study's preset.
        methods : sequence of Method
            The methods compared.
        shared : dict
            What :meth:`prepare` returned; the keys in :attr:`not_sent` are left out of the tasks.

        Returns
        -------
        list of Task
            The tasks (:func:`dose_block_tasks`).

        Raises
        ------
        ValueError
            If the other specimen's pixel size differs from this one's.
        """
        reference = {k: v for k, v in shared.items() if k not in self.not_sent}
        if any("high_dose" in getattr(m, "needs", ()) for m in methods):
            from simulate.specimen_data import load_shipped

            other = load_shipped(self.training_specimen)
            if not np.isclose(other.pixel_size_A, reference["pixel_size_A"]):
                raise ValueError(f"the {self.training_specimen} image has {other.pixel_size_A} Å pixels, the "
                                 f"{self.specimen_kind} image {reference['pixel_size_A']} Å: hourglass needs one "
                                 "pixel size")
            reference = {**reference, "training_image": {"specimen": self.training_specimen,
                                                         "image": np.maximum(other.image, 0.0)}}
        return dose_block_tasks(preset, methods, reference)
