"""Bad and unusual inputs of restore.imageio: colour images, empty files, tiny images."""
import numpy as np
import pytest
from PIL import Image as PILImage

from restore.imageio import read_image

LUMA = np.array([0.299, 0.587, 0.114])


def _rgb(height=20, width=24):
    return np.random.default_rng(3).integers(0, 255, size=(height, width, 3), dtype=np.uint8)


def test_an_rgb_array_is_refused_as_colour_not_read_as_frames(tmp_path):
    np.save(tmp_path / "rgb.npy", _rgb().astype(np.float32))
    with pytest.raises(ValueError, match=r"rgb\.npy: .*colour \(RGB\)") as error:
        read_image(tmp_path / "rgb.npy")
    assert "--grey" in str(error.value) and "frames" not in str(error.value)


def test_an_rgb_png_is_refused_unless_grey_is_asked(tmp_path):
    rgb = _rgb()
    PILImage.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match=r"rgb\.png: .*colour"):
        read_image(tmp_path / "rgb.png")
    grey = read_image(tmp_path / "rgb.png", grey=True)
    np.testing.assert_allclose(grey.data, rgb.astype(np.float64) @ LUMA, rtol=1e-5)


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".h5"])
def test_rgba_arrays_in_every_format_are_refused_and_converted_on_request(tmp_path, suffix):
    import h5py
    import tifffile

    rgba = np.concatenate([_rgb(), np.full((20, 24, 1), 255, np.uint8)], axis=-1)
    path = tmp_path / f"rgba{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, rgba, photometric="rgb")
    elif suffix == ".npy":
        np.save(path, rgba)
    else:
        with h5py.File(path, "w") as handle:
            handle["image"] = rgba
    with pytest.raises(ValueError, match="colour"):
        read_image(path)
    np.testing.assert_allclose(read_image(path, grey=True).data, rgba[..., :3].astype(np.float64) @ LUMA,
                               rtol=1e-5)


def test_grey_images_and_frame_stacks_are_not_mistaken_for_colour(tmp_path):
    np.save(tmp_path / "stack.npy", np.ones((3, 20, 24), np.float32))  # 3 frames, not RGB
    assert read_image(tmp_path / "stack.npy").data.shape == (3, 20, 24)
    PILImage.fromarray(np.full((20, 24), 7, np.uint8)).save(tmp_path / "grey.png")
    assert read_image(tmp_path / "grey.png", grey=True).data.shape == (20, 24)
    np.save(tmp_path / "channel.npy", np.ones((20, 24, 1), np.float32))  # a single channel axis
    assert read_image(tmp_path / "channel.npy").data.shape == (20, 24)


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".png", ".h5", ".dm3"])
def test_an_empty_file_says_it_is_empty(tmp_path, suffix):
    (tmp_path / f"empty{suffix}").write_bytes(b"")
    with pytest.raises(ValueError, match=rf"empty{suffix}: empty file \(0 bytes\)"):
        read_image(tmp_path / f"empty{suffix}")


def test_a_one_pixel_image_keeps_its_two_axes(tmp_path):
    np.save(tmp_path / "dot.npy", np.ones((1, 1), np.float32))
    assert read_image(tmp_path / "dot.npy").data.shape == (1, 1)
    np.save(tmp_path / "dots.npy", np.ones((1, 1, 1), np.float32))
    assert read_image(tmp_path / "dots.npy").data.shape == (1, 1)
