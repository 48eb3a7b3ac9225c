"""Dicts and shipped files written before the unit-suffix convention (issue 16) read as the new-named ones."""
import json

import numpy as np
import pytest

from _shared.legacy_names import has_legacy_keys
from simulate import specimen_images
from simulate.distortions import sample_stem_params, sample_tem_params
from simulate.distortions.params import StemDistortionParams, TemDistortionParams
from simulate.recipe import COARSE_RECIPE, DEFAULT_RECIPE, HAADFRecipe
from simulate.specimen_data import DATA_DIRECTORY, load_shipped, shipped_path
from simulate.specimen_recipe import SpecimenImageRecipe, default_recipe
from simulate.thickness_series import SHIPPED_SERIES, load_embedded_default, shipped_series_recipe

OLD_COARSE = {  # COARSE_RECIPE.to_dict() as written before the rename
    "name": "pt001-haadf-coarse", "lattice_constant_angstrom": 3.924, "energy_kv": 300.0,
    "convergence_semiangle_mrad": 21.5, "detector_inner_mrad": 50.0, "detector_outer_mrad": 120.0,
    "potential_sampling_angstrom": 0.05, "slices_per_cell": 2, "lateral_cells": 3, "max_thickness_atoms": 10,
    "phonon_rms_displacement_angstrom": 0.0629, "phonon_configurations": 1, "phonon_seed": 2023,
    "scan_points_per_cell": 18, "use_p4mm_symmetry": True, "parametrization": "lobato", "projection": "infinite",
}


def test_an_old_named_recipe_is_the_new_named_one():
    assert HAADFRecipe.from_dict(OLD_COARSE) == HAADFRecipe.from_dict(COARSE_RECIPE.to_dict()) == COARSE_RECIPE
    assert "lattice_constant_A" in COARSE_RECIPE.to_dict() and not has_legacy_keys(COARSE_RECIPE.to_dict())
    old = {"microscope": OLD_COARSE, "field_of_view_angstrom": 7.0, "scan_sampling_angstrom": 0.2,
           "planes_per_slice": 1, "method": "prism", "prism_interpolation": 2}
    new = SpecimenImageRecipe(COARSE_RECIPE, field_of_view_A=7.0, scan_sampling_A=0.2, prism_interpolation=2)
    assert SpecimenImageRecipe.from_dict(old) == SpecimenImageRecipe.from_dict(new.to_dict()) == new
    with pytest.raises(ValueError, match="unknown recipe field"):
        HAADFRecipe.from_dict({**OLD_COARSE, "pixel_width": 1.0})


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_an_old_named_distortion_set_is_the_new_named_one(seed):
    stem = sample_stem_params(seed, pixel_size_A=0.3, mean_intensity=0.1)
    new = stem.to_dict()
    old = {("pixel_size" if k == "pixel_size_A" else "dose_per_area" if k == "dose_e_per_A2" else k): v
           for k, v in new.items()}
    assert "pixel_size" in old and "pixel_size_A" not in old
    assert StemDistortionParams.from_dict(old) == StemDistortionParams.from_dict(new) == stem
    tem = sample_tem_params(seed, pixel_size_A=0.3, mean_intensity=0.1)
    old_tem = {("pixel_size" if k == "pixel_size_A" else "dose_per_area" if k == "dose_e_per_A2" else k): v
               for k, v in tem.to_dict().items()}
    assert TemDistortionParams.from_dict(old_tem) == tem
    with pytest.raises(ValueError, match="unknown StemDistortionParams field"):
        StemDistortionParams.from_dict({**old, "dose": 1.0})


def test_shipped_files_keep_their_old_names_and_load_as_new_named_objects(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("shipped data must not be simulated again")

    monkeypatch.setattr(specimen_images, "build_measurement", fail)
    for stem in SHIPPED_SERIES:  # the metadata on disk is as written: old names, hash over the arrays only
        meta = json.loads((DATA_DIRECTORY / f"{stem}.json").read_text())
        assert "lattice_constant_angstrom" in meta["recipe"]
        assert shipped_series_recipe(stem) == HAADFRecipe.from_dict(meta["recipe"])
    assert load_embedded_default().recipe == DEFAULT_RECIPE
    for kind in ("dislocation", "nanoparticle"):
        npz = shipped_path(kind)
        assert has_legacy_keys(json.loads(npz.with_suffix(".json").read_text()))
        with np.load(npz) as arrays:
            positions = arrays["column_positions_angstrom"]
        image = load_shipped(kind)
        assert image.recipe == default_recipe(kind) and np.array_equal(image.columns.positions_A, positions)
        assert not has_legacy_keys(image.specimen) and not has_legacy_keys(image.metadata)
        served = specimen_images.simulate_specimen_image(kind, progress=False)  # compared as objects: served
        assert served.specimen == image.specimen and served.recipe == image.recipe
