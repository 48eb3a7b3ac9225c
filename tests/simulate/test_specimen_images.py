"""Coarse real abTEM runs on small pieces of both specimens: peaks on the true columns, 4mm symmetry,
PRISM against plain multislice, cache, shipped data and recipe checks."""
import dataclasses
import json

import numpy as np
import pytest

import simulate.specimen_images as specimen_images
import simulate.specimen_recipe as specimen_recipe
from simulate.dislocation import DislocationSpecimen
from simulate.nanoparticle import NanoparticleSpecimen
from simulate.recipe import DEFAULT_RECIPE
from simulate.specimen_images import build_specimen, simulate_specimen_image
from simulate.specimen_recipe import SpecimenImageRecipe

# 0.08 Å potential sampling represents up to ≈ 80 mrad: a coarse detector for fast tests.
COARSE_MICROSCOPE = DEFAULT_RECIPE.replace(potential_sampling_A=0.08, detector_inner_mrad=40.0,
                                           detector_outer_mrad=78.0, phonon_configurations=1,
                                           phonon_rms_displacement_A=0.0)
SMALL_PARTICLE = NanoparticleSpecimen(diameter_cells=3.0)
SMALL_DISLOCATION = DislocationSpecimen(periods=2, block_A=16.0)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def particle_image(cache_dir):
    recipe = SpecimenImageRecipe(COARSE_MICROSCOPE, field_of_view_A=7.0, scan_sampling_A=0.22,
                                 planes_per_slice=1, method="prism", prism_interpolation=2)
    return simulate_specimen_image("nanoparticle", recipe, SMALL_PARTICLE, cache_dir=cache_dir, progress=False)


def test_particle_image_is_4mm_symmetric_and_brightest_on_the_thickest_column(particle_image):
    image = particle_image.image
    assert image.shape == (33, 33) and np.all(image >= 0) and image.max() < 1
    scale = image.max()
    for symmetric in (image[::-1], image[:, ::-1], image.T):
        assert np.abs(symmetric - image).max() < 1e-3 * scale
    # the central column (3 atoms) is a maximum; the lone atom of a rim column scatters far less
    assert image[16, 16] == image[14:19, 14:19].max() and image[16, 16] > 0.8 * scale
    truth = particle_image.columns
    assert truth.atoms_per_column[np.argmin(np.linalg.norm(truth.positions_A - 16 * 0.22, axis=1))] == 3


def test_particle_columns_are_local_maxima_at_the_true_positions(particle_image):
    image, pixel = particle_image.image, particle_image.pixel_size_A
    truth = particle_image.columns
    for (x, y), _atoms in zip(truth.positions_A, truth.atoms_per_column):
        column, row = int(round(x / pixel)), int(round(y / pixel))
        if not (2 <= row < image.shape[0] - 2 and 2 <= column < image.shape[1] - 2):
            continue
        window = image[row - 2:row + 3, column - 2:column + 3]
        assert window.max() == image[row, column]
    assert image.min() < 0.05 * image.max()  # between the columns


def test_cache_hit_does_not_simulate(particle_image, cache_dir, monkeypatch):
    def fail(*_args, **_kwargs):
        raise AssertionError("a cache hit must not simulate")

    monkeypatch.setattr(specimen_images, "build_measurement", fail)
    again = simulate_specimen_image("nanoparticle", particle_image.recipe, SMALL_PARTICLE, cache_dir=cache_dir,
                                    progress=False)
    assert np.array_equal(again.configuration_images, particle_image.configuration_images)
    meta = json.loads(next(cache_dir.rglob("meta.json")).read_text())
    assert meta["recipe"] == particle_image.recipe.to_dict() and meta["specimen"] == SMALL_PARTICLE.to_dict()
    assert meta["metadata"]["versions"]["abtem"] == "1.0.11"
    assert meta["metadata"]["fidelity"] == "reduced"
    assert set(meta["metadata"]["reduced"]) >= {"potential_sampling_A", "phonon_configurations",
                                                "prism_interpolation"}


def test_more_configurations_resume_from_those_already_computed(particle_image, cache_dir, monkeypatch):
    computed = []
    build = specimen_images.build_measurement

    def spy(specimen, recipe, configuration, scan_points=None):
        computed.append(configuration)
        return build(specimen, recipe, configuration, scan_points)

    monkeypatch.setattr(specimen_images, "build_measurement", spy)
    recipe = particle_image.recipe
    two = dataclasses.replace(recipe, microscope=recipe.microscope.replace(phonon_configurations=2))
    image = simulate_specimen_image("nanoparticle", two, SMALL_PARTICLE, cache_dir=cache_dir, progress=False)
    assert computed == [1]  # configuration 0 comes from the 1-configuration run
    assert np.array_equal(image.configuration_images[0], particle_image.configuration_images[0])
    assert image.metadata["configurations_resumed_from_partial"] == 1
    assert set(image.metadata["wall_time_per_configuration_s"]) == {"0", "1"}
    (pieces,) = cache_dir.glob("nanoparticle-haadf-configurations/*/partial")
    assert sorted(p.name for p in pieces.glob("*.npy")) == [
        "configuration-0000.npy", "configuration-0001.npy"]  # kept for a later, larger count
    assert json.loads((pieces / "configuration-0001.json").read_text())["wall_time_s"] > 0
    computed.clear()
    again = simulate_specimen_image("nanoparticle", two, SMALL_PARTICLE, cache_dir=cache_dir, progress=False,
                                    use_cache=False)
    assert computed == [0, 1] and np.allclose(again.configuration_images, image.configuration_images)


def test_prism_without_interpolation_equals_plain_multislice():
    specimen = build_specimen("nanoparticle", NanoparticleSpecimen(diameter_cells=2.0, vacuum_A=2.0))
    results = {}
    for method in ("prism", "multislice"):
        recipe = SpecimenImageRecipe(COARSE_MICROSCOPE, field_of_view_A=2.0, scan_sampling_A=0.22,
                                     method=method, prism_interpolation=1)
        measurement = specimen_images.build_measurement(specimen, recipe, 0, scan_points=(5, 5))
        results[method] = np.asarray(measurement.compute(scheduler="threads").array)
    assert np.allclose(results["prism"], results["multislice"], rtol=2e-3)
    assert results["prism"].std() > 0.05 * results["prism"].mean()  # the piece spans columns and gaps


def test_dislocation_piece_peaks_on_the_displaced_core_columns():
    specimen = build_specimen("dislocation", SMALL_DISLOCATION)
    recipe = SpecimenImageRecipe(COARSE_MICROSCOPE, field_of_view_A=2.8, scan_sampling_A=0.2,
                                 planes_per_slice=3, method="multislice")
    image = np.asarray(specimen_images.build_measurement(specimen, recipe, 0).compute(scheduler="threads").array).T
    columns = specimen_images._columns_in_image(specimen, recipe)
    assert columns.core_mask.all() and len(columns.atoms_per_column) >= 2
    bright = [image[int(round(y / 0.2)), int(round(x / 0.2))] for x, y in columns.positions_A
              if 1 <= round(y / 0.2) < image.shape[0] - 1 and 1 <= round(x / 0.2) < image.shape[1] - 1]
    assert len(bright) >= 2 and min(bright) > 1.5 * np.median(image)


def test_recipe_and_geometry_errors():
    with pytest.raises(ValueError, match="scan_sampling_A"):
        SpecimenImageRecipe(COARSE_MICROSCOPE, scan_sampling_A=0.5)
    with pytest.raises(ValueError, match="method"):
        SpecimenImageRecipe(COARSE_MICROSCOPE, method="bloch")
    specimen = build_specimen("nanoparticle", SMALL_PARTICLE)
    with pytest.raises(ValueError, match="field_of_view_A"):
        specimen_images.check_geometry(specimen, SpecimenImageRecipe(COARSE_MICROSCOPE, field_of_view_A=40.0))
    # 0.09 Å represents 75.3 mrad in the bulk supercell but only 73.2 mrad in this particle's 13.4 Å cell
    wide = dataclasses.replace(SpecimenImageRecipe(COARSE_MICROSCOPE, field_of_view_A=5.0, method="multislice"),
                               microscope=COARSE_MICROSCOPE.replace(potential_sampling_A=0.09,
                                                                    detector_outer_mrad=74.5))
    with pytest.raises(ValueError, match="detector_outer_mrad"):
        specimen_images.check_geometry(specimen, wide)
    with pytest.raises(ValueError, match="kind"):
        build_specimen("grain-boundary")


@pytest.mark.parametrize("kind, columns, atoms, core", [("dislocation", 178, 1068, 24),
                                                        ("nanoparticle", 373, 2779, 0)])
def test_shipped_images_carry_truth_and_provenance(kind, columns, atoms, core, monkeypatch, capsys):
    from bench.cli import main
    from simulate.specimen_data import load_shipped, shipped_path

    shipped = load_shipped(kind)
    assert shipped_path(kind).stat().st_size < 5e6
    assert shipped.metadata["fidelity"] == "reduced" and shipped.metadata["versions"]["abtem"] == "1.0.11"
    assert shipped.recipe == specimen_recipe.default_recipe(kind)
    configurations = shipped.recipe.microscope.phonon_configurations
    side = shipped.recipe.scan_points
    assert shipped.configuration_images.shape == (configurations, side, side)
    assert set(shipped.metadata["wall_time_per_configuration_s"]) == {str(k) for k in range(configurations)}
    truth = shipped.columns
    assert (len(truth.atoms_per_column), truth.atoms_per_column.sum(), truth.core_mask.sum()) == (columns, atoms, core)
    rebuilt = specimen_images._columns_in_image(build_specimen(kind), shipped.recipe)
    assert np.allclose(rebuilt.positions_A, truth.positions_A)
    image, pixel = shipped.image, shipped.pixel_size_A
    assert image.shape == (shipped.recipe.scan_points,) * 2
    on_columns = image[np.round(truth.positions_A[:, 1] / pixel).astype(int),
                       np.round(truth.positions_A[:, 0] / pixel).astype(int)]
    assert np.median(on_columns) > 5 * np.median(image)

    def fail(*_args, **_kwargs):
        raise AssertionError("the shipped default must load without simulating")

    monkeypatch.setattr(specimen_images, "build_measurement", fail)
    assert main(["simulate", kind, "--quiet"]) == 0
    assert f"{columns} columns" in capsys.readouterr().out
