"""The SavedModel reader, on a bundle written here byte by byte and, when available, on the real tk_r_em."""
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from restore.tf_import import (
    BundleEntry,
    cgrdn_from_saved_model,
    import_r_em,
    keras_conv_weights,
    read_bundle,
    read_bundle_index,
)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _entry(dtype: int, shape, offset: int, size: int) -> bytes:
    dims = b"".join(_field(2, _field(1, d)) for d in shape)
    return _field(1, dtype) + _field(2, dims) + _field(4, offset) + _field(5, size)


def _block(entries, prefix_compress: bool) -> bytes:
    body, previous = bytearray(), b""
    for key, value in entries:
        shared = 0
        if prefix_compress:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        body += _varint(shared) + _varint(len(key) - shared) + _varint(len(value)) + key[shared:] + value
        previous = key
    return bytes(body) + struct.pack("<II", 0, 1)


def write_bundle(folder: Path, tensors: dict[str, np.ndarray]) -> None:
    """A minimal TensorFlow tensor bundle: one data block, one index block, a LevelDB footer."""
    data, entries, offset = bytearray(), [(b"", b"\x08\x01")], 0  # header entry: num_shards = 1
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        entries.append((name.encode(), _entry(1, tensors[name].shape, offset, len(raw))))
        data += raw
        offset += len(raw)
    block = _block(entries, prefix_compress=True)
    table = block + b"\x00\x00\x00\x00\x00"  # no compression + (unchecked) crc
    index = _block([(b"\xff", _varint(0) + _varint(len(block)))], prefix_compress=False)
    index_offset = len(table)
    table += index + b"\x00\x00\x00\x00\x00"
    handles = _varint(0) + _varint(0) + _varint(index_offset) + _varint(len(index))
    table += handles.ljust(40, b"\x00") + struct.pack("<Q", 0xDB4775248B80FB57)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "variables.index").write_bytes(table)
    (folder / "variables.data-00000-of-00001").write_bytes(bytes(data))


def _keras_name(i: int, kind: str) -> str:
    return f"layer_with_weights-{i}/{kind}/.ATTRIBUTES/VARIABLE_VALUE"


def test_reads_back_tensors_written_in_the_bundle_format(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {_keras_name(0, "kernel"): rng.normal(size=(3, 3, 1, 4)).astype(np.float32),
               _keras_name(0, "bias"): rng.normal(size=4).astype(np.float32),
               _keras_name(1, "kernel"): rng.normal(size=(1, 1, 4, 2)).astype(np.float32),
               _keras_name(1, "bias"): np.zeros(2, np.float32)}
    write_bundle(tmp_path, tensors)
    index = read_bundle_index(tmp_path / "variables.index")
    assert index[_keras_name(0, "bias")] == BundleEntry(dtype=1, shape=(4,), shard_id=0,
                                                        offset=index[_keras_name(0, "bias")].offset, size=16)
    read = read_bundle(tmp_path)
    assert set(read) == set(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(read[name], array)
    layers = keras_conv_weights(read)
    assert [layer["kernel"].shape for layer in layers] == [(3, 3, 1, 4), (1, 1, 4, 2)]


def test_corrupt_and_incomplete_bundles_raise(tmp_path):
    write_bundle(tmp_path, {_keras_name(0, "kernel"): np.ones((2, 2), np.float32)})
    data = tmp_path / "variables.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-4])
    with pytest.raises(ValueError, match="truncated"):
        read_bundle(tmp_path)
    with pytest.raises(ValueError, match="kernel and bias"):
        keras_conv_weights({_keras_name(0, "kernel"): np.ones(1)})
    (tmp_path / "variables.index").write_bytes(b"not a table" * 10)
    with pytest.raises(ValueError, match="magic"):
        read_bundle_index(tmp_path / "variables.index")
    with pytest.raises(FileNotFoundError):
        read_bundle(tmp_path / "missing")


def test_keras_kernels_map_to_torch_layers_by_index(tmp_path):
    """A full-size CGRDN written as a Keras bundle (inverse permutation) comes back identical."""
    from restore.models import CGRDN, CGRDNConfig

    torch.manual_seed(0)
    reference = CGRDN(CGRDNConfig.full())
    tensors = {}
    for i, layer in enumerate(reference.conv_layers()):
        tensors[_keras_name(i, "kernel")] = layer.weight.detach().permute(2, 3, 1, 0).numpy()
        tensors[_keras_name(i, "bias")] = layer.bias.detach().numpy()
    write_bundle(tmp_path / "model" / "variables", tensors)
    imported = cgrdn_from_saved_model(tmp_path / "model")
    for (name, a), b in zip(reference.state_dict().items(), imported.state_dict().values()):
        assert torch.equal(a, b), name
    del tensors[_keras_name(152, "kernel")], tensors[_keras_name(152, "bias")]
    write_bundle(tmp_path / "short" / "variables", tensors)
    with pytest.raises(ValueError, match="152 weighted layers"):
        cgrdn_from_saved_model(tmp_path / "short")


R_EM = os.environ.get("TK_R_EM_PATH")


@pytest.mark.skipif(not R_EM, reason="set TK_R_EM_PATH to a `pip download tk_r_em==1.0.4` sdist or its unpacked "
                                     "folder to test the import of the published weights (not redistributable)")
def test_published_models_import_and_restore_their_test_image(tmp_path):
    import h5py

    from restore.checkpoint import load_model

    (path,) = import_r_em(R_EM, tmp_path, names=["sfr_hrstem"])
    model, sidecar = load_model(path)
    assert sum(p.numel() for p in model.parameters()) == 7_035_521 and sidecar["modality"] == "HRSTEM"
    root = Path(R_EM)
    if root.is_file():  # the sdist archive: take the test image out of it
        import tarfile

        with tarfile.open(root) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith("test_data/sfr_hrstem.h5"))
            (tmp_path / "sfr_hrstem.h5").write_bytes(archive.extractfile(member).read())
        files = [tmp_path / "sfr_hrstem.h5"]
    else:
        files = list(root.glob("**/test_data/sfr_hrstem.h5"))
    with h5py.File(files[0], "r") as handle:  # written by MATLAB: axes reversed
        x = np.asarray(handle["x"][:1], np.float32).transpose(0, 3, 2, 1)[0, :128, :128, 0]
        y = np.asarray(handle["y"][:1], np.float32).transpose(0, 3, 2, 1)[0, :128, :128, 0]
    with torch.inference_mode():
        restored = model(torch.from_numpy(x)[None, None])[0, 0].numpy()
    error_before, error_after = np.abs(x - y).mean(), np.abs(restored - y).mean()
    assert error_after < 0.5 * error_before
