"""The experimental study: checks of restorations of measured frames, which have no ground truth.

The "measured" frames are synthetic: a square lattice of Gaussian columns with Poisson counts, stored as uint16
(N, 1, H, W) HDF5 like tk_r_em's exp_hrstem.h5, with saturated zingers and zero-valued dead pixels injected.
"""
import json

import numpy as np
import pytest

from bench.studies.experimental_metrics import (
    find_columns,
    gaussian_noise_model,
    lattice_spacing_px,
    match_columns,
    min_over_std,
    negative_fraction,
    neighbour_median,
    noise_std,
    outlier_pixels,
    outlier_residual,
    robust_std,
)

SPACING_PX, WIDTH_PX, SIDE_PX = 12, 3.0, 144  # column spacing, Gaussian σ of a column, frame side
BACKGROUND, AMPLITUDE = 300.0, 700.0  # expected counts: between the columns, and added at a column's centre
CENTRES = 18 + SPACING_PX * np.arange(10)  # 10 × 10 columns, 18 px (> spacing/2) from every edge
ZINGERS = [(24, 24), (60, 84), (96, 48), (120, 108), (48, 120)]  # between columns, none next to another
DEAD = [(30, 30), (66, 102), (102, 66)]  # on column centres


def clean_lattice() -> np.ndarray:
    rows, columns = np.mgrid[:SIDE_PX, :SIDE_PX].astype(float)
    image = np.full((SIDE_PX, SIDE_PX), BACKGROUND)
    for y in CENTRES:
        for x in CENTRES:
            image += AMPLITUDE * np.exp(-((rows - y) ** 2 + (columns - x) ** 2) / (2 * WIDTH_PX**2))
    return image


def measured_frames(frames: int = 3, seed: int = 11) -> np.ndarray:
    """Independent Poisson frames of one field, uint16, with saturated zingers and dead pixels."""
    stack = np.random.default_rng(seed).poisson(clean_lattice(), size=(frames, SIDE_PX, SIDE_PX)).astype(np.uint16)
    for y, x in ZINGERS:
        stack[:, y, x] = np.iinfo(np.uint16).max
    for y, x in DEAD:
        stack[:, y, x] = 0
    return stack


@pytest.fixture
def frames_file(tmp_path):
    import h5py

    path = tmp_path / "frames" / "exp.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as handle:
        handle["x"] = measured_frames()[:, None]  # (N, 1, H, W) as in tk_r_em's test data
    return path


def _mask(points) -> np.ndarray:
    mask = np.zeros((SIDE_PX, SIDE_PX), dtype=bool)
    mask[tuple(np.array(points).T)] = True
    return mask


def test_negative_fraction_and_min_over_std_are_exact():
    output = np.array([[-1.0, 0.0, 2.0], [-0.5, 3.0, 4.0]])
    assert negative_fraction(output) == 2 / 6  # 0 is not negative
    assert min_over_std(output) == -1.0 / np.std(output)
    assert np.isnan(min_over_std(np.ones((4, 4))))


def test_injected_zingers_and_dead_pixels_are_found_and_nothing_else():
    raw = measured_frames()[0].astype(float)
    found = outlier_pixels(raw, dtype="uint16")
    # A false hot pixel must exceed all 8 neighbours by 8 σ (σ ≈ √300 ≈ 17 counts from the background): at a
    # column centre that is 8 σ ≈ 140 counts against an expected excess of ≈ 40 and a spread of ≈ 45, a 2·10⁻³
    # chance per column at most; the fixed seed makes the outcome reproducible.
    assert found["hot_test_applied"]
    np.testing.assert_array_equal(found["zingers"], _mask(ZINGERS))
    np.testing.assert_array_equal(found["dead"], _mask(DEAD))


def test_the_hot_pixel_test_is_dropped_where_bright_pixels_are_the_noise_itself():
    # sparse single-electron pulses: 5 % of the pixels bright on a dark frame; hot pixels are rare, these are not
    rng = np.random.default_rng(3)
    frame = 200.0 + 5000.0 * (rng.random((SIDE_PX, SIDE_PX)) < 0.05) + rng.normal(0, 10, (SIDE_PX, SIDE_PX))
    found = outlier_pixels(frame, dtype="uint16")
    assert not found["hot_test_applied"] and not found["zingers"].any()


def test_zinger_residual_is_large_when_kept_and_zero_when_median_filtered():
    from scipy import ndimage

    raw = measured_frames()[0].astype(float)
    zingers = _mask(ZINGERS)
    kept = outlier_residual(raw, zingers, spacing_px=SPACING_PX)
    # kept: 65535 − (neighbour median ≤ 1000 + 5·√1000) > 64 000, over a high-pass robust std of at most
    # 1.4826 × (column amplitude + 5 noise σ) ≈ 1.4826 × 860 ≈ 1300: more than 45
    assert kept > 45
    filtered = np.where(zingers, ndimage.median_filter(raw, size=3, mode="reflect"), raw)
    # a zinger is the largest of its 3×3 block, so its 3×3 median is the 5th smallest of its 8 neighbours: the
    # very value the residual subtracts; exactly 0
    assert outlier_residual(filtered, zingers, spacing_px=SPACING_PX) == 0.0
    assert np.isnan(outlier_residual(raw, np.zeros_like(zingers), spacing_px=SPACING_PX))  # no zingers: NaN


def test_neighbour_medians_of_selected_pixels_equal_the_filtered_frames_edges_included():
    image = np.random.default_rng(3).normal(size=(9, 11))
    at = np.zeros(image.shape, dtype=bool)
    at[[0, 0, 4, 8, 8], [0, 10, 5, 0, 7]] = True  # corners, an edge and the inside
    np.testing.assert_array_equal(neighbour_median(image, at=at), neighbour_median(image)[at])


def test_dead_residual_is_negative_when_kept_and_bounded_by_neighbour_order_statistics_when_filled():
    from scipy import ndimage

    raw = measured_frames()[0].astype(float)
    dead = _mask(DEAD)
    scale = robust_std(raw - ndimage.gaussian_filter(raw, SPACING_PX / 4, mode="reflect"))
    kept = outlier_residual(raw, dead, spacing_px=SPACING_PX)
    assert kept == pytest.approx(np.median(-neighbour_median(raw)[dead]) / scale)  # 0 − neighbour median
    # the 5th smallest neighbour of a column centre lies near 300 + 0.895 × 700 ≈ 926 counts (diagonal neighbours,
    # exp(−1/σ²) of the amplitude) give or take √926 ≈ 30: above 300 + 0.7 × 700 = 790 by more than 4 σ
    assert kept < -(BACKGROUND + 0.7 * AMPLITUDE) / scale
    filled = np.where(dead, ndimage.median_filter(raw, size=3, mode="reflect"), raw)
    # a dead pixel is the smallest of its 3×3 block: its 3×3 median is the 4th smallest neighbour, the residual
    # (4th − 5th smallest neighbour) / scale, between −(largest such gap) and 0
    neighbours = np.sort([np.delete(raw[y - 1:y + 2, x - 1:x + 2].ravel(), 4) for y, x in DEAD], axis=1)
    gap = np.max(neighbours[:, 4] - neighbours[:, 3]) / scale
    assert -gap <= outlier_residual(filled, dead, spacing_px=SPACING_PX) <= 0.0


def test_columns_of_a_noise_free_lattice_are_all_found_and_match_themselves():
    clean = clean_lattice()
    found = find_columns(clean, spacing_px=SPACING_PX)
    assert len(found) == CENTRES.size**2
    expected = {(int(y), int(x)) for y in CENTRES for x in CENTRES}
    assert {tuple(map(int, peak)) for peak in found} == expected  # centres on pixels: found exactly
    assert match_columns(found, found, radius_px=SPACING_PX / 4) == (1.0, 0.0)
    assert match_columns(found, found + SPACING_PX / 2, radius_px=SPACING_PX / 4)[0] == 0.0


def test_the_lattice_spacing_is_found_from_a_noisy_frame():
    # the nearest autocorrelation peak is at lag (0, 12); the Hann window's envelope moves it by ≈ 0.2 px, less
    # than half a pixel, so the integer lag is 12 exactly
    assert lattice_spacing_px(measured_frames()[0].astype(float)) == SPACING_PX
    assert np.isnan(lattice_spacing_px(np.zeros((64, 64))))  # a flat frame: no peak, no lattice


def test_noise_std_and_bm3ds_gaussian_model():
    from bench.methods import generalized_anscombe, inverse_generalized_anscombe

    noise = np.random.default_rng(5).normal(0.0, 10.0, (256, 256))
    # the MAD estimator's relative standard error is ≈ 1.3/√n, n ≈ 6.5·10⁴ (×3 for the kernel's correlation): < 2 %
    assert noise_std(noise + 1000.0) == pytest.approx(10.0, rel=0.05)
    raw = measured_frames()[0].astype(float)
    model = gaussian_noise_model(raw)
    transformed = generalized_anscombe(raw, model)
    slope = np.polyfit(raw.ravel(), transformed.ravel(), 1)[0]
    assert slope == pytest.approx(1.0 / model.read_noise, rel=1e-4)  # affine to 10⁻⁴: z/σ + constant
    assert np.abs(inverse_generalized_anscombe(transformed, model) - raw).max() < 1e-3 * model.read_noise


def test_without_frames_the_study_says_which_option_and_where_to_get_an_example(tmp_path, capsys):
    from bench.cli import main
    from bench.studies import get_study

    study = get_study("experimental")
    with pytest.raises(ValueError, match=r"--frames PATH.*pip download tk_r_em==1\.0\.4"):
        study.inputs(study.configure("quick"))
    assert main(["run", "experimental", "--methods", "raw", "--output", str(tmp_path / "o")]) == 2
    assert "needs --frames PATH" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_methods_that_train_on_the_data_are_refused():
    from bench.methods import make_method
    from bench.studies import get_study

    study = get_study("experimental")
    with pytest.raises(ValueError, match="n2v2"):
        study.check_methods(study.configure("quick"), [make_method("raw"), make_method("n2v2")])


def test_a_run_writes_its_tables_and_report_and_refuses_another_frames_file(frames_file, tmp_path, capsys):
    import pandas as pd

    from _shared.files import sha256_file
    from bench.cli import main

    output = tmp_path / "results"
    assert main(["run", "experimental", "--frames", str(frames_file), "--methods", "raw", "--workers", "1",
                 "--quiet", "--output", str(output)]) == 0
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["config"]["frames_sha256"] == sha256_file(frames_file)
    assert manifest["config"]["frames_shape"] == [3, SIDE_PX, SIDE_PX] and manifest["config"]["frames_used"] == 2
    assert manifest["config"]["frames_dtype"] == "uint16"  # quick: the first 2 of the file's 3 frames …
    assert manifest["frames"]["path"] == str(frames_file.resolve()) and not list(output.rglob("*.h5"))
    realisations = pd.read_parquet(output / "realisations.parquet")
    assert list(realisations["frame"]) == [0, 1] and (realisations["highpass_ratio"] == 1.0).all()
    assert (realisations["zingers"] == len(ZINGERS)).all() and (realisations["dead_pixels"] == len(DEAD)).all()
    assert (realisations["zinger_residual"] > 45).all()  # bound of the zinger test above
    reference = pd.read_parquet(output / "reference.parquet")
    assert (reference["reference"] == "mean of 3 frames").all()  # … the reference averages all frames of the field
    assert (reference["columns_reference"] == CENTRES.size**2).all()
    summary = pd.read_parquet(output / "summary.parquet")
    assert list(summary["method"]) == ["raw"] and summary.loc[0, "frames"] == 2
    for name in ("report/report.html", "report/montage.png", "examples.npz"):
        assert (output / name).exists(), name
    other = frames_file.with_name("other.npy")
    np.save(other, measured_frames(seed=12))
    capsys.readouterr()
    assert main(["run", "experimental", "--frames", str(other), "--methods", "raw", "--output", str(output)]) == 2
    assert "differs in: frames_sha256" in capsys.readouterr().err
