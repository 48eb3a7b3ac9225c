"""The training budget of the self-supervised denoisers (:mod:`restore.self_supervised`), a preset value of every
study; kept free of torch so that the studies' presets load without it."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SelfSupervisedBudget:
    """Training budget of the self-supervised methods: one network per training call.

    Parameters
    ----------
    steps : int
        Optimiser steps (≥ 1).
    batch_size : int
        Patches per step (≥ 1).
    patch_px : int
        Side of the square training patches [px], a multiple of 2^depth and ≥ 8.
    features : int
        Channels of the networks' first layer (the U-Net's top level; the hourglass's ``f``).
    depth : int
        Down-sampling levels of the U-Net (1 … 4).
    learning_rate : float
        Adam's initial learning rate (> 0), decayed to zero by a cosine.
    struct_mask_px : int
        Length of structN2V's masked segment along the fast-scan axis [px], odd and ≥ 3.
    hourglass_dose_factor : float
        Dose of the hourglass's high-dose training frames as a multiple of the dose restored (> 1).
    """

    steps: int = 600
    batch_size: int = 8
    patch_px: int = 32
    features: int = 8
    depth: int = 2
    learning_rate: float = 4e-3
    struct_mask_px: int = 5
    hourglass_dose_factor: float = 20.0

    def __post_init__(self) -> None:
        """Check every value against its range.

        Raises
        ------
        ValueError
            If a value is outside the range its parameter states.
        """
        for name in ("steps", "batch_size", "features"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        if int(self.depth) != self.depth or not 1 <= self.depth <= 4:
            raise ValueError(f"depth={self.depth!r} must be an integer from 1 to 4")
        if int(self.patch_px) != self.patch_px or self.patch_px < 8 or self.patch_px % 2 ** self.depth:
            raise ValueError(f"patch_px={self.patch_px!r} must be an integer >= 8 px and a multiple of "
                             f"2^depth = {2 ** self.depth}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate={self.learning_rate!r} must be a positive number")
        if int(self.struct_mask_px) != self.struct_mask_px or self.struct_mask_px < 3 or self.struct_mask_px % 2 == 0:
            raise ValueError(f"struct_mask_px={self.struct_mask_px!r} must be an odd number of pixels >= 3")
        if not (math.isfinite(self.hourglass_dose_factor) and self.hourglass_dose_factor > 1):
            raise ValueError(f"hourglass_dose_factor={self.hourglass_dose_factor!r} must be > 1 (the frames are "
                             "of a higher dose than the images restored)")

    def to_config(self) -> dict[str, Any]:
        """Return the budget as a plain dict (for training records and study configs).

        Returns
        -------
        dict
            Field name -> value.
        """
        return asdict(self)


# The studies' presets: quick (CPU-sized: ≈ 13–20 s per network on one loaded core, docs/self_supervised.md)
# and paper (not measured).
QUICK_BUDGET = SelfSupervisedBudget()
PAPER_BUDGET = SelfSupervisedBudget(steps=1000, batch_size=16, patch_px=48, features=16)
