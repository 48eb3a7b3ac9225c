import json

import numpy as np
import pytest
import torch

from simulate.synthetic.pairs import make_pair, scan_margin_px
from simulate.synthetic.presets import MODALITIES, get_modality


@pytest.mark.parametrize("modality", sorted(MODALITIES))
def test_pairs_are_finite_shaped_and_recorded(modality):
    x, y, record = make_pair(5, modality, 48)
    assert x.shape == y.shape == (48, 48) and x.dtype == y.dtype == torch.float32
    assert torch.isfinite(x).all() and torch.isfinite(y).all()
    assert float(x.mean()) == pytest.approx(float(y.mean()), rel=1e-4)
    assert record["modality"] == modality and record["distortions"]["pipeline"] == get_modality(modality).detector
    if record["postprocess"] is None:
        assert float(y.max()) == pytest.approx(1.0) and float(y.min()) >= 0
        assert 0.01 - 1e-5 <= float(y.std(unbiased=False) / y.mean()) <= 0.35 + 1e-5
    json.dumps(record)


def test_same_seed_same_pair_and_different_seeds_differ():
    x1, y1, r1 = make_pair(123, "hrstem", 40)
    x2, y2, r2 = make_pair(np.random.default_rng(123), "hrstem", 40)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and r1 == r2
    x3, y3, _ = make_pair(124, "hrstem", 40)
    assert not torch.equal(y1, y3)


def test_scan_margin_and_bad_arguments():
    assert scan_margin_px(0.9) == 8 and scan_margin_px(0.025) == 48
    with pytest.raises(ValueError):
        make_pair(0, "xrd", 64)
    with pytest.raises(ValueError):
        make_pair(0, "hrstem", 8)
    with pytest.raises(ValueError):
        make_pair(-1, "hrstem", 64)
