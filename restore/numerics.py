"""One place that decides the numeric path (bf16 autocast or float32) of training and inference.

On the CPU, bfloat16 autocast pays where the processor multiplies bf16 natively: AVX-512-BF16
(``avx512_bf16``, e.g. AMD Zen 4 EPYC, Intel Cooper Lake) or AMX (``amx_bf16`` + ``amx_tile``, Intel
Sapphire Rapids and later). Without them oneDNN emulates bf16 and a step gets slower, not faster. On CUDA,
training's ``"auto"`` chooses bf16 autocast on GPUs that have bf16 tensor cores (compute capability ≥ 8.0).
Weights stay float32 (autocast casts per operation), so the optimiser updates float32 master weights.
Restoration's ``"auto"`` (:func:`inference_path`) also asks the weights: bf16 only for weights whose own bf16
check passed (``bench check-bf16``).

The decision is a :class:`NumericPath`; its :meth:`NumericPath.describe` line is what the training log and
``bench`` print, and :meth:`NumericPath.to_dict` what run metadata records.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from _shared.provenance import cpu_model

MODES = ("auto", "bf16", "fp32")
# The flags that matter for the decision; the log names those present.
RELEVANT_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")
_TORCH_NAMES = {"amx_bf16": "amx_bf16", "amx_tile": "amx_tile", "avx512_bf16": "avx512_bf16",
                "avx512f": "avx512_f", "avx2": "avx2"}


@dataclass(frozen=True)
class NumericPath:
    """The numeric path chosen for one device.

    Parameters
    ----------
    device : str
        ``"cpu"`` or a CUDA device such as ``"cuda:0"``.
    dtype : str
        ``"bf16"`` (bfloat16 autocast over float32 weights) or ``"fp32"``.
    requested : str
        The mode asked for: ``"auto"``, ``"bf16"`` or ``"fp32"``.
    reason : str
        Why this path runs, in words.
    cpu_flags : tuple of str
        The relevant CPU flags present (subset of :data:`RELEVANT_FLAGS`).
    native_bf16 : bool
        Whether the device multiplies bf16 natively (AMX or AVX-512-BF16; a GPU of compute capability ≥ 8.0).
    """

    device: str
    dtype: str
    requested: str
    reason: str
    cpu_flags: tuple[str, ...] = field(default_factory=tuple)
    native_bf16: bool = False

    @property
    def device_type(self) -> str:
        """The device type, ``"cpu"``, ``"cuda"`` …, as autocast takes it.

        Returns
        -------
        str
            ``torch.device(device).type``.
        """
        return torch.device(self.device).type

    @property
    def bf16(self) -> bool:
        """Whether this path runs bf16 autocast.

        Returns
        -------
        bool
            True when ``dtype`` is ``"bf16"``.
        """
        return self.dtype == "bf16"

    def autocast(self) -> torch.autocast:
        """Return the autocast context of this path (disabled for fp32).

        Returns
        -------
        torch.autocast
            bfloat16 autocast on :attr:`device_type`, enabled only when :attr:`bf16`.
        """
        return torch.autocast(device_type=self.device_type, dtype=torch.bfloat16, enabled=self.bf16)

    def describe(self) -> str:
        """Return one line for logs, e.g. ``numeric path: bf16 autocast (fp32 weights) on cpu (auto: …)``.

        Returns
        -------
        str
            What runs, on which device, the mode requested and the reason.
        """
        what = "bf16 autocast (fp32 weights)" if self.bf16 else "fp32"
        return f"numeric path: {what} on {self.device} ({self.requested}: {self.reason})"

    def to_dict(self) -> dict:
        """Return the path as a JSON-serialisable dict, for run metadata.

        Returns
        -------
        dict
            The fields by name, ``cpu_flags`` as a list.
        """
        return {"device": self.device, "dtype": self.dtype, "requested": self.requested, "reason": self.reason,
                "cpu_flags": list(self.cpu_flags), "native_bf16": self.native_bf16}


def normalise_mode(value) -> str:
    """Return the numeric mode of a config value: ``"auto"``, ``"bf16"``, ``"fp32"``, or a boolean of old configs.

    ``True`` (the old "bf16 autocast on CUDA") reads as ``"auto"``, which keeps bf16 on current GPUs and uses it on
    the CPU only where it is native; ``False`` reads as ``"fp32"``.

    Parameters
    ----------
    value : str or bool
        ``"auto"``, ``"bf16"`` or ``"fp32"`` (any case), or a boolean.

    Returns
    -------
    str
        ``"auto"``, ``"bf16"`` or ``"fp32"``.

    Raises
    ------
    ValueError
        If the value is none of these.
    """
    if isinstance(value, bool):
        return "auto" if value else "fp32"
    if isinstance(value, str) and value.lower() in MODES:
        return value.lower()
    raise ValueError(f"numeric mode {value!r}: use 'auto', 'bf16' or 'fp32' (or a boolean: true = auto, "
                     "false = fp32)")


def _proc_cpuinfo_flags(path: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_flags() -> frozenset[str]:
    """Return the relevant CPU flags of this machine (names as in /proc/cpuinfo).

    torch's own capability report (``torch.cpu.get_capabilities``, what its kernels dispatch on) is used
    where this torch has it; /proc/cpuinfo otherwise (older torch on Linux). Empty when neither answers.

    Returns
    -------
    frozenset of str
        The flags of :data:`RELEVANT_FLAGS` present.
    """
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is not None:
        try:
            report = capabilities()
            return frozenset(flag for flag, name in _TORCH_NAMES.items() if report.get(name))
        except (RuntimeError, AttributeError):
            pass
    return frozenset(_proc_cpuinfo_flags()) & frozenset(RELEVANT_FLAGS)


def native_cpu_bf16(flags: frozenset[str]) -> str | None:
    """Return the flag that makes bf16 native on a CPU (``"amx_bf16"`` or ``"avx512_bf16"``), or None.

    Parameters
    ----------
    flags : frozenset of str
        The CPU's flags (as from :func:`cpu_flags`); AMX counts only with both ``amx_bf16`` and ``amx_tile``.

    Returns
    -------
    str or None
        ``"amx_bf16"`` (preferred), ``"avx512_bf16"``, or None when bf16 would be emulated.
    """
    if {"amx_bf16", "amx_tile"} <= flags:
        return "amx_bf16"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    return None


def cuda_bf16(device=None) -> bool:
    """Return whether a CUDA device multiplies bf16 natively: compute capability ≥ 8.0 (Ampere and later).

    (``torch.cuda.is_bf16_supported()`` also says yes for older GPUs, which emulate bf16.)

    Parameters
    ----------
    device : str or torch.device, optional
        The GPU (default: the current one).

    Returns
    -------
    bool
        Whether its compute capability is ≥ 8.0 where CUDA is available; True otherwise, so that a decision
        made on a machine without a GPU (a test, a report) describes a current GPU.
    """
    if not torch.cuda.is_available():
        return True
    return torch.cuda.get_device_capability(device)[0] >= 8


def numeric_path(mode="auto", device=None, *, flags: frozenset[str] | None = None, warn: bool = True) -> NumericPath:
    """Decide bf16 autocast or float32 for ``device``.

    Parameters
    ----------
    mode : {"auto", "bf16", "fp32"} or bool
        ``"auto"``: bf16 on a GPU with bf16 tensor cores, and on a CPU with AMX or AVX-512-BF16; fp32
        otherwise. ``"bf16"`` and ``"fp32"`` force a path (bf16 on a CPU without native support runs, slowly:
        a warning says so). Booleans of old configs: see :func:`normalise_mode`.
    device : str or torch.device, optional
        Default: the CPU.
    flags : frozenset of str, optional
        CPU flags to decide on (default: :func:`cpu_flags` of this machine); for tests and reports.
    warn : bool
        Warn when bf16 is forced on a CPU that emulates it.

    Returns
    -------
    NumericPath
        The decision, with its reason and the CPU flags it was based on.

    Raises
    ------
    ValueError
        If ``mode`` is not a known mode.
    """
    mode = normalise_mode(mode)
    device = torch.device("cpu" if device is None else device)
    name = str(device)
    if device.type == "cuda":
        native = cuda_bf16(device)
        if mode != "auto":
            return NumericPath(name, mode, mode, "forced", (), native)
        reason = "CUDA: bf16 tensor cores" if native else "CUDA device without native bf16 (before Ampere)"
        return NumericPath(name, "bf16" if native else "fp32", mode, reason, (), native)
    if device.type != "cpu":
        dtype = "bf16" if mode == "bf16" else "fp32"
        return NumericPath(name, dtype, mode, f"{device.type}: no bf16 decision rule, {dtype}", (), False)
    flags = cpu_flags() if flags is None else frozenset(flags)
    present = tuple(flag for flag in RELEVANT_FLAGS if flag in flags)
    native = native_cpu_bf16(flags)
    if mode == "fp32":
        reason = "forced"
    elif mode == "bf16":
        reason = f"forced; the CPU has {native}" if native else "forced; no native bf16 (no AMX or AVX-512-BF16): slow"
        if native is None and warn:
            warnings.warn("bf16 forced on a CPU without AMX or AVX-512-BF16: oneDNN emulates bf16, which is "
                          "slower than fp32; use 'auto' or 'fp32'", RuntimeWarning, stacklevel=2)
    elif native:
        reason = f"the CPU has {native}"
    else:
        reason = "no AMX or AVX-512-BF16 on this CPU"
    dtype = "fp32" if mode == "fp32" or (mode == "auto" and native is None) else "bf16"
    return NumericPath(name, dtype, mode, reason, present, native is not None)


# What a weights' bf16 record (their sidecar's ``bf16_check``, written by ``bench check-bf16 --record``,
# bench/bf16_check.py) must say before "auto" restores with them in bf16. The suite's studies run both ways on
# the same noise found that bf16's rounding moves a 1.45 M-parameter CGRDN's fitted positions by up to half the
# CRLB early in its training and by 4 % of it once trained (docs/benchmarks.md, "bf16 inference"): the effect
# depends on the weights, so it is measured per weights, never assumed.
BF16_CHECK_KEY = "bf16_check"
BF16_CHECK_BOUND_PCT_CRLB = 5.0


def bf16_check_passed(check) -> bool:
    """Return whether a weights' bf16 record lets ``"auto"`` restore with them in bf16.

    Parameters
    ----------
    check : dict or None
        The ``bf16_check`` record of a sidecar (see :mod:`bench.bf16_check`), already matched to the weights
        in hand (:func:`restore.checkpoint.bf16_check_of`), or None.

    Returns
    -------
    bool
        True when the record says ``passed``, rests on the whole quick preset (``covers_quick_preset``), its
        bound is at most :data:`BF16_CHECK_BOUND_PCT_CRLB` % of the CRLB, its largest change lies within the
        bound, and the fits flagged by one path only are within theirs.
    """
    if not isinstance(check, dict) or check.get("passed") is not True or check.get("covers_quick_preset") is not True:
        return False
    try:
        bound, largest = float(check["bound_pct_crlb"]), float(check["largest_pct_crlb"])
        flagged, flag_bound = float(check["flag_changed_pct"]), float(check["flag_changed_bound_pct"])
    except (KeyError, TypeError, ValueError):
        return False
    return bound <= BF16_CHECK_BOUND_PCT_CRLB and largest <= bound and flagged <= flag_bound


def inference_path(mode="auto", device=None, *, flags: frozenset[str] | None = None,
                   warn: bool = True, bf16_check: dict | None = None) -> NumericPath:
    """Decide bf16 autocast or float32 for restoring images with a trained network.

    Training's rule (:func:`numeric_path`) applies to the forced modes. ``"auto"`` takes bf16 where
    training's rule would (a GPU with bf16 tensor cores, or a CPU with AMX or AVX-512-BF16, where bf16
    measured 1.2–3× faster than float32 and takes half the memory: docs/benchmarks.md) **and** the weights'
    bf16 record passed (:func:`bf16_check_passed`); float32 otherwise.

    Parameters
    ----------
    mode : {"auto", "bf16", "fp32"} or bool
        As for :func:`numeric_path`; ``None`` reads as ``"auto"``.
    device : str or torch.device, optional
        Default: the CPU.
    flags : frozenset of str, optional
        CPU flags to decide on (default: this machine's).
    warn : bool
        Warn when bf16 is forced on a CPU that emulates it.
    bf16_check : dict, optional
        The weights' ``bf16_check`` record, already matched to the weights (as
        :func:`restore.checkpoint.load_model` attaches it to a model); None: the weights have none.

    Returns
    -------
    NumericPath
        The decision, with its reason and the CPU flags it was based on.

    Raises
    ------
    ValueError
        If ``mode`` is not a known mode.
    """
    path = numeric_path("auto" if mode is None else mode, device, flags=flags, warn=warn)
    if path.requested != "auto" or not path.bf16:
        return path
    if bf16_check_passed(bf16_check):
        reason = (f"{path.reason}, and these weights' bf16 check passed (every statistic within "
                  f"{float(bf16_check['bound_pct_crlb']):g} % of the CRLB, largest "
                  f"{float(bf16_check['largest_pct_crlb']):g} %)")
        return NumericPath(path.device, "bf16", "auto", reason, path.cpu_flags, path.native_bf16)
    why = "failed" if isinstance(bf16_check, dict) else "is missing"
    reason = (f"{path.reason}, but these weights' bf16 check {why} (`bench check-bf16 MODEL --record`): "
              "fp32 unless bf16 is forced")
    return NumericPath(path.device, "fp32", "auto", reason, path.cpu_flags, path.native_bf16)


def cpu_cores() -> int:
    """Return the number of cores this process may run on.

    Returns
    -------
    int
        Size of the affinity mask where the OS reports one, else :func:`os.cpu_count` (1 if unknown).
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def hardware_description(device=None) -> str:
    """Return a short description of where a run computes: the GPU's name, or the CPU model, cores and threads.

    Parameters
    ----------
    device : str or torch.device, optional
        The run's device; the CPU when omitted.

    Returns
    -------
    str
        E.g. ``"NVIDIA H100 … (CUDA 12.4; torch 2.5.1)"`` or ``"AMD EPYC …, 2 cores, 2 threads (torch 2.5.1)"``.
    """
    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}; torch {torch.__version__})"
    return f"{cpu_model()}, {cpu_cores()} cores, {torch.get_num_threads()} threads (torch {torch.__version__})"
