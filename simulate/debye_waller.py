"""Thermal vibration amplitude of Pt from the Debye model.

The frozen-phonon displacement of the default recipe comes from here, so the number in the recipe can be
traced to a formula and its inputs:

- Debye model of the Debye–Waller factor (Willis & Pryor, *Thermal Vibrations in Crystallography*,
  Cambridge University Press 1975, eq. 7.42): ``B = 6 h² T / (m k_B Θ²) · [φ(x) + x/4]``, ``x = Θ/T``,
  ``φ(x) = (1/x) ∫₀ˣ t/(eᵗ − 1) dt``.
- Debye temperature of Pt, Θ_D = 240 K (Kittel, *Introduction to Solid State Physics*, 8th ed., Table 5.1).
- B relates to the one-dimensional mean-square displacement by ``B = 8π² ⟨u_x²⟩``; abTEM's
  ``FrozenPhonons(sigmas=...)`` takes ``√⟨u_x²⟩`` (displacement rms along each Cartesian direction).
"""
from __future__ import annotations

import math

from scipy import integrate

PLANCK_J_S = 6.62607015e-34
BOLTZMANN_J_PER_K = 1.380649e-23
ATOMIC_MASS_KG = 1.66053906660e-27
PT_ATOMIC_MASS_U = 195.084
PT_DEBYE_TEMPERATURE_K = 240.0


def debye_waller_b(
    temperature_k: float = 300.0,
    debye_temperature_k: float = PT_DEBYE_TEMPERATURE_K,
    atomic_mass_u: float = PT_ATOMIC_MASS_U,
) -> float:
    """Debye–Waller factor B [Å²] of a monatomic cubic crystal in the Debye model.

    Parameters
    ----------
    temperature_k : float
        Specimen temperature [K], > 0.
    debye_temperature_k : float
        Debye temperature Θ_D [K], > 0 (Pt: 240 K).
    atomic_mass_u : float
        Atomic mass [u], > 0 (Pt: 195.084 u).

    Returns
    -------
    float
        B = 8π²⟨u_x²⟩ [Å²].

    Raises
    ------
    ValueError
        If any input is not positive.
    """
    for name, value in (
        ("temperature_k", temperature_k),
        ("debye_temperature_k", debye_temperature_k),
        ("atomic_mass_u", atomic_mass_u),
    ):
        if not value > 0:
            raise ValueError(f"{name}={value!r} must be > 0")
    x = debye_temperature_k / temperature_k
    debye_integral, _ = integrate.quad(lambda t: t / math.expm1(t) if t > 0 else 1.0, 0.0, x)
    phi = debye_integral / x
    mass_kg = atomic_mass_u * ATOMIC_MASS_KG
    b_m2 = (
        6.0 * PLANCK_J_S**2 * temperature_k
        / (mass_kg * BOLTZMANN_J_PER_K * debye_temperature_k**2)
        * (phi + x / 4.0)
    )
    return b_m2 * 1e20


def rms_displacement(b_A2: float) -> float:
    """Return the one-dimensional rms thermal displacement √⟨u_x²⟩ = √(B / 8π²) from B.

    Parameters
    ----------
    b_A2 : float
        Debye–Waller factor B [Å²], ≥ 0.

    Returns
    -------
    float
        rms displacement along one Cartesian direction [Å] (abTEM's ``FrozenPhonons`` sigma).

    Raises
    ------
    ValueError
        If ``b_A2`` is negative (or NaN).
    """
    if not b_A2 >= 0:
        raise ValueError(f"b_A2={b_A2!r} must be >= 0")
    return math.sqrt(b_A2 / (8.0 * math.pi**2))
