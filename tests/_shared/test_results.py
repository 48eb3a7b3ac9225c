import json

import pandas as pd
import pytest

from _shared.results import FORMAT_VERSION, ResultStore, config_hash


def test_a_store_round_trips_tasks_tables_records_and_examples(tmp_path):
    import numpy as np

    store = ResultStore.open(tmp_path / "r", "toy", {"n": 1}, {"methods": [{"name": "raw"}], "seeds": {"a": 1}})
    store.write_task("raw__0", pd.DataFrame({"v": [1.0]}), {"image": np.ones((2, 2))})
    store.write_record("library", {"x": [1, 2]})
    store.write_examples({"k": np.zeros(3)}, [{"key": "k"}])
    loaded = ResultStore.load(tmp_path / "r")
    assert loaded.study == "toy" and loaded.manifest["seeds"] == {"a": 1}
    assert loaded.manifest["format_version"] == FORMAT_VERSION
    assert loaded.manifest["config_hash"] == config_hash({"n": 1})
    assert loaded.done("raw__0") and loaded.stored_task_count() == 1
    assert loaded.read_tasks()["v"].tolist() == [1.0]
    assert loaded.read_arrays("raw__0")["image"].shape == (2, 2) and loaded.read_arrays("other") is None
    assert json.loads((tmp_path / "r" / "library.json").read_text()) == {"x": [1, 2]}
    assert loaded.read_examples()["index"] == [{"key": "k"}]


def test_a_manifest_without_a_format_version_is_read_as_the_first_layout(tmp_path):
    # directories written before the layout had a version number, and by every version so far, read the same
    (tmp_path / "manifest.json").write_text(json.dumps({"study": "toy", "config": {}, "config_hash": config_hash({})}))
    assert ResultStore.load(tmp_path).study == "toy"
    assert ResultStore.admit(tmp_path, "toy", {})["study"] == "toy"


def test_a_newer_layout_is_refused_with_the_fix(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"study": "toy", "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ValueError, match="update the package, or rerun the study into a new directory"):
        ResultStore.load(tmp_path)
