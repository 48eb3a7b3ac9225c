"""Read the variables of a TensorFlow SavedModel without TensorFlow.

A SavedModel keeps its weights in a *tensor bundle*: ``variables/variables.index`` is an uncompressed
LevelDB table (an SSTable) that maps each tensor name to a ``BundleEntryProto`` (dtype, shape, shard,
byte offset, byte size, checksum), and ``variables/variables.data-00000-of-00001`` holds the raw
little-endian tensor bytes at those offsets. This module parses both with the standard library and numpy
only, so that the published ``tk_r_em`` models can be converted to our safetensors checkpoints on a
machine without TensorFlow.

Formats, as documented by LevelDB (``doc/table_format.md``) and TensorFlow
(``tensorflow/core/protobuf/tensor_bundle.proto``):

* footer = last 48 bytes: metaindex handle, index handle (each two varints), zero padding, 8-byte magic
  ``0xdb4775248b80fb57``;
* block = prefix-compressed entries ``shared, non_shared, value_len (varints), key delta, value``, then
  ``uint32`` restart offsets and their count; each block is followed by a 1-byte compression type
  (0 = none; TensorFlow never compresses bundles) and a 4-byte CRC;
* the index block maps a separator key to the handle of each data block.
"""
from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from _shared.files import sha256_file
from restore.checkpoint import save_model
from restore.models import CGRDN, WEIGHTS, CGRDNConfig
from restore.models.cgrdn import R_EM_MODELS

_MAGIC = 0xDB4775248B80FB57
_FOOTER_BYTES = 48
_BLOCK_TRAILER_BYTES = 5
# TensorFlow DataType enum values (tensorflow/core/framework/types.proto) that we can map to numpy.
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
           10: np.bool_, 19: np.float16}
_DT_STRING = 7


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives in the data shard: TF dtype code, shape, shard, byte offset and size."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int


def _varint(buffer: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(buffer):
            raise ValueError("variables.index: truncated varint; the file is corrupt")
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise ValueError("variables.index: varint longer than 64 bits; the file is corrupt")


def _protobuf_fields(message: bytes):
    """Yield (field number, wire type, value) of a protobuf message; value is int or bytes."""
    position = 0
    while position < len(message):
        key, position = _varint(message, position)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(message, position)
        elif wire == 1:
            value, position = message[position:position + 8], position + 8
        elif wire == 2:
            length, position = _varint(message, position)
            value, position = message[position:position + length], position + length
        elif wire == 5:
            value, position = message[position:position + 4], position + 4
        else:
            raise ValueError(f"variables.index: unsupported protobuf wire type {wire}; the file is corrupt")
        yield field, wire, value


def _parse_shape(message: bytes) -> tuple[int, ...]:
    dims = []
    for field, _, value in _protobuf_fields(message):
        if field == 2:  # TensorShapeProto.dim
            size = 0
            for dim_field, _, dim_value in _protobuf_fields(value):
                if dim_field == 1:
                    size = dim_value
            dims.append(size)
        elif field == 3 and value:
            raise ValueError("variables.index: tensor of unknown rank; cannot import it")
    return tuple(dims)


def _parse_entry(message: bytes) -> BundleEntry:
    dtype = shard = offset = size = 0
    shape: tuple[int, ...] = ()
    for field, _, value in _protobuf_fields(message):
        if field == 1:
            dtype = value
        elif field == 2:
            shape = _parse_shape(value)
        elif field == 3:
            shard = value
        elif field == 4:
            offset = value
        elif field == 5:
            size = value
        elif field == 7:
            raise ValueError("variables.index: sliced (partitioned) tensors are not supported")
    return BundleEntry(dtype=dtype, shape=shape, shard_id=shard, offset=offset, size=size)


def _read_block(table: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    if offset + size + _BLOCK_TRAILER_BYTES > len(table):
        raise ValueError("variables.index: block handle points past the end of the file; the file is corrupt")
    compression = table[offset + size]
    if compression != 0:
        raise ValueError(f"variables.index: block compression type {compression} is not supported "
                         "(TensorFlow bundles are written uncompressed)")
    block = table[offset:offset + size]
    if size < 4:
        raise ValueError("variables.index: block too short; the file is corrupt")
    num_restarts = struct.unpack_from("<I", block, size - 4)[0]
    end = size - 4 - 4 * num_restarts
    if end < 0:
        raise ValueError("variables.index: bad restart count; the file is corrupt")
    entries, position, key = [], 0, b""
    while position < end:
        shared, position = _varint(block, position)
        non_shared, position = _varint(block, position)
        value_length, position = _varint(block, position)
        if shared > len(key):
            raise ValueError("variables.index: bad key prefix; the file is corrupt")
        key = key[:shared] + block[position:position + non_shared]
        position += non_shared
        entries.append((key, block[position:position + value_length]))
        position += value_length
    return entries


def read_bundle_index(index_path: str | Path) -> dict[str, BundleEntry]:
    """Parse ``variables.index`` of a TensorFlow tensor bundle.

    Parameters
    ----------
    index_path : str or Path
        Path of ``variables.index``.

    Returns
    -------
    dict
        Tensor name -> :class:`BundleEntry`. The header entry (empty key) and string tensors such as
        ``_CHECKPOINTABLE_OBJECT_GRAPH`` are included; their dtype tells them apart.

    Raises
    ------
    ValueError
        If the file is not a LevelDB table or is corrupt.
    """
    table = Path(index_path).read_bytes()
    if len(table) < _FOOTER_BYTES:
        raise ValueError(f"{index_path}: {len(table)} bytes is too short for a LevelDB table")
    footer = table[-_FOOTER_BYTES:]
    if struct.unpack("<Q", footer[-8:])[0] != _MAGIC:
        raise ValueError(f"{index_path}: not a LevelDB table (bad magic number)")
    position = 0
    _, position = _varint(footer, position)  # metaindex offset (unused: bundles have no filters)
    _, position = _varint(footer, position)  # metaindex size
    index_offset, position = _varint(footer, position)
    index_size, position = _varint(footer, position)
    entries: dict[str, BundleEntry] = {}
    for _, handle in _read_block(table, index_offset, index_size):
        block_offset, cursor = _varint(handle, 0)
        block_size, _ = _varint(handle, cursor)
        for key, value in _read_block(table, block_offset, block_size):
            if key:  # the empty key is the BundleHeaderProto
                entries[key.decode("utf-8")] = _parse_entry(value)
    return entries


def read_bundle(variables_dir: str | Path) -> dict[str, np.ndarray]:
    """Read every numeric tensor of a SavedModel's ``variables`` directory.

    Parameters
    ----------
    variables_dir : str or Path
        The ``variables`` directory holding ``variables.index`` and ``variables.data-00000-of-00001``.

    Returns
    -------
    dict
        Tensor name -> numpy array (copied, native byte order). String tensors are skipped.

    Raises
    ------
    FileNotFoundError
        If either file is missing.
    ValueError
        If the table is corrupt, a tensor lies outside the data file or its byte size disagrees with
        its shape, or the bundle has more than one shard.
    """
    variables_dir = Path(variables_dir)
    index_path = variables_dir / "variables.index"
    data_path = variables_dir / "variables.data-00000-of-00001"
    for path in (index_path, data_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; expected a SavedModel 'variables' directory")
    entries = read_bundle_index(index_path)
    data = np.memmap(data_path, dtype=np.uint8, mode="r")
    tensors: dict[str, np.ndarray] = {}
    for name, entry in entries.items():
        if entry.dtype == _DT_STRING:
            continue
        if entry.dtype not in _DTYPES:
            raise ValueError(f"{name}: TensorFlow dtype code {entry.dtype} is not supported")
        if entry.shard_id != 0:
            raise ValueError(f"{name}: tensor in shard {entry.shard_id}; only single-shard bundles are supported")
        dtype = np.dtype(_DTYPES[entry.dtype]).newbyteorder("<")
        expected = int(np.prod(entry.shape, dtype=np.int64)) * dtype.itemsize
        if expected != entry.size:
            raise ValueError(f"{name}: {entry.size} bytes stored but shape {entry.shape} needs {expected}")
        if entry.offset + entry.size > data.size:
            raise ValueError(f"{name}: bytes {entry.offset}..{entry.offset + entry.size} lie past the end "
                             f"of {data_path.name} ({data.size} bytes); the file is truncated")
        raw = np.frombuffer(data[entry.offset:entry.offset + entry.size].tobytes(), dtype=dtype)
        tensors[name] = raw.reshape(entry.shape).astype(dtype.newbyteorder("="))
    return tensors


_KERAS_NAME = re.compile(r"^layer_with_weights-(\d+)/(kernel|bias)/\.ATTRIBUTES/VARIABLE_VALUE$")


def keras_conv_weights(tensors: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Group Keras ``layer_with_weights-i/{kernel,bias}`` tensors by layer index i.

    Parameters
    ----------
    tensors : dict of str to ndarray
        Checkpoint key -> array (as from :func:`read_bundle`); keys of other forms are ignored.

    Returns
    -------
    list of dict
        Element i holds ``{"kernel": ..., "bias": ...}`` of the i-th Keras layer with weights.

    Raises
    ------
    ValueError
        If the indices are not contiguous from 0 or a layer lacks its kernel or bias.
    """
    layers: dict[int, dict[str, np.ndarray]] = {}
    for name, array in tensors.items():
        match = _KERAS_NAME.match(name)
        if match:
            layers.setdefault(int(match.group(1)), {})[match.group(2)] = array
    if not layers:
        raise ValueError("no 'layer_with_weights-i/kernel' tensors found; is this a Keras SavedModel?")
    if sorted(layers) != list(range(len(layers))):
        raise ValueError(f"Keras layer indices are not contiguous 0..{len(layers) - 1}")
    for index, layer in layers.items():
        if set(layer) != {"kernel", "bias"}:
            raise ValueError(f"layer_with_weights-{index} has {sorted(layer)}; expected kernel and bias")
    return [layers[index] for index in range(len(layers))]


_KERAS_LAYER_NAME = re.compile(rb'root\.layer_with_weights-(\d+)"[^{]*\{"name": "([^"]+)"')


def keras_layer_names(keras_metadata_path: str | Path) -> dict[int, str]:
    """Read the layer names by ``layer_with_weights`` index from a SavedModel's ``keras_metadata.pb``.

    Parameters
    ----------
    keras_metadata_path : str or Path
        The ``keras_metadata.pb`` file (scanned as bytes for the layers' JSON, not parsed as protobuf).

    Returns
    -------
    dict of int to str
        Index -> Keras layer name; empty when none is found.
    """
    data = Path(keras_metadata_path).read_bytes()
    return {int(index): name.decode() for index, name in _KERAS_LAYER_NAME.findall(data)}


def expected_r_em_layer_names(config) -> list[str]:
    """Return the Keras names of the published model's weighted layers, in ``layer_with_weights`` order.

    Parameters
    ----------
    config : CGRDNConfig
        Its ``groups``, ``blocks_per_group`` and ``dense_layers`` set the count (153 at full size).

    Returns
    -------
    list of str
        One name per weighted layer, e.g. ``gen_g_1_rdb_1_cpl_1_1_conv``.
    """
    names = ["gen_fst_0_conv", "gen_down_spl_0_conv"]
    for g in range(1, config.groups + 1):
        for r in range(1, config.blocks_per_group + 1):
            names += [f"gen_g_{g}_rdb_{r}_cpl_{k}_1_conv" for k in range(1, config.dense_layers + 1)]
            names.append(f"gen_g_{g}_rdb_{r}_fsl_conv")
        names.append(f"gen_g_{g}_fsl_0_conv")
    return names + ["gen_g_fsl_conv", "gen_up_spl_0_dconv", "gen_last_0_conv"]


def cgrdn_from_saved_model(model_dir: str | Path):
    """Build a full-size :class:`~restore.models.CGRDN` from a ``tk_r_em`` SavedModel directory.

    Keras kernels (kh, kw, in, out) — and (kh, kw, out, in) for the transposed convolution — become torch
    weights by ``permute(3, 2, 0, 1)``. When ``keras_metadata.pb`` is present, the layer names are checked
    against the expected order as well as the shapes.

    Parameters
    ----------
    model_dir : str or Path
        A SavedModel folder (``tk_r_em/models/<name>``) holding ``variables/`` and, optionally,
        ``keras_metadata.pb``.

    Returns
    -------
    CGRDN
        The model with the published weights, in eval mode on the CPU.

    Raises
    ------
    FileNotFoundError
        If ``variables/variables.index`` or ``variables/variables.data-00000-of-00001`` is missing.
    ValueError
        If the number of layers, a name or a shape does not match the CGRDN, or the bundle is unreadable.
    """
    model_dir = Path(model_dir)
    layers = keras_conv_weights(read_bundle(model_dir / "variables"))
    model = CGRDN(CGRDNConfig.full())
    targets = model.conv_layers()
    if len(layers) != len(targets):
        raise ValueError(f"{model_dir}: {len(layers)} weighted layers, the CGRDN has {len(targets)}")
    metadata = model_dir / "keras_metadata.pb"
    if metadata.is_file():
        names = keras_layer_names(metadata)
        expected = expected_r_em_layer_names(model.config)
        wrong = [(i, names.get(i), e) for i, e in enumerate(expected) if names.get(i) != e]
        if wrong:
            raise ValueError(f"{model_dir}: Keras layer order differs from the CGRDN, e.g. {wrong[:3]}")
    with torch.no_grad():
        for index, (layer, module) in enumerate(zip(layers, targets)):
            kernel = torch.from_numpy(layer["kernel"]).permute(3, 2, 0, 1)
            bias = torch.from_numpy(layer["bias"])
            if kernel.shape != module.weight.shape or bias.shape != module.bias.shape:
                raise ValueError(f"{model_dir}: layer_with_weights-{index} kernel {tuple(kernel.shape)} / bias "
                                 f"{tuple(bias.shape)} does not fit {tuple(module.weight.shape)}")
            module.weight.copy_(kernel)
            module.bias.copy_(bias)
    return model.eval()


def _r_em_models_root(path: Path, scratch: Path) -> Path:
    """Locate ``tk_r_em/models`` in an sdist archive, an unpacked sdist or the package folder."""
    if path.is_file():
        if not tarfile.is_tarfile(path):
            raise ValueError(f"{path}: not a tar archive; pass the tk_r_em-1.0.4.tar.gz from `pip download`")
        with tarfile.open(path) as archive:
            members = [m for m in archive.getmembers() if "/tk_r_em/models/" in m.name and m.isfile()]
            if not members:
                raise ValueError(f"{path}: no tk_r_em/models/ inside; is this the tk_r_em sdist?")
            archive.extractall(scratch, members=members, filter="data")
        path = scratch
    for candidate in (path / "models", path / "tk_r_em" / "models", *path.glob("tk_r_em-*/tk_r_em/models")):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{path}: no tk_r_em models folder found (expected tk_r_em/models/sfr_hrstem/…)")


R_EM_REQUIREMENT = "tk_r_em==1.0.4"
_R_EM_SDIST = re.compile(r"^tk[_\-.]r[_\-.]em-1\.0\.4\.tar\.gz$", re.IGNORECASE)


def default_download_cache() -> Path:
    """Return the folder where downloaded sdists are kept.

    Returns
    -------
    Path
        ``$XDG_CACHE_HOME/stem-restore-bench/downloads`` (``~/.cache/stem-restore-bench/downloads`` when the
        variable is unset or empty); not created here.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "stem-restore-bench" / "downloads"


def _run_pip(command: list[str]) -> tuple[int, str, str]:
    """Run pip (the one network step of :func:`download_r_em`); returns (exit status, stdout, stderr)."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout, result.stderr


def _cached_sdist(cache: Path) -> Path | None:
    if not cache.is_dir():
        return None
    found = sorted(p for p in cache.iterdir() if _R_EM_SDIST.match(p.name) and p.is_file())
    return found[0] if found else None


def download_r_em(cache_dir: str | Path | None = None) -> Path:
    """The published ``tk_r_em-1.0.4.tar.gz``, fetched by pip into ``cache_dir`` unless it is already there.

    Runs ``python -m pip download --no-deps --no-binary :all: tk_r_em==1.0.4 -d CACHE`` with this
    interpreter's pip, so that the package index, proxy and certificates configured for pip apply.

    Parameters
    ----------
    cache_dir : str or Path, optional
        Where the sdist is kept (default :func:`default_download_cache`).

    Returns
    -------
    Path
        The sdist archive.

    Raises
    ------
    ValueError
        If pip fails (no network, no index): the message quotes pip and says how to import a copy fetched
        on another machine.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_download_cache()
    cached = _cached_sdist(cache)
    if cached is not None:
        return cached
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", R_EM_REQUIREMENT,
               "-d", str(cache)]
    status, _, stderr = _run_pip(command)
    offline = (f"Without network here: on a machine with network run `pip download --no-deps --no-binary :all: "
               f"{R_EM_REQUIREMENT} -d DIR`, copy DIR/tk_r_em-1.0.4.tar.gz to this machine and run "
               "`bench models import-r-em DIR/tk_r_em-1.0.4.tar.gz`")
    if status != 0:
        said = " ".join(line.strip() for line in stderr.strip().splitlines()[-3:]) or f"exit status {status}"
        raise ValueError(f"could not download {R_EM_REQUIREMENT} with pip ({said}). {offline}")
    cached = _cached_sdist(cache)
    if cached is None:
        raise ValueError(f"pip reported success but left no tk_r_em-1.0.4.tar.gz in {cache}. {offline}")
    return cached


def import_r_em(path: str | Path, out_dir: str | Path, names=None) -> list[Path]:
    """Convert the published ``tk_r_em`` 1.0.4 SavedModels to our checkpoints.

    Parameters
    ----------
    path : str or Path
        The ``tk_r_em-1.0.4.tar.gz`` sdist, its unpacked folder, or the ``tk_r_em`` package folder.
    out_dir : str or Path
        Destination (normally :func:`restore.registry.user_model_dir`); written as
        ``cgrdn.<name>.safetensors`` + ``.json``.
    names : sequence of str, optional
        Subset of :data:`restore.models.cgrdn.R_EM_MODELS`; all six by default.

    Returns
    -------
    list of Path
        The weights files written.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist or holds no ``tk_r_em`` models folder.
    ValueError
        If a name is not a ``tk_r_em`` model, ``path`` is a file that is not the sdist, or a SavedModel does
        not match the CGRDN.
    """
    names = list(names or R_EM_MODELS)
    unknown = sorted(set(names) - set(R_EM_MODELS))
    if unknown:
        raise ValueError(f"names: {unknown} are not tk_r_em models; choose from {list(R_EM_MODELS)}")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        root = _r_em_models_root(path, Path(scratch))
        for name in names:
            model_dir = root / name
            model = cgrdn_from_saved_model(model_dir)
            entry = WEIGHTS[f"cgrdn.{name}"]
            destination = Path(out_dir) / f"cgrdn.{name}.safetensors"
            save_model(destination, model, "cgrdn", name=f"cgrdn.{name}", modality=entry.modality,
                       source="tk_r_em 1.0.4 (PyPI), Lobato, Friedrich & Van Aert 2023, GPL-3.0",
                       source_sha256=sha256_file(model_dir / "variables" / "variables.data-00000-of-00001"),
                       dose_range_e_per_A2=None, sampling_range_A_per_px=None,
                       training_note="trained by the authors on their own synthetic data; the dose and "
                                     "sampling ranges are not published")
            written.append(destination)
    return written
