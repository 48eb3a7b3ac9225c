"""The shipped default HR-STEM model (restore/weights/cgrdn.hrstem_default.*, docs/model_card_hrstem_default.md)."""
import dataclasses

import numpy as np
import pytest

from restore.checkpoint import file_sha256
from restore.inference import restore_image
from restore.models.cgrdn import HRSTEM_DEFAULT_SHA256
from restore.registry import BUILTIN, PACKAGE_WEIGHTS, load_registered_model, resolve_weights
from tests.restore.conftest import gaussian_lattice

NAME = "cgrdn.hrstem_default"
PARAMETERS = 1_446_961  # CGRDNConfig(features=48, growth=24, dense_layers=6, blocks_per_group=3, groups=3)


@pytest.fixture
def empty_user_dir(tmp_path, monkeypatch):
    """No user models, so that the registry resolves the package's shipped file."""
    monkeypatch.setenv("STEM_BENCH_MODELS", str(tmp_path))
    return tmp_path


def test_shipped_default_loads_with_its_recorded_checksum_and_size(empty_user_dir):
    path = resolve_weights(NAME)
    assert path.parent == PACKAGE_WEIGHTS
    assert file_sha256(path) == HRSTEM_DEFAULT_SHA256
    model, sidecar = load_registered_model(NAME)
    assert sidecar["sha256"] == HRSTEM_DEFAULT_SHA256
    assert sidecar["modality"].startswith("hrstem") and sidecar["weights"].startswith("EMA")
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS == sidecar["parameters"]
    assert path.stat().st_size < 50e6


def test_shipped_default_carries_a_passing_bf16_check_of_its_own_weights(empty_user_dir):
    from restore.numerics import BF16_CHECK_BOUND_PCT_CRLB, bf16_check_passed

    model, sidecar = load_registered_model(NAME)
    record = model.bf16_check
    assert record is not None and record == sidecar["bf16_check"] and bf16_check_passed(record)
    assert record["weights_sha256"] == HRSTEM_DEFAULT_SHA256 and record["bound_pct_crlb"] == BF16_CHECK_BOUND_PCT_CRLB
    # it rests on the whole quick preset: both doses, the six thicknesses, 20 realisations
    assert record["doses_e_per_A2"] == [500.0, 50000.0] and record["atoms_per_column"] == [2, 5, 10, 20, 40, 75]
    assert record["realisations"] >= 20 and record["flag_changed_pct"] <= record["flag_changed_bound_pct"]
    assert record["covers_quick_preset"]


def test_a_checksum_mismatch_is_refused(empty_user_dir, monkeypatch):
    wrong = dataclasses.replace(BUILTIN[NAME], shipped_sha256="0" * 64)
    monkeypatch.setitem(BUILTIN, NAME, wrong)
    with pytest.raises(ValueError, match="corrupt or were replaced"):
        load_registered_model(NAME)


def test_default_restores_a_noisy_lattice_better_than_the_raw_counts(empty_user_dir):
    # HAADF-like lattice: columns 8 px apart with ρ = 1.5 px, on a weak background; ~1–20 counts per pixel.
    rng = np.random.default_rng(7)
    clean = 0.05 + gaussian_lattice(96, 8.0, 1.5, rng.uniform(0, 8, 2))
    counts_per_unit = 20.0
    noisy = rng.poisson(clean * counts_per_unit).astype(np.float32) / counts_per_unit
    model, _ = load_registered_model(NAME)
    restored = restore_image(noisy, model, tile=96, device="cpu")
    raw_rmse = np.sqrt(np.mean((noisy - clean) ** 2))
    model_rmse = np.sqrt(np.mean((restored - clean) ** 2))
    assert restored.shape == clean.shape and np.isfinite(restored).all()
    assert model_rmse < 0.7 * raw_rmse
    assert abs(restored.mean() / clean.mean() - 1) < 0.05  # keeps the intensity scale
