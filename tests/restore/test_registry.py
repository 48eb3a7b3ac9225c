import pytest
import torch

from restore.checkpoint import save_model
from restore.models import CGRDN, CGRDNConfig
from restore.registry import list_models, load_registered_model, resolve_weights, user_model_dir


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STEM_BENCH_MODELS", str(tmp_path))
    return tmp_path


def test_user_directory_comes_from_the_environment(model_dir, monkeypatch):
    assert user_model_dir() == model_dir
    monkeypatch.delenv("STEM_BENCH_MODELS")
    assert user_model_dir().parts[-4:] == (".local", "share", "stem-restore-bench", "models")


def test_builtin_model_not_installed_says_how_to_get_it(model_dir):
    with pytest.raises(ValueError, match="import-r-em") as error:
        resolve_weights("cgrdn.sfr_hrstem")
    assert "Installed models" in str(error.value)


def test_unknown_and_malformed_names_list_the_available_ones(model_dir):
    with pytest.raises(ValueError, match="available: .*cgrdn.sfr_lrtem"):
        resolve_weights("cgrdn.nonexistent")
    with pytest.raises(ValueError, match="arch.tag"):
        resolve_weights("NoDot")


def test_installed_model_is_listed_and_loaded_by_name(model_dir):
    torch.manual_seed(0)
    model = CGRDN(CGRDNConfig.tiny())
    save_model(model_dir / "cgrdn.mine.safetensors", model, "cgrdn", modality="HRSTEM")
    rows = {row["name"]: row for row in list_models()}
    assert rows["cgrdn.mine"]["path"].endswith("cgrdn.mine.safetensors")
    assert rows["cgrdn.sfr_hrstem"]["path"] is None
    loaded, sidecar = load_registered_model("cgrdn.mine")
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    assert load_registered_model(str(model_dir / "cgrdn.mine.safetensors"))[1]["sha256"] == sidecar["sha256"]
