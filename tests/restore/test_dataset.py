import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import restore.dataset
from restore.dataset import (
    SyntheticPairDataset,
    load_validation_set,
    pair_generator,
    validation_set,
    write_validation_set,
)
from simulate.synthetic import SYNTHETIC_RECIPE_VERSION


def test_index_reproduces_pair_and_indices_differ():
    first = SyntheticPairDataset("hrstem", size=32, seed=9, length=4)
    again = SyntheticPairDataset("hrstem", size=32, seed=9, length=4)
    x0, y0 = first[2]
    x1, y1 = again[2]
    assert x0.shape == (1, 32, 32) and torch.equal(x0, x1) and torch.equal(y0, y1)
    assert not torch.equal(first[3][1], y0)
    assert not torch.equal(SyntheticPairDataset("hrstem", size=32, seed=10, length=4)[2][1], y0)
    with pytest.raises(IndexError):
        first.pair(4)


def test_streams_of_two_workers_are_disjoint_and_match_indices():
    dataset = SyntheticPairDataset("lrstem", size=32, seed=1, length=4)
    loader = DataLoader(dataset, batch_size=None, num_workers=2)
    streamed = [y for _, y in loader]
    assert len(streamed) == 4
    expected = [dataset[i][1] for i in range(4)]
    # Worker 0 yields indices 0, 2 and worker 1 yields 1, 3; the loader interleaves them in index order.
    assert all(torch.equal(s, e) for s, e in zip(streamed, expected))
    assert not torch.equal(streamed[0], streamed[1])


def test_infinite_stream_has_no_length_and_generators_are_independent():
    dataset = SyntheticPairDataset("hrtem", size=32, seed=0)
    with pytest.raises(TypeError):
        len(dataset)
    stream = iter(dataset)
    assert next(stream)[0].shape == (1, 32, 32)
    a = pair_generator(0, "hrstem", 1).random(4)
    assert not np.array_equal(a, pair_generator(0, "hrstem", 2).random(4))
    assert not np.array_equal(a, pair_generator(0, "hrtem", 1).random(4))
    for bad in ({"size": 8}, {"seed": -1}, {"length": 0}, {"modality": "optical"}):
        with pytest.raises(ValueError):
            SyntheticPairDataset(**bad)


def test_validation_set_written_once_atomically_and_reloaded(tmp_path):
    path = write_validation_set(tmp_path / "val" / "lrtem.npz", "lrtem", n=3, seed=4, size=32)
    assert sorted(p.name for p in path.parent.iterdir()) == ["lrtem.npz"]  # no temporary left behind
    loaded = load_validation_set(path)
    reference = SyntheticPairDataset("lrtem", size=32, seed=4, length=3)
    assert len(loaded) == 3
    assert torch.equal(loaded[1][1], reference[1][1]) and torch.equal(loaded[1][0], reference[1][0])
    recipe = loaded.metadata["recipe"]
    assert recipe["seed"] == 4 and recipe["modality"]["name"] == "lrtem" and len(loaded.metadata["records"]) == 3
    before = path.stat().st_mtime_ns
    assert write_validation_set(path, "lrtem", n=3, seed=4, size=32) == path and path.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="recipe"):
        write_validation_set(path, "lrtem", n=3, seed=5, size=32)
    assert len(validation_set("lrtem", path=path)) == 3
    with pytest.raises(FileNotFoundError):
        load_validation_set(tmp_path / "missing.npz")


def test_validation_set_of_another_recipe_version_is_refused(tmp_path, monkeypatch):
    path = restore.dataset.write_validation_set(tmp_path / "val.npz", "hrstem", n=1, seed=1, size=16)
    monkeypatch.setattr(restore.dataset, "SYNTHETIC_RECIPE_VERSION", SYNTHETIC_RECIPE_VERSION + 1)
    with pytest.raises(ValueError, match=rf"version {SYNTHETIC_RECIPE_VERSION}, but .* now version "
                                         rf"{SYNTHETIC_RECIPE_VERSION + 1}.*write_validation_set"):
        restore.dataset.load_validation_set(path)
    with pytest.raises(ValueError, match=r"version 1 \(not recorded: made before versions were recorded\)"):
        restore.dataset.check_recipe_version(None, "old data", "Rebuild it.")


def test_validation_set_header_written_with_the_old_names_reads_with_the_new_ones(tmp_path):
    import json

    path = restore.dataset.write_validation_set(tmp_path / "val.npz", "hrstem", n=1, seed=1, size=16)
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays["metadata"].tobytes().decode())
    record = header["records"][0]
    assert "pixel_size_A" in record and "dose_e_per_A2" in record["distortion_params"]
    # as a set made before the unit-suffix convention recorded it
    record["pixel_size"] = record.pop("pixel_size_A")
    record["distortion_params"]["dose_per_area"] = record["distortion_params"].pop("dose_e_per_A2")
    arrays["metadata"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    loaded = load_validation_set(path).metadata["records"][0]
    assert loaded["pixel_size_A"] == record["pixel_size"] and "pixel_size" not in loaded
    assert loaded["distortion_params"]["dose_e_per_A2"] == record["distortion_params"]["dose_per_area"]
