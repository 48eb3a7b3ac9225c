import hashlib
import json
import os
import stat

import numpy as np
import pytest

from _shared import files


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    files.write_json_atomic(target, {"old": 1})

    def fail(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        files.write_json_atomic(target, {"new": 2})
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_mode_is_applied_and_the_default_is_private(tmp_path):
    files.write_bytes_atomic(tmp_path / "shared.bin", b"x", mode=0o644)
    files.write_bytes_atomic(tmp_path / "private.bin", b"x")
    assert stat.S_IMODE((tmp_path / "shared.bin").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.bin").stat().st_mode) == 0o600


def test_arrays_round_trip_without_pickles_and_npy_takes_one_array(tmp_path):
    arrays = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([1, 2], dtype=np.int16)}
    for compressed in (False, True):
        files.write_arrays_atomic(tmp_path / f"x{compressed}.npz", arrays, compressed=compressed)
        back = files.load_arrays(tmp_path / f"x{compressed}.npz")
        assert set(back) == {"a", "b"} and all(np.array_equal(back[k], arrays[k]) for k in arrays)
        assert back["b"].dtype == np.int16
    with pytest.raises(ValueError, match="exactly one array"):
        files.write_arrays_atomic(tmp_path / "x.npy", arrays)


def test_json_converts_numpy_values_and_refuses_other_objects(tmp_path):
    text = files.json_text({"b": np.float32(0.5), "a": np.arange(2), "c": np.int64(3)}, indent=None)
    assert text == '{"a": [0, 1], "b": 0.5, "c": 3}'
    with pytest.raises(TypeError, match="not JSON-serialisable: object"):
        files.json_text({"x": object()})


def test_digests_agree_with_hashlib(tmp_path):
    data = os.urandom(3 * files.CHUNK_BYTES + 17)  # more than one chunk
    (tmp_path / "f").write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert files.sha256_file(tmp_path / "f") == files.sha256_bytes(data) == expected
    assert files.sha256_json({"b": 1, "a": 2}, digits=16) == hashlib.sha256(b'{"a": 2, "b": 1}').hexdigest()[:16]


def test_a_figure_is_written_in_the_format_of_its_suffix(tmp_path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1))
    figure.subplots().plot([0, 1])
    files.write_figure_atomic(tmp_path / "f.png", figure, dpi=20)
    files.write_figure_atomic(tmp_path / "f.pdf", figure)
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
