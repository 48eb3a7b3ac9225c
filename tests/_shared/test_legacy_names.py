"""The names written before the unit-suffix convention (issue 16): the map and the results directories."""
import json
import re
from collections import Counter

import numpy as np
import pytest

from _shared.legacy_names import LEGACY_FIT_OPTION_NAMES, LEGACY_NAMES, has_legacy_keys, rename_legacy_keys
from _shared.results import ResultStore, config_hash

UNIT_SUFFIX = re.compile(r"_(A|A2|e_per_A2|ev_per_A)$")


def test_the_map_has_no_chains_and_only_the_one_intended_merge():
    olds, news = set(LEGACY_NAMES), set(LEGACY_NAMES.values())
    assert not olds & news  # no chain: renaming once is enough, and a new-named dict is left as it is
    assert all(old != new for old, new in LEGACY_NAMES.items())
    # two old names of the pixel size, one new name; every other new name has one old name
    merged = {new: [old for old, n in LEGACY_NAMES.items() if n == new] for new, count in
              Counter(LEGACY_NAMES.values()).items() if count > 1}
    assert merged == {"pixel_size_A": ["pixel_size", "pixel_size_angstrom"]}
    assert all(UNIT_SUFFIX.search(new) for new in news - {"estimator"})
    assert all(old.endswith(("_angstrom", "_angstrom2")) for old in olds - {"pixel_size", "dose_per_area",
                                                                            "fit_method"})
    assert not set(LEGACY_FIT_OPTION_NAMES) & set(LEGACY_FIT_OPTION_NAMES.values())


def test_nested_dicts_and_lists_are_renamed_and_the_input_is_kept():
    old = {"pixel_size": 0.2, "recipe": {"lattice_constant_angstrom": 3.924, "name": "x"},
           "index": [{"pixel_size_angstrom": 0.2, "circuit_corners_angstrom": [[0, 0]]}], "method": "raw"}
    copy = json.loads(json.dumps(old))
    new = rename_legacy_keys(old)
    assert new == {"pixel_size_A": 0.2, "recipe": {"lattice_constant_A": 3.924, "name": "x"},
                   "index": [{"pixel_size_A": 0.2, "circuit_corners_A": [[0, 0]]}], "method": "raw"}
    assert old == copy and has_legacy_keys(old) and not has_legacy_keys(new)
    assert rename_legacy_keys(new) == new  # idempotent
    assert rename_legacy_keys({"method": "poisson", "width": 0.5}, LEGACY_FIT_OPTION_NAMES) == {
        "estimator": "poisson", "width": 0.5}


def test_a_dict_holding_one_quantity_under_two_names_is_refused_unless_they_agree():
    assert rename_legacy_keys({"pixel_size": 0.2, "pixel_size_angstrom": 0.2}) == {"pixel_size_A": 0.2}
    with pytest.raises(ValueError, match="pixel_size_A"):
        rename_legacy_keys({"pixel_size": 0.2, "pixel_size_A": 0.3})


def _old_named_run(tmp_path):
    """A results directory as written before the rename: old names in its configuration, index and hash."""
    old_config = {"name": "quick", "pixel_size_angstrom": 0.2, "border_angstrom": 2.5, "fit_method": "poisson",
                  "thickness_series_recipe": {"lattice_constant_angstrom": 3.924}}
    directory = tmp_path / "old"
    directory.mkdir()
    (directory / "manifest.json").write_text(json.dumps(
        {"format_version": 1, "study": "toy", "config": old_config, "config_hash": config_hash(old_config),
         "estimator": "poisson", "runs": []}))
    (directory / "examples.json").write_text(json.dumps([{"key": "k", "pixel_size_angstrom": 0.2}]))
    return directory, rename_legacy_keys(old_config)


def test_an_old_named_results_directory_is_read_and_resumes_with_the_new_names(tmp_path):
    directory, new_config = _old_named_run(tmp_path)
    np.savez(directory / "examples.npz", k=np.zeros(2))
    loaded = ResultStore.load(directory)
    assert loaded.manifest["config"] == new_config and loaded.manifest["config_hash"] == config_hash(new_config)
    assert loaded.read_examples()["index"] == [{"key": "k", "pixel_size_A": 0.2}]
    assert ResultStore.admit(directory, "toy", new_config) is not None  # the same run: it resumes
    ResultStore.open(directory, "toy", new_config).save_manifest()
    written = json.loads((directory / "manifest.json").read_text())
    assert written["config"] == new_config and written["config_hash"] == config_hash(new_config)
    with pytest.raises(ValueError, match="another configuration"):
        ResultStore.admit(directory, "toy", {**new_config, "estimator": "least_squares"})
