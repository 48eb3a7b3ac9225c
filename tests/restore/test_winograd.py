"""Winograd F(4×4, 3×3) evaluation of the CGRDN: exact algebra, float32 accuracy, integration."""
import gc
import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from restore.inference import restore_image, restore_stack
from restore.models import CGRDN, CGRDNConfig
from restore.winograd import POINTS, WinogradCGRDN, winograd_matrices, winograd_model
from tests.restore.rounding import (
    direct_variance,
    gamma,
    network_error_std,
    rounding_std,
    winograd_variance,
    within_model,
)

SMALL = CGRDNConfig(features=16, growth=8, dense_layers=3, blocks_per_group=2, groups=2)


def _model(config: CGRDNConfig, seed: int = 0) -> CGRDN:
    torch.manual_seed(seed)
    model = CGRDN(config).eval()
    with torch.no_grad():  # non-zero biases so that the ReLUs and the bias path matter
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                module.bias.uniform_(-0.2, 0.2)
    return model


@pytest.mark.parametrize("points, output_tile", [(POINTS, 4), ((0.0, 1.0, -1.0), 2), ((0.0, 1.0, -1.0, 2.0, -2.0), 4)])
def test_matrices_compute_the_correlation_exactly(points, output_tile):
    at, g, bt = winograd_matrices(points, output_tile)
    rng = np.random.default_rng(1)
    for _ in range(5):
        d, taps = rng.normal(size=output_tile + 2), rng.normal(size=3)
        expected = np.correlate(d, taps, mode="valid")
        # float64: Bᵀ solves its exactness conditions to 1e-10 (checked by winograd_matrices), then ≤ 3·n
        # roundings along any path, all relative to the absolute-value evaluation |Aᵀ|(|G||g| ⊙ |Bᵀ||d|)
        scale = np.abs(at) @ ((np.abs(g) @ np.abs(taps)) * (np.abs(bt) @ np.abs(d)))
        tolerance = (1e-10 + gamma(3 * len(d), 2.0 ** -53)) * scale
        assert np.all(np.abs(at @ ((g @ taps) * (bt @ d)) - expected) <= tolerance)


def test_matrices_reject_wrong_points():
    with pytest.raises(ValueError, match="distinct"):
        winograd_matrices((0.0, 1.0, 1.0, 2.0, -0.5))
    with pytest.raises(ValueError, match="need 5"):
        winograd_matrices((0.0, 1.0, -1.0))


@pytest.mark.parametrize("shape", [(2, 1, 64, 64), (1, 1, 36, 52)])  # half sizes 32² (whole tiles) and 18×26
def test_small_network_matches_float64_within_the_rounding_model(shape):
    """Both evaluations against float64, each within its float32 rounding model (tests/restore/rounding.py)."""
    model = _model(SMALL)
    x = torch.from_numpy(np.random.default_rng(2).poisson(20.0, shape).astype(np.float32))
    with torch.inference_mode():
        direct, winograd = model(x), WinogradCGRDN(model)(x)
    exact, std_winograd = network_error_std(model, x, winograd=True)
    _, std_direct = network_error_std(model, x, winograd=False)
    assert within_model(winograd.double() - exact, std_winograd)
    assert within_model(direct.double() - exact, std_direct)


@pytest.mark.parametrize("tiles_per_strip", [4, 13])
def test_strips_do_not_change_the_result(tiles_per_strip):
    """Splitting the tiles into strips (as for large images) only regroups the same arithmetic."""
    model = _model(SMALL)
    x = torch.from_numpy(np.random.default_rng(6).poisson(20.0, (1, 1, 36, 52)).astype(np.float32))
    with torch.inference_mode():
        whole = WinogradCGRDN(model)(x)
        strips = WinogradCGRDN(model, tiles_per_strip=tiles_per_strip)(x)
    exact, std = network_error_std(model, x, winograd=True)
    assert within_model(whole.double() - exact, std) and within_model(strips.double() - exact, std)


@pytest.mark.parametrize("max_band_rows", [7, 10, 16])
def test_bands_give_the_whole_map_result(max_band_rows):
    """Blocks evaluated in overlapping row windows (as for large images) keep only exact rows.

    The half-resolution map has 30 rows and SMALL has 3 dense layers (halo 3): 7 rows leave one kept row
    per inner window, 10 and 16 split the map unevenly. A window that kept a row within the halo would
    differ from the whole-map result by O(1) there, far beyond the rounding model.
    """
    model = _model(SMALL)
    x = torch.from_numpy(np.random.default_rng(7).poisson(20.0, (1, 1, 60, 44)).astype(np.float32))
    with torch.inference_mode():
        banded = WinogradCGRDN(model, max_band_rows=max_band_rows)(x)
    exact, std = network_error_std(model, x, winograd=True)
    assert within_model(banded.double() - exact, std)


def test_band_windows_tile_the_map_and_keep_their_halo():
    from restore.winograd import _Bands

    for rows, halo, max_rows in [(1024, 8, 512), (512, 8, 512), (300, 8, 256), (57, 3, 10), (30, 3, 7)]:
        bands = _Bands.of(rows, halo, max_rows)
        assert bands.height <= min(rows, max(max_rows, 4 * -(-max_rows // 4)))
        kept = [(first, end) for _, first, end in bands.windows]
        assert kept[0][0] == 0 and kept[-1][1] == rows and all(a[1] == b[0] for a, b in zip(kept, kept[1:]))
        for start, first, end in bands.windows:
            assert 0 <= start and start + bands.height <= rows
            assert start == 0 or first - start >= halo  # the window's top rows are discarded ...
            assert start + bands.height == rows or start + bands.height - end >= halo  # ... and its bottom rows
    assert _Bands.of(1024, 8, 512).height * 3 <= 1.04 * 1024  # three windows, ≈ 3 % recomputed
    with pytest.raises(ValueError, match="max_band_rows"):
        WinogradCGRDN(_model(SMALL), max_band_rows=6)


def test_full_size_network_matches_float64_within_the_rounding_model():
    """Published sizes (288-channel dense layers), where Winograd rounding would show if it were poor."""
    model = _model(CGRDNConfig.full(), seed=3)
    x = torch.from_numpy(np.random.default_rng(3).poisson(5.0, (1, 1, 32, 32)).astype(np.float32))
    with torch.inference_mode():
        winograd = WinogradCGRDN(model)(x)
    exact, std = network_error_std(model, x, winograd=True, draws=1)
    assert within_model(winograd.double() - exact, std)


def test_chosen_points_amplify_rounding_less_than_the_textbook_points():
    """Worst-case rounding amplification of F(4×4, 3×3) relative to direct convolution, exact in float64.

    Output i of a 1-D tile sums |Aᵀ_iξ G_ξk Bᵀ_ξt| |g_k| |d_t| over ξ, k, t where direct convolution sums
    |g_k| |d_{i+k}|: for equal magnitudes the ratio is a_i = Σ_{ξkt} |Aᵀ_iξ G_ξk Bᵀ_ξt| / 3, and a 2-D
    output (i, j) has a_i·a_j. The points (0, 1, −1, 2, −½, ∞) give max a_i² = 97.35 (mean 64); the
    textbook (0, ±1, ±2, ∞) give 256 (mean 76.6).
    """
    def amplification(points):
        at, g, bt = winograd_matrices(points)
        a = np.einsum("ix,xk,xt->i", np.abs(at), np.abs(g), np.abs(bt)) / 3
        return a.max() ** 2, np.outer(a, a).mean()

    ours, textbook = amplification(POINTS), amplification((0.0, 1.0, -1.0, 2.0, -2.0))
    assert ours == pytest.approx((97.3511, 64.0), rel=1e-5) and textbook == pytest.approx((256.0, 76.5625), rel=1e-5)


def test_dense_layer_error_is_within_the_float32_rounding_model():
    """One 288→32 layer against float64, Winograd and direct each within its own rounding model."""
    from restore.winograd import _Layout, _Transforms, _Workspace

    torch.manual_seed(4)
    conv = torch.nn.Conv2d(288, 32, 3, padding=1)
    with torch.no_grad():
        conv.bias.zero_()  # the layer below runs bias-free
    x = torch.randn(288, 32, 32)
    transforms = _Transforms()
    work = _Workspace(_Layout.of(32, 32), 32, 32, features=288, growth=32, dense_layers=1, like=x)
    work.interior(work.padded[:288]).copy_(x)
    transforms.to_tiles(work, 0, 288)
    torch.bmm(transforms.filters(conv), work.tiles[0], out=work.products[0])
    transforms.from_tiles(work, torch.zeros(32), 288)  # ReLU of the bias-free convolution
    out = work.interior(work.padded[288:])
    with torch.no_grad():
        x64 = x[None].double()
        exact = F.conv2d(x64, conv.weight.double(), padding=1)[0].clamp_min(0)
        direct = F.conv2d(x[None], conv.weight, padding=1)[0].clamp_min(0)
        std_winograd, std_direct = winograd_variance(conv, x64)[0].sqrt(), direct_variance(conv, x64)[0].sqrt()
    assert within_model(out.double() - exact, std_winograd)
    assert within_model(direct.double() - exact, std_direct)


def test_invalid_input_is_rejected():
    wrapped = WinogradCGRDN(_model(SMALL))
    with pytest.raises(ValueError, match="even"):
        wrapped(torch.zeros(1, 1, 33, 32))
    with pytest.raises(ValueError, match="float32"):
        wrapped(torch.zeros(1, 1, 32, 32, dtype=torch.float64))
    with pytest.raises(TypeError, match="CGRDN"):
        WinogradCGRDN(torch.nn.Identity())
    with pytest.raises(ValueError, match="float32 weights"):
        WinogradCGRDN(_model(SMALL).double())


def test_cache_follows_weight_changes_and_releases_models():
    model = _model(SMALL)
    wrapped = winograd_model(model)
    assert winograd_model(model) is wrapped
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        model.groups[0].blocks[0].dense[0].conv.weight.mul_(2.0)
    rebuilt = winograd_model(model)
    assert rebuilt is not wrapped
    with torch.inference_mode():
        exact, std = network_error_std(model, x, winograd=True)
        assert within_model(rebuilt(x).double() - exact, std)
    alive = weakref.ref(model)
    del model, wrapped, rebuilt
    gc.collect()
    assert alive() is None  # the cache does not keep the model (and its Winograd filters) alive


def test_restore_image_uses_winograd_on_cpu_and_agrees_with_direct():
    model = _model(SMALL)
    image = np.random.default_rng(5).poisson(30.0, (70, 90)).astype(np.float32)
    direct = restore_image(image, model, tile=48, algorithm="direct", device="cpu")
    auto = restore_image(image, model, tile=48, device="cpu")
    stack = restore_stack(np.stack([image, image]), model, tile=48, algorithm="winograd", device="cpu")
    # both run the same tiles: their difference is the two evaluations' rounding (modelled on the whole
    # image, the same layers and magnitudes as the tiles) plus the blending's few roundings of |output|
    x = torch.from_numpy(image)[None, None]
    exact, std_winograd = network_error_std(model, x, winograd=True)
    std_direct = network_error_std(model, x)[1]
    std = (std_winograd.square() + std_direct.square() + 2 * rounding_std(*[exact] * 4).square()).sqrt()[0, 0]
    assert within_model(auto - direct, std)
    np.testing.assert_array_equal(stack[0], stack[1])
    assert within_model(stack[0] - direct, std)


@pytest.mark.filterwarnings("ignore:bf16 forced on a CPU without")
def test_restore_image_rejects_impossible_algorithm():
    image = np.ones((32, 32), np.float32)
    with pytest.raises(ValueError, match="choose one of"):
        restore_image(image, _model(SMALL), tile=32, algorithm="fft", device="cpu")
    with pytest.raises(ValueError, match="numeric=.fp32."):
        restore_image(image, _model(SMALL), tile=32, algorithm="winograd", device="cpu", numeric="bf16")
    with pytest.raises(ValueError, match="needs a CGRDN"):
        restore_image(image, torch.nn.Identity(), tile=32, algorithm="winograd", device="cpu")
