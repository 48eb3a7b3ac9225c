import numpy as np
import pytest
import torch

from simulate.distortions import black_pixels, clip_upper, quantise, row_line_noise, zingers


@pytest.fixture
def images():
    return torch.rand((4, 128, 96), generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.1


def test_row_lines_change_exactly_whole_hit_lines(images):
    out, mask = row_line_noise(images, 0.1, 0.5, 3, return_mask=True)
    assert torch.equal(out != images, mask)
    rows_hit = mask.all(dim=-1)
    assert torch.equal(mask.any(dim=-1), rows_hit)  # whole lines or nothing
    offsets = out - images
    assert torch.allclose(offsets, offsets[..., :1].expand_as(offsets))
    n = rows_hit.numel()
    assert abs(int(rows_hit.sum()) - 0.1 * n) < 5 * np.sqrt(0.1 * 0.9 * n)


def test_black_pixels_are_exactly_the_claimed_pixels(images):
    out, mask = black_pixels(images, 0.02, 4, return_mask=True)
    assert torch.equal(out != images, mask)
    assert bool((out[mask] == 0).all())
    n = mask.numel()
    assert abs(int(mask.sum()) - 0.02 * n) < 5 * np.sqrt(0.02 * 0.98 * n)


def test_zingers_exceed_the_image_maximum_exactly_where_claimed(images):
    out, mask = zingers(images, 0.01, 0.5, 5, return_mask=True)
    assert torch.equal(out != images, mask)
    peak = images.amax(dim=(-2, -1), keepdim=True).expand_as(images)
    assert bool((out[mask] > peak[mask]).all()) and bool((out[mask] <= 1.5 * peak[mask]).all())


def test_clip_changes_exactly_the_values_above_the_level(images):
    out, mask = clip_upper(images, 0.8, return_mask=True)
    level = 0.8 * images.amax(dim=(-2, -1), keepdim=True)
    assert torch.equal(mask, images > level)
    assert torch.equal(out != images, mask)
    assert bool((out <= level).all())


def test_quantisation_rounds_to_the_grid_and_changes_only_off_grid_pixels(images):
    out, mask = quantise(images, 4, return_mask=True)
    low = images.amin(dim=(-2, -1), keepdim=True)
    step = (images.amax(dim=(-2, -1), keepdim=True) - low) / 15
    levels = (out - low) / step
    assert torch.allclose(levels, levels.round(), atol=1e-9)
    assert bool(((out - images).abs() <= step / 2 + 1e-12).all())
    assert torch.equal(out != images, mask)
    on_grid = low + torch.round((images - low) / step) * step
    assert torch.equal(quantise(on_grid, 4), on_grid)


def test_defect_arguments_are_validated(images):
    with pytest.raises(ValueError, match="probability"):
        black_pixels(images, 1.5, 0)
    with pytest.raises(ValueError, match="bits"):
        quantise(images, 0)
    with pytest.raises(ValueError, match="fraction"):
        clip_upper(images, 0.0)
    with pytest.raises(ValueError, match="amplitude"):
        zingers(images, 0.1, 0.0, 0)
    with pytest.raises(ValueError, match="NaN"):
        row_line_noise(torch.full((3, 3), float("nan")), 0.1, 0.1, 0)
