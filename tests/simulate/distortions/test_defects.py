import numpy as np
import pytest
import torch

from simulate.distortions import RowLineParams, black_pixels, clip_upper, quantise, row_line_noise, zingers


@pytest.fixture
def images():
    return torch.rand((4, 128, 96), generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.1


def test_row_line_segments_become_their_own_mean_times_the_factor(images):
    params = RowLineParams()
    out, mask, segments = row_line_noise(images, params, 3, return_mask=True, return_segments=True)
    height, width = images.shape[-2:]
    assert torch.equal(out != images, mask)  # nothing outside the segments changes
    covered = torch.zeros_like(mask)
    for b, image_segments in enumerate(segments):
        assert 1 <= len(image_segments) <= max(1, height // 32)
        claimed = torch.zeros_like(mask[b])
        for seg in reversed(image_segments):  # a later segment overwrites an earlier one
            row, start, stop = seg["row"], seg["start"], seg["stop"]
            assert 0 <= start < stop <= width and 0.5 <= seg["factor"] <= 1.5
            assert stop - start >= min(round(0.05 * width), width - start)
            assert seg["mean"] == pytest.approx(float(images[b, row, start:stop].mean()), rel=1e-12)
            own = ~claimed[row, start:stop]
            expected = seg["mean"] * seg["factor"]
            assert torch.allclose(out[b, row, start:stop][own], torch.full_like(out[b, row, start:stop][own], expected),
                                  rtol=1e-12, atol=0)
            claimed[row, start:stop] = True
        covered[b] = claimed
    assert torch.equal(covered, mask)


def test_row_line_count_follows_the_image_height():
    short = torch.rand((64, 20, 40), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    _, segments = row_line_noise(short, RowLineParams(), 2, return_segments=True)
    assert all(len(s) == 1 for s in segments)  # max(1, 20 // 32) = 1
    tall = torch.rand((400, 256, 8), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    _, segments = row_line_noise(tall, RowLineParams(), 2, return_segments=True)
    counts = np.array([len(s) for s in segments])
    assert counts.min() >= 1 and counts.max() <= 8
    # Uniform on 1..8: mean 4.5, variance (8² - 1)/12.
    assert abs(counts.mean() - 4.5) < 5 * np.sqrt(63 / 12 / counts.size)


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
        row_line_noise(torch.full((3, 3), float("nan")), RowLineParams(), 0)
    with pytest.raises(ValueError, match="RowLineParams"):
        row_line_noise(images, 0.1, 0)
    with pytest.raises(ValueError, match="min_length_fraction"):
        RowLineParams(min_length_fraction=0.5, max_length_fraction=0.2)
    with pytest.raises(ValueError, match="max_factor"):
        RowLineParams(min_factor=1.5, max_factor=0.5)
