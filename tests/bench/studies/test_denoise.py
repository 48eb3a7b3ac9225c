import numpy as np
import pandas as pd
import pytest

from _shared.results import ResultStore
from bench.methods import BM3DMethod, RawMethod
from bench.studies import denoise as study
from bench.studies.base import Inputs, RunOptions

SERIAL = RunOptions(workers=1, progress=False)


def test_denoise_scores_methods_on_the_fixed_validation_pairs(tmp_path):
    preset = study.STUDY.configure("quick", modalities=("hrstem",), images=2, size=64, block_size=2, bootstrap=200)
    store = ResultStore.open(tmp_path / "run", study.STUDY.name, preset.to_config())
    summary = study.STUDY.execute(preset, Inputs(), [RawMethod(), BM3DMethod()], store, SERIAL)
    assert {"method", "modality", "images", "psnr_db", "psnr_db_low", "psnr_db_high", "ssim"} <= set(summary.columns)
    scores = summary.set_index("method")
    assert scores.loc["bm3d", "psnr_db"] > scores.loc["raw", "psnr_db"]  # the VST + BM3D removes noise
    table = pd.read_parquet(tmp_path / "run" / "realisations.parquet")
    assert sorted(table["image"].unique()) == [0, 1] and (table["data_range"] > 0).all()
    assert np.all((table["ssim"] > -1) & (table["ssim"] <= 1))

    from matplotlib.figure import Figure

    from reports.figures import load_results
    from reports.html import render_html
    from reports.study_figures import plot_scores

    bars, whiskers = plot_scores(Figure().subplots(), summary, "psnr_db", "hrstem")
    assert len(bars.patches) == 2
    text = render_html(load_results(tmp_path / "run"), {}, study.STUDY.report)
    assert "PSNR [dB]" in text and "hrstem" in text


def test_noise_model_follows_the_pmt_record():
    record = {"x_scale": 0.5, "distortion_params": {"pmt": {"sigma_counts": 0.3}}}
    noise = study.noise_model(record)
    assert noise.gain == pytest.approx(0.5) and noise.read_noise == pytest.approx(0.5 * 0.3)


def test_stem_noise_model_predicts_the_variance_of_the_stem_pipeline():
    """On a flat image, counts + PMT (eqs. 45-46) have variance gain·mean + read² of the noise model."""
    import torch

    from simulate.distortions import PmtParams, apply_stem_distortions
    from simulate.distortions.params import StemDistortionParams

    pmt = PmtParams(photons_per_electron=20.0, photons_variance=60.0, quantum_efficiency=0.1)
    params = StemDistortionParams(pixel_size_A=0.5, dose_e_per_A2=8.0, pmt=pmt)
    x, _ = apply_stem_distortions(torch.full((1, 256, 256), 0.5), params, 5)
    scale = 1.0 / (8.0 * 0.5**2)
    x = np.asarray(x, dtype=np.float64) * scale
    noise = study.noise_model({"x_scale": scale, "distortion_params": params.to_dict()})
    predicted = noise.gain * x.mean() + noise.read_noise**2
    # 65 536 pixels: the sample variance's relative standard error is about sqrt(2 / 65 536) = 0.6 %
    assert x.var() == pytest.approx(predicted, rel=0.03)
    assert noise.read_noise == pytest.approx(scale * pmt.sigma_counts)


def test_tem_noise_model_predicts_the_variance_of_the_camera_pipeline():
    """On a flat image the camera pipeline's pixel variance must be gain·mean + read² of the noise model."""
    import torch

    from simulate.distortions import apply_tem_distortions
    from simulate.distortions.params import TemDistortionParams

    params = TemDistortionParams(pixel_size_A=0.5, dose_e_per_A2=400.0, thermal_noise=3.0, conversion_gain=2.5,
                                 quantise=True)
    x, _ = apply_tem_distortions(torch.full((1, 256, 256), 0.4), params, 11)
    x = np.asarray(x, dtype=np.float64) * 0.1  # x_scale as make_pair would apply
    noise = study.noise_model({"x_scale": 0.1, "distortion_params": params.to_dict()})
    predicted = noise.gain * (x.mean() - noise.offset) + noise.read_noise**2
    assert x.var() == pytest.approx(predicted, rel=0.03)
    assert noise.gain == pytest.approx(0.25)


def test_denoise_scores_the_tem_modalities(tmp_path):
    preset = study.STUDY.configure("quick", modalities=("hrtem", "lrtem"), images=2, size=48, block_size=2,
                                   bootstrap=200)
    store = ResultStore.open(tmp_path / "run", study.STUDY.name, preset.to_config())
    summary = study.STUDY.execute(preset, Inputs(), [RawMethod(), BM3DMethod()], store, SERIAL)
    assert sorted(summary["modality"].unique()) == ["hrtem", "lrtem"] and len(summary) == 4
    assert np.all(np.isfinite(summary["psnr_db"])) and np.all(np.isfinite(summary["ssim"]))
    hrtem = summary[summary["modality"] == "hrtem"].set_index("method")
    assert hrtem.loc["bm3d", "psnr_db"] > hrtem.loc["raw", "psnr_db"]


def test_unknown_modalities_are_refused():
    with pytest.raises(ValueError, match="unknown; valid: hrstem, lrstem, hrtem, lrtem"):
        study.STUDY.configure("quick", modalities=("hrsem",))
