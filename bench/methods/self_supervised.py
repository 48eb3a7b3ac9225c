"""Self-supervised denoisers, trained by the study on its own noisy data: ``n2v2``, ``structn2v``, ``n2n`` and
``hourglass`` (:mod:`restore.self_supervised` trains them; docs/studies.md says what each saw in each study).

- ``n2v2``: the N2V2 U-Net (max-blur-pool, no top skip) with blind-spot masking and median replacement,
  trained on the noisy images it restores;
- ``structn2v``: the same network with structN2V's mask, a segment of ``struct_mask_px`` pixels along the
  fast-scan axis (axis −1), for noise correlated along the scan lines; trained on the images it restores;
- ``n2n``: the same network trained on pairs of independent noisy frames of one field (Noise2Noise) — the
  frames it restores; only where a study has such frames;
- ``hourglass``: the 8-layer reverse-hourglass CNN of Williams et al., trained on high-dose noisy frames of
  *other* fields or thicknesses, from which the study's own noise model synthesises low-dose inputs (the
  high-dose frame is the target); only where a study provides such frames.

One network is trained per call, i.e. per study point (dose, thickness): the studies hand a method that
``learns_from_data`` every realisation of a point in one task. The training budget comes from the study's
preset (:class:`bench.methods.base.TrainingData`); without one (e.g. a bare call) the default budget and
seed 0 are used.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bench.methods.base import POISSON, MethodFamily, NoiseModel, TrainingData, register_method_family

KINDS = {
    "n2v2": "N2V2 blind-spot U-Net (max-blur-pool, no top skip, median replacement), trained on the images it "
            "restores",
    "structn2v": "structN2V: the N2V2 U-Net with a blind-spot segment along the fast-scan axis, trained on the "
                 "images it restores",
    "n2n": "Noise2Noise U-Net trained on pairs of noisy frames of one field (the frames it restores)",
    "hourglass": "8-layer reverse-hourglass CNN trained on high-dose noisy frames of other fields or thicknesses, "
                 "low-dose inputs synthesised by the study's noise model",
}
ATTEMPTS = 3  # trainings from successive seeds before a collapsed network fails the task
NEEDS = {"n2v2": (), "structn2v": (), "n2n": ("same_field",), "hourglass": ("high_dose",)}
NEED_TEXT = {"same_field": "two or more independent noisy frames of the same field",
             "high_dose": "high-dose noisy frames of other fields or thicknesses"}


@dataclass(frozen=True)
class SelfSupervisedMethod:
    """One self-supervised denoiser (``name`` in :data:`KINDS`), trained afresh on every call.

    Parameters
    ----------
    name : str
        'n2v2', 'structn2v', 'n2n' or 'hourglass'.
    device : str or None, default None
        Torch device of training and inference; None runs on the CPU.
    """

    name: str
    device: str | None = None
    learns_from_data: ClassVar[bool] = True
    # the studies give such a method every realisation of a point in one task (one network per point)
    whole_point: ClassVar[bool] = True

    def __post_init__(self) -> None:
        """Check the name.

        Raises
        ------
        ValueError
            If ``name`` is not in :data:`KINDS`.
        """
        if self.name not in KINDS:
            raise ValueError(f"self-supervised method {self.name!r} is unknown; valid: {', '.join(KINDS)}")

    @property
    def needs(self) -> tuple[str, ...]:
        """What the study must offer ('same_field', 'high_dose').

        Returns
        -------
        tuple of str
            Empty for n2v2 and structn2v.
        """
        return NEEDS[self.name]

    @property
    def trains_on_restored_images(self) -> bool:
        """Whether it learns from the very images it restores (its gains then include that advantage).

        Returns
        -------
        bool
            False only for hourglass.
        """
        return self.name != "hourglass"

    def __call__(self, images: np.ndarray, noise: NoiseModel = POISSON) -> np.ndarray:
        """Train with the default budget and seed 0, then restore ``images`` (see :meth:`restore`).

        Parameters
        ----------
        images : ndarray, shape (B, H, W)
            Noisy images in detector units.
        noise : NoiseModel, default POISSON
            Not used.

        Returns
        -------
        ndarray, shape (B, H, W)
            The restored images, float64.
        """
        return self.restore(images, noise)[0]

    def restore(self, images: np.ndarray, noise: NoiseModel = POISSON,
                training: TrainingData | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Train one network on what ``training`` allows, then restore ``images``.

        Parameters
        ----------
        images : ndarray
            (B, H, W) noisy images in detector units.
        noise : NoiseModel
            Not used: the networks learn the noise from the data.
        training : TrainingData, optional
            Budget, seed and the study's extra data; default: the default budget, seed 0, nothing extra.

        Returns
        -------
        restored : ndarray
            (B, H, W) float64.
        record : dict
            The training record (parameters, steps, ``training_s``, what it was trained on).

        Raises
        ------
        ValueError
            For images it cannot train on (NaN pixels, a constant image, too small a stack), or when the
            study does not offer what the method needs.
        RuntimeError
            If :data:`ATTEMPTS` trainings all collapsed to a constant output.
        """
        from restore.self_supervised import SelfSupervisedBudget, check_stack

        training = training or TrainingData(budget=SelfSupervisedBudget(), seed=0)
        missing = [need for need in self.needs if need not in training.offers()]
        if missing:
            raise ValueError(f"method {self.name} needs {NEED_TEXT[missing[0]]}, which this data does not offer; use "
                             "n2v2 or structn2v here")
        stack = check_stack(images, training.budget, minimum=2 if self.name == "n2n" else 1)
        collapsed, seconds = [], 0.0
        for attempt in range(ATTEMPTS):
            # a fixed sequence of seeds: the first is the study's, so a run stays reproducible
            seed = training.seed if attempt == 0 else int(np.random.SeedSequence([training.seed, attempt])
                                                          .generate_state(1)[0])
            denoiser = self._train(stack, training, seed)
            seconds += denoiser.record["training_s"]
            try:
                restored = denoiser.restore(stack, device=self.device)
            except RuntimeError:  # collapsed to a constant or the identity (restore.self_supervised.check_collapse)
                collapsed.append(seed)
                continue
            # training_s counts the collapsed trainings too: they are part of what the method cost
            return restored, {**denoiser.record, "collapsed_seeds": collapsed, "training_s": round(seconds, 3)}
        raise RuntimeError(f"{self.name}: every one of {ATTEMPTS} trainings (seeds {collapsed}) collapsed to a "
                           "constant output; train with more steps or a smaller learning_rate")

    def _train(self, stack: np.ndarray, training: TrainingData, seed: int):
        """One network trained from ``seed`` on what ``training`` allows."""
        from restore.self_supervised import train_blind_spot, train_on_pairs

        budget = training.budget
        if self.name in ("n2v2", "structn2v"):
            line = 1 if self.name == "n2v2" else budget.struct_mask_px
            return train_blind_spot(stack, budget, line_px=line, seed=seed, device=self.device)
        if self.name == "n2n":
            count = stack.shape[0]

            def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
                first = rng.integers(0, count, size=n)
                second = (first + rng.integers(1, count, size=n)) % count  # another frame of the field
                return stack[first], stack[second]

            return train_on_pairs(draw, budget, network="unet", seed=seed, kind="n2n",
                                  trained_on=f"pairs of the {count} noisy frames it restores", device=self.device)
        return train_on_pairs(training.high_dose, budget, network="hourglass", seed=seed, kind="hourglass",
                              trained_on=training.high_dose_frames, device=self.device)

    def provenance(self) -> dict[str, Any]:
        """Return the method's record.

        Returns
        -------
        dict
            ``name``, ``kind``, ``description``, ``trains_on_restored_images``, ``needs`` and ``device``.
        """
        return {"name": self.name, "kind": "self_supervised", "description": KINDS[self.name],
                "trains_on_restored_images": self.trains_on_restored_images, "needs": list(self.needs),
                "device": self.device or "cpu"}


FAMILY = register_method_family(MethodFamily(
    "self_supervised", "a self-supervised denoiser trained by the study: " + ", ".join(KINDS),
    lambda spec: spec in KINDS, lambda spec, *, device=None: SelfSupervisedMethod(spec, device=device), order=4))
