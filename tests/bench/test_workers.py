"""Task running: workers end with their parent, the ETA weights tasks by their measured cost."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from _shared.results import ResultStore
from bench.tasks import Task, run_tasks
from bench.workers import CostModel, interleave

REPOSITORY = Path(__file__).resolve().parents[2]


def sleepy_task(params):
    """Leave this worker's pid in a folder, then sleep far longer than the test waits."""
    Path(params["pid_dir"], str(os.getpid())).write_text("")
    time.sleep(params["seconds"])
    return pd.DataFrame({"x": [1]}), None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be collected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker processes")
def test_worker_processes_end_when_the_parent_is_killed(tmp_path):
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    script = textwrap.dedent(f"""
        from _shared.results import ResultStore
        from bench.tasks import Task, run_tasks
        from tests.bench.test_workers import sleepy_task
        store = ResultStore.open({str(tmp_path / 'run')!r}, "toy", {{}})
        tasks = [Task(f"t{{i}}", {{"pid_dir": {str(pid_dir)!r}, "seconds": 120}}) for i in range(2)]
        run_tasks(tasks, sleepy_task, store, workers=2, progress=False)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPOSITORY)
    try:
        deadline = time.monotonic() + 60
        while len(list(pid_dir.iterdir())) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            assert parent.poll() is None, "the parent ended early"
            time.sleep(0.1)
        workers = [int(p.name) for p in pid_dir.iterdir()]
        helpers = _children(parent.pid)  # the workers and multiprocessing's resource tracker
        assert set(workers) <= set(helpers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    orphans = [pid for pid in helpers if _alive(pid)]
    for pid in orphans:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not orphans, f"processes {orphans} outlived their parent"


def _tasks(kind: str, number: int, count: int) -> list[Task]:
    return [Task(f"{kind}__d5e2__r{i:04d}", {"count": count}) for i in range(number)]


def test_the_eta_weights_each_pending_task_by_the_measured_cost_of_its_method():
    raw, bm3d, cnn = _tasks("raw", 10, 10), _tasks("bm3d", 10, 10), _tasks("cnn", 10, 5)
    model = CostModel()
    model.record(bm3d[0], 5.0)  # the first task to finish is a slow one: 0.5 s per realisation
    seconds, untimed = model.remaining(raw + bm3d[1:] + cnn)
    assert seconds == pytest.approx(9 * 5.0) and untimed == ["raw", "cnn"]
    assert model.eta_text(raw + bm3d[1:] + cnn, parallel=1).startswith("ETA > ")  # a lower bound, said so
    model.record(raw[0], 0.1)
    model.record(cnn[0], 1.0)
    model.record(cnn[1], 3.0)  # the median of 0.2 and 0.6 s per realisation
    pending = raw[1:] + bm3d[1:] + cnn[2:]
    seconds, untimed = model.remaining(pending)
    assert untimed == []
    assert seconds == pytest.approx(9 * 0.1 + 9 * 5.0 + 8 * 5 * 0.4)
    # a uniform rate from the first task alone (what tqdm extrapolates) would have said 29 × 5 s
    assert model.eta_text(pending, parallel=2) == "ETA ≈ 31 s"  # 61.9 s of work on two workers


def test_pending_tasks_are_interleaved_so_every_method_is_timed_early(tmp_path):
    tasks = _tasks("raw", 3, 1) + _tasks("bm3d", 3, 1) + _tasks("cnn", 2, 1)
    assert [t.key.split("__")[0] for t in interleave(tasks)] == ["raw", "bm3d", "cnn"] * 2 + ["raw", "bm3d"]
    store = ResultStore.open(tmp_path / "run", "toy", {})
    order = []
    run_tasks(tasks, _constant, store, workers=1, progress=False, on_task_done=order.append)
    assert [k.split("__")[0] for k in order][:3] == ["raw", "bm3d", "cnn"]
    assert sorted(order) == sorted(t.key for t in tasks)


def _constant(params):
    return pd.DataFrame({"count": [params["count"]]}), None
