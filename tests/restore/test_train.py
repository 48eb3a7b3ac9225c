import csv

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
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32 and torch.equal(y[0], torch.from_numpy(small_pairs[1][2]))
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
