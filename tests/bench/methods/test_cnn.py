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


NATIVE = frozenset({"avx512f", "avx512_bf16"})


def _record_a_pass(checkpoint):
    from restore.checkpoint import read_sidecar, record_in_sidecar

    record = {"passed": True, "bound_pct_crlb": 5.0, "largest_pct_crlb": 1.0, "flag_changed_pct": 0.0,
              "flag_changed_bound_pct": 1.0, "covers_quick_preset": True,
              "weights_sha256": read_sidecar(checkpoint)["sha256"]}
    record_in_sidecar(checkpoint, "bf16_check", record)


@pytest.mark.filterwarnings("ignore:bf16 forced on a CPU without")
def test_the_path_decided_when_the_method_is_built_is_the_one_computed(checkpoint, monkeypatch):
    from restore import numerics

    _record_a_pass(checkpoint)
    monkeypatch.setattr(numerics, "cpu_flags", lambda: NATIVE)
    auto = make_method(checkpoint, device="cpu")  # decided here: bf16 (native, passing record)
    forced = make_method(f"{checkpoint}+bf16", device="cpu")
    assert auto.numeric_path().dtype == "bf16" and auto.provenance()["numeric_path"]["requested"] == "auto"
    monkeypatch.setattr(numerics, "cpu_flags", lambda: frozenset({"avx2"}))  # e.g. a worker on another CPU
    images = np.random.default_rng(1).poisson(20.0, size=(2, 32, 32)).astype(float) + 1.0
    np.testing.assert_array_equal(auto(images), forced(images))
    assert not np.array_equal(auto(images), make_method(f"{checkpoint}+fp32", device="cpu")(images))


def test_resuming_keeps_the_arithmetic_a_results_directory_began_with(checkpoint, monkeypatch):
    from bench.methods.cnn import keep_recorded_arithmetic
    from restore import numerics

    _record_a_pass(checkpoint)
    monkeypatch.setattr(numerics, "cpu_flags", lambda: NATIVE)
    method = make_method(checkpoint, device="cpu")
    assert method.numeric_path().dtype == "bf16"
    began_fp32 = {"methods": [{"name": "tiny", "kind": "cnn", "numeric_path": {"dtype": "fp32"}}]}
    before_paths_were_recorded = {"methods": [{"name": "tiny", "kind": "cnn", "sha256": method.sha256}]}
    for manifest in (began_fp32, before_paths_were_recorded):
        kept = keep_recorded_arithmetic(method, manifest)
        assert kept.numeric_path().dtype == "fp32" and kept.numeric_path().reason.startswith("resumed:")
        assert kept.provenance()["numeric_path"]["dtype"] == "fp32"
    assert keep_recorded_arithmetic(method, None) is method  # a new directory: the method's own decision
    assert keep_recorded_arithmetic(method, {"methods": [{"name": "tiny", "numeric_path": {"dtype": "bf16"}}]}) \
        is method
    forced = make_method(f"{checkpoint}+bf16", device="cpu")
    assert keep_recorded_arithmetic(forced, began_fp32) is forced  # another name: nothing to keep
