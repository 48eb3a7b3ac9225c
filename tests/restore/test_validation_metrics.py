"""Eq. 1: the PSNR of the training validation is 10 log10(MAX²/MSE) with MAX the clean image's range."""
import math

import numpy as np
import pytest
import torch

from restore.train import ArrayPairDataset, validate
from restore.training_config import TrainingConfig


class _Identity(torch.nn.Module):
    def forward(self, x):
        return x


def test_eq1_psnr_is_ten_log_range_squared_over_mse():
    rng = np.random.default_rng(0)
    y = rng.uniform(0.2, 1.0, size=(3, 32, 32)).astype(np.float32)
    offset = np.float32(0.05)
    dataset = ArrayPairDataset(y + offset, y)  # the identity "restores" every pixel 0.05 too high
    config = TrainingConfig(batch_size=2, val_batches=2)
    scores = validate(_Identity(), dataset, config, torch.device("cpu"))
    expected = np.mean([10 * math.log10(float(t.max() - t.min()) ** 2 / float(offset) ** 2) for t in y])
    # float32 inputs: the error 0.05 is represented to ~1e-8 relative; 1e-4 dB is far above that
    assert scores["psnr_db"] == pytest.approx(expected, abs=1e-4)
    assert scores["l1"] == pytest.approx(float(offset), rel=1e-5)
