"""Distributed training (restore/train.py under DDP) on the CPU: two processes on the gloo backend.

Two processes (forked from a fresh fork server) get the environment torchrun gives its workers (RANK,
LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so ``train`` initialises and destroys the process group
itself, as under ``torchrun --nproc_per_node 2 -m bench train``. They train a tiny CGRDN + PatchGAN straight for 6 steps
(run a), the same config interrupted after step 3 (run b), and finish run b with ``bench train --resume``.
Synthetic 72² pairs (the PatchGAN needs ≥ 70 px), batch 2 per rank, GAN from step 2, so the generator and
the discriminator both go through DistributedDataParallel.
"""
import csv
import json
import os
import socket
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from restore.checkpoint import load_model, load_tensor_state
from restore.dataset import SyntheticPairDataset, validation_set
from restore.losses import LossWeights
from restore.models import CGRDNConfig, PatchGANConfig
from restore.train import StepBatchSampler, train, validate
from restore.training_config import TrainingConfig

WORLD, STEPS, STOP, BATCH = 2, 6, 3, 2
TIMEOUT_S = 300


def _config() -> TrainingConfig:
    return TrainingConfig(data="synthetic:hrstem", validation="synthetic:hrstem", patch_size=72, steps=STEPS,
                          batch_size=BATCH, warmup_steps=2, learning_rate=2e-3, val_every=3, val_batches=1,
                          checkpoint_every=2, log_every=1, gan_start_step=2, generator=CGRDNConfig.tiny(),
                          discriminator=PatchGANConfig.tiny(), losses=LossWeights(adversarial=0.01))


class _RecordingPairs(SyntheticPairDataset):
    """The trainer's own synthetic stream (same modality, size, seed); remembers which pairs were read."""

    def __init__(self, config: TrainingConfig):
        super().__init__(config.data.partition(":")[2], size=config.patch_size, seed=config.seed)
        self.read: list[int] = []

    def __getitem__(self, index):
        self.read.append(int(index))
        return super().__getitem__(index)


def _worker(rank: int, world: int, ports: list[int], folder: str) -> None:
    """One rank: trains runs a and b (interrupted), resumes b through the CLI, writes what it saw."""
    import contextlib
    import io

    import restore.train as trainer
    from bench.cli import main

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1")
    saved_steps = []
    real_save = trainer.TrainingRun.save

    def counted_save(run, run_dir, step, *rest):  # a spy: the real checkpoint writer still does the work
        saved_steps.append((Path(run_dir).name, step))
        return real_save(run, run_dir, step, *rest)

    trainer.TrainingRun.save = counted_save
    folder, config = Path(folder), _config()
    pairs_a, pairs_b = _RecordingPairs(config), _RecordingPairs(config)
    os.environ["MASTER_PORT"] = str(ports[0])  # each train() call sets up and tears down its own group
    a = train(config, folder / "a", train_data=pairs_a, progress=False)
    assert not torch.distributed.is_initialized()
    os.environ["MASTER_PORT"] = str(ports[1])
    b = train(config, folder / "b", train_data=pairs_b, progress=False, stop_at=STOP)
    save_file({k: v.contiguous() for k, v in a.generator.state_dict().items()}, folder / f"a_rank{rank}.st")
    os.environ["MASTER_PORT"] = str(ports[2])
    (folder / f"train{rank}.json").write_text(json.dumps(config.to_dict()))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["train", str(folder / f"train{rank}.json"), "-o", str(folder / "b"), "--resume",
                     "--no-progress"])
    (folder / f"rank{rank}.json").write_text(json.dumps(
        {"steps": [a.step, b.step], "validation": a.validation, "read_a": pairs_a.read, "read_b": pairs_b.read,
         "saved": saved_steps, "resume_exit": code, "resume_printed": printed.getvalue()}))


def _free_ports(count: int) -> list[int]:
    """Distinct free TCP ports (all probes held open together, so the kernel cannot hand one out twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _steps(path: Path) -> list[int]:
    with open(path, newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    import multiprocessing

    # A fork server imports torch, torch._dynamo (Adam imports it), scikit-image and our packages once and
    # forks both ranks from that fresh process: ~25 % less wall time than two spawned ranks importing all.
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["tests.restore.test_ddp", "torch._dynamo", "skimage.metrics", "bench.cli"])
    ranks = torch.multiprocessing.start_processes(_worker, args=(WORLD, _free_ports(3), str(folder)),
                                                  nprocs=WORLD, join=False, start_method="forkserver")
    started = time.monotonic()
    while not ranks.join(timeout=1):  # re-raises a rank's exception with its traceback
        if time.monotonic() - started > TIMEOUT_S:  # a collective that never completes would hang forever
            for process in ranks.processes:
                process.kill()
            pytest.fail(f"the two ranks did not finish within {TIMEOUT_S} s (deadlocked collective?)")
    return folder, [json.loads((folder / f"rank{r}.json").read_text()) for r in range(WORLD)]


def test_ranks_stay_synchronised_and_only_rank_0_writes(ddp_runs):
    folder, ranks = ddp_runs
    weights = [load_file(folder / f"a_rank{r}.st") for r in range(WORLD)]
    midway = load_file(folder / "b" / "checkpoints" / "step_00000003" / "generator.safetensors")
    assert any(not torch.equal(weights[0][k], midway[k]) for k in midway)  # steps 4…6 moved the weights
    for name in weights[0]:  # DDP averaged the gradients: both ranks took identical optimiser steps
        assert torch.equal(weights[0][name], weights[1][name]), name
    assert ranks[0]["saved"] == [["a", 2], ["a", 4], ["a", 6], ["b", 2], ["b", 3], ["b", 4], ["b", 6]]
    assert ranks[1]["saved"] == []
    checkpoints = folder / "b" / "checkpoints"  # KEEP_CHECKPOINTS = 3 newest of 2, 3, 4, 6
    assert sorted(p.name for p in checkpoints.iterdir()) == ["latest.json", "step_00000003", "step_00000004",
                                                             "step_00000006"]
    assert json.loads((checkpoints / "latest.json").read_text()) == {"path": "step_00000006", "step": 6,
                                                                     "world_size": WORLD}
    assert not [p for p in folder.rglob(".*")]  # no temporary file or folder left behind
    for name in ("generator", "ema", "discriminator"):  # complete and hash-verified
        load_model(checkpoints / "step_00000003" / f"{name}.safetensors")
    assert load_tensor_state(checkpoints / "step_00000003" / "training_state.pt")["world_size"] == WORLD
    assert _steps(folder / "a" / "train_log.csv") == list(range(1, STEPS + 1))  # one writer, no duplicates


def test_ranks_read_different_pairs_and_every_pair_once(ddp_runs):
    _, ranks = ddp_runs
    read = [set(rank["read_a"]) for rank in ranks]
    assert all(len(rank["read_a"]) == len(r) == STEPS * BATCH for rank, r in zip(ranks, read))
    assert not read[0] & read[1]
    assert read[0] | read[1] == set(range(WORLD * STEPS * BATCH))
    assert set(ranks[0]["read_b"]) | set(ranks[1]["read_b"]) == set(range(WORLD * STOP * BATCH))
    x0, x1 = (SyntheticPairDataset("hrstem", size=72, seed=0)[min(r)][0] for r in read)
    assert not torch.equal(x0, x1)


def test_validation_is_averaged_over_the_ranks(ddp_runs):
    folder, ranks = ddp_runs
    assert ranks[0]["validation"] == ranks[1]["validation"]
    ema, _ = load_model(folder / "a" / "model.safetensors")
    single = validate(ema, validation_set("hrstem", size=72), _config(), "cpu")
    for name, value in single.items():  # each rank scored one of the two pairs; the mean covers both
        assert ranks[0]["validation"][name] == pytest.approx(value, rel=1e-5), name


def test_resume_of_the_two_process_run_continues_at_its_step(ddp_runs):
    folder, ranks = ddp_runs
    assert [rank["steps"] for rank in ranks] == [[STEPS, STOP]] * WORLD
    assert [rank["resume_exit"] for rank in ranks] == [0] * WORLD
    assert "trained to step 6" in ranks[0]["resume_printed"] and ranks[1]["resume_printed"] == ""
    assert ranks[0]["saved"][-2:] == [["b", 4], ["b", 6]]  # the resume wrote checkpoints 4 and 6 only
    assert _steps(folder / "b" / "train_log.csv") == list(range(1, STEPS + 1))
    assert _steps(folder / "b" / "val_log.csv") == [3, 6]
    straight, resumed = load_file(folder / "a" / "model.safetensors"), load_file(folder / "b" / "model.safetensors")
    for name in straight:  # the resumed ranks drew exactly the pairs the straight run drew at steps 3…5
        assert torch.equal(straight[name], resumed[name]), name
    with pytest.raises(ValueError, match="2 processes"):
        train(_config(), folder / "b", resume=True, progress=False)


def test_finite_data_sets_draw_different_batches_on_each_rank():
    ranks = [list(StepBatchSampler(1000, 4, seed=7, start_step=0, steps=5, rank=r, world=2)) for r in (0, 1)]
    assert all(a != b for a, b in zip(*ranks))
