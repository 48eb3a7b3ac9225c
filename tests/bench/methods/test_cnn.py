"""CNN methods: the numeric-path suffix (``+bf16``/``+fp32``) names a second method on the same weights, runs
that path, and is recorded in the provenance."""
import numpy as np
import pytest

from bench.cli import check_model_spec
from bench.methods import make_method


@pytest.fixture
def checkpoint(tiny_cgrdn_checkpoint):
    return tiny_cgrdn_checkpoint


def test_check_model_spec_reads_the_numeric_suffix():
    assert check_model_spec("/runs/m.safetensors+bf16") == "/runs/m.safetensors+bf16"
    with pytest.raises(ValueError, match="pickle"):
        check_model_spec("/runs/m.pt+fp32")
    with pytest.raises(ValueError, match=r"unknown numeric suffix \+half"):
        check_model_spec("cgrdn.hrstem_default+half")


@pytest.mark.filterwarnings("ignore:bf16 forced on a CPU without")
def test_the_two_paths_are_two_methods_on_one_checkpoint(checkpoint):
    fp32 = make_method(f"{checkpoint}+fp32", device="cpu")
    bf16 = make_method(f"{checkpoint}+bf16", device="cpu")
    plain = make_method(checkpoint, device="cpu")
    assert (fp32.name, bf16.name, plain.name) == ("tiny+fp32", "tiny+bf16", "tiny")
    assert fp32.sha256 == bf16.sha256 == plain.sha256
    assert bf16.provenance()["numeric_path"]["dtype"] == "bf16"
    assert fp32.provenance()["numeric_path"]["dtype"] == "fp32"
    assert plain.provenance()["numeric_path"]["requested"] == "auto"
    images = np.random.default_rng(0).poisson(20.0, size=(2, 32, 32)).astype(float) + 1.0
    low, high = bf16(images), fp32(images)
    # bf16 rounds: the outputs differ, by no more than bf16's relative precision allows (2⁻⁸ per rounding,
    # a few dozen roundings on the way through the tiny network's ≈ 10 layers) of the output's scale
    difference = np.abs(low - high).max() / np.abs(high).max()
    assert 0 < difference < 64 * 2.0 ** -8
    np.testing.assert_array_equal(plain(images), high)  # auto is fp32: the weights have no bf16 check
