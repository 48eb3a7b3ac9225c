"""Convergence checks on a coarse, real abTEM recipe."""
import numpy as np
import pytest

from simulate.convergence import potential_sampling_check
from simulate.recipe import COARSE_RECIPE
from simulate.thickness_series import simulate_thickness_series

RECIPE = COARSE_RECIPE.replace(phonon_rms_displacement_A=0.0, max_thickness_atoms=4)


def test_potential_sampling_check_compares_with_the_finest_grid(tmp_path):
    report = potential_sampling_check(RECIPE, (256, 240), cache_dir=tmp_path, progress=False)
    assert report["reference_grid_points"] == 256
    reference, coarse = report["grids"]["256"], report["grids"]["240"]
    assert reference["scs_ratio_to_reference"] == [1.0] * 4
    assert coarse["sampling_A"] == pytest.approx(RECIPE.supercell_extent_A / 240)
    assert coarse["cutoff_mrad"] < reference["cutoff_mrad"]
    # the ratio is the one of the two series themselves (cached by the check)
    series = [simulate_thickness_series(RECIPE.replace(potential_sampling_A=RECIPE.supercell_extent_A / g,
                                                       name=f"{RECIPE.name}-grid-{g}"), cache_dir=tmp_path,
                                        progress=False) for g in (240, 256)]
    assert np.allclose(coarse["scs_ratio_to_reference"], series[0].scs_A2[1:] / series[1].scs_A2[1:])
    # not converged at 0.05 Å: a 6 % finer grid moves some SCS by more than 1 %
    assert max(abs(r - 1.0) for r in coarse["scs_ratio_to_reference"]) > 0.01
    with pytest.raises(ValueError, match="not an even FFT-friendly size; use 250"):
        potential_sampling_check(RECIPE, (241,), cache_dir=tmp_path, progress=False)
