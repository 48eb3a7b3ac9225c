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


@pytest.fixture
def tiny_cgrdn_checkpoint(tmp_path):
    """Path (str) of a seeded tiny CGRDN saved as ``tiny.safetensors`` with its sidecar."""
    from restore.checkpoint import save_model
    from restore.models import CGRDN, CGRDNConfig

    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_model(path, CGRDN(CGRDNConfig.tiny()), "cgrdn", modality="HRSTEM")
    return str(path)
