"""Denoising quality (paper Table 1, Fig. 2): PSNR and SSIM of each method on the fixed validation pairs.

The pairs are the suite's fixed synthetic validation set (``restore.dataset``: seed ``VALIDATION_SEED``,
pair i generated from its own seed, so any subset is the same images as the trainer's set), scored per
modality: hrstem, lrstem, hrtem and lrtem. Each pair's record gives the detector noise model BM3D's
variance-stabilising transform needs (:func:`noise_model`):

- scanning modalities: x = scale · (n + σ·z) (paper eqs. 45-46: counts plus the PMT's signal-independent
  Gaussian of ``sigma_counts``), i.e. Poisson–Gaussian with gain ``scale`` and read noise scale·σ;
- TEM modalities, from the record's camera parameters: x = scale · g · (n + d + thermal + flicker + reset
  [+ quantisation]) with g the conversion gain [ADU/e⁻]. The dark electrons d are Poisson too, so they stay
  in the Poisson part (the transform needs the variance, which a Poisson sum gives exactly); the Gaussian
  read noises add in quadrature, σ = scale · √(g²(σ_thermal² + σ_flicker² + σ_reset²) + q/12) with q = 1
  when the ADU are rounded (uniform rounding error). Neglected, hence approximate: the ≤ 2 % fixed-pattern
  gain, hot pixels beyond their Poisson variance, clusters, clipping; the flicker and reset noises are
  spatially correlated, which the white-noise model behind BM3D's σ = 1 does not describe.

PSNR and SSIM use an explicit data range, max(y) − min(y) of the clean image.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.studies import register_study
from bench.studies.base import Study
from bench.studies.presets import blocks, check_integer
from bench.tasks import Task
from reports.spec import ReportSpec
from reports.study_figures import denoise_report_figures

MODALITIES = ("hrstem", "lrstem", "hrtem", "lrtem")


@dataclass(frozen=True)
class DenoisePreset:
    """Settings of a denoise run: modalities, images per modality, image side [px], images per task."""

    name: str
    modalities: tuple[str, ...] = MODALITIES
    images: int = 64
    size: int = 256
    block_size: int = 8
    bootstrap: int = 1000
    seed: int = 2023

    def __post_init__(self) -> None:
        if not self.modalities:
            raise ValueError(f"modalities is empty: give at least one of {', '.join(MODALITIES)}")
        unknown = [m for m in self.modalities if m not in MODALITIES]
        if unknown:
            raise ValueError(f"modalities {unknown} are unknown; valid: {', '.join(MODALITIES)}")
        check_integer("images", self.images, 2)
        check_integer("size", self.size, 16, " px")
        check_integer("block_size", self.block_size, 1)

    def to_config(self) -> dict[str, Any]:
        config = asdict(self)
        config["modalities"] = list(self.modalities)
        return config


PRESETS = {
    "paper": DenoisePreset(name="paper", images=64, block_size=8),
    "quick": DenoisePreset(name="quick", images=8, block_size=4),
}


def noise_model(record: dict):
    """The Poisson–Gaussian noise model of a validation image from its record (see the module docstring).

    Raises
    ------
    ValueError
        If the record has neither STEM (``pmt``) nor TEM (``conversion_gain``) detector parameters.
    """
    from bench.methods import NoiseModel, stem_noise_model

    params = record["distortion_params"]
    scale = float(record["x_scale"])
    if "conversion_gain" in params:  # TEM camera
        gain = float(params["conversion_gain"])
        electrons_variance = sum(float(params.get(name) or 0.0) ** 2
                                 for name in ("thermal_noise", "flicker_noise", "reset_row_noise"))
        quantisation_variance = 1.0 / 12.0 if params.get("quantise") else 0.0
        return NoiseModel(gain=scale * gain,
                          read_noise=scale * float(np.sqrt(gain**2 * electrons_variance + quantisation_variance)))
    if "pmt" not in params:
        raise ValueError(f"record of modality {record.get('modality')!r} has no detector parameters (pmt or "
                         "conversion_gain) to build a noise model from")
    pmt = params["pmt"]
    return stem_noise_model(None if pmt is None else float(pmt["sigma_counts"]), scale=scale)


def plan(preset: DenoisePreset, methods) -> list[Task]:
    tasks = []
    for method in methods:
        for modality in preset.modalities:
            for first, count in blocks(preset.images, preset.block_size):
                tasks.append(Task(f"{method.name}__{modality}__i{first:04d}", {
                    "method": method, "modality": modality, "first": first, "count": count, "size": preset.size}))
    return tasks


def run_task(params: dict):
    """Generate a block of validation pairs, restore x, score against y."""
    import pandas as pd
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from restore.dataset import VALIDATION_SEED, SyntheticPairDataset

    dataset = SyntheticPairDataset(params["modality"], size=params["size"], seed=VALIDATION_SEED)
    rows, example = [], None
    for index in range(params["first"], params["first"] + params["count"]):
        x, y, record = dataset.pair(index)
        x, y = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
        restored = params["method"](x[None], noise_model(record))[0]
        data_range = float(y.max() - y.min())
        rows.append({
            "method": params["method"].name, "modality": params["modality"], "image": index,
            "psnr_db": float(peak_signal_noise_ratio(y, restored, data_range=data_range)),
            "ssim": float(structural_similarity(y, restored, data_range=data_range)),
            "data_range": data_range,
        })
        if example is None:
            example = {"measured": x.astype(np.float32), "restored": restored.astype(np.float32),
                       "clean": y.astype(np.float32)}
    return pd.DataFrame(rows), (example if params["first"] == 0 else None)


def summarise(table, preset: DenoisePreset):
    """Mean PSNR and SSIM per method and modality with percentile-bootstrap 95 % intervals over images."""
    import pandas as pd

    rows = []
    rng = np.random.default_rng(preset.seed)
    for (method, modality), group in table.groupby(["method", "modality"]):
        row = {"method": method, "modality": modality, "images": len(group)}
        for metric in ("psnr_db", "ssim"):
            values = group.sort_values("image")[metric].to_numpy(float)
            draws = values[rng.integers(0, values.size, size=(preset.bootstrap, values.size))].mean(axis=1)
            row[metric] = float(values.mean())
            row[f"{metric}_low"], row[f"{metric}_high"] = (float(q) for q in np.quantile(draws, [0.025, 0.975]))
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["modality", "method"]).reset_index(drop=True)


def write_examples(store, tasks) -> None:
    """The first restored pair of each method and modality, and each modality's clean image."""
    images, index = {}, []
    for task in tasks:
        arrays = store.read_arrays(task.key)
        if arrays is None:
            continue
        images[task.key] = arrays["restored"]
        index.append({"key": task.key, "kind": "restored", "method": task.params["method"].name,
                      "modality": task.params["modality"]})
        clean_key = f"clean__{task.params['modality']}"
        if clean_key not in images:
            images[clean_key] = arrays["clean"]
            index.append({"key": clean_key, "kind": "clean", "method": None, "modality": task.params["modality"]})
    store.write_examples(images, index)


VALIDATION_REFUSAL = "it scores the fixed validation set; use --images and --modalities"


class Denoise(Study):
    """Paper Table 1 as a registered study (see the module docstring)."""

    name = "denoise"
    description = ("PSNR and SSIM on the fixed synthetic validation pairs of HR/LR-STEM and HR/LR-TEM "
                   "(paper Table 1)")
    quick_run_time = "≈ 2–5 min, estimated"
    presets = PRESETS
    order = 4
    report = ReportSpec(
        intro="Mean PSNR and SSIM over the fixed synthetic validation pairs (data range max − min of the clean "
              "image), with percentile-bootstrap 95 % intervals over images.",
        columns=(("method", "method"), ("modality", "modality"), ("images", "images"), ("psnr_db", "PSNR [dB]"),
                 ("psnr_db_low", "95 % low"), ("psnr_db_high", "95 % high"), ("ssim", "SSIM"),
                 ("ssim_low", "95 % low"), ("ssim_high", "95 % high")),
        figures=denoise_report_figures)
    refusals = {"doses": VALIDATION_REFUSAL, "thicknesses": VALIDATION_REFUSAL, "realisations": VALIDATION_REFUSAL,
                "estimator": "it scores PSNR and SSIM, it fits no columns"}

    def seeds(self, preset: DenoisePreset) -> dict[str, Any]:
        """The bootstrap seed and where the validation pairs' seed comes from."""
        return {"bootstrap": preset.seed, "validation_set": "restore.dataset.VALIDATION_SEED"}

    def describe(self, preset: DenoisePreset) -> str:
        """Pairs per modality, their size and the modalities."""
        return (f"{preset.images} validation pairs of {preset.size}² px per modality "
                f"({', '.join(preset.modalities)})")

    def prepare(self, preset: DenoisePreset, inputs, store, options) -> dict:
        """Nothing is shared: every task generates its own pairs."""
        return {}

    def plan(self, preset: DenoisePreset, methods, shared: dict) -> list[Task]:
        """One task per method, modality and block of pairs."""
        return plan(preset, methods)

    run_task = staticmethod(run_task)

    def finish(self, preset: DenoisePreset, shared: dict, tasks, store):
        """Examples, ``realisations`` and ``summary``."""
        write_examples(store, tasks)
        return store.write_summary(lambda table: summarise(table, preset))


STUDY = register_study(Denoise())
