import csv
import json
import os
import signal

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from restore.losses import LossWeights, generator_loss
from restore.models import CGRDN, CGRDNConfig, PatchGANConfig
from restore.train import ArrayPairDataset, resolve_dataset, train
from restore.training_config import TrainingConfig
from tests.restore.conftest import make_pairs


def _config(**changes) -> TrainingConfig:
    values = dict(data="npz:unused", validation="npz:unused", steps=6, batch_size=2, warmup_steps=2,
                  learning_rate=2e-3, val_every=3, val_batches=1, checkpoint_every=2, log_every=1,
                  generator=CGRDNConfig.tiny(), discriminator=PatchGANConfig.tiny(),
                  losses=LossWeights(adversarial=0.0))
    values.update(changes)
    return TrainingConfig(**values)


def test_loss_goes_down_on_a_fixed_batch(small_pairs):
    x, y = (torch.from_numpy(a[:4, None]) for a in small_pairs)
    torch.manual_seed(0)
    model = CGRDN(CGRDNConfig.tiny())
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    weights = LossWeights(adversarial=0.0)
    losses = []
    for _ in range(40):
        total, _ = generator_loss(model(x), y, weights)
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
        losses.append(float(total.detach()))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


@pytest.fixture(scope="module")
def gan_pairs():
    x, y = make_pairs(6, 72, seed=3)
    return ArrayPairDataset(x, y)


def test_resume_continues_exactly_with_the_gan(tmp_path, gan_pairs):
    config = _config(gan_start_step=2, losses=LossWeights(adversarial=0.01))
    straight = train(config, tmp_path / "a", train_data=gan_pairs, val_data=gan_pairs, progress=False)
    first = train(config, tmp_path / "b", train_data=gan_pairs, val_data=gan_pairs, progress=False, stop_at=3)
    assert first.step == 3 and not (tmp_path / "b" / "model.safetensors").exists()
    resumed = train(config, tmp_path / "b", train_data=gan_pairs, val_data=gan_pairs, progress=False, resume=True)
    assert resumed.step == straight.step == 6
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert resumed.validation == straight.validation
    with open(tmp_path / "b" / "train_log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == list(range(1, 7))  # no duplicate rows after the resume
    assert all(r["loss_d"] != "nan" for r in rows[2:]) and rows[0]["loss_d"] == "nan"  # GAN from step 2
    with open(tmp_path / "b" / "val_log.csv") as handle:
        psnr = [float(r["psnr_db"]) for r in csv.DictReader(handle)]
    assert len(psnr) == 2 and all(np.isfinite(psnr))


def test_training_refuses_to_overwrite_or_resume_with_another_config(tmp_path, small_pairs):
    data = ArrayPairDataset(*small_pairs)
    config = _config(steps=2)
    train(config, tmp_path, train_data=data, val_data=data, progress=False)
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        train(config, tmp_path, train_data=data, val_data=data, progress=False)
    with pytest.raises(ValueError, match="different training config"):
        train(_config(steps=4), tmp_path, train_data=data, val_data=data, progress=False, resume=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(config, tmp_path / "new", train_data=data, val_data=data, progress=False, resume=True)


def test_npz_data_spec(tmp_path, small_pairs):
    np.savez(tmp_path / "pairs.npz", x=small_pairs[0], y=small_pairs[1])
    dataset = resolve_dataset(f"npz:{tmp_path / 'pairs.npz'}", "train", seed=0)
    x, y = dataset[2]
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32
    assert torch.equal(y[0], torch.from_numpy(small_pairs[1][2]))
    np.savez(tmp_path / "bad.npz", x=small_pairs[0])
    with pytest.raises(ValueError, match="'x' and 'y'"):
        resolve_dataset(f"npz:{tmp_path / 'bad.npz'}", "train", seed=0)
    with pytest.raises(ValueError, match="kind"):
        resolve_dataset("folder:x", "train", seed=0)


def test_stream_batches_are_fresh_and_depend_on_the_step_only():
    from restore.train import StepBatchSampler

    full = list(StepBatchSampler(None, 3, seed=0, start_step=0, steps=4, rank=1, world=2))
    assert full[0] == [3, 4, 5] and full[1] == [9, 10, 11]  # rank 1 of 2: no overlap with rank 0
    assert list(StepBatchSampler(None, 3, 0, start_step=2, steps=4, rank=1, world=2)) == full[2:]
    drawn = list(StepBatchSampler(10, 4, seed=5, start_step=0, steps=3))
    assert list(StepBatchSampler(10, 4, seed=5, start_step=1, steps=3)) == drawn[1:]
    assert drawn != list(StepBatchSampler(10, 4, seed=6, start_step=0, steps=3))


def test_trains_on_the_synthetic_pair_stream(tmp_path):
    config = _config(data="synthetic:hrstem", validation="synthetic:hrstem", patch_size=32, steps=2,
                     val_every=2, checkpoint_every=2)
    result = train(config, tmp_path, progress=False)
    assert result.step == 2 and np.isfinite(result.validation["psnr_db"])
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "model.json").exists()


def _val_rows(run_dir):
    with open(run_dir / "val_log.csv") as handle:
        return list(csv.DictReader(handle))


def test_a_time_budget_stop_leaves_a_checkpoint_that_resumes_exactly(tmp_path, small_pairs):
    data = ArrayPairDataset(*small_pairs)
    config = _config()
    train(config, tmp_path / "a", train_data=data, val_data=data, progress=False)  # uninterrupted
    first = train(config, tmp_path / "b", train_data=data, val_data=data, progress=False, max_minutes=1e-9)
    assert first.stopped_by == "time budget" and first.step == 1
    assert json.loads((tmp_path / "b" / "checkpoints" / "latest.json").read_text())["step"] == 1
    assert [int(r["step"]) for r in _val_rows(tmp_path / "b")] == [1]  # a curve point at the end of the chunk
    resumed = train(config, tmp_path / "b", train_data=data, val_data=data, progress=False, resume=True)
    assert resumed.step == 6 and resumed.stopped_by == "steps"
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[name], b[name]) for name in a)
    rows = _val_rows(tmp_path / "b")
    assert [(int(r["step"]), int(r["chunk"])) for r in rows] == [(1, 1), (3, 2), (6, 2)]
    hours, wall = [float(r["cpu_hours"]) for r in rows], [float(r["wall_s"]) for r in rows]
    assert hours == sorted(hours) and wall == sorted(wall) and hours[0] > 0 and wall[0] > 0
    chunks = json.loads((tmp_path / "b" / "run.json").read_text())["chunks"]
    assert [(c["start_step"], c["end_step"], c["stopped_by"]) for c in chunks] == [(0, 1, "time budget"),
                                                                                  (1, 6, "steps")]
    assert resumed.lineage["steps"] == 6 and resumed.lineage["chunk"] == 2


class _KilledAfter(ArrayPairDataset):
    """Pairs until ``limit`` have been read, then the process 'dies' (as a SIGTERM or a session limit would)."""

    def __init__(self, x, y, limit):
        super().__init__(x, y)
        self.limit, self.read = limit, 0

    def __getitem__(self, index):
        self.read += 1
        if self.read > self.limit:
            raise KeyboardInterrupt("killed")
        return super().__getitem__(index)


def test_a_killed_chunk_records_its_last_checkpoint(tmp_path, small_pairs):
    data = ArrayPairDataset(*small_pairs)
    config = _config()  # checkpoints every 2 steps, batches of 2
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path, train_data=_KilledAfter(*small_pairs, limit=2 * 3), val_data=data, progress=False)
    chunk = json.loads((tmp_path / "run.json").read_text())["chunks"][0]
    assert (chunk["start_step"], chunk["end_step"], chunk["stopped_by"]) == (0, 2, None) and chunk["wall_s"] > 0
    resumed = train(config, tmp_path, train_data=data, val_data=data, progress=False, resume=True)
    chunks = json.loads((tmp_path / "run.json").read_text())["chunks"]
    assert resumed.step == 6 and [(c["start_step"], c["end_step"]) for c in chunks] == [(0, 2), (2, 6)]


class _SignalledAfter(ArrayPairDataset):
    """Pairs as usual; after ``limit`` reads the process sends itself ``signum`` (``times`` times)."""

    def __init__(self, x, y, limit, signum=signal.SIGTERM, times=1):
        super().__init__(x, y)
        self.limit, self.read, self.signum, self.times = limit, 0, signum, times

    def __getitem__(self, index):
        self.read += 1
        if self.read == self.limit:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)
        return super().__getitem__(index)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_after_the_step_with_a_checkpoint_that_resumes_exactly(tmp_path, small_pairs, signum):
    data = ArrayPairDataset(*small_pairs)
    config = _config()  # 6 steps, batches of 2, checkpoints every 2 steps
    before = signal.getsignal(signum)
    train(config, tmp_path / "a", train_data=data, val_data=data, progress=False)
    # the signal arrives while the batch of step 3 is read: step 3 completes, then the chunk stops
    first = train(config, tmp_path / "b", train_data=_SignalledAfter(*small_pairs, limit=2 * 2 + 1, signum=signum),
                  val_data=data, progress=False)
    name = signal.Signals(signum).name
    assert first.stopped_by == f"signal {name}" and first.step == 3
    assert signal.getsignal(signum) is before  # the handlers are put back
    assert json.loads((tmp_path / "b" / "checkpoints" / "latest.json").read_text())["step"] == 3
    assert [int(r["step"]) for r in _val_rows(tmp_path / "b")] == [3]
    chunk = json.loads((tmp_path / "b" / "run.json").read_text())["chunks"][0]
    assert (chunk["end_step"], chunk["stopped_by"]) == (3, f"signal {name}")
    resumed = train(config, tmp_path / "b", train_data=data, val_data=data, progress=False, resume=True)
    assert resumed.step == 6
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_a_second_signal_stops_at_once(tmp_path, small_pairs):
    data = ArrayPairDataset(*small_pairs)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="second SIGTERM"):
        train(_config(), tmp_path, train_data=_SignalledAfter(*small_pairs, limit=2 * 2 + 1, times=2),
              val_data=data, progress=False)
    assert signal.getsignal(signal.SIGTERM) is before
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text())["step"] == 2  # the regular one


def test_init_from_trained_weights_starts_a_fresh_run_with_a_short_warm_up(tmp_path, small_pairs):
    from restore.train import TrainingRun

    data = ArrayPairDataset(*small_pairs)
    source = train(_config(steps=2), tmp_path / "source", train_data=data, val_data=data, progress=False)
    weights = tmp_path / "source" / "model.safetensors"
    config = _config(init_warmup_steps=4, warmup_steps=50)
    run = TrainingRun(config, torch.device("cpu"))
    run.initialise_from(weights)
    for name, tensor in load_file(weights).items():
        assert torch.equal(run.generator.state_dict()[name], tensor) and torch.equal(run.ema.state_dict()[name], tensor)
    assert not run.opt_g.state and run.lineage["warmup_steps"] == 4 and run.lineage["base_steps"] == 2
    assert run.lineage["init_from"]["sha256"] == json.loads(weights.with_suffix(".json").read_text())["sha256"]
    result = train(config, tmp_path / "new", train_data=data, val_data=data, progress=False, init_from=weights,
                   resume=True)  # --resume without a checkpoint: start from the weights
    with open(tmp_path / "new" / "train_log.csv") as handle:
        lr = [float(r["lr"]) for r in csv.DictReader(handle)]
    assert lr[0] == pytest.approx(config.learning_rate / 4) and lr[3] == pytest.approx(config.learning_rate, rel=0.02)
    assert result.lineage["steps"] == 2 + 6 and int(_val_rows(tmp_path / "new")[-1]["total_steps"]) == 8
    assert source.step == 2
    with pytest.raises(ValueError, match="make them equal"):
        TrainingRun(_config(generator=CGRDNConfig(features=8, growth=4, dense_layers=1, blocks_per_group=1, groups=1)),
             torch.device("cpu")).initialise_from(weights)


def test_resume_refuses_a_run_of_another_synthetic_recipe_version(tmp_path, small_pairs, monkeypatch):
    import restore.dataset
    from simulate.synthetic import SYNTHETIC_RECIPE_VERSION

    data = ArrayPairDataset(*small_pairs)
    config = _config(data="synthetic:hrstem")  # the version matters for synthetic data only
    train(config, tmp_path, train_data=data, val_data=data, progress=False, stop_at=2)
    sidecar = json.loads((tmp_path / "checkpoints" / "step_00000002" / "generator.json").read_text())
    assert sidecar["synthetic_recipe_version"] == SYNTHETIC_RECIPE_VERSION
    monkeypatch.setattr(restore.dataset, "SYNTHETIC_RECIPE_VERSION", SYNTHETIC_RECIPE_VERSION + 1)
    with pytest.raises(ValueError, match=rf"made with synthetic recipe version {SYNTHETIC_RECIPE_VERSION}, but the "
                                         rf"pair generator is now version {SYNTHETIC_RECIPE_VERSION + 1}"):
        train(config, tmp_path, train_data=data, val_data=data, progress=False, resume=True)


@pytest.mark.filterwarnings("ignore:bf16 forced:RuntimeWarning")  # CPUs without native bf16 warn
def test_bf16_training_on_the_cpu_keeps_fp32_master_weights_and_learns(small_pairs):
    from restore.numerics import numeric_path
    from restore.train import TrainingRun

    x, y = (torch.from_numpy(a[:4, None]).contiguous(memory_format=torch.channels_last) for a in small_pairs)
    run = TrainingRun(_config(learning_rate=3e-3, warmup_steps=0, steps=10**4), torch.device("cpu"))  # lr ≈ constant
    path = numeric_path("bf16", "cpu")
    nets = (run.generator, run.discriminator, run.discriminator)
    with path.autocast():
        assert run.generator.head(x).dtype == torch.bfloat16  # the convolutions do run in bf16
    losses = [run.step(nets, x, y, step, path)["loss"] for step in range(40)]
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    assert all(p.dtype == torch.float32 for p in [*run.generator.parameters(), *run.ema.parameters()])


def test_channels_last_computes_what_contiguous_computes(small_pairs):
    """fp32: only the summation order differs. Bound: each of the n convolutions sums ≤ K products with a
    relative rounding error ≤ K·ε₃₂ of the sum of their magnitudes; the sums are taken as ~|output|, so a
    difference above n·K_max·ε₃₂·max|value| would be an error of the layout, not of rounding."""
    from restore.models import CGRDN

    config = CGRDNConfig.tiny()
    torch.manual_seed(0)
    model = CGRDN(config)
    x, y = (torch.from_numpy(a[:4, None]) for a in small_pairs)
    k_max = 9 * (config.features + config.dense_layers * config.growth)
    bound = config.n_conv_layers * k_max * torch.finfo(torch.float32).eps
    outputs, grads = [], []
    for layout in (torch.contiguous_format, torch.channels_last):
        model.to(memory_format=layout).zero_grad()
        prediction = model(x.contiguous(memory_format=layout))
        generator_loss(prediction, y, LossWeights(adversarial=0.0))[0].backward()
        outputs.append(prediction.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    assert (outputs[0] - outputs[1]).abs().max() <= bound * outputs[0].abs().max()
    for a, b in zip(*grads):
        assert (a - b).abs().max() <= bound * a.abs().max()
    assert model.head.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.filterwarnings("ignore:bf16 forced:RuntimeWarning")
def test_the_run_records_its_numeric_path_and_hardware(tmp_path, small_pairs, capsys):
    data = ArrayPairDataset(*small_pairs)
    result = train(_config(steps=2, bf16="bf16"), tmp_path, train_data=data, val_data=data, progress=False)
    chunk = json.loads((tmp_path / "run.json").read_text())["chunks"][0]
    assert chunk["numeric_path"]["dtype"] == "bf16" and chunk["numeric_path"]["requested"] == "bf16"
    assert chunk["hardware"] and result.numeric_path.bf16
    assert "numeric path: bf16 autocast" in capsys.readouterr().out
    assert [r["bf16"] for r in _val_rows(tmp_path)] == ["1"]
    assert result.generator.head.weight.is_contiguous(memory_format=torch.channels_last)
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["numeric_path"]["dtype"] == "bf16" and model["lineage"]["steps"] == 2
