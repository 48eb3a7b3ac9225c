"""Per-atom radial image functions f_Z(r) (paper eqs. 17–22).

Each atom contributes f_Z(r) = h_Z · [w_g · G(r) + w_e · E(r) + w_b · B(r)] with a Gaussian
G = exp(−r²/2σ²), an exponential E = exp(−r/λ) and a Butterworth term B = 1/(1 + (r/r_b)^{2n}),
n ∈ [4, 16], and mixing weights w (Dirichlet, Σw = 1), so f_Z(0) = h_Z.

Widths: every term is given the same root-mean-square radius r_Z^m = α · ⟨r²⟩_Z^{1/2}, α ∈ [0.75, 1.25],
where ⟨r²⟩_Z is the mean-square radius of the projected atomic potential of element Z in the Lobato &
Van Dyck (2014) parameterisation shipped with abTEM (``abtem.parametrizations.LobatoParametrization``).
With the scattering factor f_e(g) = Σ_i a_i (2 + b_i g²)/(1 + b_i g²)² (g in Å⁻¹), the 2-D Fourier
transform of the projected potential is ∝ f_e(g), so ⟨r²⟩ = −∇²_g f_e(0) / (4π² f_e(0))
= 3 Σ a_i b_i / (2π² Σ a_i). The tests check it against a numerical moment of abTEM's projected
potential. For the three terms, ⟨r²⟩ = 2σ², 6λ² and r_b²/(2 cos(π/n)), which fixes σ, λ and r_b.

Heights h_Z ∈ [0.5, 1] are drawn per species and then reassigned so that the integrated intensity
h_Z ∫ f̂_Z d²r increases with Z (eq. 22; heavier atoms scatter more, as in Z-contrast imaging);
when the reassignment needs a height above 1 all heights are divided by the largest, so a few may fall
below 0.5. α, n and the weights are drawn once per image (assumption: one probe/resolution per image).
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ALPHA_RANGE = (0.75, 1.25)
BUTTERWORTH_ORDER_RANGE = (4, 16)
HEIGHT_RANGE = (0.5, 1.0)


@lru_cache(maxsize=1)
def _lobato_parameters() -> dict[str, np.ndarray]:
    """abTEM's Lobato table (``abtem/parametrizations/data/lobato.json``), read without importing abTEM.

    Importing abTEM takes several seconds, which every data-loader worker would pay; the table is the
    one ``abtem.parametrizations.LobatoParametrization`` loads (the tests check that they agree).
    """
    spec = importlib.util.find_spec("abtem")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("abtem is not installed; it provides the Lobato parameterisation (pip install abtem)")
    path = Path(spec.submodule_search_locations[0]) / "parametrizations" / "data" / "lobato.json"
    table = json.loads(path.read_text())
    return {symbol: np.asarray(value, dtype=float) for symbol, value in table.items()}


def projected_potential_rms_radius(atomic_number: int) -> float:
    """Root-mean-square radius ⟨r²⟩^{1/2} of the projected atomic potential [Å] (Lobato parameters).

    Parameters
    ----------
    atomic_number : int
        Z in [1, 103].

    Returns
    -------
    float
        ⟨r²⟩^{1/2} [Å].

    Raises
    ------
    ValueError
        If Z is outside [1, 103].
    """
    from ase.data import chemical_symbols

    if not 1 <= int(atomic_number) <= 103:
        raise ValueError(f"atomic_number={atomic_number!r} must be in [1, 103] (Lobato parameterisation)")
    a, b = _lobato_parameters()[chemical_symbols[int(atomic_number)]]
    return float(np.sqrt(3.0 * (a * b).sum() / (2.0 * np.pi**2 * a.sum())))


@dataclass(frozen=True)
class RadialProfiles:
    """Radial functions of the species of one image.

    Attributes
    ----------
    numbers : ndarray, shape (s,)
        Atomic numbers, ascending.
    rms_radius : ndarray, shape (s,)
        r_Z^m [Å].
    heights : ndarray, shape (s,)
        h_Z (peak value of f_Z).
    weights : ndarray, shape (3,)
        Mixing weights of the Gaussian, exponential and Butterworth terms.
    butterworth_order : int
        n.
    alpha : float
        Radius scale α.
    """

    numbers: np.ndarray
    rms_radius: np.ndarray
    heights: np.ndarray
    weights: np.ndarray
    butterworth_order: int
    alpha: float

    def _widths(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.butterworth_order
        sigma = self.rms_radius / np.sqrt(2.0)
        decay = self.rms_radius / np.sqrt(6.0)
        cutoff = self.rms_radius * np.sqrt(2.0 * np.cos(np.pi / n))
        return sigma, decay, cutoff

    def unit_integrals(self) -> np.ndarray:
        """∫ f_Z d²r / h_Z [Å²] per species."""
        sigma, decay, cutoff = self._widths()
        n = self.butterworth_order
        areas = np.stack(
            [2 * np.pi * sigma**2, 2 * np.pi * decay**2, np.pi**2 * cutoff**2 / (n * np.sin(np.pi / n))]
        )
        return self.weights @ areas

    def integrated_intensity(self) -> np.ndarray:
        """∫ f_Z d²r [Å²] per species."""
        return self.heights * self.unit_integrals()

    def evaluate(self, r, xp=np):
        """f_Z(r) for every species.

        Parameters
        ----------
        r : array
            Distances [Å], any shape (numpy or torch).
        xp : module
            ``numpy`` or ``torch``.

        Returns
        -------
        array, shape (s, *r.shape)
        """
        sigma, decay, cutoff = self._widths()
        shape = (-1,) + (1,) * r.ndim
        if xp is np:
            as_array = lambda v: np.asarray(v, dtype=r.dtype).reshape(shape)  # noqa: E731
        else:
            as_array = lambda v: xp.asarray(v, dtype=r.dtype, device=r.device).reshape(shape)  # noqa: E731
        rr = r[None]
        w_g, w_e, w_b = (float(v) for v in self.weights)
        value = (
            w_g * xp.exp(-(rr**2) / (2 * as_array(sigma) ** 2))
            + w_e * xp.exp(-rr / as_array(decay))
            + w_b / (1 + (rr / as_array(cutoff)) ** (2 * self.butterworth_order))
        )
        return value * as_array(self.heights)

    def support_radius(self, relative_tolerance: float = 1e-3) -> float:
        """Radius [Å] beyond which every f_Z is below ``relative_tolerance`` of its peak."""
        sigma, decay, cutoff = self._widths()
        w = np.maximum(self.weights, 1e-12)
        tol = relative_tolerance / 3
        radii = np.stack(
            [
                sigma * np.sqrt(2 * np.log(np.maximum(w[0] / tol, 1.0))),
                decay * np.log(np.maximum(w[1] / tol, 1.0)),
                cutoff * np.maximum(w[2] / tol - 1, 0.0) ** (1 / (2 * self.butterworth_order)),
            ]
        )
        return float(radii.max())


def sample_profiles(numbers, generator: np.random.Generator) -> RadialProfiles:
    """Draw the radial functions of one image for the species present.

    Parameters
    ----------
    numbers : array of int
        Atomic numbers present (duplicates allowed), Z in [1, 103].
    generator : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    RadialProfiles
        With integrated intensity strictly increasing with Z.
    """
    species = np.unique(np.asarray(numbers, dtype=int))
    if len(species) == 0:
        raise ValueError("numbers is empty: at least one atomic number is needed")
    alpha = float(generator.uniform(*ALPHA_RANGE))
    order = int(generator.integers(BUTTERWORTH_ORDER_RANGE[0], BUTTERWORTH_ORDER_RANGE[1] + 1))
    weights = generator.dirichlet(np.ones(3))
    rms = alpha * np.array([projected_potential_rms_radius(z) for z in species])
    profiles = RadialProfiles(species, rms, np.ones(len(species)), weights, order, alpha)
    unit = profiles.unit_integrals()
    heights = generator.uniform(*HEIGHT_RANGE, size=len(species))
    # Give the ascending integrated intensities to the species in ascending Z; separate ties.
    intensity = np.sort(heights * unit) * (1 + 1e-3 * np.arange(len(species)))
    heights = intensity / unit
    heights /= max(1.0, heights.max())
    return RadialProfiles(species, rms, heights, weights, order, alpha)
