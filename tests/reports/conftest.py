import pytest

from tests.bench.tiny_run import tiny_results


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Results directory of a tiny real `bench run precision-vs-dose` (shared with tests/bench)."""
    return tiny_results(tmp_path_factory)
