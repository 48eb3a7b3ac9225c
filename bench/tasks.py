"""Resumable, task-split study runs: each task runs once, in a worker, and is stored as it finishes.

A study is split into independent tasks (method, dose, thickness, realisation block …). Each finished
task is stored at once in the results directory (:class:`_shared.results.ResultStore`: ``tasks/KEY.parquet``
plus optional ``tasks/KEY.npz`` arrays, each written atomically), so an interrupted run leaves only whole
files and a rerun does only the tasks that are missing.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as completed
from dataclasses import dataclass
from functools import partial
from typing import Any

from tqdm.auto import tqdm

from _shared.results import ResultStore
from bench.workers import CostModel, interleave, timed_call, worker_init

_KEY = re.compile(r"^[A-Za-z0-9_.+\-]+$")


@dataclass(frozen=True)
class Task:
    """One unit of work: a file-safe unique ``key`` and the ``params`` that define it.

    Parameters
    ----------
    key : str
        Unique name of the task, also its file name: letters, digits and ``_ . + -`` only.
    params : dict
        The arguments of the task function (sent to a worker process, so picklable).
    """

    key: str
    params: dict

    def __post_init__(self) -> None:
        """Check the key.

        Raises
        ------
        ValueError
            If ``key`` holds other characters than letters, digits and ``_ . + -``.
        """
        if not _KEY.match(self.key):
            raise ValueError(f"task key {self.key!r} must contain only letters, digits and _ . + -")


def run_tasks(
    tasks: Sequence[Task],
    function: Callable[[dict], tuple[Any, dict | None]],
    store: ResultStore,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    description: str = "tasks",
    on_task_done: Callable[[str], None] | None = None,
) -> list[str]:
    """Run the tasks not yet stored and store each one as it finishes.

    Pending tasks run in round-robin order of their kinds (:func:`bench.workers.interleave`) and the
    progress bar's ETA weights each pending task by the measured cost of its kind
    (:class:`bench.workers.CostModel`). Local worker processes end when this process ends, however it ends.

    Parameters
    ----------
    tasks : sequence of Task
        Keys must be unique.
    function : callable
        Top-level (picklable) function ``params -> (pandas.DataFrame, arrays dict or None)``.
    store : ResultStore
        Where finished tasks go (only this process writes).
    scheduler : str, optional
        Address of an existing dask.distributed scheduler; default: local processes.
    workers : int, optional
        Local worker processes (default: CPU count); 1 runs the tasks in this process.
    progress : bool
        Show a progress bar.
    description : str
        Label of the progress bar.
    on_task_done : callable, optional
        Called with each stored key (e.g. to stop a run part-way).

    Returns
    -------
    list of str
        The keys run (and stored) by this call.

    Raises
    ------
    ValueError
        If keys repeat or ``workers`` < 1.
    """
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("task keys must be unique")
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers={workers!r} must be >= 1")
    pending = interleave([t for t in tasks if not store.done(t.key)])
    remaining = {t.key: t for t in pending}
    finished: list[str] = []
    cost = CostModel()
    start = time.perf_counter()
    busy = [0.0]  # worker seconds of the tasks finished by this call
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(pending), desc=description, unit="task",
               disable=not progress, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
    run = partial(timed_call, function)

    def parallel() -> float:
        """Return the number of tasks running at once, for the ETA.

        Returns
        -------
        float
            Local workers busy, or on a cluster the measured ratio of worker time to wall time (≥ 1).
        """
        if scheduler is not None:  # unknown cluster size: the measured ratio of work to wall time
            return max(busy[0] / max(time.perf_counter() - start, 1e-9), 1.0)
        return float(min(workers, max(len(remaining), 1)))

    def finish(key: str, outcome) -> None:
        """Store a finished task and update the cost model and the progress bar.

        Parameters
        ----------
        key : str
            The task's key.
        outcome : tuple
            ``((table, arrays), seconds)`` from :func:`bench.workers.timed_call`.
        """
        (table, arrays), seconds = outcome
        store.write_task(key, table, arrays)
        finished.append(key)
        cost.record(remaining.pop(key), seconds)
        busy[0] += seconds
        bar.set_postfix_str(cost.eta_text(list(remaining.values()), parallel()), refresh=False)
        bar.update()
        if on_task_done is not None:
            on_task_done(key)

    try:
        if not pending:
            pass
        elif scheduler is not None:
            from dask.distributed import Client, as_completed

            with Client(scheduler) as client:
                futures = {client.submit(run, t.params, key=f"bench-{t.key}", pure=False): t.key for t in pending}
                for future in as_completed(futures):
                    finish(futures[future], future.result())
        elif workers == 1 or len(pending) == 1:
            for task in pending:
                finish(task.key, run(task.params))
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=context,
                                     initializer=worker_init, initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(run, t.params): t.key for t in pending}
                try:
                    for future in completed(futures):
                        finish(futures[future], future.result())
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        bar.close()
        store.manifest["wall_time_s"] = round(float(store.manifest.get("wall_time_s", 0.0))
                                              + time.perf_counter() - start, 1)
        store.save_manifest()
    return finished
