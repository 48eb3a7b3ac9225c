"""Export a finished training run as a registry model: ``bench models export RUN --name arch.tag``.

The run's final EMA generator (``RUN/model.safetensors``, written by :func:`restore.train.train` at the
last step) is copied into a weights folder (by default the package's ``restore/weights``) as
``NAME.safetensors`` with a sidecar that makes the model self-describing: generator config, parameter
count, training config (loss weights, schedule, seed), data and validation recipes, the dose and
pixel-size range the synthetic pairs cover, steps, wall time summed over resumed chunks, the hardware,
the last validation metrics and the versions (added by :func:`restore.checkpoint.save_weights`).
"""
from __future__ import annotations

import csv
import os
import platform
from pathlib import Path

from restore.checkpoint import load_model, save_model
from restore.registry import PACKAGE_WEIGHTS, check_name


def training_wall_time(train_log: str | Path) -> tuple[float, int]:
    """Wall time in seconds of the kept steps of a run, and the number of chunks it was trained in.

    ``train_log.csv`` counts ``seconds`` from the start of each (resumed) process, so a drop of the
    counter marks a new chunk; the time of each chunk is its last logged value. The drop is seen whenever
    the first logged interval of a chunk is shorter than the whole chunk before it (always, in practice,
    with ``log_every`` ≪ chunk length); a resume it misses makes the total an underestimate. Steps computed
    after the last checkpoint of an interrupted chunk were truncated from the log on resume and are not
    counted.
    """
    with open(train_log, newline="") as handle:
        seconds = [float(row["seconds"]) for row in csv.DictReader(handle)]
    if not seconds:
        raise ValueError(f"{train_log}: no logged steps")
    total, chunks, previous = 0.0, 1, seconds[0]
    for value in seconds[1:]:
        if value < previous:
            total, chunks = total + previous, chunks + 1
        previous = value
    return total + previous, chunks


def _last_validation(val_log: Path) -> dict:
    if not val_log.is_file():
        return {}
    with open(val_log, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: float(value) for key, value in rows[-1].items()} if rows else {}


def describe_hardware() -> str:
    """CPU model, logical core count and torch intra-op threads of this machine (and the GPU, if any)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = f"{cpu}, {os.cpu_count()} logical cores, torch intra-op threads {torch.get_num_threads()}"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def _data_recipe(spec: str, seed: int, size: int) -> dict:
    kind, _, value = spec.partition(":")
    recipe = {"spec": spec, "seed": seed, "patch_size_px": size}
    if kind == "synthetic":
        from restore.dataset import VALIDATION_SEED
        from simulate.distortions.samplers import MEAN_COUNTS_RANGE
        from simulate.synthetic.presets import get_modality
        from simulate.synthetic.specimens import PIXEL_SIZE_RANGE_ANGSTROM

        recipe.update(generator="simulate.synthetic.pairs.make_pair", modality=get_modality(value).to_dict(),
                      validation_seed=VALIDATION_SEED,
                      pixel_size_range_angstrom=list(PIXEL_SIZE_RANGE_ANGSTROM),
                      mean_counts_per_pixel_range=list(MEAN_COUNTS_RANGE))
    return recipe


def export_run(run_dir: str | Path, name: str, destination: str | Path = PACKAGE_WEIGHTS, *,
               hardware: str | None = None, notes: str | None = None) -> Path:
    """Write a finished run's EMA generator as ``destination/NAME.safetensors`` with a full sidecar.

    Parameters
    ----------
    run_dir : str or Path
        A run directory of :func:`restore.train.train` that reached its last step (has ``model.safetensors``).
    name : str
        Registry name ``arch.tag``, e.g. ``cgrdn.hrstem_default``.
    destination : str or Path
        Folder for the weights (default: the package's ``restore/weights``).
    hardware : str, optional
        Where the run was trained; default: a description of this machine (:func:`describe_hardware`).
    notes : str, optional
        Free text stored in the sidecar.

    Returns
    -------
    Path
        The written ``.safetensors`` file (its ``.json`` sidecar lies beside it).

    Raises
    ------
    FileNotFoundError
        If the run has no final model (unfinished: resume it first) or no training log.
    ValueError
        If ``name`` is malformed or the run's model is not a CGRDN.
    """
    check_name(name)
    run_dir = Path(run_dir)
    source = run_dir / "model.safetensors"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: the run has not reached its last step; finish it with "
                                f"`bench train CONFIG -o {run_dir} --resume` before exporting")
    model, sidecar = load_model(source)
    if sidecar.get("arch") != name.split(".")[0]:
        raise ValueError(f"name={name!r}: the run's model is arch {sidecar.get('arch')!r}; use '<arch>.<tag>'")
    training = sidecar["training_config"]
    kind, _, modality = training["data"].partition(":")
    wall_seconds, chunks = training_wall_time(run_dir / "train_log.csv")
    metadata = {
        "name": name,
        "modality": modality if kind == "synthetic" else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": sidecar["step"],
        "wall_time_s": round(wall_seconds, 1),
        "training_chunks": chunks,
        "hardware": hardware or describe_hardware(),
        "weights": "EMA of the generator weights",
        "loss_weights": training["losses"],
        "training_config": training,
        "data_recipe": _data_recipe(training["data"], training["seed"], training["patch_size"]),
        "validation_recipe": {"spec": training["validation"],
                              "pairs": training["val_batches"] * training["batch_size"],
                              "size_px": training["patch_size"]},
        "validation": _last_validation(run_dir / "val_log.csv") or sidecar.get("validation", {}),
        "notes": notes,
    }
    destination = Path(destination)
    target = destination / f"{name}.safetensors"
    save_model(target, model, sidecar["arch"], **metadata)
    return target
