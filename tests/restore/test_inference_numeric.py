"""Numeric path of restoration: bf16 autocast stays within bf16's rounding model, fp32 reproduces the float32
(Winograd) output, and ``"auto"`` follows restore.numerics.inference_path."""
import numpy as np
import pytest
import torch

import restore.numerics as numerics
from restore.inference import numeric_path_for, restore_image
from restore.models import CGRDN, CGRDNConfig
from tests.restore.rounding import image_error_std, network_error_std, within_model

# forcing bf16 on a CPU without native bf16 (AVX2 only) warns and runs emulated: the same roundings, slower
FORCED_BF16 = pytest.mark.filterwarnings("ignore:bf16 forced on a CPU without")
NATIVE = frozenset({"avx512f", "avx512_bf16"})
AVX2 = frozenset({"avx2"})


def _model_and_image():
    torch.manual_seed(0)
    model = CGRDN(CGRDNConfig.tiny()).eval()
    image = (np.random.default_rng(3).poisson(20.0, (48, 48)) + 1.0).astype(np.float32)
    return model, image


@FORCED_BF16
def test_bf16_restoration_is_within_the_bf16_rounding_model_and_is_really_bf16():
    model, image = _model_and_image()
    restored = restore_image(image, model, tile=48, device="cpu", numeric="bf16", algorithm="direct")
    exact, std = network_error_std(model, torch.from_numpy(image)[None, None], bf16=True)
    error = restored - exact[0, 0].numpy()
    assert within_model(error, std[0, 0])
    # bf16 really ran: its error is beyond anything float32 rounding produces (6 × the float32 model's max)
    fp32_std = image_error_std(model, image[None])[0]
    assert np.sqrt(np.mean(error ** 2)) > 6 * fp32_std.max()


def test_forcing_fp32_reproduces_the_float32_winograd_output_on_the_cpu():
    model, image = _model_and_image()
    forced = restore_image(image, model, tile=48, device="cpu", numeric="fp32")
    np.testing.assert_array_equal(forced, restore_image(image, model, tile=48, device="cpu", algorithm="winograd"))
    np.testing.assert_array_equal(forced, restore_image(image, model, tile=48, device="cpu", numeric=False))
    exact, std = network_error_std(model, torch.from_numpy(image)[None, None], winograd=True)
    assert within_model(forced - exact[0, 0].numpy(), std[0, 0])


@pytest.mark.parametrize("enabled", [False, True])
def test_auto_takes_bf16_only_where_native_and_enabled(monkeypatch, enabled):
    monkeypatch.setattr(numerics, "INFERENCE_AUTO_BF16", enabled)
    native = numerics.inference_path("auto", "cpu", flags=NATIVE)
    assert native.bf16 is enabled and native.requested == "auto"
    assert not numerics.inference_path("auto", "cpu", flags=AVX2).bf16
    assert not numerics.inference_path(None, "cpu", flags=NATIVE).bf16 or enabled
    assert numerics.inference_path("bf16", "cpu", flags=NATIVE).bf16
    assert not numerics.inference_path("fp32", "cpu", flags=NATIVE).bf16
    assert numerics.inference_path("auto", "cuda").bf16 is enabled  # no GPU needed: the decision only
    assert numerics.inference_path("bf16", "cuda").bf16
    assert "numeric path: " in native.describe()


def test_winograd_means_fp32_and_an_unknown_mode_is_refused():
    assert not numeric_path_for("auto", "cpu", "winograd").bf16
    model, image = _model_and_image()
    with pytest.raises(ValueError, match="use 'auto', 'bf16' or 'fp32'"):
        restore_image(image, model, tile=48, device="cpu", numeric="half")
