"""Speed of the synthetic pair generator at 256² (run with ``-m benchmark``).

One round = 16 consecutive pairs of the seeded stream (indices 0–15 of seed 0), on one CPU thread, so
the figure is pairs per second per core; a data loader with W workers scales it by about W. The goal on
an H200 machine (16 cores + GPU) is ≥ 150 pairs/s for the trainer. CUDA cases appear only where a GPU is
present (rendering and distortions on the GPU, specimens on the CPU).
"""
import pytest
import torch

from simulate.synthetic.modalities import MODALITIES
from simulate.synthetic.pairs import make_pair

PAIRS_PER_ROUND = 16
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.benchmark
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("modality", sorted(MODALITIES))
def test_pairs_per_second(benchmark, modality, device):
    import numpy as np

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    make_pair(0, modality, 256, device=device)  # imports, caches and lazy initialisation out of the timing

    def run():
        for index in range(PAIRS_PER_ROUND):
            x, y, _ = make_pair(np.random.default_rng([0, index]), modality, 256, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        return x, y

    try:
        x, y = benchmark.pedantic(run, rounds=3, iterations=1)
    finally:
        torch.set_num_threads(threads)
    assert x.shape == y.shape == (256, 256) and torch.isfinite(x).all()
    benchmark.extra_info["pairs_per_second"] = PAIRS_PER_ROUND / benchmark.stats.stats.mean
