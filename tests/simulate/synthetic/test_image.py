import numpy as np
import pytest
import torch

from simulate.synthetic.image import (
    PAPER_STD_MEAN_RATIO_RANGE,
    STD_MEAN_RATIO_RANGE,
    adjust_std_mean_ratio,
    finish_image,
    sample_background,
    std_mean_ratio,
)
from simulate.synthetic.lowres import (
    LOWRES_KINDS,
    crack_mask,
    sample_lowres_image,
    sharp_particles,
    soft_particle,
    soft_particles,
    voronoi_grains,
)


@pytest.mark.parametrize("seed", range(12))
def test_finished_images_are_normalised_with_ratio_in_range(seed):
    rng = np.random.default_rng(seed)
    sparse = torch.zeros(96, 96)
    sparse[rng.integers(0, 96, 30), rng.integers(0, 96, 30)] = torch.as_tensor(rng.uniform(0.1, 1.0, 30),
                                                                             dtype=torch.float32)
    field = (slice(8, 88), slice(8, 88))
    y, record = finish_image(sparse, rng, region=field)
    inner = y[field]
    low, high = STD_MEAN_RATIO_RANGE
    assert torch.isfinite(y).all() and float(y.min()) >= 0
    assert float(inner.max()) == pytest.approx(1.0)  # eq. 26
    assert low - 1e-6 <= std_mean_ratio(inner) <= high + 1e-6  # eq. 25
    assert record["std_mean_ratio"] == pytest.approx(std_mean_ratio(inner))
    assert record["background"] in ("plane", "gaussian")  # always a background


def test_ratio_range_keeps_the_papers_value_beside_ours():
    assert PAPER_STD_MEAN_RATIO_RANGE == (0.01, 0.35)
    assert STD_MEAN_RATIO_RANGE[0] == 0.01 and STD_MEAN_RATIO_RANGE[1] >= 2.19  # 1-atom Pt [001] HAADF


def test_ratio_adjustment_in_both_directions():
    high = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])  # std/mean = 3
    shifted, offset = adjust_std_mean_ratio(high)
    assert offset > 0 and std_mean_ratio(shifted) == pytest.approx(STD_MEAN_RATIO_RANGE[1], rel=1e-5)
    shifted, offset = adjust_std_mean_ratio(high, *PAPER_STD_MEAN_RATIO_RANGE)
    assert std_mean_ratio(shifted) == pytest.approx(0.35, rel=1e-5)
    flat = torch.tensor([10.0, 10.01, 10.02, 10.0])
    shifted, offset = adjust_std_mean_ratio(flat)
    assert offset < 0 and std_mean_ratio(shifted) == pytest.approx(0.01, rel=1e-4) and float(shifted.min()) >= 0
    with pytest.raises(ValueError):
        finish_image(torch.zeros(8, 8), np.random.default_rng(0))


def test_inversion_and_power_follow_eqs_23_and_24():
    image = torch.linspace(0.0, 2.0, 64).reshape(8, 8)
    rng = np.random.default_rng(0)
    y, record = finish_image(image, rng, invert_probability=1.0, power_probability=0.0, background=False)
    expected = (2.0 - image) / 2.0  # max(y) − y, then the eq. 25 offset and eq. 26
    expected = expected + record["offset"]
    assert record["inverted"] and record["power"] == 1.0
    assert torch.allclose(y, expected / expected.max(), atol=1e-6)
    y, record = finish_image(image, rng, invert_probability=0.0, power_probability=1.0, background=False)
    assert 0.5 <= record["power"] <= 1.5
    expected = (image / 2.0) ** record["power"] + record["offset"]
    assert torch.allclose(y, expected / expected.max(), atol=1e-6)


def test_background_plane_and_gaussian_parameters_in_range():
    rng = np.random.default_rng(2)
    shape, field = (100, 120), (slice(10, 90), slice(20, 100))  # field of view 80 × 80
    kinds = []
    for _ in range(200):
        background, record = sample_background(shape, 0.8, rng, field)
        kinds.append(record["background"])
        assert float(background.min()) >= 0
        assert 0 <= record["height"] <= 0.4 + 1e-12
        assert float(background.max()) <= record["height"] * (1 + 1e-6) + 1e-7
        if record["background"] == "plane":
            assert float(background.max()) == pytest.approx(record["height"], rel=1e-5, abs=1e-7)
            assert 0 <= record["height_min"] <= record["height"]
            assert float(background.min()) == pytest.approx(record["height_min"], rel=1e-5, abs=1e-7)
        else:
            assert 0.2 * 80 <= record["std_px"] <= 0.6 * 80
            nearest_pixel = np.exp(-0.5 / (2 * record["std_px"] ** 2))  # centre ≤ √½ px from a pixel
            assert float(background.max()) >= record["height"] * nearest_pixel * (1 - 1e-6)
            assert 10 <= record["centre_px"][0] <= 90 and 20 <= record["centre_px"][1] <= 100
    # p = 0.5 each: 5-sigma bound on the fraction of planes in 200 draws.
    assert abs(kinds.count("plane") / 200 - 0.5) < 5 * 0.5 / np.sqrt(200)


@pytest.mark.parametrize("kind", LOWRES_KINDS)
def test_lowres_kinds_give_nonconstant_nonnegative_images(kind):
    image, record = sample_lowres_image((64, 80), np.random.default_rng(3), kinds=(kind,))
    assert image.shape == (64, 80) and np.isfinite(image).all() and image.min() >= 0
    assert image.std() > 0 and record["kinds"] == [kind]


def test_cracks_darken_and_bad_kind_raises():
    mask = crack_mask((64, 64), np.random.default_rng(0))
    assert mask.min() < 0.31 and mask.max() == 1.0
    with pytest.raises(ValueError):
        sample_lowres_image((64, 64), np.random.default_rng(0), kinds=("clouds",))


@pytest.mark.parametrize("seed", range(6))
def test_lowres_object_counts_follow_the_paper(seed):
    rng = np.random.default_rng(seed)
    shape = (160, 200)
    _, soft = soft_particles(shape, rng)
    assert 15 <= soft["count"] <= 85
    _, sharp = sharp_particles(shape, rng)
    assert 15 <= sharp["count"] <= 40 and set(sharp["vertices"]) <= {0, 3, 4, 5}
    assert 0 in sharp["vertices"] and set(sharp["vertices"]) & {3, 4, 5}  # ellipses and polygons
    grains, record = voronoi_grains(shape, rng)
    assert 15 <= record["count"] <= 175
    if record["border"] is not None:
        border = record["border"]
        assert 0.5 <= border["intensity_factor"] <= 1.5
        level = border["intensity_factor"] * border["grain_mean"]
        assert np.isclose(grains, level).sum() >= min(shape)  # the borderline pixels carry that level


def test_soft_particle_is_the_asymmetric_eq17():
    heights, order, r_mx, alpha, angle = (0.6, 0.8, 0.9), 7.5, 6.0, 1.15, 0.4
    centre = np.array([0.0, 0.0])
    along = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-np.sin(angle), np.cos(angle)])
    points = np.array([[0.0, 0.0], r_mx * along, alpha * r_mx * across, 2 * r_mx * along])
    values = soft_particle(points[:, 0], points[:, 1], centre, r_mx, alpha, heights, order, angle)
    def f(rho):
        return heights[0] * np.exp(-(rho**2) / 2) + heights[1] * np.exp(-rho) + heights[2] / (1 + rho ** (2 * order))

    assert np.allclose(values, [f(0.0), f(1.0), f(1.0), f(2.0)], rtol=1e-12)
    assert values[0] == pytest.approx(sum(heights))
