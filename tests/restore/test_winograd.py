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
        np.testing.assert_allclose(at @ ((g @ taps) * (bt @ d)), expected, rtol=0, atol=1e-12)


def test_matrices_reject_wrong_points():
    with pytest.raises(ValueError, match="distinct"):
        winograd_matrices((0.0, 1.0, 1.0, 2.0, -0.5))
    with pytest.raises(ValueError, match="need 5"):
        winograd_matrices((0.0, 1.0, -1.0))


@pytest.mark.parametrize("shape", [(2, 1, 64, 64), (1, 1, 36, 52)])  # half sizes 32² (whole tiles) and 18×26
def test_small_network_matches_direct_convolution(shape):
    model = _model(SMALL)
    x = torch.from_numpy(np.random.default_rng(2).poisson(20.0, shape).astype(np.float32))
    with torch.inference_mode():
        direct, winograd, exact = model(x), WinogradCGRDN(model)(x), model.double()(x.double())
    scale = float(exact.std())
    error_winograd = float((winograd.double() - exact).abs().max()) / scale
    error_direct = float((direct.double() - exact).abs().max()) / scale
    assert error_winograd < 1e-5
    assert error_winograd < 10 * max(error_direct, 1e-7)


@pytest.mark.parametrize("tiles_per_strip", [4, 13])
def test_strips_do_not_change_the_result(tiles_per_strip):
    """Splitting the tiles into strips (as for large images) only regroups the same arithmetic."""
    model = _model(SMALL)
    x = torch.from_numpy(np.random.default_rng(6).poisson(20.0, (1, 1, 36, 52)).astype(np.float32))
    with torch.inference_mode():
        whole = WinogradCGRDN(model)(x)
        strips = WinogradCGRDN(model, tiles_per_strip=tiles_per_strip)(x)
    assert float((whole - strips).abs().max()) <= 1e-6 * float(whole.abs().max())


def test_full_size_network_matches_direct_convolution():
    """Published sizes (288-channel dense layers), where Winograd rounding would show if it were poor."""
    model = _model(CGRDNConfig.full(), seed=3)
    x = torch.from_numpy(np.random.default_rng(3).poisson(5.0, (1, 1, 48, 48)).astype(np.float32))
    with torch.inference_mode():
        direct, winograd = model(x), WinogradCGRDN(model)(x)
    relative = float((winograd - direct).abs().max() / direct.std())
    assert relative < 2e-5


def test_dense_layer_rounding_is_at_direct_convolution_level():
    """One 288→32 layer against float64: the chosen points keep the error near direct convolution's."""
    from restore.winograd import _Layout, _Transforms, _Workspace

    torch.manual_seed(4)
    conv = torch.nn.Conv2d(288, 32, 3, padding=1)
    x = torch.randn(288, 32, 32)
    transforms = _Transforms()
    work = _Workspace(_Layout.of(32, 32), 32, 32, features=288, growth=32, dense_layers=1, like=x)
    work.interior(work.padded[:288]).copy_(x)
    transforms.to_tiles(work, 0, 288)
    torch.bmm(transforms.filters(conv), work.tiles[0], out=work.products[0])
    transforms.from_tiles(work, torch.zeros(32), 288)  # ReLU of the bias-free convolution
    out = work.interior(work.padded[288:])
    with torch.no_grad():
        exact = F.conv2d(x[None].double(), conv.weight.double(), padding=1)[0].clamp_min(0)
        direct = F.conv2d(x[None], conv.weight, padding=1)[0].clamp_min(0)
    rms = lambda e: float(e.pow(2).mean().sqrt() / exact.pow(2).mean().sqrt())  # noqa: E731
    assert rms(out.double() - exact) < 3 * rms(direct.double() - exact)
    assert rms(out.double() - exact) < 3e-6


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
        assert float((rebuilt(x) - model(x)).abs().max()) < 1e-5
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
    assert float(np.abs(auto - direct).max()) < 1e-5 * float(direct.std())
    np.testing.assert_array_equal(stack[0], stack[1])
    assert float(np.abs(stack[0] - direct).max()) < 1e-5 * float(direct.std())


def test_restore_image_rejects_impossible_algorithm():
    image = np.ones((32, 32), np.float32)
    with pytest.raises(ValueError, match="choose one of"):
        restore_image(image, _model(SMALL), tile=32, algorithm="fft", device="cpu")
    with pytest.raises(ValueError, match="bf16 off"):
        restore_image(image, _model(SMALL), tile=32, algorithm="winograd", device="cpu", bf16=True)
    with pytest.raises(ValueError, match="needs a CGRDN"):
        restore_image(image, torch.nn.Identity(), tile=32, algorithm="winograd", device="cpu")
