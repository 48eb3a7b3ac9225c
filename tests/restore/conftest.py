"""Shared fixtures of the restoration tests: image-like pairs made here, independent of simulate/."""
import numpy as np
import pytest


def gaussian_lattice(size: int, spacing: float, sigma: float, offset, amplitude: float = 1.0) -> np.ndarray:
    """Square lattice of round Gaussian columns (a HAADF-like clean image), in fractions of the beam."""
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    image = np.zeros((size, size))
    for cy in np.arange(offset[0] - spacing, size + spacing, spacing):
        for cx in np.arange(offset[1] - spacing, size + spacing, spacing):
            image += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
    return amplitude * image


def make_pairs(count: int, size: int, seed: int, counts_per_unit: float = 30.0):
    """(x, y): y clean lattices with random offsets and heights, x = Poisson(counts·y)/counts."""
    rng = np.random.default_rng(seed)
    y = np.stack([gaussian_lattice(size, 6.0, 1.3, rng.uniform(0, 6, 2), rng.uniform(0.6, 1.4))
                  for _ in range(count)]).astype(np.float32)
    x = (rng.poisson(y * counts_per_unit) / counts_per_unit).astype(np.float32)
    return x, y


@pytest.fixture(scope="session")
def small_pairs():
    return make_pairs(8, 32, seed=1)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run the restoration tests on one intra-op thread and restore the setting afterwards.

    The tiny networks gain nothing from a second thread, and on a shared 2-core machine idle OpenMP threads
    spin-waiting for a busy core made a training step ~100× slower (measured: 0.06 s vs 6 s).
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
