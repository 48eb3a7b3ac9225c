"""Per-atom radial image functions f_Z(r) (paper eqs. 17–22).

Eq. 17: f_Z(r) = h1 exp(−r²/(2 r_m²)) + h2 exp(−r/r_m) + h3 / (1 + (r/r_m)^{2n}), one width r_m = r_Z^m
shared by the Gaussian, exponential and Butterworth terms, so f_Z(0) = h1 + h2 + h3.

Eqs. 18–21: r_Z^m = a · r̂_Z^α + b, α ~ U[0.75, 1.25] (an exponent), a = Std_Z{r̂_Z} / Std_Z{r̂_Z^α} and
b = E_Z{r̂_Z} − a · E_Z{r̂_Z^α}, where r̂_Z is the root-mean-square radius of the projected atomic
potential (eq. 21). Std_Z and E_Z are taken over all elements Z = 1..103 (our reading: the paper does
not say over which set), so the map r̂ → r^m keeps the table's mean (0.90 Å) and spread (0.22 Å) and only
bends it. r̂_Z comes from the Lobato & Van Dyck (2014) parameterisation shipped with abTEM
(``abtem.parametrizations.LobatoParametrization``): with f_e(g) = Σ_i a_i (2 + b_i g²)/(1 + b_i g²)²
(g in Å⁻¹) the 2-D Fourier transform of the projected potential is ∝ f_e(g), so
r̂² = −∇²_g f_e(0) / (4π² f_e(0)) = 3 Σ a_i b_i / (2π² Σ a_i); the tests check it against a numerical
moment of abTEM's projected potential. r̂ spans 0.40 Å (Ne) to 1.39 Å (Cs); Pt 0.70 Å.

Eq. 22: h1, h2, h3 ~ U[0.5, 1] per species under the constraint that the integrated 2-D intensity
∫ f_Z d²r = 2π r_m² (h1 + h2) + π² r_m² h3 / (n sin(π/n)) increases strictly with Z (the paper writes
∫ f dr; the quantity that scales as Z^γ in Z-contrast imaging is the 2-D integral, the scattering
cross-section). The heights are drawn by rejection (up to ``MAX_REJECTION_DRAWS`` joint draws, which
gives exactly the uniform distribution conditioned on the ordering). With h ∈ [0.5, 1] the ordering can
be infeasible — the integral scales with r_m², and a lighter element may have a much larger r_m (Cs,
r_m ≈ 1.39 Å, against Pt, 0.70 Å, needs a height ratio of 4, the range allows 2). Then (fallback, ours)
the last draw is kept and each species' (h1, h2, h3) is scaled by one factor so that the sorted
integrals go to the species in Z order (ties separated by 0.1 %), after which all heights are divided by
the largest, so max h ≤ 1 and a few heights may fall below 0.5. ``RadialProfiles.ordering`` records
which path was taken.

n ~ U[4, 16] (continuous) and α are drawn once per image (ours: one probe and detector per image);
the heights per species.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

ALPHA_RANGE = (0.75, 1.25)
BUTTERWORTH_ORDER_RANGE = (4.0, 16.0)
HEIGHT_RANGE = (0.5, 1.0)
ATOMIC_NUMBER_RANGE = (1, 103)
MAX_REJECTION_DRAWS = 256
SUPPORT_TOLERANCE = 1e-3
# Largest support radius (f_Z below 1e-3 of its peak) of any profile: the exponential term dominates,
# h2 exp(−r/r_m) ≤ 1e-3/3 · (h1 + h2 + h3) needs r ≤ r_m ln(3000 · h2/Σh) ≤ r_m ln(1500) = 7.31 r_m
# (h2/Σh ≤ 1/2 for heights in [0.5, 1], kept by the fallback's per-species scaling), and
# r_m ≤ 1.412 Å (Cs at α = 1.25); 7.31 × 1.412 Å = 10.33 Å. The tests check the bound.
PROFILE_REACH_BOUND_A = 10.4


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
    """Root-mean-square radius r̂_Z of the projected atomic potential [Å] (eq. 21, Lobato parameters).

    Parameters
    ----------
    atomic_number : int
        Z in [1, 103].

    Returns
    -------
    float
        r̂_Z [Å].

    Raises
    ------
    ValueError
        If Z is outside [1, 103].
    """
    if not 1 <= int(atomic_number) <= 103:
        raise ValueError(f"atomic_number={atomic_number!r} must be in [1, 103] (Lobato parameterisation)")
    a, b = _lobato_parameters()[chemical_symbols[int(atomic_number)]]
    return float(np.sqrt(3.0 * (a * b).sum() / (2.0 * np.pi**2 * a.sum())))


@lru_cache(maxsize=1)
def _rms_radius_table() -> np.ndarray:
    """r̂_Z [Å] for Z = 1..103 (index Z − 1)."""
    low, high = ATOMIC_NUMBER_RANGE
    return np.array([projected_potential_rms_radius(z) for z in range(low, high + 1)])


def radius_map_coefficients(alpha: float) -> tuple[float, float]:
    """a and b [Å] of eqs. 19–20 for an exponent α, with Std_Z and E_Z over Z = 1..103.

    Parameters
    ----------
    alpha : float
        Exponent α > 0.

    Returns
    -------
    a : float
        Std_Z{r̂_Z} / Std_Z{r̂_Z^α} [Å^(1−α)].
    b_A : float
        E_Z{r̂_Z} − a · E_Z{r̂_Z^α} [Å].

    Raises
    ------
    ValueError
        If α ≤ 0.
    """
    if not alpha > 0:
        raise ValueError(f"alpha={alpha!r} must be > 0 (exponent of eq. 18)")
    table = _rms_radius_table()
    powered = table**alpha
    a = float(table.std() / powered.std())
    return a, float(table.mean() - a * powered.mean())


def profile_width_A(atomic_numbers, alpha: float) -> np.ndarray:
    """Return the profile widths r_Z^m = a · r̂_Z^α + b (eq. 18) for the given atomic numbers.

    Parameters
    ----------
    atomic_numbers : array_like of int
        Atomic numbers Z in [1, 103], any shape.
    alpha : float
        Exponent α > 0 of eq. 18.

    Returns
    -------
    numpy.ndarray
        r_Z^m [Å], shape of ``atomic_numbers``.

    Raises
    ------
    ValueError
        If a Z is outside [1, 103] or α ≤ 0.
    """
    numbers = np.asarray(atomic_numbers, dtype=int)
    if numbers.size and (numbers.min() < ATOMIC_NUMBER_RANGE[0] or numbers.max() > ATOMIC_NUMBER_RANGE[1]):
        raise ValueError(f"atomic numbers {sorted(set(numbers.tolist()))} must be in [1, 103]")
    a, b = radius_map_coefficients(alpha)
    return a * _rms_radius_table()[numbers - 1] ** alpha + b


def unit_term_integrals_A2(r_m_A, butterworth_order: float) -> np.ndarray:
    """Return ∫ d²r of the three unit-height terms of eq. 17.

    Gaussian and exponential: 2π r_m²; Butterworth: π r_m² ∫₀^∞ du/(1 + u^n) = π² r_m² / (n sin(π/n)).

    Parameters
    ----------
    r_m_A : array_like of float
        Widths r_m [Å], any shape.
    butterworth_order : float
        Order n of the Butterworth term (> 1 for a finite integral).

    Returns
    -------
    numpy.ndarray
        Integrals [Å²] of the Gaussian, exponential and Butterworth terms, shape (*r_m.shape, 3).
    """
    r2 = np.asarray(r_m_A, dtype=float) ** 2
    n = float(butterworth_order)
    return np.stack([2 * np.pi * r2, 2 * np.pi * r2, np.pi**2 * r2 / (n * np.sin(np.pi / n))], axis=-1)


@dataclass(frozen=True)
class RadialProfiles:
    """Radial functions f_Z (eq. 17) of the species of one image.

    Attributes
    ----------
    numbers : ndarray, shape (s,)
        Atomic numbers, ascending.
    r_m_A : ndarray, shape (s,)
        Shared width r_Z^m of the three terms [Å].
    heights : ndarray, shape (s, 3)
        (h1, h2, h3) per species: Gaussian, exponential and Butterworth heights.
    butterworth_order : float
        n, in [4, 16].
    alpha : float
        Exponent α of eq. 18.
    ordering : str
        How eq. 22 was met: 'rejection' (heights drawn until ordered) or 'rescaled' (the fallback).
    width_factor : float
        Factor applied to eq. 18's widths after the draw (:func:`scale_profile_widths`); 1 for the paper's.
    """

    numbers: np.ndarray
    r_m_A: np.ndarray
    heights: np.ndarray
    butterworth_order: float
    alpha: float
    ordering: str = "rejection"
    width_factor: float = 1.0

    @property
    def peak(self) -> np.ndarray:
        """Peak value f_Z(0) = h1 + h2 + h3 per species.

        Returns
        -------
        numpy.ndarray
            Shape (s,).
        """
        return self.heights.sum(axis=1)

    @property
    def rms_radius(self) -> np.ndarray:
        """Alias of ``r_m_A`` kept for records written by ``pairs.py``; use ``to_record``.

        Returns
        -------
        numpy.ndarray
            r_Z^m [Å], shape (s,).
        """
        return self.r_m_A

    @property
    def weights(self) -> np.ndarray:
        """Per-species (h1, h2, h3) / f_Z(0), kept for records written by ``pairs.py``; use ``to_record``.

        Returns
        -------
        numpy.ndarray
            Relative heights, shape (s, 3), each row summing to 1.
        """
        return self.heights / self.peak[:, None]

    def integrated_intensity(self) -> np.ndarray:
        """Return ∫ f_Z d²r per species (eq. 22's quantity).

        Returns
        -------
        numpy.ndarray
            Integrated intensity [Å² × height units], shape (s,).
        """
        return (self.heights * unit_term_integrals_A2(self.r_m_A, self.butterworth_order)).sum(axis=1)

    def to_record(self) -> dict:
        """Return a JSON-serialisable description (every random choice of the profiles).

        Returns
        -------
        dict
            Numbers, widths [Å], heights, order n, α, the eq. 19–20 coefficients ``a`` and ``b_A`` [Å], the
            ordering path and, when not 1, the width factor (``r_m_A`` is then eq. 18's widths times it).
        """
        a, b = radius_map_coefficients(self.alpha)
        return {
            "numbers": self.numbers.tolist(),
            "r_m_A": self.r_m_A.tolist(),
            "heights": self.heights.tolist(),
            "butterworth_order": float(self.butterworth_order),
            "alpha": float(self.alpha),
            "a": a,
            "b_A": b,
            "ordering": self.ordering,
            **({"width_factor": float(self.width_factor)} if self.width_factor != 1.0 else {}),
        }

    def evaluate(self, r, xp=np):
        """Evaluate f_Z(r) for every species.

        Parameters
        ----------
        r : array
            Distances [Å], any shape (numpy or torch), ≥ 0.
        xp : module
            ``numpy`` or ``torch``.

        Returns
        -------
        array, shape (s, *r.shape)
            f_Z(r), of ``r``'s dtype (and device for torch).
        """
        shape = (-1,) + (1,) * r.ndim
        if xp is np:
            as_array = lambda v: np.asarray(v, dtype=r.dtype).reshape(shape)  # noqa: E731
        else:
            as_array = lambda v: xp.asarray(v, dtype=r.dtype, device=r.device).reshape(shape)  # noqa: E731
        u = r[None] / as_array(self.r_m_A)
        h1, h2, h3 = (as_array(np.ascontiguousarray(self.heights[:, k])) for k in range(3))
        return h1 * xp.exp(-0.5 * u**2) + h2 * xp.exp(-u) + h3 / (1 + u ** (2 * float(self.butterworth_order)))

    def support_radius(self, relative_tolerance: float = SUPPORT_TOLERANCE) -> float:
        """Return the radius beyond which every f_Z is below ``relative_tolerance`` of its peak f_Z(0).

        Each of the three terms is bounded by a third of the tolerance.

        Parameters
        ----------
        relative_tolerance : float
            Fraction of the peak, > 0 (default 1e-3).

        Returns
        -------
        float
            Support radius [Å], the largest over species and terms.
        """
        tol = relative_tolerance * self.peak[:, None] / 3
        ratio = np.maximum(self.heights / tol, 1.0)
        radii = self.r_m_A[:, None] * np.stack(
            [
                np.sqrt(2 * np.log(ratio[:, 0])),
                np.log(ratio[:, 1]),
                (ratio[:, 2] - 1) ** (1 / (2 * float(self.butterworth_order))),
            ],
            axis=1,
        )
        return float(radii.max())


def _order_by_rescaling(heights: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Scale each species' heights so the sorted integrals go to the species in Z order; max h ≤ 1."""
    integral = (heights * unit).sum(axis=1)
    target = np.sort(integral) * (1 + 1e-3 * np.arange(len(integral)))  # strictly increasing
    heights = heights * (target / integral)[:, None]
    return heights / max(1.0, float(heights.max()))


def scale_profile_widths(profiles: RadialProfiles, factor: float) -> RadialProfiles:
    """Return the profiles with every width r_Z^m multiplied by ``factor`` (heights unchanged).

    Every integral ∫ f_Z d²r scales by factor², so eq. 22's ordering is kept.

    Parameters
    ----------
    profiles : RadialProfiles
        The drawn profiles.
    factor : float
        Width factor, > 0.

    Returns
    -------
    RadialProfiles
        The scaled profiles; ``width_factor`` records the product of the factors applied.

    Raises
    ------
    ValueError
        If ``factor`` is not a positive finite number.
    """
    if not (np.isfinite(factor) and factor > 0):
        raise ValueError(f"factor={factor!r} must be a positive finite number")
    return replace(profiles, r_m_A=profiles.r_m_A * factor, width_factor=profiles.width_factor * factor)


def sample_profiles(numbers, generator: np.random.Generator) -> RadialProfiles:
    """Draw the radial functions of one image for the species present (eqs. 17–22).

    Parameters
    ----------
    numbers : array of int
        Atomic numbers present (duplicates allowed), Z in [1, 103].
    generator : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    RadialProfiles
        With integrated intensity strictly increasing with Z (eq. 22).

    Raises
    ------
    ValueError
        If ``numbers`` is empty or holds a Z outside [1, 103].
    """
    species = np.unique(np.asarray(numbers, dtype=int))
    if len(species) == 0:
        raise ValueError("numbers is empty: at least one atomic number is needed")
    order = float(generator.uniform(*BUTTERWORTH_ORDER_RANGE))
    alpha = float(generator.uniform(*ALPHA_RANGE))
    r_m = profile_width_A(species, alpha)
    unit = unit_term_integrals_A2(r_m, order)
    draws = generator.uniform(*HEIGHT_RANGE, size=(MAX_REJECTION_DRAWS, len(species), 3))
    integrals = (draws * unit).sum(axis=2)
    ordered = np.all(np.diff(integrals, axis=1) > 0, axis=1)
    if ordered.any():
        heights, ordering = draws[int(np.argmax(ordered))], "rejection"
    else:
        heights, ordering = _order_by_rescaling(draws[-1], unit), "rescaled"
    return RadialProfiles(species, r_m, heights, order, alpha, ordering)
