import numpy as np
import pytest
from scipy.stats import poisson

from bench.methods import (
    BM3DMethod,
    NoiseModel,
    RawMethod,
    anscombe,
    generalized_anscombe,
    inverse_anscombe_unbiased,
    inverse_generalized_anscombe,
    make_method,
)


def expected_anscombe(lam: float) -> float:
    """E[2√(z + 3/8)] for z ~ Poisson(λ), summed exactly over the pmf."""
    k = np.arange(0, int(lam + 12 * np.sqrt(lam) + 40))
    return float(np.sum(poisson.pmf(k, lam) * anscombe(k)))


@pytest.mark.parametrize("lam", [0.5, 1.0, 2.0, 5.0, 20.0, 100.0, 1000.0])
def test_unbiased_inverse_maps_expected_anscombe_back_to_lambda(lam):
    estimate = float(inverse_anscombe_unbiased(expected_anscombe(lam)))
    assert abs(estimate - lam) <= 0.02 + 2e-4 * lam


def test_unbiased_inverse_beats_the_algebraic_inverse_at_low_counts():
    d = expected_anscombe(1.0)
    algebraic = (d / 2) ** 2 - 3 / 8
    assert abs(algebraic - 1.0) > 0.15  # the naive inverse is visibly biased …
    assert abs(float(inverse_anscombe_unbiased(d)) - 1.0) < 0.01  # … the exact unbiased one is not


def test_unbiased_inverse_approaches_the_asymptotic_form_at_large_values():
    d = np.array([200.0, 2000.0])
    assert np.allclose(inverse_anscombe_unbiased(d), d**2 / 4 - 1 / 8, rtol=1e-6)
    assert inverse_anscombe_unbiased(np.array([0.5]))[0] == 0.0


@pytest.mark.parametrize("lam", [5.0, 20.0, 100.0])
def test_generalized_inverse_is_unbiased_for_poisson_gaussian_data(lam):
    noise = NoiseModel(gain=2.0, read_noise=3.0, offset=10.0)
    read = np.linspace(-8, 8, 801) * noise.read_noise
    weights = np.exp(-0.5 * (read / noise.read_noise) ** 2)
    weights /= weights.sum()
    k = np.arange(0, int(lam + 12 * np.sqrt(lam) + 40))
    values = noise.gain * k[:, None] + noise.offset + read[None, :]
    expected = float(np.sum(poisson.pmf(k, lam)[:, None] * weights[None, :] * generalized_anscombe(values, noise)))
    estimate = float(inverse_generalized_anscombe(expected, noise))
    assert abs((estimate - noise.offset) / noise.gain - lam) <= 0.05 + 2e-3 * lam


def test_bm3d_denoises_poisson_counts_and_keeps_the_mean():
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:48, 0:48]
    lam = 3.0 + 20.0 * np.exp(-((x % 12 - 6) ** 2 + (y % 12 - 6) ** 2) / 8.0)
    counts = rng.poisson(lam, size=(1, 48, 48)).astype(float)
    restored = BM3DMethod()(counts)
    assert restored.shape == counts.shape
    assert np.mean((restored - lam) ** 2) < 0.5 * np.mean((counts - lam) ** 2)
    assert abs(restored.mean() / lam.mean() - 1) < 0.03


def test_raw_returns_a_copy():
    images = np.ones((2, 8, 8))
    out = RawMethod()(images)
    out[0, 0, 0] = 5
    assert images[0, 0, 0] == 1


@pytest.mark.parametrize("spec, message", [
    ("foo", "unknown"), ("", "give raw"), ("cgrdn.no_such_model", "unknown"),
    ("/nonexistent/model.safetensors", "does not exist"),
])
def test_make_method_rejects_unknown_methods_and_models(spec, message):
    with pytest.raises(ValueError, match=message):
        make_method(spec)


def test_cnn_method_runs_a_real_checkpoint(tmp_path):
    import torch

    from restore.checkpoint import save_model
    from restore.models import CGRDN, CGRDNConfig

    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    sidecar = save_model(path, CGRDN(CGRDNConfig.tiny()), "cgrdn", modality="HRSTEM")
    method = make_method(str(path), device="cpu")
    images = np.random.default_rng(0).poisson(5.0, size=(2, 16, 16)).astype(float)
    restored = method(images)
    assert restored.shape == images.shape and np.all(np.isfinite(restored))
    assert method.provenance()["sha256"] == sidecar["sha256"]
    # the realisations are batched together, and that changes nothing but the speed
    from restore.inference import restore_image

    one_by_one = np.stack([restore_image(image.astype(np.float32), method._model(), device="cpu")
                           for image in images])
    from tests.restore.rounding import image_error_std, within_model

    # the same tiles, two float32 evaluations: within twice the modelled rounding variance
    assert within_model(restored - one_by_one, 2 ** 0.5 * image_error_std(method._model(), images))


# Why BM3D fails at ≈ 0.1 counts per pixel (docs/studies.md, "BM3D below one count per pixel") ---

def _anscombe_moments(lam: float):
    from scipy.stats import poisson

    z = np.arange(0, 400)
    p = poisson.pmf(z, lam)
    f = 2.0 * np.sqrt(z + 0.375)
    mean = float((p * f).sum())
    return mean, float((p * (f - mean) ** 2).sum())


def test_the_anscombe_variance_is_far_below_one_at_a_handful_of_counts():
    # exact sums over the Poisson distribution: the VST's unit variance holds only from λ ≈ 4 on
    variances = {lam: _anscombe_moments(lam)[1] for lam in (0.12, 0.5, 1.0, 2.0, 4.0, 30.0)}
    assert variances[0.12] < 0.15 and variances[0.5] < 0.5 and variances[1.0] < 0.75
    assert abs(variances[4.0] - 1) < 0.01 and abs(variances[30.0] - 1) < 0.01


def test_the_closed_form_inverse_is_exact_to_half_a_percent_at_low_counts():
    from bench.methods import inverse_anscombe_unbiased

    for lam in (0.05, 0.1, 0.12, 0.2, 0.5, 1.0, 1.57, 2.0, 4.0, 10.0, 30.0):
        mean, _ = _anscombe_moments(lam)
        assert abs(float(inverse_anscombe_unbiased(np.array([mean]))[0]) / lam - 1) < 0.005, lam


def test_a_new_method_family_is_one_registration_found_by_name_and_by_default():
    from dataclasses import dataclass

    from bench.methods import POISSON, MethodFamily, base, default_methods, method_families, register_method_family

    @dataclass(frozen=True)
    class Halve:
        name: str = "halve"

        def __call__(self, images, noise=POISSON):
            return 0.5 * np.asarray(images, float)

        def provenance(self):
            return {"name": self.name, "kind": "test"}

    assert [f.name for f in method_families()][:3] == ["raw", "bm3d", "cnn"]
    register_method_family(MethodFamily("halve", "halve (a test family)", lambda spec: spec == "halve",
                                        lambda spec, *, device=None: Halve(), defaults=("halve",), order=0))
    try:
        assert make_method("halve")(np.ones((1, 8, 8)))[0, 0, 0] == 0.5
        methods, note = default_methods(device="cpu")
        assert [m.name for m in methods][:3] == ["halve", "raw", "bm3d"]
        with pytest.raises(ValueError, match="halve \\(a test family\\)"):
            make_method("foo")
    finally:
        base._FAMILIES.pop("halve")
