import json

import numpy as np
import pandas as pd
import pytest

from _shared.results import ResultStore
from bench.tasks import Task, run_tasks


def poisson_mean_task(params):
    """A small real task: the mean of Poisson counts drawn with the task's seed."""
    counts = np.random.default_rng(params["seed"]).poisson(params["lam"], size=1000)
    return pd.DataFrame({"seed": [params["seed"]], "mean": [counts.mean()]}), {"counts": counts[:10]}


CONFIG = {"lam": 4.0, "tasks": 6}
TASKS = [Task(f"block-{i}", {"seed": i, "lam": 4.0}) for i in range(6)]


class Stop(KeyboardInterrupt):
    pass


def test_interrupted_run_resumes_and_redoes_nothing_finished(tmp_path):
    store = ResultStore.open(tmp_path / "run", "toy", CONFIG)
    done = []

    def interrupt_after_two(key):
        done.append(key)
        if len(done) == 2:
            raise Stop()

    with pytest.raises(Stop):
        run_tasks(TASKS, poisson_mean_task, store, workers=1, progress=False, on_task_done=interrupt_after_two)
    assert sorted(p.stem for p in store.task_directory.glob("*.parquet")) == sorted(done)
    assert not list(store.task_directory.glob(".*tmp"))  # nothing half-written

    resumed = ResultStore.open(tmp_path / "run", "toy", CONFIG)
    ran = run_tasks(TASKS, poisson_mean_task, resumed, workers=1, progress=False)
    assert sorted(ran) == sorted(set(t.key for t in TASKS) - set(done))
    table = resumed.read_tasks()
    assert sorted(table["seed"]) == list(range(6))
    assert resumed.read_arrays("block-3")["counts"].shape == (10,)
    assert run_tasks(TASKS, poisson_mean_task, resumed, workers=1, progress=False) == []


def test_local_processes_give_the_same_tables_as_in_process(tmp_path):
    one = ResultStore.open(tmp_path / "a", "toy", CONFIG)
    two = ResultStore.open(tmp_path / "b", "toy", CONFIG)
    run_tasks(TASKS[:2], poisson_mean_task, one, workers=1, progress=False)
    run_tasks(TASKS[:2], poisson_mean_task, two, workers=2, progress=False)
    pd.testing.assert_frame_equal(one.read_tasks().sort_values("seed").reset_index(drop=True),
                                  two.read_tasks().sort_values("seed").reset_index(drop=True))


def test_a_directory_of_another_study_is_refused_and_left_alone(tmp_path):
    ResultStore.open(tmp_path / "run", "dislocation", CONFIG)
    before = (tmp_path / "run" / "manifest.json").read_text()
    with pytest.raises(ValueError, match="holds the study 'dislocation'"):
        ResultStore.open(tmp_path / "run", "toy", CONFIG)
    assert (tmp_path / "run" / "manifest.json").read_text() == before


def test_another_configuration_and_foreign_directories_are_refused(tmp_path):
    ResultStore.open(tmp_path / "run", "toy", CONFIG)
    with pytest.raises(ValueError, match="differs in: lam"):
        ResultStore.admit(tmp_path / "run", "toy", {**CONFIG, "lam": 5.0})
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a bench results directory"):
        ResultStore.admit(tmp_path / "other", "toy", CONFIG)
    assert ResultStore.admit(tmp_path / "new", "toy", CONFIG) is None
    assert not (tmp_path / "new").exists()


def test_method_with_other_weights_under_the_same_name_is_refused(tmp_path):
    store = ResultStore.open(tmp_path / "run", "toy", CONFIG, {"methods": [{"name": "m", "sha256": "aa"}]})
    with pytest.raises(ValueError, match="sha256"):
        store.merge_methods([{"name": "m", "sha256": "bb"}])
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["methods"] == [{"name": "m", "sha256": "aa"}]


def test_method_resumed_in_another_arithmetic_is_refused(tmp_path):
    # e.g. a network's "auto" was fp32 when the run began and is bf16 now (another CPU, or a bf16 check recorded)
    fp32 = {"name": "m", "sha256": "aa", "numeric_path": {"dtype": "fp32", "requested": "auto"}}
    store = ResultStore.open(tmp_path / "run", "toy", CONFIG, {"methods": [fp32]})
    store.merge_methods([dict(fp32)])  # the same arithmetic resumes
    with pytest.raises(ValueError, match=r"computed in fp32; here it would run in bf16"):
        store.merge_methods([{**fp32, "numeric_path": {"dtype": "bf16", "requested": "auto"}}])
    store.merge_methods([{"name": "raw"}, {"name": "raw"}])  # methods without a numeric path are unaffected
    # a network recorded before numeric paths were (restoration was float32 then) resumes in fp32 only
    old = {"name": "n", "kind": "cnn", "sha256": "cc"}
    store.merge_methods([old])
    store.merge_methods([{**old, "numeric_path": {"dtype": "fp32"}}])
    with pytest.raises(ValueError, match="computed in fp32"):
        store.merge_methods([{**old, "numeric_path": {"dtype": "bf16"}}])


def test_tasks_run_on_an_existing_dask_cluster(tmp_path):
    from dask.distributed import LocalCluster

    store = ResultStore.open(tmp_path / "run", "toy", CONFIG)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        ran = run_tasks(TASKS[:3], poisson_mean_task, store, scheduler=cluster.scheduler_address, progress=False)
    assert sorted(ran) == ["block-0", "block-1", "block-2"]
    expected = np.random.default_rng(1).poisson(4.0, size=1000).mean()
    assert store.read_tasks().set_index("seed").loc[1, "mean"] == expected
