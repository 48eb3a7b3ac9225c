import numpy as np
import pytest
import torch

from simulate.distortions import (
    AffineParams,
    AnnotationParams,
    CropParams,
    PostprocessParams,
    apply_postprocessing,
    sample_postprocess_params,
)


@pytest.fixture
def pair():
    gen = torch.Generator().manual_seed(0)
    return (torch.rand((3, 64, 80), generator=gen, dtype=torch.float64),
            torch.rand((3, 64, 80), generator=gen, dtype=torch.float64) + 1.0)


def test_annotations_are_drawn_identically_into_input_and_target(pair):
    x, y = pair
    params = PostprocessParams(annotations=AnnotationParams(count=4, level=0.5))
    xo, yo, record = apply_postprocessing(x, y, params, 3)
    changed_x, changed_y = xo != x, yo != y
    assert int(changed_x.sum()) > 50
    assert torch.equal(changed_x, changed_y)
    mid_x = (x.amin(dim=(1, 2)) + x.amax(dim=(1, 2))) / 2
    assert torch.allclose(xo[0][changed_x[0]], mid_x[0].expand(int(changed_x[0].sum())))
    assert record["images"][0][0]["name"] == "annotations"


def test_crop_fills_the_same_outside_region_with_each_median(pair):
    x, y = pair
    params = PostprocessParams(crop=CropParams(0.5, 0.75, "median"))
    xo, yo, _ = apply_postprocessing(x, y, params, 0)
    inside = torch.zeros((64, 80), dtype=torch.bool)
    inside[16:48, 10:70] = True
    assert torch.equal(xo[:, inside], x[:, inside]) and torch.equal(yo[:, inside], y[:, inside])
    for img, orig in ((xo, x), (yo, y)):
        median = orig.flatten(1).median(dim=1).values
        assert torch.equal(img[:, ~inside], median[:, None].expand(3, int((~inside).sum())))


def test_blur_acts_on_the_input_only_and_keeps_constants(pair):
    x, y = pair
    xo, yo, _ = apply_postprocessing(x, y, PostprocessParams(blur_sigma=1.0), 0)
    assert torch.equal(yo, y) and float((xo - x).abs().max()) > 0.1
    assert float(xo.std()) < float(x.std())
    const = np.full((20, 20), 3.0)
    xo, _, _ = apply_postprocessing(const, const, PostprocessParams(blur_sigma=0.7), 0)
    assert np.allclose(xo, 3.0, atol=1e-12)
    xo, _, _ = apply_postprocessing(x, y, PostprocessParams(blur_sigma=0.0), 0)
    assert torch.equal(xo, x)


def test_affine_identity_shift_and_rotation(pair):
    x, y = pair
    xo, yo, _ = apply_postprocessing(x, y, PostprocessParams(affine=AffineParams()), 0)
    assert torch.allclose(xo, x, atol=1e-9) and torch.allclose(yo, y, atol=1e-9)
    xo, yo, _ = apply_postprocessing(x, y, PostprocessParams(affine=AffineParams(shift_x=2.0, shift_y=1.0)), 0)
    assert torch.allclose(xo[:, 1:, 2:], x[:, :-1, :-2], atol=1e-9)
    assert torch.allclose(yo[:, 1:, 2:], y[:, :-1, :-2], atol=1e-9)
    square = x[:, :, :64]
    xo, _, _ = apply_postprocessing(square, square, PostprocessParams(affine=AffineParams(rotation=90.0)), 0)
    assert torch.allclose(xo, torch.rot90(square, k=1, dims=(1, 2)), atol=1e-9) or torch.allclose(
        xo, torch.rot90(square, k=-1, dims=(1, 2)), atol=1e-9)


def test_postprocessing_validates_and_samples():
    with pytest.raises(ValueError, match="same shape"):
        apply_postprocessing(np.zeros((4, 4)), np.zeros((4, 5)), PostprocessParams(), 0)
    with pytest.raises(ValueError, match="crop.fill"):
        CropParams(fill="mean")
    for seed in range(50):
        params = sample_postprocess_params(seed)
        assert params.blur_sigma is None or 0 <= params.blur_sigma <= 1
