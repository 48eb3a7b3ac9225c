"""Run time of the small (coarse) thickness-series recipe: real abTEM, no cache.

    python -m pytest -m benchmark tests/benchmarks/test_thickness_series_speed.py

The default recipe's run time is recorded by ``bench simulate thickness-series`` in the run's metadata
(``wall_time_s``) and quoted in docs/benchmarks.md.
"""
import pytest

from simulate.recipe import COARSE_RECIPE
from simulate.thickness_series import simulate_thickness_series


@pytest.mark.benchmark
def test_coarse_thickness_series(benchmark, tmp_path):
    counter = iter(range(1000))

    def run():
        # a fresh cache directory per round: every round really simulates
        return simulate_thickness_series(COARSE_RECIPE, cache_dir=tmp_path / str(next(counter)), progress=False)

    series = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert series.images.shape[0] == COARSE_RECIPE.max_thickness_atoms + 1
