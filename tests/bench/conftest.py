import pytest

from tests.bench.tiny_run import coarse_series, tiny_results


@pytest.fixture(scope="session")
def series():
    """The coarse (real abTEM) Pt [001] thickness series, 0–10 atoms per column."""
    return coarse_series()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Results directory of a tiny real `bench run precision-vs-dose` (raw and BM3D)."""
    return tiny_results(tmp_path_factory)
