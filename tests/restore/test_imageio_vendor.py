"""Vendor formats through rosettasciio (the ``io`` extra, also in ``test``): files written here per their
format descriptions with h5py / struct, not by our writer, read with restore.imageio and bench restore."""
import struct
import sys

import h5py
import numpy as np
import pytest
import torch

from bench.cli import main
from restore.checkpoint import save_model
from restore.imageio import length_in_A, read_image
from restore.inference import restore_image
from restore.models import CGRDN, CGRDNConfig

HEIGHT, WIDTH = 48, 64  # rectangular, so that a transposed read cannot pass


@pytest.fixture
def image():
    return np.random.default_rng(11).random((HEIGHT, WIDTH)).astype(np.float32) * 4e3 + 100


def write_ncem_emd(path, image, spacing_yx, units, names=("y", "x")):
    """Berkeley (NCEM) EMD 0.2 as openNCEM writes it: data (y, x), dim1 = y and dim2 = x coordinate vectors,
    units in brackets with underscores between letters ('[n_m]')."""
    with h5py.File(path, "w") as handle:
        handle.attrs["version_major"], handle.attrs["version_minor"] = 0, 2
        group = handle.create_group("data/haadf")
        group.attrs["emd_group_type"] = 1
        group.create_dataset("data", data=image)
        for index, (size, spacing, name) in enumerate(zip(image.shape, spacing_yx, names), start=1):
            dim = group.create_dataset(f"dim{index}", data=np.arange(size) * spacing)
            dim.attrs["name"], dim.attrs["units"] = name, units


def write_tia_ser(path, image, spacing_m):
    """TIA series file, version 0x0210: one 2-D float32 element with its X/Y calibration in metres; the
    rows are stored bottom row first, x fastest."""
    height, width = image.shape
    description = b"Number"
    dimension = struct.pack("<iddii", 1, 0.0, 1.0, 0, len(description)) + description + struct.pack("<i", 0)
    offsets_at = 30 + len(dimension)
    data_at = offsets_at + 8
    element = struct.pack("<ddiddihii", 0.0, spacing_m, 0, 0.0, spacing_m, 0, 7, width, height)
    pixels = np.ascontiguousarray(image[::-1], dtype="<f4").tobytes()
    tag_at = data_at + len(element) + len(pixels)
    header = struct.pack("<HHHIIIIII", 0x4949, 0x0197, 0x0210, 0x4122, 0x4152, 1, 1, offsets_at, 1)
    tag = struct.pack("<HHI", 0x4152, 0, 1_700_000_000)
    path.write_bytes(header + dimension + struct.pack("<II", data_at, tag_at) + element + pixels + tag)


def _dm3_tag(name: str, payload: bytes, group: bool) -> bytes:
    return struct.pack(">bH", 20 if group else 21, len(name)) + name.encode("ascii") + payload


def _dm3_group(tags: list[bytes]) -> bytes:
    return struct.pack(">bbl", 0, 0, len(tags)) + b"".join(tags)  # not sorted, closed, tag count


def _dm3_value(kind: int, value) -> bytes:
    """A data tag payload: '%%%%', the big-endian type description, the value in little-endian order."""
    code = {3: "<l", 6: "<f", 7: "<d"}[kind]
    return b"%%%%" + struct.pack(">ll", 1, kind) + struct.pack(code, value)


def _dm3_array(kind: int, values) -> bytes:
    code = {4: "<H", 6: "<f"}[kind]
    body = b"".join(struct.pack(code, v) for v in values)
    return b"%%%%" + struct.pack(">llll", 3, 20, kind, len(values)) + body


def write_dm3(path, image, spacing, units):
    """DigitalMicrograph 3: ImageList/TagGroup0 holding ImageTags and ImageData: Data (float32, x fastest),
    DataType 2, Dimensions (x, y), one Calibrations/Dimension group per axis (Origin, Scale, Units as UTF-16)."""
    height, width = image.shape
    text = [ord(c) for c in units]
    axis = _dm3_group([_dm3_tag("Origin", _dm3_value(6, 0.0), False),
                       _dm3_tag("Scale", _dm3_value(6, spacing), False),
                       _dm3_tag("Units", _dm3_array(4, text), False)])
    calibrations = _dm3_group([
        _dm3_tag("Brightness", _dm3_group([_dm3_tag("Origin", _dm3_value(6, 0.0), False),
                                           _dm3_tag("Scale", _dm3_value(6, 1.0), False),
                                           _dm3_tag("Units", _dm3_array(4, []), False)]), True),
        _dm3_tag("Dimension", _dm3_group([_dm3_tag("", axis, True), _dm3_tag("", axis, True)]), True)])
    image_data = _dm3_group([
        _dm3_tag("Calibrations", calibrations, True),
        _dm3_tag("Data", _dm3_array(6, image.ravel().tolist()), False),
        _dm3_tag("DataType", _dm3_value(3, 2), False),
        _dm3_tag("Dimensions", _dm3_group([_dm3_tag("", _dm3_value(3, width), False),
                                           _dm3_tag("", _dm3_value(3, height), False)]), True),
        _dm3_tag("PixelDepth", _dm3_value(3, 4), False)])
    entry = _dm3_group([_dm3_tag("ImageData", image_data, True), _dm3_tag("ImageTags", _dm3_group([]), True)])
    image_list = _dm3_group([_dm3_tag("", entry, True)])
    root = _dm3_group([_dm3_tag("ImageList", image_list, True)])
    path.write_bytes(struct.pack(">lll", 3, len(root), 1) + root + b"\x00" * 8)  # version 3, little-endian data


@pytest.mark.parametrize("units, spacing", [("[n_m]", 0.0173), ("[m]", 1.73e-11), ("A", 0.173)])
def test_ncem_emd_keeps_orientation_and_calibration(tmp_path, image, units, spacing):
    write_ncem_emd(tmp_path / "a.emd", image, (spacing, spacing), units)
    read = read_image(tmp_path / "a.emd")
    np.testing.assert_array_equal(read.data, image)  # rows are y, as written
    assert read.pixel_size_A == pytest.approx(0.173, rel=1e-9)


def test_emd_with_rectangular_pixels_gives_no_single_pixel_size(tmp_path, image):
    write_ncem_emd(tmp_path / "a.emd", image, (0.02, 0.03), "[n_m]")
    read = read_image(tmp_path / "a.emd")
    assert read.pixel_size_A is None
    assert read.metadata["pixel_spacing_yx_A"] == pytest.approx([0.2, 0.3], rel=1e-9)


def test_emd_written_by_rosettasciio_itself(tmp_path, image):
    from rsciio.emd import file_writer

    axes = [{"name": name, "units": "nm", "scale": 0.0173, "offset": 0.0, "size": size, "navigate": False}
            for name, size in (("y", HEIGHT), ("x", WIDTH))]
    file_writer(str(tmp_path / "b.emd"), {"data": image, "axes": axes, "original_metadata": {},
                                          "metadata": {"General": {"title": "haadf"}, "Signal": {}}})
    read = read_image(tmp_path / "b.emd")
    np.testing.assert_array_equal(read.data, image)
    assert read.pixel_size_A == pytest.approx(0.173, rel=1e-9)


def test_tia_ser_keeps_orientation_and_calibration(tmp_path, image):
    write_tia_ser(tmp_path / "a.ser", image, 1.73e-11)
    read = read_image(tmp_path / "a.ser")
    np.testing.assert_array_equal(read.data, image)
    assert read.pixel_size_A == pytest.approx(0.173, rel=1e-9)


@pytest.mark.parametrize("units, spacing", [("nm", 0.0173), ("\u00b5m", 1.73e-5)])
def test_dm3_keeps_orientation_and_calibration(tmp_path, image, units, spacing):
    write_dm3(tmp_path / "a.dm3", image, spacing, units)
    read = read_image(tmp_path / "a.dm3")
    np.testing.assert_array_equal(read.data, image)
    assert read.pixel_size_A == pytest.approx(0.173, rel=1e-6)  # the scale is a float32 tag


def test_bench_restore_keeps_the_emd_calibration_and_orientation(tmp_path, image):
    torch.manual_seed(0)
    model = CGRDN(CGRDNConfig.tiny()).eval()
    save_model(tmp_path / "tiny.safetensors", model, "cgrdn")
    write_ncem_emd(tmp_path / "in.emd", image, (0.0173, 0.0173), "[n_m]")
    assert main(["restore", str(tmp_path / "in.emd"), "-o", str(tmp_path / "out"), "--model",
                 str(tmp_path / "tiny.safetensors"), "--tile", "32", "--device", "cpu"]) == 0
    out = read_image(tmp_path / "out" / "in_restored.tif")  # a vendor input is written as TIFF
    assert out.pixel_size_A == pytest.approx(0.173, rel=1e-6)
    expected = restore_image(image, model, tile=32, device="cpu")
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-3)


def test_units_are_converted_to_angstrom():
    assert length_in_A("nm") == 10 and length_in_A(" NM ") == 10 and length_in_A("m") == 1e10
    for micro in ("\u00b5m", "\u03bcm", "um"):  # micro sign, Greek mu, ASCII
        assert length_in_A(micro) == 1e4
    for angstrom in ("\u212b", "\u00c5", "A"):  # ångström sign, letter Å, ASCII
        assert length_in_A(angstrom) == 1
    assert length_in_A("1 / nm") is None and length_in_A(None) is None and length_in_A("px") is None


def test_damaged_files_and_a_missing_extra_raise_clear_errors(tmp_path, monkeypatch, image):
    (tmp_path / "a.dm4").write_bytes(b"\x00" * 64)
    (tmp_path / "a.ser").write_bytes(b"\x49\x49" + b"\x00" * 40)
    (tmp_path / "a.emd").write_bytes(b"not hdf5")
    for name in ("a.dm4", "a.ser", "a.emd"):
        with pytest.raises(ValueError, match="not a readable"):
            read_image(tmp_path / name)
    with h5py.File(tmp_path / "empty.emd", "w") as handle:
        handle.attrs["version_major"], handle.attrs["version_minor"] = 0, 2
    with pytest.raises(ValueError, match="no image data"):
        read_image(tmp_path / "empty.emd")
    monkeypatch.setitem(sys.modules, "rsciio.digitalmicrograph", None)  # as if the extra were not installed
    with pytest.raises(ValueError, match=r"pip install 'stem-restore-bench\[io\]'"):
        read_image(tmp_path / "a.dm4")
