import json

import numpy as np
import pytest
import torch

from simulate.distortions import StemDistortionParams, TemDistortionParams, apply_mtf
from simulate.synthetic import pairs
from simulate.synthetic.image import STD_MEAN_RATIO_RANGE
from simulate.synthetic.modalities import MODALITIES, Modality, get_modality
from simulate.synthetic.pairs import make_pair, scan_margin_px

_NO_POSTPROCESS_STEM = Modality("stem_plain", "stem", 1.0, {"crystalline": 1.0}, postprocess_probability=0.0)
_NO_POSTPROCESS_TEM = Modality("tem_plain", "tem", 1.0, {"crystalline": 1.0}, postprocess_probability=0.0)


@pytest.mark.parametrize("modality", sorted(MODALITIES))
def test_pairs_are_finite_shaped_and_recorded(modality):
    x, y, record = make_pair(5, modality, 48)
    assert x.shape == y.shape == (48, 48) and x.dtype == y.dtype == torch.float32
    assert torch.isfinite(x).all() and torch.isfinite(y).all()
    assert record["x_scale"] > 0
    assert record["modality"] == get_modality(modality).name
    assert record["distortions"]["pipeline"] == get_modality(modality).detector
    if record["postprocess"] is None and get_modality(modality).detector == "tem":
        # eq. 27 blurs the normalised target (eq. 26 comes first), which lowers its maximum
        assert 0 < float(y.max()) <= 1.0 + 1e-6 and float(y.min()) >= 0
    elif record["postprocess"] is None:
        assert float(y.max()) == pytest.approx(1.0) and float(y.min()) >= 0
        low, high = STD_MEAN_RATIO_RANGE
        assert low - 1e-5 <= float(y.std(unbiased=False) / y.mean()) <= high + 1e-5
    json.dumps(record)


def test_same_seed_same_pair_and_different_seeds_differ():
    x1, y1, r1 = make_pair(123, "hrstem", 40)
    x2, y2, r2 = make_pair(np.random.default_rng(123), "hrstem", 40)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and r1 == r2
    x3, y3, _ = make_pair(124, "hrstem", 40)
    assert not torch.equal(y1, y3)


def test_scan_margin_and_bad_arguments():
    assert scan_margin_px(0.9) == 8 and scan_margin_px(0.025) == 48
    with pytest.raises(ValueError):
        make_pair(0, "xrd", 64)
    with pytest.raises(ValueError):
        make_pair(0, "hrstem", 8)
    with pytest.raises(ValueError):
        make_pair(-1, "hrstem", 64)


@pytest.mark.parametrize("modality, gain", [(_NO_POSTPROCESS_STEM, 1.0), (_NO_POSTPROCESS_TEM, 2.5)])
def test_x_is_divided_by_the_dose_scale_into_the_units_of_y(monkeypatch, modality, gain):
    """Eqs. 30 and 46: x = counts / α (α = dose · pixel², × the camera gain for TEM), so E{x} = y per pixel."""
    dose = {}

    def stem(rng, *, pixel_size_A, mean_intensity, fast_scan_align, dose_exponential_scale, clean_probability):
        dose["value"] = 2e6 / (pixel_size_A**2 * mean_intensity)  # ≈ 2·10⁶ counts on an average pixel
        return StemDistortionParams(pixel_size_A=pixel_size_A, dose_e_per_A2=dose["value"])

    def tem(rng, *, pixel_size_A, mean_intensity, dose_exponential_scale):
        dose["value"] = 2e6 / (pixel_size_A**2 * mean_intensity)
        return TemDistortionParams(pixel_size_A=pixel_size_A, dose_e_per_A2=dose["value"], conversion_gain=gain)

    monkeypatch.setattr(pairs, "sample_stem_params", stem)
    monkeypatch.setattr(pairs, "sample_tem_params", tem)
    x, y, record = make_pair(3, modality, 48)
    alpha = dose["value"] * record["pixel_size_A"] ** 2 * gain
    assert record["x_scale"] == pytest.approx(1.0 / alpha)
    # Poisson counts n with E{n} = α'y: x - y has std sqrt(y·gain/α) per pixel (gain: ADU per electron)
    bound = 6.0 * torch.sqrt(y.double() * gain / alpha) + 1e-6
    assert bool(((x.double() - y.double()).abs() <= bound).all())


def test_tem_mtf_blurs_the_target_and_x_is_made_from_the_blurred_target(monkeypatch):
    """Eq. 27: y <- y ⊗ PSF; the camera pipeline distorts that blurred y."""
    seen = {}
    original_mtf, original_tem = pairs.apply_mtf, pairs.apply_tem_distortions

    def mtf(images, params):
        seen["sharp"], seen["blurred"] = images.clone(), original_mtf(images, params)
        return seen["blurred"]

    def camera(images, params, generator):
        seen["camera_input"] = images.clone()
        return original_tem(images, params, generator)

    monkeypatch.setattr(pairs, "apply_mtf", mtf)
    monkeypatch.setattr(pairs, "apply_tem_distortions", camera)
    _, y, record = make_pair(4, _NO_POSTPROCESS_TEM, 48)
    margin = record["margin_px"]
    field = (slice(margin, margin + 48), slice(margin, margin + 48))
    assert torch.equal(seen["camera_input"], seen["blurred"])
    assert torch.equal(y, seen["blurred"][field].to(torch.float32))
    assert not torch.allclose(seen["sharp"], seen["blurred"])  # the MTF did blur
    assert set(record["mtf"]) >= {"a", "b_nyquist", "c_nyquist"}


def test_stem_pairs_are_not_blurred_by_a_camera_mtf(monkeypatch):
    calls = []
    monkeypatch.setattr(pairs, "apply_mtf", lambda *a, **k: calls.append(1) or apply_mtf(*a, **k))
    make_pair(4, _NO_POSTPROCESS_STEM, 32)
    assert calls == []


def test_centroid_preset_removes_the_fast_scan_lag():
    assert get_modality("hrstem").fast_scan_align == "causal"
    assert get_modality("hrstem_centroid").fast_scan_align == "centroid"
    _, _, record = make_pair(11, "hrstem_centroid", 32)
    fast = record["distortion_params"]["fast_scan"]
    assert fast is None or fast["align"] == "centroid"


def test_matched_preset_is_uniform_dose_with_matched_alignment():
    uniform, matched = get_modality("hrstem_uniform_dose"), get_modality("hrstem_uniform_dose_matched")
    assert matched.fast_scan_align == "matched"
    assert matched.dose_exponential_scale == uniform.dose_exponential_scale
    assert matched.specimen_kinds == uniform.specimen_kinds
    _, _, record = make_pair(11, "hrstem_uniform_dose_matched", 32)
    fast = record["distortion_params"]["fast_scan"]
    assert fast is None or fast["align"] == "matched"


def test_uniform_dose_preset_changes_only_the_dose():
    paper, uniform = get_modality("hrstem"), get_modality("hrstem_uniform_dose")
    assert "dose_exponential_scale" not in paper.to_dict()  # recipes written before the option stay equal
    assert uniform.to_dict()["dose_exponential_scale"] == "inf"
    json.dumps(uniform.to_dict(), allow_nan=False)
    x_paper, y_paper, record_paper = make_pair(6, paper, 32)
    x_uniform, y_uniform, record_uniform = make_pair(6, uniform, 32)
    assert torch.equal(y_paper, y_uniform)
    dose_paper = record_paper["distortion_params"].pop("dose_e_per_A2")
    dose_uniform = record_uniform["distortion_params"].pop("dose_e_per_A2")
    assert dose_paper != dose_uniform
    assert record_paper["distortion_params"] == record_uniform["distortion_params"]
    with pytest.raises(ValueError, match="dose_exponential_scale"):
        Modality("bad", "stem", 1.0, {"crystalline": 1.0}, dose_exponential_scale=-1.0)


def test_narrow_preset_scales_every_atom_width_by_one_recorded_factor():
    uniform, narrow = get_modality("hrstem_uniform_dose"), get_modality("hrstem_uniform_dose_narrow")
    assert "profile_width_scale_range" not in uniform.to_dict()  # recipes written before the option stay equal
    assert narrow.to_dict()["profile_width_scale_range"] == [0.3, 1.0]
    assert get_modality("hrstem_uniform_dose_narrow_matched").fast_scan_align == "matched"
    mild = get_modality("hrstem_uniform_dose_mild_narrow_matched")
    assert mild.to_dict()["profile_width_scale_range"] == [0.5, 1.0] and mild.fast_scan_align == "matched"
    factors = []
    for seed in range(6):
        _, _, record = make_pair(seed, narrow, 32)
        _, _, paper = make_pair(seed, uniform, 32)
        profiles = record["image"]["profiles"]
        assert "width_factor" not in paper["image"]["profiles"]
        # same specimen and eq. 18 draw (the factor is drawn after them), widths times the factor
        assert profiles["numbers"] == paper["image"]["profiles"]["numbers"]
        factor = profiles["width_factor"]
        assert np.allclose(profiles["r_m_A"], factor * np.array(paper["image"]["profiles"]["r_m_A"]), rtol=1e-12)
        factors.append(factor)
    assert all(0.3 <= f <= 1.0 for f in factors) and len(set(factors)) == len(factors)
    for bad in ((0.0, 1.0), (0.8, 0.5)):
        with pytest.raises(ValueError, match="profile_width_scale_range"):
            Modality("bad", "stem", 1.0, {"crystalline": 1.0}, profile_width_scale_range=bad)


def test_clean_preset_scans_a_quarter_of_its_pairs_cleanly():
    narrow = get_modality("hrstem_uniform_dose_narrow_matched")
    clean = get_modality("hrstem_uniform_dose_narrow_matched_clean")
    assert "clean_scan_probability" not in narrow.to_dict()  # recipes written before the option stay equal
    assert clean.to_dict() == narrow.to_dict() | {"name": clean.name, "clean_scan_probability": 0.25}
    for name, probability in (("hrstem_uniform_dose_narrow_matched_clean_half", 0.5),
                              ("hrstem_uniform_dose_narrow_matched_clean_most", 0.75)):
        more = get_modality(name)
        assert more.to_dict() == narrow.to_dict() | {"name": more.name, "clean_scan_probability": probability}
    mild = get_modality("hrstem_uniform_dose_mild_narrow_matched_clean_half")
    assert mild.to_dict() == get_modality("hrstem_uniform_dose_mild_narrow_matched").to_dict() | {
        "name": mild.name, "clean_scan_probability": 0.5}
    causal = get_modality("hrstem_uniform_dose_narrow_clean_half")
    assert causal.to_dict() == get_modality("hrstem_uniform_dose_narrow").to_dict() | {
        "name": causal.name, "clean_scan_probability": 0.5}
    kept = ("jitter", "fast_scan", "row_lines", "black_pixels", "zingers", "clip", "quantisation_bits")
    found_clean = False
    for seed in range(12):
        _, _, record = make_pair(seed, clean, 32)
        params = record["distortion_params"]
        steps = {step["name"] for step in record["distortions"]["images"][0]}
        if all(params[name] is None for name in kept):
            found_clean = True
            assert steps == {"poisson", "pmt"}
    assert found_clean  # P(no clean pair in 12) = 0.75¹² ≈ 3 %: the seeds are fixed, so this is deterministic
    with pytest.raises(ValueError, match="clean_scan_probability"):
        Modality("bad", "tem", 1.0, {"crystalline": 1.0}, clean_scan_probability=0.25)
    with pytest.raises(ValueError, match="clean_scan_probability"):
        Modality("bad", "stem", 1.0, {"crystalline": 1.0}, clean_scan_probability=1.5)
