import pickle

import numpy as np
import pytest

from restore.imageio import read_image, write_image


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".h5"])
@pytest.mark.parametrize("shape", [(33, 47), (3, 20, 18)])
def test_lossless_roundtrip_with_calibration(tmp_path, suffix, shape):
    data = np.random.default_rng(0).random(shape).astype(np.float32) * 1e4
    write_image(tmp_path / f"a{suffix}", data, pixel_size_A=0.173)
    image = read_image(tmp_path / f"a{suffix}")
    np.testing.assert_array_equal(image.data, data)
    assert image.pixel_size_A == (None if suffix == ".npy" else pytest.approx(0.173))


def test_png_keeps_the_intensity_range(tmp_path):
    data = np.random.default_rng(1).random((40, 30)).astype(np.float32) * 250 + 1000
    write_image(tmp_path / "a.png", data, pixel_size_A=0.5)
    image = read_image(tmp_path / "a.png")
    assert np.abs(image.data - data).max() <= 250 / 65535 * 0.51 + 1e-3
    assert image.pixel_size_A == 0.5


def test_non_images_and_unsafe_files_raise(tmp_path):
    (tmp_path / "text.tif").write_text("hello")
    with pytest.raises(ValueError, match="not a readable TIFF"):
        read_image(tmp_path / "text.tif")
    with open(tmp_path / "obj.npy", "wb") as handle:
        np.save(handle, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy"):
        read_image(tmp_path / "obj.npy")
    (tmp_path / "p.npy").write_bytes(pickle.dumps([1]))
    with pytest.raises(ValueError):
        read_image(tmp_path / "p.npy")
    np.save(tmp_path / "vector.npy", np.zeros(5))
    with pytest.raises(ValueError, match="expected"):
        read_image(tmp_path / "vector.npy")
    with pytest.raises(ValueError, match="unsupported file type"):
        write_image(tmp_path / "a.jpg", np.zeros((4, 4)))
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.tif")
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "nan.tif", np.full((4, 4), np.nan))


def test_a_stack_with_a_channel_axis_is_read_as_frames_and_the_stored_type_is_named(tmp_path):
    import h5py

    stack = np.arange(3 * 10 * 12, dtype=np.uint16).reshape(3, 1, 10, 12)  # (N, 1, H, W) as in tk_r_em's test data
    with h5py.File(tmp_path / "stack.h5", "w") as handle:
        handle["x"] = stack
    image = read_image(tmp_path / "stack.h5")
    np.testing.assert_array_equal(image.data, stack[:, 0])
    assert image.metadata["dtype"] == "uint16"
    np.save(tmp_path / "last.npy", stack.reshape(3, 10, 12, 1))  # (N, H, W, 1)
    assert read_image(tmp_path / "last.npy").data.shape == (3, 10, 12)
    write_image(tmp_path / "preview.png", stack[0, 0].astype(np.float32))
    assert read_image(tmp_path / "preview.png").metadata["dtype"] is None  # stretched: not the stored intensities
