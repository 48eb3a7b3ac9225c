"""The self-supervised trainers: blind-spot masking, the N2V2 and hourglass networks, input checks, seeds."""
import numpy as np
import pytest
import torch

from restore.blind_spot import MASK_GRID_PX, mask_positions, masked_inputs
from restore.models.blind_spot_unet import BlindSpotUNet, BlindSpotUNetConfig, MaxBlurPool
from restore.models.hourglass import HourglassConfig, ReverseHourglass
from restore.self_supervised import check_stack, normalise, train_blind_spot, train_on_pairs
from restore.self_supervised_budget import SelfSupervisedBudget

TINY = SelfSupervisedBudget(steps=60, batch_size=2, patch_px=16, features=4, depth=1, learning_rate=5e-3)


def structured(rng):
    """Two 16 × 16 Poisson images of a striped pattern (pure noise would rightly be restored as a constant)."""
    stripes = 4.0 * (1.5 + np.sin(np.arange(16) * np.pi / 4))[None, :] * np.ones((16, 1))
    return rng.poisson(np.repeat(stripes[None], 2, axis=0)).astype(float)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_mask_positions_put_one_pixel_in_every_cell():
    b, r, c = mask_positions(3, patch_px=32, rng=np.random.default_rng(0))
    assert b.size == 3 * (32 // MASK_GRID_PX) ** 2
    cells = set(zip(b.tolist(), (r // MASK_GRID_PX).tolist(), (c // MASK_GRID_PX).tolist()))
    assert len(cells) == b.size  # no cell twice, none missed


@pytest.mark.parametrize("line_px", [1, 5])
def test_the_replacement_of_a_masked_pixel_never_depends_on_its_own_value(line_px):
    rng = np.random.default_rng(1)
    patches = rng.normal(size=(1, 8, 8))
    every = np.meshgrid([0], np.arange(8), np.arange(8), indexing="ij")
    for b, r, c in zip(*(a.ravel() for a in every)):  # every place, edges and corners included
        position = (np.array([b]), np.array([r]), np.array([c]))
        altered = patches.copy()
        altered[b, r, c] += 1000.0  # the hidden value changes wildly
        first = masked_inputs(patches, position, line_px=line_px)[b, r, c]
        assert masked_inputs(altered, position, line_px=line_px)[b, r, c] == first, (r, c)
    positions = mask_positions(1, patch_px=8, rng=rng)
    first = masked_inputs(patches, positions)
    unmasked = np.ones(patches.shape, bool)
    unmasked[positions] = False
    np.testing.assert_array_equal(first[unmasked], patches[unmasked])


def test_structn2v_masks_a_segment_along_the_fast_scan_axis_only():
    patches = np.random.default_rng(4).normal(size=(2, 16, 16))
    positions = (np.array([0]), np.array([8]), np.array([8]))
    out = masked_inputs(patches, positions, line_px=5)
    changed = np.argwhere(out != patches)
    assert {tuple(p) for p in changed} == {(0, 8, c) for c in range(6, 11)}  # one row, columns 6 … 10
    # the replacement is taken without the segment: changing the segment's pixels does not change it
    altered = patches.copy()
    altered[0, 8, 6:11] += 500.0
    np.testing.assert_array_equal(masked_inputs(altered, positions, line_px=5)[0, 8, 6:11], out[0, 8, 6:11])
    with pytest.raises(ValueError, match="odd"):
        masked_inputs(patches, positions, line_px=4)


def test_the_unet_has_n2v2s_fixes_blur_pool_and_no_top_skip():
    pool = MaxBlurPool()
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 3] = 1.0  # a single bright pixel: a strided max would keep it at full height
    y = pool(x)
    assert y.shape == (1, 1, 4, 4) and 0 < float(y.max()) < 1.0
    net = BlindSpotUNet(BlindSpotUNetConfig(features=4, depth=2))
    assert net.decoders[0][0].in_channels == 4  # the top decoder sees only up-sampled features
    assert net.decoders[1][0].in_channels == 16  # deeper levels keep their skips
    with_skip = BlindSpotUNet(BlindSpotUNetConfig(features=4, depth=2, top_skip=True))
    assert with_skip.decoders[0][0].in_channels == 8
    assert net(torch.zeros(2, 1, 16, 12)).shape == (2, 1, 16, 12)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 1, 10, 12))


def test_the_hourglass_has_eight_layers_widest_in_the_middle():
    net = ReverseHourglass(HourglassConfig(features=3))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    widths = [c.out_channels for c in convs]
    assert len(convs) == 8 and widths == [3, 6, 12, 24, 12, 6, 3, 1]
    assert net(torch.zeros(1, 1, 13, 9)).shape == (1, 1, 13, 9)  # full resolution, any size


@pytest.mark.parametrize(("images", "message"), [
    (np.full((2, 32, 32), 3.0), "constant"),
    (np.where(np.eye(32, dtype=bool), np.nan, 1.0)[None] + np.arange(32)[None, None], "NaN"),
    (np.random.default_rng(0).poisson(5.0, (3, 12, 40)).astype(float), "too small to train on"),
])
def test_images_a_network_cannot_learn_from_are_refused(images, message):
    with pytest.raises(ValueError, match=message):
        check_stack(images, TINY)


def test_a_constant_image_is_refused_before_any_division():
    images = np.concatenate([np.full((1, 8, 8), 3.0), np.arange(64.0).reshape(1, 8, 8)])
    with pytest.raises(ValueError, match="constant"):  # not a divide-by-zero RuntimeWarning
        normalise(images)


def test_a_pair_trainer_needs_as_many_images_as_it_is_told():
    with pytest.raises(ValueError, match="too small a stack"):
        check_stack(np.random.default_rng(0).poisson(5.0, (1, 32, 32)), TINY, minimum=2)


def test_training_is_reproducible_from_a_seed_on_the_cpu():
    images = structured(np.random.default_rng(2))

    def run(seed):
        return train_blind_spot(images, TINY, seed=seed).restore(images)

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))

    def draw(generator, n):
        first = generator.integers(0, 2, size=n)
        return images[first], images[1 - first]

    pair = [train_on_pairs(draw, TINY, network="hourglass", seed=3, kind="test", trained_on="x").restore(images)
            for _ in range(2)]
    np.testing.assert_array_equal(*pair)


def test_the_record_says_what_was_trained_and_for_how_long():
    images = structured(np.random.default_rng(3))
    record = train_blind_spot(images, TINY, line_px=3, seed=1).record
    assert record["kind"] == "structn2v" and record["network"] == "unet"
    assert record["budget"]["steps"] == 60 and record["training_s"] > 0 and record["parameters"] > 0
    assert "2 noisy images it restores" in record["trained_on"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("patch_px", 18, "multiple of"), ("steps", 0, "steps"), ("struct_mask_px", 4, "odd"),
    ("hourglass_dose_factor", 1.0, "higher dose"), ("learning_rate", float("nan"), "learning_rate"),
])
def test_an_invalid_budget_is_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        SelfSupervisedBudget(**{field: value})


def test_a_network_that_collapsed_to_a_constant_is_refused():
    from restore.self_supervised import TrainedDenoiser

    flat = torch.nn.Conv2d(1, 1, 1)
    torch.nn.init.zeros_(flat.weight)  # the output is its bias: one value for every pixel
    images = np.random.default_rng(5).poisson(4.0, size=(2, 16, 16)).astype(float)
    with pytest.raises(RuntimeError, match="collapsed to a constant output"):
        TrainedDenoiser(flat, {"kind": "n2v2", "seed": 1, "final_loss": 1.0}).restore(images)


def test_a_residual_network_that_returns_its_input_is_refused():
    from restore.self_supervised import TrainedDenoiser

    net = ReverseHourglass(HourglassConfig(features=2))
    last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)  # a dead residual branch: output = input
    images = structured(np.random.default_rng(6))
    with pytest.raises(RuntimeError, match="collapsed to the identity"):
        TrainedDenoiser(net, {"kind": "hourglass", "seed": 1, "final_loss": 0.5}).restore(images)
