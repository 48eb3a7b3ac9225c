"""Read and write (S)TEM images: .tif/.tiff, .png, .npy, .h5/.hdf5 and, with the optional ``io`` extra
(rosettasciio), .dm3/.dm4/.emd/.ser — keeping the pixel calibration in Å per pixel.

Images are returned as float32 arrays of shape (H, W) or (frames, H, W). Colour images (RGB, RGBA,
palette) are refused, because a restoration needs one intensity per pixel and a colour image of a
micrograph has usually been through a display mapping; ``grey=True`` converts them on request to the
luma 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601). The calibration travels as
``pixel_size_A`` (Å/px, None when unknown): TIFF stores it in the ImageJ description and
the X/Y resolution tags (in nm), HDF5 as dataset attributes, PNG and NPY do not store it. Vendor files
keep the scale and unit of their spatial axes (rosettasciio reports nm, µm, Å …), converted to Å; a
non-length unit (1/nm of a diffraction pattern) or non-square pixels give None, with the per-axis values
kept in ``metadata``.
"""
from __future__ import annotations

import importlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restore.checkpoint import atomic_write_bytes

NATIVE = (".tif", ".tiff", ".png", ".npy", ".h5", ".hdf5")
VENDOR = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd", ".ser": "tia"}
_LENGTH_IN_A = {"å": 1.0, "a": 1.0, "angstrom": 1.0, "angstroms": 1.0, "pm": 0.01, "nm": 10.0, "nanometer": 10.0,
                "nanometers": 10.0, "μm": 1e4, "um": 1e4, "micron": 1e4, "m": 1e10, "meter": 1e10, "meters": 1e10}
SQUARE_TOLERANCE = 1e-6  # relative difference of the y and x spacings still taken as square pixels
# Pixel sizes outside this range [Å] are no (S)TEM image calibration: e.g. a TIA diffraction pattern's
# 1.0157·10⁸ m⁻¹ read as metres (a .ser without its .emi carries numbers but no units) gives 10¹⁸ Å.
PLAUSIBLE_PIXEL_A = (1e-4, 1e7)


def length_in_A(unit) -> float | None:
    """Return the number of ångström in one ``unit``, or None for a unit that is not a length.

    Parameters
    ----------
    unit : str or None
        Length unit ('Å', 'pm', 'nm', 'µm', 'm', or spelled out); any case, micro and ångström signs in any
        Unicode form, surrounding blanks ignored.

    Returns
    -------
    float or None
        Å per ``unit`` (e.g. 10.0 for 'nm'); None for an unknown or non-length unit (e.g. '1/nm') or None.
    """
    # NFKC folds the micro sign into Greek mu and the ångström sign into the letter Å
    key = unicodedata.normalize("NFKC", str(unit or "")).strip().lower()
    return _LENGTH_IN_A.get(key)


@dataclass
class Image:
    """Pixels (float32, (H, W) or (frames, H, W)) and their calibration in Å per pixel (None if unknown).

    ``metadata["dtype"]`` names the pixel type as stored (e.g. 'uint16': its maximum is a saturated pixel); None
    where the stored numbers are not the intensities (a PNG preview written by :func:`write_image`).
    """

    data: np.ndarray
    pixel_size_A: float | None = None
    metadata: dict = field(default_factory=dict)


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in NATIVE and suffix not in VENDOR:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; supported: {list(NATIVE) + list(VENDOR)}")
    return suffix


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B in the grey value


def _as_image_array(data, source, *, grey: bool = False, colour: bool | None = None) -> np.ndarray:
    """float32 (H, W) or (frames, H, W) pixels of ``data``; ``source`` names the file in every message.

    Length-1 leading axes and a length-1 channel axis are dropped (a 1 × 1 image stays 2-D), also the channel
    axis of a stack, (N, 1, H, W) or (N, H, W, 1). A last axis of 3 or 4 entries is taken as RGB(A) colour
    channels (a frame 3 or 4 px wide could not be restored anyway) unless ``colour`` says otherwise; colour is
    refused, or converted to its luma when ``grey``.
    """
    array = np.asarray(data)
    names = array.dtype.names or ()
    if {"R", "G", "B"} <= set(names):  # DigitalMicrograph's RGB(A) pixels: one record per pixel
        array = np.stack([array[c].astype(np.float64) for c in ("R", "G", "B")], axis=-1)
        colour = True
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{source}: pixel type {array.dtype} is not numeric; not an image")
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 4 and 1 in (array.shape[1], array.shape[-1]):
        # a stack of frames with a length-1 channel axis, (N, 1, H, W) as in tk_r_em's test data, or (N, H, W, 1)
        array = array[:, 0] if array.shape[1] == 1 else array[..., 0]
    if colour is None:
        colour = array.ndim >= 3 and array.shape[-1] in (3, 4)
    if colour:
        kind = {3: "RGB", 4: "RGBA"}.get(array.shape[-1], f"{array.shape[-1]}-channel")
        if not grey:
            raise ValueError(f"{source}: a colour ({kind}) image of {' × '.join(map(str, array.shape[:-1]))} px; "
                             "restoration needs one intensity per pixel, as the detector recorded it. Use the "
                             "original single-channel file, or convert on purpose: `bench restore --grey` (or "
                             "read_image(..., grey=True)) takes the luma 0.299 R + 0.587 G + 0.114 B")
        array = array[..., :3].astype(np.float64) @ np.asarray(LUMA)
    if array.ndim not in (2, 3):
        raise ValueError(f"{source}: {array.ndim}-D data of shape {array.shape}; expected (H, W) or (frames, H, W)")
    return array.astype(np.float32)


def _read_tiff(path: Path, grey: bool) -> Image:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            data = tif.asarray()
            # colour samples ('S') may be stored planar, in front of the rows: put them last
            axes = tif.series[0].axes if tif.series else ""
            colour = "S" in axes and data.ndim == len(axes) and data.shape[axes.index("S")] > 1
            if colour:
                data = np.moveaxis(data, axes.index("S"), -1)
            spacing, unit = None, None
            if tif.imagej_metadata:
                # ImageJ lower-cases the description keys on the way back
                spacing = tif.imagej_metadata.get("pixel_size_a", tif.imagej_metadata.get("pixel_size_A"))
                unit = tif.imagej_metadata.get("unit")
            if spacing is None:
                tags = tif.pages[0].tags
                if "XResolution" in tags and unit:
                    numerator, denominator = tags["XResolution"].value
                    spacing = denominator / numerator * (length_in_A(unit) or np.nan)
    except (tifffile.TiffFileError, ValueError) as error:
        raise ValueError(f"{path}: not a readable TIFF image ({error})") from error
    pixel = float(spacing) if spacing is not None and np.isfinite(float(spacing)) else None
    return Image(_as_image_array(data, path, grey=grey, colour=colour), pixel, {"dtype": str(data.dtype)})


def _read_png(path: Path, grey: bool) -> Image:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(path) as png:
            info = dict(png.info)
            colour = png.mode not in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F")
            # palette and grey-with-alpha images become RGBA, so that the colour rule below sees them
            data = np.asarray(png.convert("RGBA") if colour and png.mode not in ("RGB", "RGBA") else png)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: not a readable PNG image ({error})") from error
    image = _as_image_array(data, path, grey=grey, colour=colour)
    dtype = str(data.dtype)
    if "intensity_min" in info and "intensity_max" in info:  # written by write_image: undo the 16-bit scaling
        low, high = float(info["intensity_min"]), float(info["intensity_max"])
        image = (low + image / 65535.0 * (high - low)).astype(np.float32)
        dtype = None
    return Image(image, float(info["pixel_size_A"]) if "pixel_size_A" in info else None, {"dtype": dtype})


def _read_h5(path: Path, grey: bool) -> Image:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            datasets = []
            handle.visititems(lambda name, item: datasets.append(name) if isinstance(item, h5py.Dataset) else None)
            preferred = [name for name in ("image", "data", "x") if name in datasets]
            if not preferred and len(datasets) != 1:
                raise ValueError(f"{path}: {len(datasets)} datasets {datasets[:10]}; expected one, or one named "
                                 "'image', 'data' or 'x'")
            dataset = handle[(preferred or datasets)[0]]
            pixel = dataset.attrs.get("pixel_size_A")
            return Image(_as_image_array(dataset[()], path, grey=grey), float(pixel) if pixel is not None else None,
                         {"dtype": str(dataset.dtype)})
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 file ({error})") from error


def _spatial_axes(axes: list[dict]) -> list[dict]:
    """The two image axes of a rosettasciio signal in array order: its signal (non-navigation) axes."""
    ordered = [a for _, a in sorted(enumerate(axes), key=lambda item: item[1].get("index_in_array", item[0]))]
    signal = [a for a in ordered if not a.get("navigate", False)]
    return (signal if len(signal) == 2 else ordered)[-2:]


def _spacings_A(axes: list[dict]) -> list[float | None]:
    """Spacing in Å of each axis, None where the unit is not a length or the scale is missing."""
    spacings = []
    for axis in axes:
        factor, scale = length_in_A(axis.get("units")), axis.get("scale")
        spacings.append(abs(float(scale)) * factor if factor and scale else None)
    return spacings


def _read_vendor(path: Path, suffix: str, grey: bool) -> Image:
    try:
        reader = importlib.import_module(f"rsciio.{VENDOR[suffix]}").file_reader
    except ImportError as error:
        raise ValueError(f"{path}: reading {suffix} files needs rosettasciio: "
                         "pip install 'stem-restore-bench[io]'") from error
    notes = {}
    signal = _tia_signal_from_emi(path, reader) if suffix == ".ser" else None
    if signal is None:
        try:
            signals = reader(str(path))
        except Exception as error:  # rosettasciio raises OSError, KeyError, struct.error … for damaged files
            raise ValueError(f"{path}: not a readable {VENDOR[suffix]} {suffix} file "
                             f"({type(error).__name__}: {error})") from error
        signals = [s for s in signals if np.ndim(s["data"]) >= 2]
        if not signals:
            raise ValueError(f"{path}: no image data inside")
        signal = signals[0]
        if suffix == ".ser":
            notes["calibration_note"] = ("TIA .ser read alone (no .emi beside it): its calibration numbers carry "
                                         "no units, metres are assumed")
    data, axes = np.asarray(signal["data"]), _spatial_axes(signal.get("axes", []))
    if [str(a.get("name") or "").strip().lower() for a in axes] == ["x", "y"]:
        # NCEM EMD files from openNCEM store an image as (y, x) with dim1 = y; rosettasciio 0.15 transposes
        # every NCEM dataset on reading. The axis names say which array axis runs along y: rows are y here.
        data, axes = np.swapaxes(data, -1, -2), axes[::-1]
    spacings = _spacings_A(axes)
    square = len(spacings) == 2 and None not in spacings and np.isclose(*spacings, rtol=SQUARE_TOLERANCE, atol=0)
    if square and not PLAUSIBLE_PIXEL_A[0] <= spacings[1] <= PLAUSIBLE_PIXEL_A[1]:
        square = False
        notes["calibration_note"] = (notes.get("calibration_note", "") + f"; a pixel of {spacings[1]:.4g} Å is "
                                     "implausible for an image (a reciprocal-space calibration?): pixel size "
                                     "left unknown").lstrip("; ")
    metadata = {"reader": f"rsciio.{VENDOR[suffix]}", "dtype": str(data.dtype), "pixel_spacing_yx_A": spacings, **notes,
                "axes": signal.get("axes", []), "metadata": signal.get("metadata", {}),
                "original_metadata": signal.get("original_metadata", {})}
    return Image(_as_image_array(data, path, grey=grey), spacings[1] if square else None, metadata)


def _tia_signal_from_emi(path: Path, reader) -> dict | None:
    """The signal of ``NAME_N.ser`` read through ``NAME.emi`` (which holds the axis units), or None.

    TIA writes one .emi per acquisition and one ``_N.ser`` per detector (N = 1, 2, …); only the .emi says
    whether the calibration is in real or reciprocal space.
    """
    match = re.fullmatch(r"(.*)_(\d+)", path.stem)
    if match is None:
        return None
    emi = path.with_name(match.group(1) + ".emi")
    if not emi.is_file():
        return None
    try:
        signals = reader(str(emi))
    except Exception:  # a damaged .emi: read the .ser alone, as without one
        return None
    index = int(match.group(2)) - 1
    if not 0 <= index < len(signals) or np.ndim(signals[index]["data"]) < 2:
        return None
    return signals[index]


def read_image(path: str | Path, *, grey: bool = False) -> Image:
    """Read an image file.

    Parameters
    ----------
    path : str or Path
        .tif/.tiff, .png, .npy, .h5/.hdf5, or .dm3/.dm4/.emd/.ser (needs rosettasciio).
    grey : bool
        Convert a colour image to its luma 0.299 R + 0.587 G + 0.114 B instead of refusing it.

    Returns
    -------
    Image
        float32 data (H, W) or (frames, H, W) and the pixel size in Å (None if not stored).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the type is unsupported, the file is empty or not an image, the image is in colour (and ``grey``
        is false), or the data are not 2-D/3-D numbers. Every message starts with the file's path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = _suffix(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes); not an image (was the copy or export interrupted?)")
    if suffix in (".tif", ".tiff"):
        return _read_tiff(path, grey)
    if suffix == ".png":
        return _read_png(path, grey)
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise ValueError(f"{path}: not a readable numeric .npy array ({type(error).__name__}: {error})") from error
        return Image(_as_image_array(data, path, grey=grey), metadata={"dtype": str(data.dtype)})
    if suffix in (".h5", ".hdf5"):
        return _read_h5(path, grey)
    return _read_vendor(path, suffix, grey)


def write_image(path: str | Path, data: np.ndarray, *, pixel_size_A: float | None = None) -> None:
    """Write float32 image data atomically, keeping the calibration where the format can store it.

    PNG holds 16-bit integers: the data are scaled linearly to 0…65535 and the range is stored in text
    chunks so that :func:`read_image` restores the intensities (to 1/65535 of the range).

    Parameters
    ----------
    path : str or Path
        Destination; the suffix (.tif/.tiff, .png, .npy, .h5/.hdf5) selects the format.
    data : numpy.ndarray
        Intensities, shape (H, W) or (frames, H, W) (PNG: 2-D only; leading length-1 axes are dropped),
        written as float32 (PNG: as 16-bit integers); must be finite.
    pixel_size_A : float or None, optional
        Calibration [Å/px], stored in TIFF, PNG and HDF5 files; None (default) or 0 stores none.

    Raises
    ------
    ValueError
        If the type is unsupported or not writable (.dm3/.dm4/.emd/.ser), or the data are not finite.
    """
    path = Path(path)
    suffix = _suffix(path)
    array = _as_image_array(data, "data", colour=False)
    if not np.isfinite(array).all():
        raise ValueError("data: contains NaN or inf; refusing to write")
    buffer = io.BytesIO()
    if suffix in (".tif", ".tiff"):
        import tifffile

        # ImageJ reads the calibration from the resolution tags (pixels per unit); the exact value in Å
        # also goes into the ImageJ description so that the rational tag rounding does not matter.
        metadata = {"axes": "ZYX" if array.ndim == 3 else "YX"}
        if pixel_size_A:
            metadata.update(unit="nm", pixel_size_A=float(pixel_size_A))
        resolution = (10.0 / pixel_size_A, 10.0 / pixel_size_A) if pixel_size_A else None
        tifffile.imwrite(buffer, array, imagej=True, metadata=metadata, resolution=resolution)
    elif suffix == ".png":
        from PIL import Image as PILImage
        from PIL import PngImagePlugin

        if array.ndim != 2:
            raise ValueError(f"data: PNG holds one 2-D frame, got shape {array.shape}; use .tif or .h5")
        low, high = float(array.min()), float(array.max())
        scaled = np.round((array - low) / ((high - low) or 1.0) * 65535).astype(np.uint16)
        info = PngImagePlugin.PngInfo()
        info.add_text("intensity_min", repr(low))
        info.add_text("intensity_max", repr(high))
        if pixel_size_A:
            info.add_text("pixel_size_A", repr(float(pixel_size_A)))
        PILImage.fromarray(scaled).save(buffer, format="PNG", pnginfo=info)
    elif suffix == ".npy":
        np.save(buffer, array, allow_pickle=False)
    elif suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(buffer, "w") as handle:
            dataset = handle.create_dataset("image", data=array)
            if pixel_size_A:
                dataset.attrs["pixel_size_A"] = float(pixel_size_A)
    else:
        raise ValueError(f"{path}: writing {suffix} is not supported; write .tif or .h5 to keep the calibration")
    atomic_write_bytes(path, buffer.getvalue())
