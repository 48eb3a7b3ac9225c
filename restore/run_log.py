"""Bookkeeping of a training run across chunks: CSV logs, cumulative compute, lineage and chunk records.

A run is trained in chunks (one process start each: the first, every ``--resume``, and a new run started
``--init-from`` the weights of an earlier one). Its *lineage*, stored in every checkpoint's and the final
model's sidecar, carries the totals over all chunks of all ancestors:

- ``wall_s``: wall seconds of the kept steps (steps recomputed after an interruption count once);
- ``cpu_hours``: wall hours × CPU cores the process may use, summed over the chunks run on the CPU (on the
  project's 2-core machines: 2 × wall hours) — the machine time a curve point cost;
- ``gpu_hours``: wall hours × processes (one GPU each), summed over the chunks run on CUDA;
- ``steps``: optimiser steps including the ancestors' (``base_steps`` + this run's step);
- ``chunk``: the number of the chunk that wrote the checkpoint.

``val_log.csv`` gets one row per validation with these totals, the chunk number and whether bf16 ran, so
learning curves can be drawn against CPU-hours across chunks and machines. ``run.json`` lists the chunks
(start and end step, numeric path and why, hardware, synthetic recipe version, how the chunk ended).
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import torch

from restore.checkpoint import atomic_write_json
from restore.numerics import cpu_cores

TRAIN_FIELDS = ["step", "lr", "loss", "loss_d", "l1", "l2", "mlwt", "fourier", "mean", "std", "adversarial",
                "seconds"]
# Numbers only (readers such as restore.export parse every column as a float); the chunk number links a
# row to its chunk's hardware and numeric path in run.json.
VAL_FIELDS = ["step", "psnr_db", "ssim", "l1", "total_steps", "wall_s", "cpu_hours", "gpu_hours", "chunk", "bf16"]
TOTALS = ("wall_s", "cpu_hours", "gpu_hours")


def append_csv(path: Path, fields: list[str], row: dict) -> None:
    """Append a row; a file that exists keeps its own header (older runs have fewer columns).

    Parameters
    ----------
    path : Path
        The CSV file; created with a header of ``fields`` when missing or empty.
    fields : list of str
        Column names for a new file.
    row : dict
        Column -> value; floats are written with 7 significant digits, keys not in the header are dropped.
    """
    if path.exists():
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), None)
        fields = header or fields
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.7g}" if isinstance(v, float) else v) for k, v in row.items()})


def truncate_csv(path: Path, last_step: int) -> None:
    """Drop rows written after the checkpoint we resume from, so that the log has no duplicates.

    Parameters
    ----------
    path : Path
        A CSV log with a ``step`` column; nothing happens when it is missing or has no rows.
    last_step : int
        Step of the checkpoint; rows with ``step`` > ``last_step`` are removed.
    """
    if path.exists():
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
            fields = list(rows[0]) if rows else None
        if fields:
            with open(path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                writer.writerows(r for r in rows if int(r["step"]) <= last_step)


def new_lineage(source: dict | None = None, init_from: dict | None = None, warmup_steps: int = 0) -> dict:
    """The lineage of a run before its first step: fresh, or continuing the lineage of ``source``.

    Parameters
    ----------
    source : dict, optional
        Sidecar of the weights the run starts from (``--init-from``). Its ``lineage`` is continued when it
        has one; else its ``step`` counts as ancestor steps and its compute as unknown (zero).
    init_from : dict, optional
        Record of those weights (path, SHA-256, …).
    warmup_steps : int
        Warm-up steps of this run's learning-rate schedule.

    Returns
    -------
    dict
        ``wall_s``, ``cpu_hours``, ``gpu_hours``, ``steps``, ``chunk`` (the ancestors' totals, 0 for a fresh
        run), ``base_steps`` (= ``steps``), ``init_from``, ``warmup_steps`` and
        ``compute_of_ancestors_recorded``.
    """
    lineage = {"wall_s": 0.0, "cpu_hours": 0.0, "gpu_hours": 0.0, "steps": 0, "chunk": 0}
    if source is not None:
        ancestors = source.get("lineage")
        if isinstance(ancestors, dict):
            lineage.update({key: ancestors.get(key, lineage[key]) for key in lineage})
        else:
            lineage["steps"] = int(source.get("step", source.get("steps", 0)) or 0)
    return {**lineage, "base_steps": int(lineage["steps"]), "init_from": init_from, "warmup_steps": int(warmup_steps),
            "compute_of_ancestors_recorded": source is None or isinstance(source.get("lineage"), dict)}


class ChunkClock:
    """Cumulative wall time and compute of the current chunk on top of the lineage it started from.

    The clock starts when the object is made; the chunk number is the lineage's plus one.

    Parameters
    ----------
    lineage : dict
        The lineage of the checkpoint (or of :func:`new_lineage`) the chunk starts from.
    device : torch.device
        The chunk's device: CUDA time counts as GPU-hours, anything else as CPU-hours.
    world : int
        Number of processes (one GPU each on CUDA).
    """

    def __init__(self, lineage: dict, device: torch.device, world: int):
        self.lineage = dict(lineage)
        self.lineage["chunk"] = int(lineage.get("chunk", 0)) + 1
        self.device, self.world = device, world
        self.cores = cpu_cores()
        self.started = time.perf_counter()

    def elapsed_s(self) -> float:
        """Return the wall time since the chunk started.

        Returns
        -------
        float
            Seconds.
        """
        return time.perf_counter() - self.started

    def lineage_at(self, step: int) -> dict:
        """Return the lineage as of now, at this run's ``step`` (what a checkpoint written now stores).

        Parameters
        ----------
        step : int
            This run's step (not counting the ancestors').

        Returns
        -------
        dict
            The lineage with ``wall_s``, ``gpu_hours`` (CUDA: hours × world) or ``cpu_hours`` (hours × CPU
            cores) and ``steps`` (``base_steps + step``) brought up to date.
        """
        hours = self.elapsed_s() / 3600
        totals = dict(self.lineage)
        totals["wall_s"] = float(self.lineage["wall_s"]) + self.elapsed_s()
        if self.device.type == "cuda":
            totals["gpu_hours"] = float(self.lineage["gpu_hours"]) + hours * self.world
        else:
            totals["cpu_hours"] = float(self.lineage["cpu_hours"]) + hours * self.cores
        totals["steps"] = int(self.lineage["base_steps"]) + int(step)
        return totals


def record_chunk(run_dir: Path, record: dict) -> None:
    """Add or update (same ``chunk`` and ``start_step``) a chunk's record in ``run_dir/run.json``.

    Parameters
    ----------
    run_dir : Path
        The run folder.
    record : dict
        The chunk's record; needs ``chunk`` and ``start_step``. It replaces a record with the same pair and
        goes to the end of the list.
    """
    path = run_dir / "run.json"
    chunks = json.loads(path.read_text())["chunks"] if path.exists() else []
    chunks = [c for c in chunks if (c["chunk"], c["start_step"]) != (record["chunk"], record["start_step"])]
    atomic_write_json(path, {"chunks": [*chunks, record]})
