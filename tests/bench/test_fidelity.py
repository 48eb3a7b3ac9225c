"""Noise-free fidelity (bench/fidelity.py, ``bench models fidelity``): known changes are measured as such.

The coarse series' fields of view are whole unit cells, hence periodic, so a Fourier shift translates every
column exactly; the fit's tolerances (1e-4 Å in position, 1e-6 relative) bound what an identity can show.
"""
from dataclasses import replace

import numpy as np
import pytest

from bench.cli import main
from bench.fidelity import (
    LATTICE_PROBES,
    axis_fundamentals,
    fidelity_verdict,
    format_fidelity,
    lattice_transfer,
    noise_free_fidelity,
    square_lattice,
)
from bench.studies.precision_vs_dose import PRESETS

POSITION_FLOOR_PM = 0.05  # 5 × the fit's 1e-4 Å position tolerance
SCS_FLOOR_PCT = 0.01


@pytest.fixture(scope="module")
def preset():
    return replace(PRESETS["quick"], thicknesses=(3, 8), thickness_series="coarse")


def fourier_shift_x(images: np.ndarray, shift_px: float) -> np.ndarray:
    """Translate periodic images by ``shift_px`` along x (the last axis)."""
    frequencies = np.fft.fftfreq(images.shape[-1])
    phase = np.exp(-2j * np.pi * frequencies * shift_px)
    return np.fft.ifft(np.fft.fft(images, axis=-1) * phase, axis=-1).real


def test_identity_changes_nothing(preset, series):
    table = noise_free_fidelity({"raw": lambda images: images}, preset=preset, series=series)
    assert list(table["atoms_per_column"]) == [3, 8]
    assert np.all(np.abs(table[["x_shift_pm", "y_shift_pm"]].to_numpy()) < POSITION_FLOOR_PM)
    assert np.all(np.abs(table["scs_change_pct"]) < SCS_FLOOR_PCT)
    assert np.allclose(table["contrast_transfer"], 1.0)
    assert fidelity_verdict(table)["raw"]


def test_translation_is_measured_along_its_axis(preset, series):
    shift_px = 0.1
    table = noise_free_fidelity({"shifted": lambda images: fourier_shift_x(images, shift_px)}, preset=preset,
                                series=series)
    expected_pm = shift_px * preset.pixel_size_A * 100.0
    assert np.allclose(table["x_shift_pm"], expected_pm, atol=POSITION_FLOOR_PM)
    assert np.all(np.abs(table["y_shift_pm"]) < POSITION_FLOOR_PM)
    assert np.all(np.abs(table["scs_change_pct"]) < 10 * SCS_FLOOR_PCT)
    assert not fidelity_verdict(table)["shifted"]  # 2 pm > 0.5 pm


def test_contrast_loss_is_an_scs_change(preset, series):
    table = noise_free_fidelity({"dimmed": lambda images: 0.9 * images}, preset=preset, series=series)
    assert np.allclose(table["scs_change_pct"], -10.0, atol=SCS_FLOOR_PCT)
    assert np.allclose(table["contrast_transfer"], 0.9)
    assert not fidelity_verdict(table)["dimmed"]
    text = format_fidelity(table, ["dimmed"])
    assert text.count("\n") == 1 + len(table)  # header of two lines, one line per row


def test_bad_input_is_refused(preset, series):
    with pytest.raises(ValueError, match="dose_e_per_A2"):
        noise_free_fidelity({"raw": lambda images: images}, preset=preset, series=series, dose_e_per_A2=0.0)
    with pytest.raises(ValueError, match="returned shape"):
        noise_free_fidelity({"crop": lambda images: images[:, 1:]}, preset=preset, series=series)


def test_command_prints_every_method(tiny_cgrdn_checkpoint, capsys, one_torch_thread):
    assert main(["models", "fidelity", tiny_cgrdn_checkpoint, "--thicknesses", "2"]) == 0
    out = capsys.readouterr().out
    assert "raw: within" in out
    assert "\ntiny " in out  # the checkpoint's row
    assert "tiny: numeric path: fp32 on " in out  # it says which arithmetic ran (no bf16 check: fp32)
    assert "square lattices" not in out


def test_command_prints_the_lattice_table_on_request(tiny_cgrdn_checkpoint, capsys, one_torch_thread):
    assert main(["models", "fidelity", tiny_cgrdn_checkpoint, "--thicknesses", "2", "--lattices"]) == 0
    tables = capsys.readouterr().out.split("square lattices")[1:]
    assert len(tables) == 3  # std, fast-axis and slow-axis transfer
    for out in tables:
        raw = next(line for line in out.splitlines() if line.startswith("raw "))
        assert raw.split()[1:] == ["1.000"] * len(LATTICE_PROBES)
        assert any(line.startswith("tiny") for line in out.splitlines())


def test_square_lattice_has_its_period_width_and_height():
    image = square_lattice(spacing_px=9.0, sigma_px=1.25, size_px=64, peak_counts=500.0)
    # columns at 4.5 + 9k: pixels 4 and 5 straddle one symmetrically, the lattice repeats every 9 px
    inner = image[9:54, 9:54]
    assert np.allclose(inner, image[18:63, 18:63], rtol=1e-12)
    assert np.allclose(image, image.T, rtol=1e-12)
    assert image[4, 4] == pytest.approx(image[4, 5], rel=1e-12)
    # half a pixel from a column: 500 exp(-0.5²/(2·1.25²)) per axis; neighbours 9 px away add
    # exp(-8.5²/3.125) ≈ 1e-10 of it
    assert image[4, 4] == pytest.approx(500.0 * np.exp(-0.5**2 / (2 * 1.25**2)) ** 2, rel=1e-9)
    with pytest.raises(ValueError, match="spacing_px"):
        square_lattice(spacing_px=0.0, sigma_px=1.0)


def test_lattice_transfer_is_one_for_the_identity_and_falls_with_blur():
    from scipy.ndimage import gaussian_filter

    table = lattice_transfer({"raw": lambda images: images,
                              "blur": lambda images: gaussian_filter(images, (0, 2.0, 2.0), mode="wrap")})
    assert len(table) == 2 * len(LATTICE_PROBES)
    raw = table[table["method"] == "raw"]
    assert np.allclose(raw["contrast_transfer"], 1.0, rtol=1e-12)
    blur = table[table["method"] == "blur"].set_index(["spacing_px", "sigma_px"])["contrast_transfer"]
    # a σ = 2 px blur keeps exp(-2π²·4/d²) of a lattice's fundamental: denser lattices lose more
    assert blur[(6.0, 1.0)] < blur[(9.0, 1.0)] < blur[(14.0, 1.0)] < 1.0
    assert blur[(6.0, 1.0)] < 0.25
    assert np.allclose(raw[["fast_axis_transfer", "slow_axis_transfer"]], 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="returned shape"):
        lattice_transfer({"crop": lambda images: images[:, 1:]})


def test_axis_fundamentals_see_a_blur_along_one_axis_only():
    from scipy.ndimage import gaussian_filter1d

    spacing, blur = 9.0, 1.2
    lattice = square_lattice(spacing_px=spacing, sigma_px=1.0, size_px=96)[None]
    # truncated at 10 σ the sampled kernel's transfer is the continuous exp(-2π²σ²/d²) but for its alias at
    # 1 px⁻¹, exp(-2π²σ²) ≈ 5e-13, and the tail beyond 10 σ, ~1e-23; rel 1e-6 leaves float64 sums ample room
    blurred = gaussian_filter1d(lattice, blur, axis=-1, truncate=10.0)
    fast, slow = (axis_fundamentals(blurred, spacing_px=spacing) / axis_fundamentals(lattice, spacing_px=spacing))[0]
    assert fast == pytest.approx(np.exp(-2 * np.pi**2 * blur**2 / spacing**2), rel=1e-6)
    assert slow == pytest.approx(1.0, rel=1e-12)
    fast_t, slow_t = axis_fundamentals(np.swapaxes(blurred, -1, -2), spacing_px=spacing)[0]
    assert (fast_t, slow_t) == pytest.approx(tuple(axis_fundamentals(blurred, spacing_px=spacing)[0][::-1]), rel=1e-12)
    with pytest.raises(ValueError, match="whole period"):
        axis_fundamentals(lattice, spacing_px=80.0)


def test_command_refuses_methods_that_train_on_the_study(capsys):
    assert main(["models", "fidelity", "n2v2", "--thicknesses", "2"]) != 0
    assert "noise-free images do not provide" in capsys.readouterr().err
