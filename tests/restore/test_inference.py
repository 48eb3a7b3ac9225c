import numpy as np
import pytest
import torch
from torch import nn

from restore.inference import restore_image, restore_stack, tile_starts, tiles_needed
from restore.models import CGRDN, CGRDNConfig
from tests.restore.rounding import gamma, image_error_std, within_model


class LinearFilter(nn.Module):
    """A position-independent 5×5 filter (receptive-field radius 2) with zero padding."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 5, padding=2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(1, 1, 5, 5, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        return self.conv(x)


def _untiled(model, image):
    padded = np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2)), mode="reflect")
    with torch.no_grad():
        return model(torch.from_numpy(padded)[None, None])[0, 0].numpy()[:image.shape[0], :image.shape[1]]


@pytest.mark.parametrize("shape", [(301, 257), (64, 200), (97, 97)])
def test_tiling_leaves_no_seams_for_a_linear_filter(shape):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    model = LinearFilter()
    tiled = restore_image(image, model, tile=64, overlap=16, margin=4, batch_size=3, device="cpu")
    reference = _untiled(model.double(), image.astype(np.float64))
    assert tiled.shape == image.shape
    # 25-term dot products (γ_25) and the blending (≤ 4 tiles per pixel: ≤ 10 roundings), relative to
    # Σ|w||x| (Higham, Accuracy and Stability of Numerical Algorithms, §3.1): at most γ_36·Σ|w||x|
    magnitude = LinearFilter().double()
    magnitude.conv.weight.data.abs_()
    assert np.all(np.abs(tiled - reference) <= gamma(36) * _untiled(magnitude, image.astype(np.float64)))
    assert tiles_needed(shape, 64, 16) > 1


def test_seams_appear_when_the_margin_is_too_small():
    """The same check fails if tile borders (margin 0 < radius 2) are blended in: the test can fail."""
    image = np.random.default_rng(0).random((150, 150)).astype(np.float32)
    model = LinearFilter()
    tiled = restore_image(image, model, tile=64, overlap=16, margin=0, device="cpu")
    assert np.abs(tiled - _untiled(model, image)).max() > 1e-3


def test_identity_model_returns_the_image_and_stacks_go_frame_by_frame():
    stack = np.random.default_rng(1).random((3, 75, 81)).astype(np.float32) * 100
    restored = restore_image(stack, nn.Identity(), tile=32, device="cpu")
    np.testing.assert_allclose(restored, stack, rtol=gamma(10), atol=0)  # the blending's ≤ 10 roundings
    model = CGRDN(CGRDNConfig.tiny())
    frames = restore_image(stack, model, tile=32, device="cpu")
    single = restore_image(stack[1], model, tile=32, device="cpu")
    np.testing.assert_array_equal(frames[1], single)


def test_cgrdn_tiled_output_keeps_the_intensity_scale():
    torch.manual_seed(0)
    model = CGRDN(CGRDNConfig.tiny())
    image = np.random.default_rng(2).random((90, 70)).astype(np.float32) + 1.0
    base = restore_image(image, model, tile=32, device="cpu")
    shifted = restore_image(1000.0 * image + 5e4, model, tile=32, device="cpu")
    np.testing.assert_allclose(shifted, 1000.0 * base + 5e4, rtol=1e-5)


def test_tile_starts_cover_the_image_and_end_flush():
    starts = tile_starts(300, 64, 48)
    assert starts[0] == 0 and starts[-1] == 300 - 64 and all(b - a <= 48 for a, b in zip(starts, starts[1:]))
    assert tile_starts(50, 64, 48) == [0]


@pytest.mark.parametrize("image, message", [
    (np.zeros((1, 1)), "each side"),
    (np.zeros((0, 10)), "empty"),
    (np.zeros((2, 3, 4, 5)), "rank"),
    (np.array([[np.nan] * 10] * 10), "NaN"),
    (np.full((10, 10), np.inf), "NaN or inf"),
    (np.array([["a"] * 10] * 10), "not numeric"),
])
def test_bad_images_raise(image, message):
    with pytest.raises(ValueError, match=message):
        restore_image(image, nn.Identity(), device="cpu")


@pytest.mark.parametrize("kwargs, message", [({"tile": 33}, "tile"), ({"tile": 64, "overlap": 64}, "overlap"),
                                             ({"tile": 64, "overlap": 16, "margin": 9}, "margin"),
                                             ({"batch_size": 0}, "batch_size")])
def test_bad_tiling_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        restore_image(np.zeros((40, 40)), nn.Identity(), device="cpu", **kwargs)


class CountingCalls(nn.Module):
    """Wraps a model and records the batch size of every forward pass."""

    def __init__(self, model):
        super().__init__()
        self.model, self.batches = model, []

    def forward(self, x):
        self.batches.append(x.shape[0])
        return self.model(x)


def test_restore_stack_batches_tiles_across_frames_and_equals_frame_by_frame():
    torch.manual_seed(0)
    model = CGRDN(CGRDNConfig.tiny())
    stack = np.random.default_rng(4).random((5, 45, 70)).astype(np.float32) + 1.0
    frame_by_frame = restore_image(stack, model, tile=32, batch_size=7, device="cpu")
    batched = restore_stack(stack, model, tile=32, batch_size=7, device="cpu")
    assert batched.shape == stack.shape and batched.dtype == np.float32
    std = 2 ** 0.5 * image_error_std(model, stack)  # two float32 evaluations of the same tiles
    assert within_model(batched - frame_by_frame, std)
    assert within_model(restore_stack(stack[2], model, tile=32, device="cpu") - frame_by_frame[2], std[2])

    counting = CountingCalls(nn.Identity())
    small = np.random.default_rng(5).random((6, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(restore_stack(small, counting, tile=32, batch_size=4, device="cpu"), small)
    assert counting.batches == [4, 2]  # one tile per frame, four frames per forward pass
    counting.batches.clear()
    restore_image(small, counting, tile=32, batch_size=4, device="cpu")
    assert counting.batches == [1] * 6
