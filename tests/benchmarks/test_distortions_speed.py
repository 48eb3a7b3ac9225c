"""Speed of the distortion pipelines on a 16 × 256² batch (run with ``-m benchmark``).

The goal on an H200 is < 5 ms per batch for the full STEM pipeline, so that training is never starved;
on CPU the figure is recorded in docs/benchmarks.md. CUDA cases appear only where a GPU is present.
"""
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
    apply_tem_distortions,
    benchmark_stem_params,
    sample_tem_params,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
ALL_STEM = StemDistortionParams(
    pixel_size_A=0.2, jitter=JitterParams(0.05, 0.5, 0.05, 0.5), dose_e_per_A2=1e4, pmt=PmtParams(),
    fast_scan=FastScanParams(), row_lines=RowLineParams(), black_pixels=1e-3,
    zingers=ZingerParams(1e-4, 0.5), clip=0.98, quantisation_bits=12)
CASES = {
    "poisson": StemDistortionParams(pixel_size_A=0.2, dose_e_per_A2=1e4),
    "benchmark_set": benchmark_stem_params(dose_e_per_A2=1e4, pixel_size_A=0.2),
    "all_stem_models": ALL_STEM,
}


def _batch(device: str) -> torch.Tensor:
    return torch.rand((16, 256, 256), generator=torch.Generator().manual_seed(0)).mul(0.1).to(device)


def _timed(fn, device):
    def run():
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return out
    return run


@pytest.mark.benchmark
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(CASES))
def test_stem_pipeline_speed(benchmark, device, case):
    images = _batch(device)
    generator = torch.Generator(device=device).manual_seed(1)
    out, record = benchmark(_timed(lambda: apply_stem_distortions(images, CASES[case], generator), device))
    assert out.shape == images.shape and len(record["images"]) == 16


@pytest.mark.benchmark
@pytest.mark.parametrize("device", DEVICES)
def test_tem_pipeline_speed(benchmark, device):
    images = _batch(device)
    params = [sample_tem_params(i, pixel_size_A=0.2, mean_intensity=0.05) for i in range(16)]
    generator = torch.Generator(device=device).manual_seed(1)
    out, _ = benchmark(_timed(lambda: apply_tem_distortions(images, params, generator), device))
    assert out.shape == images.shape
