import pytest
import torch

from restore import numerics
from restore.numerics import normalise_mode, numeric_path

AMD_ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})
INTEL_AMX = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
AVX512_ONLY = frozenset({"avx2", "avx512f"})


@pytest.mark.parametrize("flags, native", [(AMD_ZEN4, "avx512_bf16"), (INTEL_AMX, "amx_bf16"),
                                           (frozenset({"amx_bf16", "amx_tile"}), "amx_bf16")])
def test_auto_takes_bf16_where_the_cpu_multiplies_it_natively(flags, native):
    path = numeric_path("auto", "cpu", flags=flags)
    assert path.dtype == "bf16" and path.native_bf16 and native in path.reason and path.requested == "auto"
    assert set(path.cpu_flags) == set(flags) and "bf16 autocast" in path.describe()


@pytest.mark.parametrize("flags", [AVX512_ONLY, frozenset({"avx2"}), frozenset(), frozenset({"amx_bf16"})])
def test_auto_stays_fp32_without_native_bf16(flags):
    path = numeric_path("auto", "cpu", flags=flags)  # AMX without the tile unit is not usable
    assert path.dtype == "fp32" and not path.native_bf16 and "no AMX or AVX-512-BF16" in path.reason


def test_forcing_is_always_allowed_and_emulated_bf16_warns():
    with pytest.warns(RuntimeWarning, match="slower than fp32"):
        slow = numeric_path("bf16", "cpu", flags=AVX512_ONLY)
    assert slow.dtype == "bf16" and "forced" in slow.reason and not slow.native_bf16
    forced = numeric_path("fp32", "cpu", flags=INTEL_AMX)
    assert forced.dtype == "fp32" and forced.reason == "forced" and forced.native_bf16
    assert numeric_path("bf16", "cpu", flags=AMD_ZEN4).reason == "forced; the CPU has avx512_bf16"


def test_cuda_takes_bf16_unless_forced_to_fp32():
    assert numeric_path("auto", "cuda:0").dtype == "bf16"
    assert numeric_path(False, "cuda:1").dtype == "fp32" and numeric_path(False, "cuda:1").device == "cuda:1"


def test_a_gpu_without_native_bf16_runs_fp32_unless_forced(monkeypatch):
    import torch

    capability = {0: (7, 0), 1: (8, 0)}  # cuda:0 a V100 (bf16 emulated), cuda:1 an A100
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability[torch.device(device).index])
    auto = numeric_path("auto", "cuda:0")
    assert auto.dtype == "fp32" and not auto.native_bf16 and "before Ampere" in auto.reason
    assert numeric_path("bf16", "cuda:0").dtype == "bf16"
    assert numeric_path("auto", "cuda:1").dtype == "bf16" and numeric_path("auto", "cuda:1").native_bf16


def test_modes_and_old_boolean_configs():
    assert normalise_mode(True) == "auto" and normalise_mode(False) == "fp32" and normalise_mode("BF16") == "bf16"
    for bad in ("fp16", 1, None):
        with pytest.raises(ValueError, match="'auto', 'bf16' or 'fp32'"):
            normalise_mode(bad)


def test_flags_come_from_torch_else_from_proc_cpuinfo(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_f": True, "avx512_bf16": True,
                                                                 "amx_bf16": False, "avx2": True, "sse": True})
    assert numerics.cpu_flags() == {"avx512f", "avx512_bf16", "avx2"}
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile\n")
    read = numerics._proc_cpuinfo_flags
    assert read(cpuinfo) >= {"amx_bf16", "amx_tile", "sse"} and read(tmp_path / "missing") == frozenset()
    monkeypatch.setattr(numerics, "_proc_cpuinfo_flags", lambda: read(cpuinfo))
    assert numerics.cpu_flags() == {"avx2", "avx512f", "amx_bf16", "amx_tile"}
    assert numeric_path("auto", "cpu").dtype == "bf16"


def test_autocast_context_follows_the_path():
    layer = torch.nn.Linear(4, 4)
    with numeric_path("bf16", "cpu", flags=AMD_ZEN4).autocast():
        assert layer(torch.ones(2, 4)).dtype == torch.bfloat16
    with numeric_path("fp32", "cpu").autocast():
        assert layer(torch.ones(2, 4)).dtype == torch.float32
