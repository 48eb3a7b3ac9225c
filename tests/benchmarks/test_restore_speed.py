"""Restoration time of the full-size CGRDN (7,035,521 parameters, random weights: speed does not depend on
them) through :func:`restore.inference.restore_image`, with the CPU's Winograd dense blocks, with the
model's direct convolutions (both float32) and in bf16 autocast (``"bf16"``: direct convolutions; forcing it
on a CPU without AMX or AVX-512-BF16 measures oneDNN's emulation).

Run: ``python -m pytest -m benchmark tests/benchmarks/test_restore_speed.py``; select sizes with ``-k``.
The TensorFlow reference (the published tk_r_em) is timed by ``tests/benchmarks/tensorflow_reference_timing.py``.
"""
import numpy as np
import pytest
import torch

from restore.inference import restore_image
from restore.models import CGRDN, CGRDNConfig


@pytest.fixture(scope="module")
def full_model():
    torch.manual_seed(0)
    return CGRDN(CGRDNConfig.full()).eval()


def _image(size: int) -> np.ndarray:
    return np.random.default_rng(0).poisson(5.0, (size, size)).astype(np.float32)


def _timed(benchmark, model, size, tile, threads, rounds, algorithm):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    kwargs = {"numeric": "bf16", "algorithm": "direct"} if algorithm == "bf16" else {"algorithm": algorithm}
    try:
        restore_image(_image(64), model, tile=64, **kwargs)  # builds the Winograd filters once
        return benchmark.pedantic(restore_image, args=(_image(size), model), kwargs={"tile": tile, **kwargs},
                                  rounds=rounds, iterations=1, warmup_rounds=0)
    finally:
        torch.set_num_threads(previous)


@pytest.mark.benchmark
@pytest.mark.filterwarnings("ignore:bf16 forced on a CPU without")
@pytest.mark.parametrize("algorithm", ["winograd", "direct", "bf16"])
@pytest.mark.parametrize("threads", [1, 2])
def test_restore_256(benchmark, full_model, threads, algorithm):
    result = _timed(benchmark, full_model, 256, 256, threads, rounds=3, algorithm=algorithm)
    assert result.shape == (256, 256) and np.isfinite(result).all()


@pytest.mark.benchmark
@pytest.mark.filterwarnings("ignore:bf16 forced on a CPU without")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("algorithm", ["winograd", "direct", "bf16"])
@pytest.mark.parametrize("size, tile", [(1024, 1024), (1024, 256), (2048, 2048)])
def test_restore_large(benchmark, full_model, size, tile, threads, algorithm):
    result = _timed(benchmark, full_model, size, tile, threads, rounds=1, algorithm=algorithm)
    assert result.shape == (size, size) and np.isfinite(result).all()
