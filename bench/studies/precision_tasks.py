"""The tasks of the precision-vs-dose study (:mod:`bench.studies.precision_vs_dose`): how its work is split,
the noise realisations each task draws, and what a method that learns from data may train on.

- **Tasks.** One per method, dose, thickness and block of realisations; a method that trains one network per
  point (``whole_point``) gets every block of a dose and thickness in one task.
- **Realisations.** Each block's Poisson noise comes from its own seed (:func:`noise_seed`), independent of
  the method and of how blocks are grouped into tasks, so every method restores the same images (common
  random numbers).
- **Training data** (:func:`training_data`): the realisations of a point are independent frames of one
  field (``n2v2``, ``structn2v`` and ``n2n`` train on them); ``hourglass`` gets Poisson frames at
  ``budget.hourglass_dose_factor`` times the dose of the two nearest *other* thicknesses of the series, the
  same field of view (:func:`neighbour_views`). Their noise-free views are made in the study's set-up and
  only their noisy frames reach a trainer.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from bench.studies.training_data import HIGH_DOSE_FRAMES, neighbour_thicknesses, task_blocks
from bench.tasks import Task

# what precision-vs-dose gives a method that learns from data (Study.training_offers)
OFFERS = {"same_field": "the realisations of a dose and thickness: independent Poisson frames of one field",
          "high_dose": f"{HIGH_DOSE_FRAMES} Poisson frames at hourglass_dose_factor × the dose of each of the two "
                       "nearest other thicknesses of the series (e.g. 4 and 6 atoms for 5), the same field of view"}


def dose_label(dose: float) -> str:
    """Format a dose for task keys: 50000 → ``5e04``.

    Parameters
    ----------
    dose : float
        Electron dose [e⁻/Å²].

    Returns
    -------
    str
        The dose with one significant digit, in exponent form without the ``+``.
    """
    return f"{dose:.0e}".replace("+", "")


def example_thicknesses(preset: Any) -> tuple[int, ...]:
    """Return the preset's example thicknesses that are run, else the middle thickness of the run.

    Parameters
    ----------
    preset : PrecisionPreset
        The study's preset (``example_atoms``, ``thicknesses``).

    Returns
    -------
    tuple of int
        Thicknesses [atoms per column] whose first realisation block is kept as an example image.
    """
    chosen = tuple(t for t in preset.example_atoms if t in preset.thicknesses)
    return chosen or (sorted(preset.thicknesses)[len(preset.thicknesses) // 2],)


def neighbour_views(series: Any, atoms: int, *, cells: tuple[int, ...], pixel_size_A: float
                    ) -> tuple[tuple[int, ...], np.ndarray]:
    """The two nearest other thicknesses of ``series`` and their noise-free fields of view (hourglass's fields).

    Parameters
    ----------
    series : simulate.thickness_series.ThicknessSeries
        The study's thickness series.
    atoms : int
        The thickness restored [atoms per column].
    cells : tuple of int
        Unit cells of the field of view.
    pixel_size_A : float
        Pixel size [Å].

    Returns
    -------
    thicknesses : tuple of int
        The two other thicknesses [atoms per column].
    views : ndarray
        (2, H, W) noise-free intensities [fraction of the beam], clipped at 0.
    """
    from simulate.field_of_view import field_of_view

    others = neighbour_thicknesses(atoms, int(series.atoms_per_column[-1]))
    views = np.stack([np.maximum(field_of_view(series, atoms_per_column=t, cells=tuple(cells),
                                               pixel_size_A=pixel_size_A).image, 0.0) for t in others])
    return others, views


def plan(preset: Any, methods, references: dict) -> list[Task]:
    """Split the study into tasks: one per method, dose, thickness and block of realisations.

    A method that trains one network per point (``whole_point``) gets all blocks of a point in one task.

    Parameters
    ----------
    preset : PrecisionPreset
        The study's preset.
    methods : sequence of Method
        The methods compared.
    references : dict
        Per thickness [atoms per column], the noise-free reference of
        :func:`bench.studies.precision_vs_dose.prepare_references` (image, truth, central columns, width, SCS,
        neighbouring fields of view).

    Returns
    -------
    list of Task
        The tasks, keyed ``METHOD__dDOSE__tATOMS__rFIRST``.
    """
    tasks = []
    examples = example_thicknesses(preset)
    for method in methods:
        for dose_index, dose in enumerate(preset.doses):
            for atoms in preset.thicknesses:
                reference = references[atoms]
                for group in task_blocks(method, preset.realisations, preset.block_size):
                    first = group[0][0]
                    key = f"{method.name}__d{dose_label(dose)}__t{atoms:03d}__r{first:04d}"
                    tasks.append(Task(key, {
                        "method": method, "dose": float(dose), "dose_index": dose_index, "atoms": int(atoms),
                        "first": first, "count": sum(n for _, n in group), "blocks": group, "seed": preset.seed,
                        "pixel_size_A": preset.pixel_size_A, "estimator": preset.estimator,
                        "max_iterations": preset.max_iterations, "image": reference["image"],
                        "truth": reference["truth"], "central": reference["central"],
                        "width": reference["width"], "scs": reference["scs"],
                        "example": first == 0 and atoms in examples, "training": preset.training,
                        "neighbours": reference["neighbours"] if "high_dose" in getattr(method, "needs", ()) else None,
                        "neighbour_atoms": reference["neighbour_atoms"],
                    }))
    return tasks


def noise_seed(seed: int, atoms: int, dose_index: int, first: int) -> int:
    """Return the seed of one block of noise realisations; independent of the method (common random numbers).

    Parameters
    ----------
    seed : int
        The preset's seed.
    atoms : int
        Thickness [atoms per column].
    dose_index : int
        Index of the dose in the preset's doses.
    first : int
        Index of the block's first realisation.

    Returns
    -------
    int
        A 32-bit seed drawn from ``numpy.random.SeedSequence`` of the four numbers.
    """
    return int(np.random.SeedSequence([seed, atoms, dose_index, first]).generate_state(1)[0])


def measured_counts(params: dict) -> np.ndarray:
    """Draw the noisy count images of a task's realisations, block by block with each block's own seed.

    Parameters
    ----------
    params : dict
        The task's parameters (``image``, ``dose``, ``pixel_size_A``, ``seed``, ``atoms``, ``dose_index``, and
        ``blocks`` or ``first`` and ``count``).

    Returns
    -------
    ndarray, shape (R, H, W)
        Poisson counts of the R realisations, in block order.
    """
    from simulate.distortions import poisson_noise

    stacks = []
    for first, count in params.get("blocks") or ((params["first"], params["count"]),):
        seed = noise_seed(params["seed"], params["atoms"], params["dose_index"], first)
        stacks.append(np.asarray(poisson_noise(np.repeat(params["image"][None], count, axis=0),
                                               dose_e_per_A2=params["dose"], pixel_size_A=params["pixel_size_A"],
                                               generator=seed)))
    return np.concatenate(stacks)


def training_data(params: dict):
    """Return what a self-supervised method may train on in this task.

    The task's realisations are frames of one field; hourglass gets high-dose frames of the neighbouring
    thicknesses.

    Parameters
    ----------
    params : dict
        The task's parameters (``method``, ``training``, ``dose``, ``pixel_size_A``, ``seed``, ``atoms``,
        ``dose_index``, ``neighbours``, ``neighbour_atoms``).

    Returns
    -------
    TrainingData or None
        None for a method that does not learn from data.
    """
    from bench.methods import TrainingData, learns_from_data
    from bench.studies.training_data import high_dose_frames, synthesised_pairs

    if not learns_from_data(params["method"]):
        return None
    budget, dose, px = params["training"], params["dose"], params["pixel_size_A"]
    seed = [params["seed"], params["atoms"], params["dose_index"], 7]
    pairs, described = None, ""
    if params.get("neighbours") is not None:
        frames = high_dose_frames(params["neighbours"], dose=dose, factor=budget.hourglass_dose_factor, pixel_size_A=px,
                                  seed=seed)
        pairs = synthesised_pairs(frames, factor=budget.hourglass_dose_factor, dose=dose, pixel_size_A=px)
        described = (f"{frames.shape[0]} Poisson frames at {budget.hourglass_dose_factor:g} × {dose:g} e⁻/Å² of the "
                     f"{' and '.join(str(t) for t in params['neighbour_atoms'])}-atom fields of view")
    return TrainingData(budget=budget, seed=int(np.random.SeedSequence(seed).generate_state(1)[0]), same_field=True,
                        high_dose=pairs, high_dose_frames=described)
