"""Export a finished training run as a registry model: ``bench models export RUN --name arch.tag``.

The run's EMA generator — the final one (``RUN/model.safetensors``, written by :func:`restore.train.train` at
the last step) or, for a run trained in chunks that has not reached its schedule's end, the one of a
checkpoint (``checkpoint="latest"``) — is copied into a weights folder (by default the package's
``restore/weights``) as ``NAME.safetensors`` with a sidecar that makes the model self-describing:
generator config, parameter count, training config (loss weights, schedule, seed), data and validation
recipes, the dose and pixel-size range the synthetic pairs cover, the synthetic recipe version, steps,
the lineage (steps, wall time, CPU- and GPU-hours summed over every chunk, also across ``--init-from``),
each chunk's hardware and numeric path, the last validation metrics and the versions (added by
:func:`restore.checkpoint.save_weights`).
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from restore.checkpoint import load_model, save_model
from restore.dataset import VALIDATION_SEED
from restore.numerics import hardware_description
from restore.pair_cache import read_manifest, resolve_cache_dir
from restore.registry import PACKAGE_WEIGHTS, check_name
from simulate.distortions.samplers import MEAN_COUNTS_RANGE
from simulate.synthetic.modalities import get_modality
from simulate.synthetic.specimens import PIXEL_SIZE_RANGE_A


def training_wall_time(train_log: str | Path, *, up_to_step: int | None = None) -> tuple[float, int]:
    """Return the wall time of the kept steps of a run and the number of chunks it was trained in.

    ``train_log.csv`` counts ``seconds`` from the start of each (resumed) process, so a drop of the
    counter marks a new chunk; the time of each chunk is its last logged value. The drop is seen whenever
    the first logged interval of a chunk is shorter than the whole chunk before it (always, in practice,
    with ``log_every`` ≪ chunk length); a resume it misses makes the total an underestimate. Steps computed
    after the last checkpoint of an interrupted chunk were truncated from the log on resume and are not
    counted.

    Parameters
    ----------
    train_log : str or Path
        The run's ``train_log.csv`` (needs a ``seconds`` column).
    up_to_step : int, optional
        Count only the logged steps up to this one (an exported checkpoint's); default: every logged step.

    Returns
    -------
    seconds : float
        Summed wall time of all chunks [s].
    chunks : int
        Number of chunks (processes) detected, ≥ 1.

    Raises
    ------
    ValueError
        If the log has no rows.
    """
    with open(train_log, newline="") as handle:
        seconds = [float(row["seconds"]) for row in csv.DictReader(handle)
                   if up_to_step is None or float(row["step"]) <= up_to_step]
    if not seconds:
        raise ValueError(f"{train_log}: no logged steps")
    total, chunks, previous = 0.0, 1, seconds[0]
    for value in seconds[1:]:
        if value < previous:
            total, chunks = total + previous, chunks + 1
        previous = value
    return total + previous, chunks


def _last_validation(val_log: Path, step: int | None = None) -> dict:
    """The numeric columns of the last validation row (at or before ``step`` when given)."""
    if not val_log.is_file():
        return {}
    with open(val_log, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if step is not None:
        rows = [row for row in rows if float(row["step"]) <= step]
    if not rows:
        return {}
    values = {}
    for key, value in rows[-1].items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue  # a text column (hardware, numeric path) is kept in run.json, not here
        if math.isfinite(number):
            values[key] = number
    return values


def _chunks(run_dir: Path) -> list[dict]:
    path = run_dir / "run.json"
    return json.loads(path.read_text()).get("chunks", []) if path.is_file() else []


def _source(run_dir: Path, checkpoint: str | None) -> Path:
    if checkpoint is None:
        final = run_dir / "model.safetensors"
        if not final.is_file():
            raise FileNotFoundError(f"{final}: the run has not reached the last step of its schedule; finish it with "
                                    f"`bench train CONFIG -o {run_dir} --resume`, or export a checkpoint's EMA with "
                                    "--checkpoint latest")
        return final
    checkpoints = run_dir / "checkpoints"
    if checkpoint == "latest":
        latest = checkpoints / "latest.json"
        if not latest.is_file():
            raise FileNotFoundError(f"{latest}: the run has no checkpoint yet")
        checkpoint = json.loads(latest.read_text())["path"]
    source = checkpoints / checkpoint / "ema.safetensors"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such checkpoint; the run keeps "
                                f"{sorted(p.name for p in checkpoints.glob('step_*'))}")
    return source


def _cache_manifest(value: str) -> tuple[dict | None, Exception | None]:
    try:
        return read_manifest(resolve_cache_dir(value)), None
    except (FileNotFoundError, ValueError) as error:  # the cache lives outside the repository
        return None, error


def _data_recipe(spec: str, seed: int, size: int) -> dict:
    kind, _, value = spec.partition(":")
    recipe = {"spec": spec, "seed": seed, "patch_size_px": size}
    if kind == "synthetic":

        recipe.update(generator="simulate.synthetic.pairs.make_pair", modality=get_modality(value).to_dict(),
                      validation_seed=VALIDATION_SEED,
                      pixel_size_range_A=list(PIXEL_SIZE_RANGE_A),
                      mean_counts_per_pixel_range=list(MEAN_COUNTS_RANGE))
    elif kind == "cache":
        manifest, error = _cache_manifest(value)
        if manifest is None:
            recipe["cache_manifest"] = f"not readable here: {error}"
        else:
            recipe.update(generator="simulate.synthetic.pairs.make_pair (pre-generated pair cache)",
                          cache_recipe=manifest.get("recipe"), cache_pairs=manifest.get("pairs"),
                          pixel_size_range_A=list(PIXEL_SIZE_RANGE_A),
                          mean_counts_per_pixel_range=list(MEAN_COUNTS_RANGE))
    return recipe


def _validation_recipe(training: dict) -> dict:
    spec = training["validation"]
    kind, _, value = spec.partition(":")
    size = training["patch_size"]  # synthetic validation pairs are drawn at the patch size
    if kind == "cache":  # validation reads the cache's whole pairs (restore.train_data.resolve_dataset)
        manifest, _ = _cache_manifest(value)
        size = ((manifest or {}).get("recipe") or {}).get("size_px")
    elif kind == "npz":  # the arrays' own size
        size = None
    return {"spec": spec, "pairs": training["val_batches"] * training["batch_size"], "size_px": size}


def export_run(run_dir: str | Path, name: str, destination: str | Path = PACKAGE_WEIGHTS, *,
               hardware: str | None = None, notes: str | None = None, checkpoint: str | None = None) -> Path:
    """Write a run's EMA generator as ``destination/NAME.safetensors`` with a full sidecar.

    Parameters
    ----------
    run_dir : str or Path
        A run directory of :func:`restore.train.train` that reached its last step (has ``model.safetensors``).
    name : str
        Registry name ``arch.tag``, e.g. ``cgrdn.hrstem_default``.
    destination : str or Path
        Folder for the weights (default: the package's ``restore/weights``).
    hardware : str, optional
        Where the run was trained; default: the hardware of each chunk as the run recorded it (``run.json``),
        or this machine (:func:`restore.numerics.hardware_description`) for a run without chunk records.
    notes : str, optional
        Free text stored in the sidecar.
    checkpoint : str, optional
        None: the final model (the run reached its last step); ``"latest"`` or a checkpoint folder name
        (``step_00004000``): that checkpoint's EMA generator, for runs trained in chunks.

    Returns
    -------
    Path
        The written ``.safetensors`` file (its ``.json`` sidecar lies beside it).

    Raises
    ------
    FileNotFoundError
        If the run has no final model (and no checkpoint was asked for), no such checkpoint, or no training log.
    ValueError
        If ``name`` is malformed or the run's model is not a CGRDN.
    """
    check_name(name)
    run_dir = Path(run_dir)
    source = _source(run_dir, checkpoint)
    model, sidecar = load_model(source)
    if sidecar.get("arch") != name.split(".")[0]:
        raise ValueError(f"name={name!r}: the run's model is arch {sidecar.get('arch')!r}; use '<arch>.<tag>'")
    training = sidecar["training_config"]
    kind, _, modality = training["data"].partition(":")
    wall_seconds, chunk_count = training_wall_time(run_dir / "train_log.csv", up_to_step=sidecar["step"])
    # a checkpoint inside a chunk ends the exported chunk list there: the chunk's later steps are not in the weights
    chunks = [c if c.get("end_step", 0) <= sidecar["step"] else {**c, "end_step": sidecar["step"],
                                                                  "run_end_step": c["end_step"]}
              for c in _chunks(run_dir) if c.get("start_step", 0) < sidecar["step"]]
    hardware = hardware or ("; ".join(sorted({c["hardware"] for c in chunks if c.get("hardware")}))
                            or hardware_description())
    data_recipe = _data_recipe(training["data"], training["seed"], training["patch_size"])
    if kind == "cache":  # the modality the cache's pairs were drawn from, when the cache is readable here
        modality = ((data_recipe.get("cache_recipe") or {}).get("modality") or {}).get("name")
    metadata = {
        "name": name,
        "modality": modality if kind in ("synthetic", "cache") else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": sidecar["step"],
        "wall_time_s": round(wall_seconds, 1),
        "training_chunks": len(chunks) or chunk_count,
        "chunks": chunks,
        "lineage": sidecar.get("lineage"),
        "synthetic_recipe_version": sidecar.get("synthetic_recipe_version"),
        "numeric_path": sidecar.get("numeric_path") or (chunks[-1].get("numeric_path") if chunks else None),
        "source": str(source.relative_to(run_dir)),
        "hardware": hardware,
        "weights": "EMA of the generator weights",
        "loss_weights": training["losses"],
        "training_config": training,
        "data_recipe": data_recipe,
        "validation_recipe": _validation_recipe(training),
        "validation": _last_validation(run_dir / "val_log.csv", sidecar["step"]) or sidecar.get("validation", {}),
        "notes": notes,
    }
    destination = Path(destination)
    target = destination / f"{name}.safetensors"
    save_model(target, model, sidecar["arch"], **metadata)
    return target
