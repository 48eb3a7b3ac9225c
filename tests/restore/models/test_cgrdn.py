import pytest
import torch

from restore.models import CGRDN, CGRDNConfig
from restore.tf_import import expected_r_em_layer_names
from tests.restore.rounding import network_error_std, rounding_std, within_model


def test_full_size_has_the_published_parameter_count_and_153_convolutions():
    model = CGRDN(CGRDNConfig.full())
    assert sum(p.numel() for p in model.parameters()) == 7_035_521
    layers = model.conv_layers()
    assert len(layers) == 153 == 2 + 4 * (4 * (8 + 1) + 1) + 3 == model.config.n_conv_layers
    assert len(layers) == len(expected_r_em_layer_names(model.config))
    assert len({id(layer) for layer in layers}) == 153  # every convolution exactly once


def test_conv_order_follows_the_keras_numbering():
    layers = CGRDN(CGRDNConfig.full()).conv_layers()
    shapes = [tuple(layer.weight.shape) for layer in layers]
    assert shapes[0] == (64, 1, 3, 3) and shapes[1] == (64, 64, 4, 4)
    assert [s[1] for s in shapes[2:10]] == [64 + 32 * k for k in range(8)]  # dense inputs grow by 32
    assert shapes[10] == (64, 320, 1, 1) and shapes[38] == (64, 256, 1, 1)  # RDB fusion, GRDB fusion
    assert shapes[150] == (64, 256, 1, 1)  # global fusion
    assert isinstance(layers[151], torch.nn.ConvTranspose2d) and shapes[152] == (1, 64, 3, 3)


def test_output_keeps_shape_and_is_equivariant_to_intensity_scale_and_offset():
    torch.manual_seed(0)
    model = CGRDN(CGRDNConfig.tiny()).eval()
    x = torch.rand(2, 1, 32, 48) * 5
    with torch.no_grad():
        out = model(x)
        scaled = model(3.0 * x + 7.0)
    assert out.shape == x.shape
    # exact arithmetic gives scaled = 3·out + 7; float32 rounds inside both evaluations, in making 3x + 7
    # (two roundings, carried through the network) and in 3·out + 7 (two roundings)
    _, std_x = network_error_std(model, x)
    _, std_scaled = network_error_std(model, 3.0 * x + 7.0, input_std=rounding_std(3.0 * x, 3.0 * x + 7.0))
    std = (std_scaled.square() + 9 * std_x.square() + rounding_std(3.0 * out, 3.0 * out + 7.0).square()).sqrt()
    assert within_model(scaled - (3.0 * out + 7.0), std)
    assert not torch.allclose(out, x)  # untrained, but not the identity


def test_flat_image_is_returned_unchanged_in_scale():
    model = CGRDN(CGRDNConfig.tiny()).eval()
    x = torch.full((1, 1, 16, 16), 5.0)
    with torch.no_grad():
        out = model(x)
    # std below the 0.1 floor: the residual is divided by 0.1, the output stays near the input level
    assert torch.isfinite(out).all() and abs(float(out.mean()) - 5.0) < 1.0


@pytest.mark.parametrize("shape", [(1, 1, 15, 16), (1, 1, 16, 9), (1, 2, 16, 16), (16, 16)])
def test_bad_shapes_raise(shape):
    with pytest.raises(ValueError, match="x:"):
        CGRDN(CGRDNConfig.tiny())(torch.zeros(shape))


def test_config_validation_and_roundtrip():
    config = CGRDNConfig.tiny()
    assert CGRDNConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="growth"):
        CGRDNConfig(growth=0)
    with pytest.raises(ValueError, match="unknown fields"):
        CGRDNConfig.from_dict({"width": 3})
