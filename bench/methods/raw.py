"""``raw``: the measured image itself, no restoration (the baseline every method is compared with)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.methods.base import POISSON, MethodFamily, NoiseModel, as_stack, register_method_family


@dataclass(frozen=True)
class RawMethod:
    """No restoration: the measured image."""

    name: str = "raw"

    def __call__(self, images: np.ndarray, noise: NoiseModel = POISSON) -> np.ndarray:
        """Return a checked float64 copy of the images.

        Parameters
        ----------
        images : ndarray, shape (B, H, W)
            Images in detector units.
        noise : NoiseModel, default POISSON
            The detector's noise model (unused).

        Returns
        -------
        ndarray, shape (B, H, W)
            The images, unchanged.
        """
        return as_stack(images).copy()

    def provenance(self) -> dict[str, Any]:
        """Return the method's record.

        Returns
        -------
        dict
            ``name`` and ``kind`` ('raw').
        """
        return {"name": self.name, "kind": "raw"}


FAMILY = register_method_family(MethodFamily(
    "raw", "raw (the measured image)", lambda spec: spec == "raw", lambda spec, *, device=None: RawMethod(),
    defaults=("raw",), order=1))
