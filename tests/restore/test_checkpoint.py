import json
import pickle

import pytest
import torch

from restore.checkpoint import file_sha256, load_model, load_tensor_state, load_weights, save_model, save_tensor_state
from restore.models import CGRDN, CGRDNConfig


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = CGRDN(CGRDNConfig.tiny())
    path = tmp_path / "cgrdn.test.safetensors"
    sidecar = save_model(path, model, "cgrdn", modality="HRSTEM", dose_range_e_per_A2=[500, 50000], step=7)
    return model, path, sidecar


def test_roundtrip_keeps_weights_config_and_metadata(saved):
    model, path, sidecar = saved
    loaded, read = load_model(path)
    assert read["sha256"] == file_sha256(path) == sidecar["sha256"]
    assert read["config"] == CGRDNConfig.tiny().to_dict() and read["step"] == 7
    assert read["dose_range_e_per_A2"] == [500, 50000] and "torch" in read["provenance"]
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no temporaries


def test_corrupt_or_foreign_files_raise(saved, tmp_path):
    _, path, _ = saved
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        load_model(path)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        load_weights(tmp_path / "missing.safetensors")
    orphan = tmp_path / "orphan.safetensors"
    orphan.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="sidecar"):
        load_model(orphan)
    orphan.with_suffix(".json").write_text(path.with_suffix(".json").read_text().replace(
        json.loads(path.with_suffix(".json").read_text())["sha256"], file_sha256(orphan)))
    with pytest.raises(ValueError, match="not a valid safetensors"):
        load_model(orphan)


def test_mismatched_config_is_reported(saved):
    _, path, _ = saved
    sidecar_path = path.with_suffix(".json")
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["config"]["growth"] = 5
    sidecar_path.write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="does not match the model"):
        load_model(path)
    sidecar["config"] = {"bogus": 1}
    sidecar_path.write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="unknown fields"):
        load_model(path)


class Payload:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_training_state_roundtrip_and_refuses_arbitrary_pickles(tmp_path):
    optimiser = torch.optim.Adam(CGRDN(CGRDNConfig.tiny()).parameters())
    save_tensor_state(tmp_path / "state.pt", {"step": 3, "opt": optimiser.state_dict()})
    assert load_tensor_state(tmp_path / "state.pt")["step"] == 3
    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"x": Payload()}))
    with pytest.raises(ValueError, match="unsafe"):
        load_tensor_state(tmp_path / "evil.pt")
