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


PASSED = {"passed": True, "bound_pct_crlb": 5.0, "largest_pct_crlb": 3.7, "flag_changed_pct": 0.1,
          "flag_changed_bound_pct": 1.0, "covers_quick_preset": True, "weights_sha256": "ab"}


@pytest.mark.parametrize("check, allowed", [
    (None, False),                                          # no record: the weights were never checked
    (PASSED, True),
    ({**PASSED, "passed": False, "largest_pct_crlb": 9.0}, False),
    ({**PASSED, "largest_pct_crlb": 5.5}, False),           # a record contradicting itself
    ({**PASSED, "bound_pct_crlb": 20.0}, False),            # measured against a looser bound than the suite's
    ({"passed": True}, False),                              # no numbers
    ({**PASSED, "covers_quick_preset": False}, False),      # from a reduced study
    ({**PASSED, "flag_changed_pct": 2.0}, False),           # the paths flag different fits
])
def test_auto_takes_bf16_only_where_native_and_the_weights_passed_their_check(check, allowed):
    native = numerics.inference_path("auto", "cpu", flags=NATIVE, bf16_check=check)
    assert native.bf16 is allowed and native.requested == "auto"
    assert ("passed" if allowed else "fp32 unless") in native.reason
    assert not numerics.inference_path("auto", "cpu", flags=AVX2, bf16_check=check).bf16
    assert numerics.inference_path(None, "cpu", flags=NATIVE, bf16_check=check).bf16 is allowed
    assert numerics.inference_path("bf16", "cpu", flags=NATIVE).bf16
    assert not numerics.inference_path("fp32", "cpu", flags=NATIVE, bf16_check=check).bf16
    assert numerics.inference_path("auto", "cuda", bf16_check=check).bf16 is allowed  # the decision only: no GPU
    assert numerics.inference_path("bf16", "cuda").bf16
    assert "numeric path: " in native.describe()


def test_restore_image_auto_follows_the_models_record(monkeypatch):
    model, image = _model_and_image()
    monkeypatch.setattr(numerics, "cpu_flags", lambda: NATIVE)  # decide as on an AVX-512-BF16 CPU
    fp32 = restore_image(image, model, tile=48, device="cpu", numeric="fp32", algorithm="direct")
    bf16 = restore_image(image, model, tile=48, device="cpu", numeric="bf16", algorithm="direct")
    np.testing.assert_array_equal(restore_image(image, model, tile=48, device="cpu", algorithm="direct"), fp32)
    assert not np.array_equal(fp32, bf16)  # the two paths really differ, so the comparisons below can fail
    model.bf16_check = PASSED
    assert numeric_path_for("auto", "cpu", bf16_check=model.bf16_check).bf16
    np.testing.assert_array_equal(restore_image(image, model, tile=48, device="cpu", algorithm="direct"), bf16)


def test_winograd_means_fp32_and_an_unknown_mode_is_refused():
    assert not numeric_path_for("auto", "cpu", "winograd").bf16
    model, image = _model_and_image()
    with pytest.raises(ValueError, match="use 'auto', 'bf16' or 'fp32'"):
        restore_image(image, model, tile=48, device="cpu", numeric="half")
