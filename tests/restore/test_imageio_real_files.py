"""restore.imageio and `bench restore` on files written by real DigitalMicrograph and FEI TIA software
(tests/restore/data/vendor/README.md says where they come from)."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("rsciio")

from bench.cli import main  # noqa: E402
from restore.checkpoint import save_model  # noqa: E402
from restore.imageio import read_image  # noqa: E402
from restore.models import CGRDN, CGRDNConfig  # noqa: E402

DATA = Path(__file__).parent / "data" / "vendor"


@pytest.mark.parametrize("name", ["dm3_float32_2x2.dm3", "dm4_float32_2x2.dm4"])
def test_digitalmicrograph_images_keep_their_orientation(name):
    image = read_image(DATA / name)
    np.testing.assert_array_equal(image.data, [[1, 2], [3, 4]])  # rows first, as DigitalMicrograph shows them
    assert image.pixel_size_A is None  # the file holds no spatial calibration


def test_a_digitalmicrograph_colour_image_is_refused_as_colour_and_converted_on_request():
    with pytest.raises(ValueError, match=r"dm3_rgba_2x2\.dm3: a colour \(RGB"):
        read_image(DATA / "dm3_rgba_2x2.dm3")
    grey = read_image(DATA / "dm3_rgba_2x2.dm3", grey=True)
    assert grey.data.shape == (2, 2) and np.isfinite(grey.data).all()


def test_a_tia_image_matches_hyperspy_and_keeps_its_calibration_with_or_without_the_emi(tmp_path):
    expected = np.load(DATA / "64x64_TEM_images_acquire.npy")
    image = read_image(DATA / "64x64_TEM_images_acquire_1.ser")
    np.testing.assert_array_equal(image.data, expected.astype(np.float32))
    assert image.pixel_size_A == pytest.approx(62.81833, rel=1e-6)
    shutil.copy(DATA / "64x64_TEM_images_acquire_1.ser", tmp_path)  # the .ser alone: units assumed metres
    alone = read_image(tmp_path / "64x64_TEM_images_acquire_1.ser")
    assert alone.pixel_size_A == pytest.approx(62.81833, rel=1e-6)
    assert "no .emi" in alone.metadata["calibration_note"]


@pytest.mark.parametrize("detector", [1, 2])
def test_each_tia_detector_file_is_matched_to_its_own_signal_in_the_emi(tmp_path, detector):
    name = f"16x16_STEM_BF_DF_acquire_{detector}.ser"
    shutil.copy(DATA / name, tmp_path)
    np.testing.assert_array_equal(read_image(DATA / name).data, read_image(tmp_path / name).data)


def test_a_tia_diffraction_pattern_gets_no_real_space_pixel_size(tmp_path):
    with_emi = read_image(DATA / "64x64_diffraction_acquire_1.ser")
    assert with_emi.pixel_size_A is None  # 1/nm is not a length
    shutil.copy(DATA / "64x64_diffraction_acquire_1.ser", tmp_path)
    alone = read_image(tmp_path / "64x64_diffraction_acquire_1.ser")
    # read as metres, 1.0157·10⁸ m⁻¹ would be a pixel of 10¹⁸ Å: no microscope image has that
    assert alone.pixel_size_A is None and "implausible" in alone.metadata["calibration_note"]


def test_bench_restore_restores_a_real_tia_stem_image(tmp_path):
    torch.manual_seed(0)
    save_model(tmp_path / "tiny.safetensors", CGRDN(CGRDNConfig.tiny()), "cgrdn")
    source = DATA / "16x16_STEM_BF_DF_acquire_2.ser"
    assert main(["restore", str(source), "-o", str(tmp_path / "out"), "--model", str(tmp_path / "tiny.safetensors"),
                 "--device", "cpu", "--algorithm", "direct", "--quiet"]) == 0
    restored = read_image(tmp_path / "out" / "16x16_STEM_BF_DF_acquire_2_restored.tif")
    assert restored.data.shape == (16, 16)
    assert restored.pixel_size_A == pytest.approx(215.10044, rel=1e-6)


def test_bench_restore_names_a_real_file_too_small_to_restore(tmp_path, capsys):
    torch.manual_seed(0)
    save_model(tmp_path / "tiny.safetensors", CGRDN(CGRDNConfig.tiny()), "cgrdn")
    assert main(["restore", str(DATA / "dm4_float32_2x2.dm4"), "-o", str(tmp_path / "out.tif"), "--model",
                 str(tmp_path / "tiny.safetensors"), "--device", "cpu"]) == 2
    assert "dm4_float32_2x2.dm4: 2 × 2 px; each side needs ≥ 8 px" in capsys.readouterr().err
