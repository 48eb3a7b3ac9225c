import math

import pytest

from simulate.debye_waller import debye_waller_b, rms_displacement
from simulate.recipe import PT_RMS_DISPLACEMENT_300K_A


def test_high_temperature_limit_is_classical():
    # For T ≫ Θ the Debye result tends to B = 6h²T/(m k Θ²) (φ → 1 − x/4 cancels the x/4 term).
    b = debye_waller_b(temperature_k=3000.0)
    h, k, m = 6.62607015e-34, 1.380649e-23, 195.084 * 1.66053906660e-27
    classical = 6 * h**2 * 3000.0 / (m * k * 240.0**2) * 1e20
    assert b == pytest.approx(classical, rel=2e-3)


def test_pt_room_temperature_value_and_recipe_agree():
    b = debye_waller_b(300.0)
    assert 0.29 < b < 0.33  # Debye model, Θ_D = 240 K: 0.312 Å²
    assert rms_displacement(b) == pytest.approx(PT_RMS_DISPLACEMENT_300K_A, abs=1e-4)
    assert rms_displacement(8 * math.pi**2) == pytest.approx(1.0)


def test_zero_point_motion_remains_at_low_temperature():
    assert debye_waller_b(1.0) > 0.05


@pytest.mark.parametrize("kwargs", [{"temperature_k": 0}, {"debye_temperature_k": -1}, {"atomic_mass_u": 0}])
def test_non_positive_inputs_are_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        debye_waller_b(**kwargs)
