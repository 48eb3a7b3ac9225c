"""Fixtures shared by every room's tests."""
import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread: small networks train faster so, and results do not depend on the
    machine's core count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
