"""Run (or resume) any registered study into a results directory: the one path ``bench run`` and ``bench check``
take, whatever the study.

Order, the same for every study: the study's inputs are named cheaply and the results directory is checked
against the run's configuration before anything is written or simulated; then the inputs are loaded, the
store opened, the study executed (:meth:`bench.studies.base.Study.execute`) and the segment recorded in the
manifest: ``complete``, ``interrupted`` (Ctrl-C, SIGTERM) or ``failed`` (with the error).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _shared.provenance import hardware, library_versions
from _shared.results import ResultStore
from bench.methods.cnn import keep_recorded_arithmetic
from bench.studies.base import RunOptions, Study


def default_output(study: Study, preset: Any) -> Path:
    """Return the default results directory, ``results/STUDY-PRESET``.

    Parameters
    ----------
    study : Study
        The study.
    preset : dataclass
        The study's preset (its ``name`` is used).

    Returns
    -------
    Path
        The directory, relative to the working directory.
    """
    return Path("results") / f"{study.name}-{preset.name}"


def gpus() -> dict:
    """Return the CUDA GPUs torch sees, for the manifest's hardware.

    Returns
    -------
    dict
        ``{"gpu": [names]}`` when torch sees CUDA GPUs, else ``{}``.
    """
    import torch  # noqa: PLC0415  (heavy: only when a manifest is written)

    if not torch.cuda.is_available():
        return {}
    return {"gpu": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}


def run_study(study: Study, preset: Any, methods: Sequence[Any], output: str | Path, *, note: str | None = None,
              options: RunOptions | None = None, preset_given: bool = True, command: str = "",
              say: Callable[[str], None] = print) -> Path:
    """Validate the results directory, load the inputs, run (or resume) the study; return the directory.

    Parameters
    ----------
    study : Study
        A registered study.
    preset : dataclass
        The study's preset (:meth:`Study.configure`).
    methods : sequence of Method
        The methods to compare (:mod:`bench.methods`), validated by the caller.
    output : str or Path
        The results directory.
    note : str, optional
        A note for the manifest and the report (e.g. why the default model is missing).
    options : RunOptions, optional
        Scheduler, workers, progress bars.
    preset_given : bool
        Whether the user chose the preset (otherwise the output says that the default was taken).
    command : str
        The command line, for the manifest.
    say : callable
        Where the run's messages go.

    Returns
    -------
    Path
        The results directory.

    Raises
    ------
    ValueError
        If the directory holds another study or configuration, or the inputs do not fit the preset.
    """
    options = options or RunOptions()
    output = Path(output)
    study.check_methods(preset, methods)
    inputs = study.inputs(preset)
    config = study.config(preset, inputs)
    existing = ResultStore.admit(output, study.name, config)  # before anything is written or simulated
    kept = [keep_recorded_arithmetic(m, existing) for m in methods]
    resumed = [k for m, k in zip(methods, kept) if k is not m]  # auto methods keeping the directory's arithmetic
    methods = kept
    inputs = study.load(preset, inputs, options)
    default = (preset.name == study.default_preset and not preset_given)
    say(f"bench run {study.name}: preset {preset.name!r}"
        + (" (the default: sized for a laptop CPU; --preset paper runs the paper's full study)" if default else ""))
    say(f"  {study.describe(preset)}; methods: {', '.join(m.name for m in methods)}")
    if note:
        say(f"  note: {note}")
    for method in resumed:
        say(f"  {method.name}: {method.numeric_path().describe()}")
    say(f"  results: {output}")
    provenance = {"preset": preset.name, **inputs.provenance, "versions": library_versions(),
                  "hardware": hardware(**gpus()), "seeds": study.seeds(preset),
                  "scheduler": options.scheduler or "local processes", "methods": [m.provenance() for m in methods],
                  "notes": [note] if note else [], "command": command}
    if any(getattr(m, "learns_from_data", False) for m in methods):
        provenance["training_data"] = study.training_offers(preset)
        provenance["training_budget"] = preset.training.to_config()
    summary = _run_and_record(output, study.name, config, provenance,
                              lambda store: study.execute(preset, inputs, methods, store, options))
    say(summary_text(study, summary))
    return output


def summary_text(study: Study, summary: Any) -> str:
    """Format the summary table as text: the study's printed columns in its float format.

    Parameters
    ----------
    study : Study
        The study (its ``printed_columns`` and ``float_format``).
    summary : pandas.DataFrame
        The summary table the study's execution returned.

    Returns
    -------
    str
        The table, without the index.
    """
    import pandas as pd  # noqa: PLC0415  (a results table is in hand: pandas is loaded already)

    shown = summary[list(study.printed_columns)] if study.printed_columns else summary
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", study.float_format.format):
        return shown.to_string(index=False)


def _run_and_record(output: Path, study: str, config: dict, provenance: dict, execute: Callable[[ResultStore], Any]):
    """Open the result store, run ``execute(store)`` and record how this segment of the run ended.

    The manifest's ``status`` becomes ``complete``, ``interrupted`` (Ctrl-C, SIGTERM) or ``failed``, and
    ``runs`` gains one segment per invocation: start, end, wall time, tasks stored before and after, and
    the status (with the error for a failure).
    """
    store = ResultStore.open(output, study, config, provenance)
    clock = time.perf_counter()
    segment = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "tasks_stored_before": store.stored_task_count()}

    def record(status: str, error: BaseException | None = None) -> None:
        wall = round(time.perf_counter() - clock, 1)
        segment.update(ended=time.strftime("%Y-%m-%dT%H:%M:%S%z"), wall_time_s=wall, status=status,
                       tasks_stored_after=store.stored_task_count())
        if error is not None:
            segment["error"] = f"{type(error).__name__}: {error}"
        store.manifest["status"] = status
        store.manifest["last_run_wall_time_s"] = wall
        store.manifest.setdefault("runs", []).append(segment)
        store.save_manifest()

    try:
        summary = execute(store)
    except KeyboardInterrupt:
        record("interrupted")
        raise
    except BaseException as error:
        record("failed", error)
        raise
    record("complete")
    return summary
