"""The atom-counting library from a real (coarse) abTEM thickness series, with both estimators."""
import numpy as np
import pytest

from bench.library import CountingLibrary, build_counting_library, count_columns
from simulate.field_of_view import field_of_view
from simulate.recipe import COARSE_RECIPE
from simulate.thickness_series import simulate_thickness_series

# Without frozen phonons the four columns of the simulated cell are equivalent; a single phonon
# configuration (the coarse recipe's) makes them differ by more than one atom's SCS at 9 atoms.
RECIPE = COARSE_RECIPE.replace(phonon_rms_displacement_A=0.0, max_thickness_atoms=6)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return simulate_thickness_series(RECIPE, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


@pytest.fixture(scope="module")
def library(series):
    return build_counting_library(series, cells=(4, 4), pixel_size_A=0.2)


def test_library_increases_from_an_empty_column(library):
    assert np.array_equal(library.atoms, np.arange(7))
    for estimator in ("gaussian", "voronoi"):
        scs = library.scs(estimator)
        assert scs[0] == 0 and np.all(np.diff(scs) > 0)


def test_voronoi_library_equals_the_exact_cell_integral(library, series):
    # in a perfect crystal a column's Voronoi cell is its a/2 × a/2 cell
    assert np.allclose(library.scs_voronoi_A2[1:], series.scs_A2[1:], rtol=0.02)
    # the Gaussian volume is a different estimator: same order, not the same number
    ratio = library.scs_gaussian_A2[1:] / library.scs_voronoi_A2[1:]
    assert np.all((ratio > 0.5) & (ratio < 1.5))


@pytest.mark.parametrize("estimator", ["gaussian", "voronoi"])
def test_library_counts_its_own_noise_free_images(library, series, estimator):
    for atoms in (1, 3, 6):
        view = field_of_view(series, atoms_per_column=atoms, cells=(4, 4), pixel_size_A=0.2)
        _, counts = count_columns(library, view.image, view.column_positions_A, pixel_size_A=0.2, estimator=estimator)
        inner = counts[5:-5]  # border columns have truncated cells
        assert np.all(inner == atoms)


def test_roundtrip_and_errors(library, series, tmp_path):
    path = tmp_path / "library.json"
    library.save(path)
    again = CountingLibrary.load(path)
    assert np.array_equal(again.scs_gaussian_A2, library.scs_gaussian_A2)
    assert again.recipe == RECIPE.to_dict() and again.options["pixel_size_A"] == 0.2
    with pytest.raises(ValueError, match="max_atoms"):
        build_counting_library(series, max_atoms=7)
    with pytest.raises(ValueError, match="estimator"):
        library.scs("peak")


def test_a_library_written_with_the_old_names_reads_as_the_new_one(library, tmp_path):
    import json

    old = {"atoms": library.atoms.tolist(), "scs_gaussian_angstrom2": library.scs_gaussian_A2.tolist(),
           "scs_voronoi_angstrom2": library.scs_voronoi_A2.tolist(), "recipe": {
               **{k: v for k, v in RECIPE.to_dict().items() if not k.endswith("_A")},
               "lattice_constant_angstrom": RECIPE.lattice_constant_A,
               "potential_sampling_angstrom": RECIPE.potential_sampling_A,
               "phonon_rms_displacement_angstrom": RECIPE.phonon_rms_displacement_A},
           "options": {"cells": [4, 4], "pixel_size_angstrom": 0.2, "source_size_fwhm_angstrom": 0.0,
                       "fit_options": {"method": "least_squares"}, "interior_margin_angstrom": 1.962}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = CountingLibrary.load(tmp_path / "old.json")
    assert np.array_equal(loaded.scs_voronoi_A2, library.scs_voronoi_A2) and loaded.recipe == RECIPE.to_dict()
    assert loaded.options == {"cells": [4, 4], "pixel_size_A": 0.2, "source_size_fwhm_A": 0.0,
                              "fit_options": {"estimator": "least_squares"}, "interior_margin_A": 1.962}


def test_markdown_tables_list_every_subset_size_and_thickness():
    from bench.library_subsets import counting_by_subset_size, markdown_tables

    truth = np.tile(np.arange(1, 5), 10)
    images = (truth + 0.1 * np.random.default_rng(3).standard_normal((4, truth.size)))[:, None, :]
    subsets = counting_by_subset_size(lambda image: image[0], images, truth, np.arange(7.0))
    check = {estimator: {"subsets": subsets} for estimator in ("gaussian", "voronoi")}
    table = markdown_tables(check).splitlines()
    rows = [line for line in table if line.startswith(("| gaussian", "| voronoi"))]
    assert [line.split("|")[2].strip() for line in rows] == ["1", "2", "4"] * 2
    assert sum(line.startswith(("| 1 |", "| 2 |", "| 3 |", "| 4 |")) for line in table) == 4
    assert "| 4 | 10 | 25.0 / 25.0 | – |" in markdown_tables(check)  # step 1 of SCS 4; no library SE given


def test_matched_recipe_reproduces_the_particle_slicing_and_sampling():
    from bench.library import matched_library_recipe
    from simulate.specimen_data import load_shipped

    particle = load_shipped("nanoparticle")
    recipe = matched_library_recipe(particle, max_atoms=12, phonon_configurations=3)
    micro = particle.recipe.microscope
    # the shipped particle: a 44.84 Å cell on a 960² grid, a-thick slices (two a/2 planes each)
    assert abs(recipe.actual_sampling_A / (44.84 / 960) - 1.0) < 0.005
    assert recipe.slice_thickness_A == micro.lattice_constant_A
    assert (recipe.detector_outer_mrad, recipe.phonon_configurations, recipe.max_thickness_atoms) == (
        micro.detector_outer_mrad, 3, 12)
    # the particle's own microscope recipe samples its 15.70 Å supercell at 0.04905 Å (320²): 5 % coarser
    assert micro.actual_sampling_A / recipe.actual_sampling_A > 1.04


def test_a_mismatched_library_is_refused():
    from bench.library import check_library_matches, counting_check, matched_library_recipe
    from simulate.specimen_data import load_shipped

    particle = load_shipped("nanoparticle")
    scs = np.linspace(0.0, 0.12, 13)
    stale = CountingLibrary(np.arange(13), scs, scs, particle.recipe.microscope.to_dict(),
                            {"pixel_size_A": particle.pixel_size_A})
    with pytest.raises(ValueError, match="potential sampling 0.04905 Å instead of 0.04671 Å") as error:
        counting_check(stale, particle, "voronoi")
    assert "slice_thickness_A 1.962 instead of 3.924" in str(error.value)
    matched = CountingLibrary(np.arange(13), scs, scs, matched_library_recipe(particle, 12).to_dict(),
                              {"pixel_size_A": 0.2})
    with pytest.raises(ValueError, match="pixel size 0.2 Å"):
        check_library_matches(matched, particle)
    with pytest.raises(ValueError, match="slices of 2.403 Å do not divide"):
        matched_library_recipe(load_shipped("dislocation"), max_atoms=8)


def test_bulk_scs_depends_on_the_potential_sampling(tmp_path):
    # Why the library must share the image's grid: the same crystal on a 6 % finer potential grid gives a
    # different SCS (noise-free, no phonons, the detector inside both cutoffs; measured −2.2 … 0 % here, and
    # +3 % for the phonon-averaged particle recipe between 0.0490 and 0.0467 Å: docs/specimens.md).
    coarse = RECIPE.replace(potential_sampling_A=11.772 / 240)
    fine = RECIPE.replace(potential_sampling_A=11.772 / 256)
    scs = [simulate_thickness_series(r, cache_dir=tmp_path, progress=False).scs_A2[1:] for r in (coarse, fine)]
    assert (coarse.grid_points, fine.grid_points) == (240, 256)
    assert np.max(np.abs(scs[1] / scs[0] - 1.0)) > 0.01


def test_the_atom_counting_library_ships():
    """`bench run atom-counting` asks for exactly the shipped library's recipe, so it simulates nothing."""
    from bench.library import matched_library_recipe
    from simulate import thickness_series
    from simulate.specimen_data import load_shipped

    particle = load_shipped("nanoparticle")
    recipe = matched_library_recipe(particle, max_atoms=int(particle.columns.atoms_per_column.max()) + 2)
    assert recipe == thickness_series.shipped_series_recipe("pt001_haadf_library_nanoparticle")
