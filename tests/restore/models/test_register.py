import pytest
import torch

from restore.checkpoint import load_model, save_model
from restore.models import ARCHITECTURES, CGRDN, WEIGHTS, CGRDNConfig, PatchGAN, PatchGANConfig, build_model, cgrdn
from restore.models.register import NamedWeights, architecture_of, register_weights


def test_each_architecture_registers_itself_and_the_weights_that_exist_for_it():
    assert ARCHITECTURES["cgrdn"].cls is CGRDN and ARCHITECTURES["patchgan"].cls is PatchGAN
    assert CGRDN.arch == "cgrdn" and architecture_of(PatchGAN(PatchGANConfig.tiny())) == "patchgan"
    assert WEIGHTS["cgrdn.hrstem_default"].shipped_sha256 == cgrdn.HRSTEM_DEFAULT_SHA256
    assert {f"cgrdn.{tag}" for tag in cgrdn.R_EM_MODELS} <= set(WEIGHTS)
    assert all(entry.arch == name.split(".")[0] for name, entry in WEIGHTS.items())


def test_the_one_loader_builds_the_architecture_the_sidecar_names(tmp_path):
    torch.manual_seed(0)
    sidecar = save_model(tmp_path / "m.safetensors", CGRDN(CGRDNConfig.tiny()))  # arch from the class
    assert sidecar["arch"] == "cgrdn"
    model, _ = load_model(tmp_path / "m.safetensors")
    assert isinstance(model, CGRDN) and model.config == CGRDNConfig.tiny()


def test_unknown_architectures_and_unregistered_weights_are_refused():
    known = "\\['blind_spot_unet', 'cgrdn', 'patchgan', 'reverse_hourglass'\\]"
    with pytest.raises(ValueError, match=f"unknown architecture; known: {known}"):
        build_model("unet", {})
    with pytest.raises(ValueError, match="not a registered architecture"):
        architecture_of(torch.nn.Linear(1, 1))
    with pytest.raises(ValueError, match="is not registered"):
        register_weights(NamedWeights("unet.x", "unet", "HRSTEM", "", ""))
