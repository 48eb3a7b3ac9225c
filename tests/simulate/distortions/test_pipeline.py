import json

import numpy as np
import pytest
import torch

from simulate.distortions import (
    FastScanParams,
    JitterParams,
    PmtParams,
    RowLineParams,
    StemDistortionParams,
    ZingerParams,
    apply_stem_distortions,
    benchmark_stem_params,
    fast_scan_noise,
    sample_stem_params,
)


@pytest.fixture
def images():
    return torch.rand((3, 48, 56), generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.1


def test_pure_poisson_at_a_physical_dose(images):
    params = StemDistortionParams(pixel_size_A=0.2, dose_e_per_A2=5e4)
    out, record = apply_stem_distortions(images, params, 1)
    lam = 5e4 * 0.04 * images
    assert torch.equal(out, out.round())
    z = (out - lam).sum() / torch.sqrt(lam.sum())
    assert abs(float(z)) < 5
    assert record["images"][0] == [{"name": "poisson", "equations": "45",
                                     "parameters": {"dose_e_per_A2": 5e4, "pixel_size_A": 0.2}}]


def test_full_pipeline_records_every_step_in_physical_order(images):
    params = StemDistortionParams(
        pixel_size_A=0.2, jitter=JitterParams(0.05, 0.5, 0.05, 0.5), dose_e_per_A2=1e4, pmt=PmtParams(),
        fast_scan=FastScanParams(), row_lines=RowLineParams(), black_pixels=1e-3,
        zingers=ZingerParams(1e-3, 0.5), clip=0.95, quantisation_bits=12)
    out, record = apply_stem_distortions(images.numpy(), params, 2)
    assert isinstance(out, np.ndarray) and out.shape == images.shape and np.isfinite(out).all()
    names = [step["name"] for step in record["images"][1]]
    assert names == ["scan_jitter", "poisson", "pmt", "fast_scan", "row_lines", "black_pixels", "zingers",
                     "clip", "quantisation"]
    json.dumps(record)
    json.dumps(params.to_dict())


def test_per_image_parameters_leave_undistorted_images_untouched(images):
    plain = StemDistortionParams(pixel_size_A=0.2)
    noisy = benchmark_stem_params(dose_e_per_A2=1e3, pixel_size_A=0.2)
    out, record = apply_stem_distortions(images, [plain, noisy, plain], 3)
    assert torch.equal(out[0], images[0]) and torch.equal(out[2], images[2])
    assert not torch.allclose(out[1], images[1])
    assert record["images"][0] == [] and len(record["images"][1]) == 4


def test_seed_determinism_and_single_image_input(images):
    params = benchmark_stem_params(dose_e_per_A2=2e3, pixel_size_A=0.15)
    a, _ = apply_stem_distortions(images, params, 11)
    b, _ = apply_stem_distortions(images, params, torch.Generator().manual_seed(11))
    c, _ = apply_stem_distortions(images, params, 12)
    assert torch.equal(a, b) and not torch.equal(a, c)
    single, _ = apply_stem_distortions(images[0], params, 11)
    assert single.shape == images.shape[1:]


def test_benchmark_params_are_the_fixed_documented_set():
    params = benchmark_stem_params(dose_e_per_A2=5e2, pixel_size_A=0.2, jitter_sigma=0.03, jitter_phi=0.4)
    assert params.dose_e_per_A2 == 5e2 and params.jitter == JitterParams(0.03, 0.4, 0.03, 0.4)
    assert params.pmt == PmtParams() and params.fast_scan == FastScanParams()
    assert params.row_lines is None and params.black_pixels is None and params.quantisation_bits is None


def test_pmt_step_adds_signal_independent_noise_in_counts(images):
    pmt = PmtParams()
    plain = StemDistortionParams(pixel_size_A=0.2, dose_e_per_A2=1e3)
    noisy = StemDistortionParams(pixel_size_A=0.2, dose_e_per_A2=1e3, pmt=pmt)
    counts, _ = apply_stem_distortions(images, plain, 4)
    out, record = apply_stem_distortions(images, noisy, 4)
    residual = out - counts  # same seed: same Poisson draw, then the Gaussian
    n = residual.numel()
    assert float(residual.mean()) == pytest.approx(0.0, abs=5 * pmt.sigma_counts / np.sqrt(n))
    assert float(residual.var()) == pytest.approx(pmt.sigma_counts**2, rel=5 * np.sqrt(2 / n))
    step = record["images"][0][1]
    assert step["name"] == "pmt" and step["equations"] == "43-44, 46"
    assert step["parameters"]["sigma_counts"] == pytest.approx(pmt.sigma_counts)


def test_fast_scan_step_matches_the_model_for_a_mixed_alignment_batch(images):
    causal = StemDistortionParams(pixel_size_A=0.2, fast_scan=FastScanParams())
    centred = StemDistortionParams(pixel_size_A=0.2, fast_scan=FastScanParams(align="centroid"))
    out, record = apply_stem_distortions(images, [causal, centred, causal], 0)
    for i, params in enumerate([causal, centred, causal]):
        assert torch.allclose(out[i], fast_scan_noise(images[i], params.fast_scan), atol=1e-14)
    assert record["images"][1][0]["parameters"]["align"] == "centroid"


def test_bad_input_raises(images):
    params = StemDistortionParams(pixel_size_A=0.2, dose_e_per_A2=100.0)
    with pytest.raises(ValueError, match=">= 0"):
        apply_stem_distortions(-images, params, 0)
    with pytest.raises(ValueError, match="NaN"):
        apply_stem_distortions(images * float("nan"), params, 0)
    with pytest.raises(ValueError, match="shape"):
        apply_stem_distortions(images[None], params, 0)
    with pytest.raises(ValueError, match="one per image"):
        apply_stem_distortions(images, [params, params], 0)
    with pytest.raises(ValueError, match="pixel_size_A"):
        StemDistortionParams(pixel_size_A=0.0)
    with pytest.raises(ValueError, match="dose_e_per_A2"):
        StemDistortionParams(pixel_size_A=0.2, pmt=PmtParams())
    with pytest.raises(ValueError, match="clip"):
        StemDistortionParams(pixel_size_A=0.2, clip=1.5)


def test_sampled_batch_runs_with_one_parameter_set_per_image(images):
    rng = np.random.default_rng(5)
    params = [sample_stem_params(rng, pixel_size_A=0.2, mean_intensity=float(img.mean())) for img in images]
    out, record = apply_stem_distortions(images, params, 6)
    assert out.shape == images.shape and bool(torch.isfinite(out).all())
    assert len(record["images"]) == 3 and all(steps for steps in record["images"])
