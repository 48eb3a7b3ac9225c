"""Restorations of real (S)TEM frames, which have no ground truth: the checks a demanding microscopist makes.

``bench run experimental --frames PATH --methods raw,cgrdn.sfr_hrstem,MODEL.safetensors`` reads one image or a
stack of frames with :func:`restore.imageio.read_image` (what ``bench restore`` reads, an HDF5 stack (N, 1, H, W)
such as tk_r_em's ``test_data/exp_hrstem.h5`` included), restores every frame with every method (one task per
method and block of frames) and measures each output, in the input's intensity units, against its raw frame with
the checks of :mod:`bench.studies.experimental_metrics`. The frames are read where they lie, never copied; the
results directory records the file's SHA-256, shape and stored type, and holds the results of one file.
BM3D gets a Gaussian noise model of each frame's σ (:func:`bench.studies.experimental_metrics.gaussian_noise_model`);
methods that train on the study's data are refused (they would need a training protocol for measured frames).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.studies import register_study
from bench.studies.base import Inputs, Study
from bench.studies.experimental_metrics import (
    EXAMPLE_SIDE_PX,
    analyse_frame,
    example_arrays,
    frame_metrics,
    outlier_pixels,
    same_field,
    without_outliers,
)
from bench.studies.presets import blocks, check_integer
from bench.tasks import Task
from reports.experimental_figures import experimental_report_figures
from reports.spec import ReportSpec

EXAMPLE_FRAMES = 6  # frames shown in the report's montage (the published test file has 5)
EXAMPLE_NOTE = ("download tk_r_em's test frames yourself: `pip download tk_r_em==1.0.4 --no-deps --no-binary "
                ":all:`, unpack the archive and give --frames tk_r_em-1.0.4/tk_r_em/test_data/exp_hrstem.h5")
METRICS = ("negative_fraction", "min_over_std", "zinger_residual", "dead_residual", "columns_found",
           "columns_matched_fraction", "column_shift_px", "highpass_ratio", "restore_s")


@dataclass(frozen=True)
class ExperimentalPreset:
    """Settings of an experimental run: the frames file, how many of its frames (None: all), frames per task.

    The file's path is not part of the configuration: the file is identified by its SHA-256
    (:meth:`Experimental.inputs`), so a results directory holds one input wherever the file lies.
    """

    name: str
    frames: str | None = None
    images: int | None = None
    block_size: int = 1

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            For a frame count or block size below 1.
        """
        if self.images is not None:
            check_integer("images", self.images, 1)
        check_integer("block_size", self.block_size, 1)

    def to_config(self) -> dict[str, Any]:
        """Return the preset as the run's configuration (without the frames' path).

        Returns
        -------
        dict
            The fields but ``frames``.
        """
        return {key: value for key, value in asdict(self).items() if key != "frames"}


PRESETS = {"quick": ExperimentalPreset("quick", images=2), "paper": ExperimentalPreset("paper")}


# Frames and tasks ---------------------------------------------------------------------------------------------

def read_frames(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read the frames with ``bench restore``'s reader and describe the file.

    Parameters
    ----------
    path : str or Path
        One image or a stack of frames (.tif, .png, .npy, .h5, vendor formats).

    Returns
    -------
    frames : ndarray
        Shape (N, H, W), float64, the stored values.
    record : dict
        ``path`` (absolute), ``sha256``, ``shape`` (N, H, W), ``dtype`` (as stored) and ``pixel_size_A``.

    Raises
    ------
    ValueError
        For a file that cannot be read, frames with sides under 8 px, or NaN or infinite pixels.
    """
    from _shared.files import sha256_file
    from restore.imageio import read_image
    from restore.inference import MIN_SIDE

    path = Path(path).expanduser().resolve()
    try:
        image = read_image(path)
    except (FileNotFoundError, ValueError) as error:  # each message starts with the path
        raise ValueError(f"--frames {error}") from error
    frames = np.asarray(image.data, dtype=np.float64).reshape((-1, *image.data.shape[-2:]))
    if min(frames.shape[1:]) < MIN_SIDE or not np.isfinite(frames).all():
        raise ValueError(f"--frames {path}: frames of {frames.shape[1]} × {frames.shape[2]} px with "
                         f"{int((~np.isfinite(frames)).sum())} non-finite pixels; each side needs ≥ {MIN_SIDE} px "
                         "and every pixel a finite value")
    return frames, {"path": str(path), "sha256": sha256_file(path), "shape": list(frames.shape),
                    "dtype": image.metadata.get("dtype"), "pixel_size_A": image.pixel_size_A}


def run_task(params: dict):
    """Restore a block of frames with one method and measure each output.

    Runs in a worker process.

    Parameters
    ----------
    params : dict
        ``method``, ``first`` (index of the block's first frame), ``frames`` ((B, H, W)) and ``analyses``.

    Returns
    -------
    table : pandas.DataFrame
        One row per frame: method, frame, restoration time [s] and :func:`frame_metrics`.
    arrays : dict or None
        The montage views of the frames among the first :data:`EXAMPLE_FRAMES` (``fINDEX_full``, ``fINDEX_crop``).
    """
    import pandas as pd

    method, rows, arrays = params["method"], [], {}
    for offset, (raw, analysis) in enumerate(zip(params["frames"], params["analyses"])):
        index, clock = params["first"] + offset, time.perf_counter()
        output = np.asarray(method(raw[None], analysis["noise"])[0], dtype=np.float64)
        rows.append({"method": method.name, "frame": index, "restore_s": time.perf_counter() - clock,
                     **frame_metrics(output, analysis)})
        if index < EXAMPLE_FRAMES:
            arrays.update({f"f{index}_{view}": image for view, image in example_arrays(output, analysis).items()})
    return pd.DataFrame(rows), arrays or None


def summarise(table):
    """Summarise each method over the frames: mean, min and max of every metric; outliers counted.

    Parameters
    ----------
    table : pandas.DataFrame
        The realisations table (rows of :func:`run_task`).

    Returns
    -------
    pandas.DataFrame
        One row per method (raw first): ``frames``, ``zingers`` and ``dead_pixels`` (totals), and each metric of
        :data:`METRICS` as ``METRIC`` (mean over the frames where it is defined), ``METRIC_min``, ``METRIC_max``.
    """
    import pandas as pd

    rows = []
    for method, group in table.groupby("method"):
        row = {"method": method, "frames": len(group), "zingers": int(group["zingers"].sum()),
               "dead_pixels": int(group["dead_pixels"].sum())}
        for metric in METRICS:
            values = group[metric].to_numpy(float)
            values = values[np.isfinite(values)]
            row[metric], row[f"{metric}_min"], row[f"{metric}_max"] = (
                (float(values.mean()), float(values.min()), float(values.max())) if values.size else (np.nan,) * 3)
        rows.append(row)
    summary = pd.DataFrame(rows)
    return summary.sort_values("method", key=lambda names: names != "raw", kind="stable").reset_index(drop=True)


def write_examples(store, tasks, shared: dict) -> None:
    """Store the montage views of the first frames: raw (from the frames themselves) and every other method.

    Parameters
    ----------
    store : ResultStore
        The results directory.
    tasks : sequence of Task
        Every task of the run.
    shared : dict
        What :meth:`Experimental.prepare` returned (``frames`` and ``analyses``).
    """
    images, index = {}, []

    def _add(method: str, frame: int, views: dict) -> None:
        analysis = shared["analyses"][frame]
        images.update({f"{method}__f{frame}_{view}": views[f"{view}"] for view in ("full", "crop")})
        index.append({"key": f"{method}__f{frame}", "method": method, "frame": frame, "stretch": analysis["stretch"],
                      "crop": analysis["crop"], "crop_px": analysis["crop_px"], "spacing_px": analysis["spacing_px"],
                      "bin": int(np.ceil(max(shared["frames"].shape[1:]) / EXAMPLE_SIDE_PX))})

    for frame, (raw, analysis) in enumerate(zip(shared["frames"][:EXAMPLE_FRAMES], shared["analyses"])):
        _add("raw", frame, example_arrays(raw, analysis))
    for task in tasks:
        method, arrays = task.params["method"].name, store.read_arrays(task.key) or {}
        for frame in range(task.params["first"], task.params["first"] + len(task.params["frames"])):
            if method != "raw" and f"f{frame}_full" in arrays:
                _add(method, frame, {view: arrays[f"f{frame}_{view}"] for view in ("full", "crop")})
    store.write_examples(images, index)


REFUSAL = "it restores measured frames, nothing is simulated; use --frames PATH and --images N"


class Experimental(Study):
    """Restorations of measured frames, checked without ground truth (see the module docstring)."""

    name = "experimental"
    description = ("restorations of real (S)TEM frames (--frames PATH), no ground truth: negative pixels, zingers, "
                   "dead pixels, atomic columns kept, noise left")
    quick_run_time = ("≈ 1.5 min on a 2-core CPU at load 2–3 (raw and two full-size CGRDNs on 2 frames of 768², "
                      "--workers 1), measured")
    presets = PRESETS
    order = 5
    report = ReportSpec(
        intro="Measured frames have no ground truth, so these are checks, not accuracies: each method's output, on "
              "the input's intensity scale, against its raw frame. Negative fraction and minimum/std: intensities "
              "below zero. Zinger and dead-pixel residuals: what is left of the raw frame's saturated or hot pixels "
              "and its dead ones, (output − median of the 8 neighbours) / robust std of the output's high-pass, "
              "≈ 0 when removed. Columns: peaks of each output, and the fraction of the reference's columns (the "
              "smoothed raw frame, or the mean of a one-field stack) that it shows within a quarter of the lattice "
              "spacing. High-pass ratio: fine-scale variation left relative to the raw frame (noise, and any "
              "sharp detail, alike). Means over the frames (min and max in summary.parquet, each frame in "
              "realisations.parquet); docs/studies.md says what each check can and cannot tell.",
        columns=(("method", "method"), ("frames", "frames"), ("negative_fraction", "negative fraction"),
                 ("min_over_std", "min / std"), ("zingers", "zingers"), ("zinger_residual", "zinger residual"),
                 ("dead_pixels", "dead pixels"), ("dead_residual", "dead residual"),
                 ("columns_found", "columns found"), ("columns_matched_fraction", "columns matched"),
                 ("column_shift_px", "column shift [px]"), ("highpass_ratio", "high-pass ratio"),
                 ("restore_s", "time per frame [s]")),
        figures=experimental_report_figures)
    refusals = {"doses": REFUSAL, "thicknesses": REFUSAL, "realisations": REFUSAL, "recipe": REFUSAL,
                "modalities": REFUSAL, "estimator": "it fits no columns, it finds their peaks"}
    printed_columns = ("method", "frames", "zingers", "dead_pixels", *METRICS)
    float_format = "{:.3g}"

    def seeds(self, preset: ExperimentalPreset) -> dict[str, Any]:
        """Return the seeds recorded in the manifest: none (no noise is drawn, nothing is resampled).

        Parameters
        ----------
        preset : ExperimentalPreset
            The study's preset.

        Returns
        -------
        dict
            Empty.
        """
        return {}

    def describe(self, preset: ExperimentalPreset) -> str:
        """Return one line naming the frames file and how many of its frames are taken.

        Parameters
        ----------
        preset : ExperimentalPreset
            The study's preset.

        Returns
        -------
        str
            The description.
        """
        taken = "every frame" if preset.images is None else f"the first {preset.images} frame(s)"
        return f"{taken} of {preset.frames or '(no --frames PATH given)'}"

    def check_methods(self, preset: ExperimentalPreset, methods) -> None:
        """Refuse methods that train on the study's data: there is no training protocol for measured frames.

        Parameters
        ----------
        preset : ExperimentalPreset
            The study's preset.
        methods : sequence of Method
            The methods to compare.

        Raises
        ------
        ValueError
            Naming the methods that learn from data.
        """
        from bench.methods import learns_from_data

        learning = [method.name for method in methods if learns_from_data(method)]
        if learning:
            raise ValueError(f"methods {learning} train on the study's data, which the experimental study does not "
                             "offer (no training protocol for measured frames yet); leave them out")

    def inputs(self, preset: ExperimentalPreset) -> Inputs:
        """Read the frames and name them by SHA-256, shape and stored type (these enter the configuration).

        Parameters
        ----------
        preset : ExperimentalPreset
            The study's preset.

        Returns
        -------
        Inputs
            The configuration entries, the file's record as provenance (``frames``) and the frames as data.

        Raises
        ------
        ValueError
            Without ``--frames``, or for a file that cannot be read (:func:`read_frames`).
        """
        if preset.frames is None:
            raise ValueError("the experimental study needs --frames PATH: one image or a stack of measured frames, "
                             f"any file `bench restore` reads (e.g. an HDF5 stack of shape (N, 1, H, W)); "
                             f"{EXAMPLE_NOTE}")
        frames, record = read_frames(preset.frames)
        used = len(frames) if preset.images is None else min(preset.images, len(frames))
        config = {"frames_sha256": record["sha256"], "frames_shape": record["shape"],
                  "frames_dtype": record["dtype"], "frames_used": used}
        return Inputs(config=config, provenance={"frames": {**record, "used": used}}, data={"frames": frames})

    def prepare(self, preset: ExperimentalPreset, inputs: Inputs, store, options) -> dict:
        """Analyse every frame used (spacing, outliers, reference columns) and store that as the ``reference`` table.

        Parameters
        ----------
        preset : ExperimentalPreset
            The study's preset.
        inputs : Inputs
            The frames (:meth:`inputs`).
        store : ResultStore
            The results directory.
        options : RunOptions
            How the run is executed (unused).

        Returns
        -------
        dict
            ``frames`` (the frames used), ``analyses`` (:func:`analyse_frame` of each) and ``one_field``.
        """
        import pandas as pd

        frames, dtype = inputs.data["frames"], inputs.config["frames_dtype"]
        one_field, used = same_field(frames), frames[: inputs.config["frames_used"]]
        outliers = [outlier_pixels(frame, dtype=dtype) for frame in (frames if one_field else used)]
        if one_field:  # one frame at a time: a long stack is not copied
            mean = sum(without_outliers(frame, found) for frame, found in zip(frames, outliers)) / len(frames)
        analyses = [analyse_frame(frame, mean if one_field else without_outliers(frame, found), outliers=found)
                    for frame, found in zip(used, outliers)]
        store.write_table("reference", pd.DataFrame([
            {"frame": index, "spacing_px": a["spacing_px"], "lattice_found": a["lattice_found"],
             "reference": f"mean of {len(frames)} frames" if one_field else "the frame",
             "columns_reference": len(a["reference_columns"]), "zingers": len(a["zingers"]),
             "hot_test_applied": a["hot_test_applied"], "dead_pixels": len(a["dead"]), "outlier_sigma": a["sigma"],
             "noise_std": a["noise"].read_noise} for index, a in enumerate(analyses)]))
        return {"frames": used, "analyses": analyses, "one_field": one_field}

    def plan(self, preset: ExperimentalPreset, methods, shared: dict) -> list[Task]:
        """Split the run into tasks: one per method and block of frames.

        Parameters
        ----------
        preset : ExperimentalPreset
            The study's preset.
        methods : sequence of Method
            The methods compared.
        shared : dict
            What :meth:`prepare` returned.

        Returns
        -------
        list of Task
            The tasks, keyed ``METHOD__fFIRST``.
        """
        return [Task(f"{method.name}__f{first:04d}", {
            "method": method, "first": first, "frames": shared["frames"][first:first + count],
            "analyses": shared["analyses"][first:first + count]})
            for method in methods for first, count in blocks(len(shared["frames"]), preset.block_size)]

    run_task = staticmethod(run_task)

    def finish(self, preset: ExperimentalPreset, shared: dict, tasks, store):
        """Write the montage's examples, ``realisations`` and ``summary``.

        Parameters
        ----------
        preset : ExperimentalPreset
            The study's preset.
        shared : dict
            What :meth:`prepare` returned.
        tasks : sequence of Task
            Every task of the run.
        store : ResultStore
            The results directory.

        Returns
        -------
        pandas.DataFrame
            The summary table (:func:`summarise`).
        """
        write_examples(store, tasks, shared)
        return store.write_summary(summarise)


STUDY = register_study(Experimental())
