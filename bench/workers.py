"""What :func:`bench.tasks.run_tasks` needs around its worker processes: an ETA from the measured cost of
each kind of task, the order that times every kind early, and workers that end with their parent.

Cost. Tasks of one study differ in cost by orders of magnitude (a raw-data task fits, a BM3D task first
denoises every realisation, a CNN task runs a network), so a rate taken from the first finished task — what
a plain progress bar extrapolates — can be wrong twenty-fold. Tasks whose keys share the part before the
first ``__`` (every study starts its keys with the method's name) are taken to cost alike per unit of
``params["count"]`` (the realisations in the task's block; 1 when absent); each kind's cost per unit is the
median of its finished tasks, timed inside the worker so that process start-up does not count. While a
kind with pending tasks has no finished task yet the ETA is a lower bound and says so.

Parent death. A worker process asks the Linux kernel for SIGKILL when its parent ends
(``prctl(PR_SET_PDEATHSIG)``), and on every system a daemon thread in the worker polls the parent's pid
once a second; so killing ``bench run`` (even with SIGKILL) leaves no worker behind, and with them gone
multiprocessing's resource tracker sees its pipe close and ends too.
"""
from __future__ import annotations

import ctypes
import math
import os
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from itertools import zip_longest
from typing import Any

from threadpoolctl import threadpool_limits

PARENT_POLL_S = 1.0
_PR_SET_PDEATHSIG = 1


def task_kind(task) -> str:
    """Return the task's kind: the part of its key before the first ``__`` (the method, in every study).

    Parameters
    ----------
    task : Task
        A task (:class:`bench.tasks.Task`).

    Returns
    -------
    str
        The kind.
    """
    return task.key.split("__", 1)[0]


def task_size(task) -> float:
    """Return the units of work of a task: ``params["count"]`` when it is a positive number, else 1.

    Parameters
    ----------
    task : Task
        A task (:class:`bench.tasks.Task`).

    Returns
    -------
    float
        The units of work (realisations in the task's block).
    """
    count = task.params.get("count", 1) if isinstance(task.params, dict) else 1
    return float(count) if isinstance(count, (int, float)) and count > 0 else 1.0


def interleave(tasks: Sequence) -> list:
    """Order the tasks round-robin by kind (kinds in order of first appearance), so that every kind is timed early.

    The results do not depend on the order (each task carries its own seed).

    Parameters
    ----------
    tasks : sequence of Task
        The tasks; within a kind their order is kept.

    Returns
    -------
    list of Task
        The same tasks, reordered.
    """
    groups: dict[str, list] = defaultdict(list)
    for task in tasks:
        groups[task_kind(task)].append(task)
    return [task for row in zip_longest(*groups.values()) for task in row if task is not None]


class CostModel:
    """Seconds per unit of work of each task kind, from the tasks finished so far (see the module docstring)."""

    def __init__(self) -> None:
        self.rates: dict[str, list[float]] = defaultdict(list)

    def record(self, task, seconds: float) -> None:
        """Record the worker-side run time of a finished task.

        Parameters
        ----------
        task : Task
            The finished task.
        seconds : float
            Its run time in the worker [s].
        """
        self.rates[task_kind(task)].append(float(seconds) / task_size(task))

    def rate(self, kind: str) -> float | None:
        """Return the median seconds per unit of work of a kind.

        Parameters
        ----------
        kind : str
            The task kind (:func:`task_kind`).

        Returns
        -------
        float or None
            Seconds per unit of work; None before one of its tasks has finished.
        """
        values = sorted(self.rates.get(kind, ()))
        if not values:
            return None
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else 0.5 * (values[middle - 1] + values[middle])

    def remaining(self, pending: Sequence) -> tuple[float, list[str]]:
        """Estimate the worker time of the pending tasks.

        Parameters
        ----------
        pending : sequence of Task
            The tasks not finished yet.

        Returns
        -------
        seconds : float
            Expected worker seconds of the pending tasks of timed kinds.
        untimed : list of str
            The pending kinds with no finished task yet (their tasks are not counted).
        """
        seconds, untimed = 0.0, []
        for task in pending:
            rate = self.rate(task_kind(task))
            if rate is None:
                if task_kind(task) not in untimed:
                    untimed.append(task_kind(task))
            else:
                seconds += rate * task_size(task)
        return seconds, untimed

    def eta_text(self, pending: Sequence, parallel: float) -> str:
        """Return the progress bar's ETA text.

        Parameters
        ----------
        pending : sequence of Task
            The tasks not finished yet.
        parallel : float
            Tasks running at a time (at least 1 is assumed).

        Returns
        -------
        str
            ``ETA ≈ 12 min``, or ``ETA > 3 min (not yet timed: bm3d)`` while a pending kind is untimed (a lower
            bound); empty when nothing is pending.
        """
        if not pending:
            return ""
        seconds, untimed = self.remaining(pending)
        eta = seconds / max(float(parallel), 1.0)
        text = f"{eta / 60:.0f} min" if eta >= 90 else f"{math.ceil(eta):.0f} s"
        if untimed:
            return f"ETA > {text} (not yet timed: {', '.join(untimed)})"
        return f"ETA ≈ {text}"


def timed_call(function, params) -> tuple[Any, float]:
    """Call ``function(params)`` and time it in the process that runs it (a worker).

    Parameters
    ----------
    function : callable
        The task function.
    params : dict
        Its argument.

    Returns
    -------
    result : object
        ``function(params)``.
    seconds : float
        Its wall time [s].
    """
    start = time.perf_counter()
    result = function(params)
    return result, time.perf_counter() - start


# Worker processes ------------------------------------------------------------------------------------------

def _die_with_parent(parent_pid: int) -> None:
    """Ask for SIGKILL when the parent ends (Linux), and watch the parent from a daemon thread anywhere."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watcher thread remains
            pass
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="bench-parent-watch", daemon=True).start()


def worker_init(parent_pid: int) -> None:
    """Initialise a local worker process: end with the parent; one BLAS/torch thread each.

    The processes already use every core. torch reads OMP_NUM_THREADS when it is first imported (by a CNN
    method), so it is not imported here.

    Parameters
    ----------
    parent_pid : int
        Process id of the parent (``bench run``); the worker exits when it ends.
    """
    _die_with_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = "1"
    threadpool_limits(1)
