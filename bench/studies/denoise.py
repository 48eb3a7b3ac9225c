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

The ``abstract`` preset is the scenario of Williams et al. (``shared/reference``): a simulated STEM image at
a beam current of 50 pA and a dwell time of 1.4 µs, i.e. I·t/e ≈ 437 electrons per probe position (per
pixel), which is 437/Δ² e⁻/Å² for pixels of Δ Å. Its image is the shipped noise-free Pt nanoparticle
(``simulate.specimen_data``, 189 × 189 px of 0.229 Å: 8.3·10³ e⁻/Å²); each frame gets the suite's STEM
detector noise at that dose (Poisson counting and the PMT's Gaussian, paper eqs. 45-46, ``PmtParams()``), and
the clean image is the expected counts D·Δ²·intensity. The abstract's "noise bias of 0.2" is not modelled.
Its frames are independent frames of one field, so ``n2n`` applies; ``hourglass`` trains on high-dose frames of
the shipped dislocation image (same pixel size).

PSNR and SSIM use an explicit data range, max(y) − min(y) of the clean image.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.studies import register_study
from bench.studies.base import Study
from bench.studies.presets import check_integer, omit_named_values
from bench.studies.training_data import HIGH_DOSE_FRAMES, task_blocks
from bench.tasks import Task
from reports.spec import ReportSpec
from reports.study_figures import denoise_report_figures
from restore.self_supervised_budget import PAPER_BUDGET, QUICK_BUDGET, SelfSupervisedBudget

SCENARIO = "abstract-stem"  # the abstract's simulated STEM image (see the module docstring)
VALIDATION_MODALITIES = ("hrstem", "lrstem", "hrtem", "lrtem")
MODALITIES = (*VALIDATION_MODALITIES, SCENARIO)
ELEMENTARY_CHARGE_C = 1.602176634e-19
SCENARIO_SPECIMEN = "nanoparticle"
SCENARIO_TRAINING_SPECIMEN = "dislocation"  # hourglass's high-dose frames


def electrons_per_probe(beam_current_pA: float, dwell_time_us: float) -> float:
    """Return the electrons per probe position, I·t/e.

    Parameters
    ----------
    beam_current_pA : float
        Beam current I [pA].
    dwell_time_us : float
        Dwell time t per probe position [µs].

    Returns
    -------
    float
        Electrons per probe position (per pixel).
    """
    return beam_current_pA * 1e-12 * dwell_time_us * 1e-6 / ELEMENTARY_CHARGE_C


@dataclass(frozen=True)
class DenoisePreset:
    """Settings of a denoise run: modalities, images per modality, image side [px] (validation pairs), images per
    task, bootstrap resamples, seed, the scenario's beam current [pA] and dwell time [µs], and the training
    budget of the self-supervised methods (one network per modality)."""

    name: str
    modalities: tuple[str, ...] = VALIDATION_MODALITIES
    images: int = 64
    size: int = 256
    block_size: int = 8
    bootstrap: int = 1000
    seed: int = 2023
    beam_current_pA: float = 50.0
    dwell_time_us: float = 1.4
    training: SelfSupervisedBudget = QUICK_BUDGET

    def __post_init__(self) -> None:
        """Validate the fields.

        Raises
        ------
        ValueError
            For no or unknown modalities, fewer than 2 images, a side below 16 px, a block size below 1, or a
            beam current or dwell time that is not a positive number.
        """
        if not self.modalities:
            raise ValueError(f"modalities is empty: give at least one of {', '.join(MODALITIES)}")
        unknown = [m for m in self.modalities if m not in MODALITIES]
        if unknown:
            raise ValueError(f"modalities {unknown} are unknown; valid: {', '.join(MODALITIES)}")
        check_integer("images", self.images, 2)
        check_integer("size", self.size, 16, " px")
        check_integer("block_size", self.block_size, 1)
        if not (np.isfinite(self.beam_current_pA) and self.beam_current_pA > 0):
            raise ValueError(f"beam_current_pA={self.beam_current_pA!r} must be a positive current in pA")
        if not (np.isfinite(self.dwell_time_us) and self.dwell_time_us > 0):
            raise ValueError(f"dwell_time_us={self.dwell_time_us!r} must be a positive time in µs")

    def to_config(self) -> dict[str, Any]:
        """Return the preset as the run's configuration.

        Returns
        -------
        dict
            The fields (modalities as a list); beam current, dwell time and training budget only where they
            differ from the named preset's (:func:`bench.studies.presets.omit_named_values`).
        """
        config = asdict(self)
        config["modalities"] = list(self.modalities)
        return omit_named_values(config, self, PRESETS, ("beam_current_pA", "dwell_time_us", "training"))


PRESETS = {
    "paper": DenoisePreset(name="paper", images=64, block_size=8, training=PAPER_BUDGET),
    "quick": DenoisePreset(name="quick", images=8, block_size=4),
    # Williams et al.'s scenario: 8 frames at 50 pA and 1.4 µs (≈ 437 e⁻ per probe position)
    "abstract": DenoisePreset(name="abstract", modalities=(SCENARIO,), images=8, block_size=4),
}


def noise_model(record: dict):
    """Return the Poisson–Gaussian noise model of a validation image from its record (see the module docstring).

    Parameters
    ----------
    record : dict
        The pair's record (``x_scale`` and ``distortion_params`` with ``pmt`` or ``conversion_gain``).

    Returns
    -------
    NoiseModel
        Gain and read noise in the units of the pair's x.

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


def plan(preset: DenoisePreset, methods, shared: dict | None = None) -> list[Task]:
    """Split a run into tasks: one per method, modality and block of images.

    A method that trains one network per modality gets all images of a modality in one task.

    Parameters
    ----------
    preset : DenoisePreset
        The study's preset.
    methods : sequence of Method
        The methods compared.
    shared : dict, optional
        What :meth:`Denoise.prepare` returned (``scenario`` and ``training_image``, needed for the scenario).

    Returns
    -------
    list of Task
        The tasks, keyed ``METHOD__MODALITY__iFIRST``.
    """
    shared = shared or {}
    tasks = []
    for method in methods:
        for modality in preset.modalities:
            for group in task_blocks(method, preset.images, preset.block_size):
                first, count = group[0][0], sum(n for _, n in group)
                params = {"method": method, "modality": modality, "first": first, "count": count,
                          "size": preset.size, "preset": preset}
                if modality == SCENARIO:
                    params["scenario"] = shared["scenario"]
                    if "high_dose" in getattr(method, "needs", ()):
                        params["training_image"] = shared["training_image"]
                tasks.append(Task(f"{method.name}__{modality}__i{first:04d}", params))
    return tasks


def scenario_frames(params: dict):
    """Draw frames ``first … first + count − 1`` of the scenario, each from its own seed.

    Parameters
    ----------
    params : dict
        The task's parameters (``preset``, ``scenario``, ``first``, ``count``).

    Returns
    -------
    frames : ndarray, shape (count, H, W)
        Noisy frames in counts (Poisson counting and the PMT's Gaussian).
    clean : ndarray, shape (H, W)
        The expected counts D·Δ²·intensity.
    noise : NoiseModel
        The detector's noise model (in counts).
    """
    from bench.methods import stem_noise_model
    from simulate.distortions import PmtParams, detector_noise

    preset, scenario = params["preset"], params["scenario"]
    dose, px, pmt = scenario["dose_e_per_A2"], scenario["pixel_size_A"], PmtParams()
    frames = [np.asarray(detector_noise(scenario["image"], dose_e_per_A2=dose, pixel_size_A=px, params=pmt,
                                        generator=int(np.random.SeedSequence([preset.seed, index])
                                                      .generate_state(1)[0])), dtype=np.float64)
              for index in range(params["first"], params["first"] + params["count"])]
    return np.stack(frames), dose * px * px * scenario["image"], stem_noise_model(pmt.sigma_counts)


def training_data(params: dict):
    """Return what a self-supervised method may train on in this task.

    Nothing beyond the images for the validation pairs (each a different field); for the scenario, its frames
    are of one field and hourglass gets high-dose frames of the dislocation image.

    Parameters
    ----------
    params : dict
        The task's parameters (``method``, ``preset``, ``modality``, and for the scenario ``scenario`` and
        possibly ``training_image``).

    Returns
    -------
    TrainingData or None
        None for a method that does not learn from data.
    """
    from bench.methods import TrainingData, learns_from_data
    from bench.studies.training_data import high_dose_frames, synthesised_pairs
    from simulate.distortions import PmtParams, detector_noise

    if not learns_from_data(params["method"]):
        return None
    preset = params["preset"]
    budget, seed = preset.training, [preset.seed, MODALITIES.index(params["modality"]), 7]
    training_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    if params["modality"] != SCENARIO:
        return TrainingData(budget=budget, seed=training_seed)
    pairs, described = None, ""
    if params.get("training_image") is not None:
        scenario, pmt = params["scenario"], PmtParams()
        dose, px = scenario["dose_e_per_A2"], scenario["pixel_size_A"]

        def acquire(stack, high_dose, generator):
            return detector_noise(stack, dose_e_per_A2=high_dose, pixel_size_A=px, params=pmt, generator=generator)

        frames = high_dose_frames(params["training_image"][None], dose=dose, factor=budget.hourglass_dose_factor,
                                  pixel_size_A=px, seed=seed, distortion=acquire)
        pairs = synthesised_pairs(frames, factor=budget.hourglass_dose_factor, dose=dose, pixel_size_A=px, pmt=pmt)
        described = (f"{frames.shape[0]} frames of the {SCENARIO_TRAINING_SPECIMEN} image at "
                     f"{budget.hourglass_dose_factor:g} × {dose:.4g} e⁻/Å² (Poisson and PMT noise)")
    return TrainingData(budget=budget, seed=training_seed, same_field=True, high_dose=pairs, high_dose_frames=described)


def run_task(params: dict):
    """Generate a block of validation pairs (or scenario frames), restore x, score against y.

    Runs in a worker process.

    Parameters
    ----------
    params : dict
        The task's parameters (:func:`plan`).

    Returns
    -------
    table : pandas.DataFrame
        One row per image: PSNR [dB], SSIM, data range (max − min of y), training time [s] and dose [e⁻/Å²]
        (NaN for the validation pairs).
    arrays : dict or None
        For the task holding image 0: the first image's measured, restored and clean arrays.
    """
    import pandas as pd
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from bench.methods import apply_method, learns_from_data
    from restore.dataset import VALIDATION_SEED, SyntheticPairDataset

    indices = range(params["first"], params["first"] + params["count"])
    dose = float("nan")
    if params["modality"] == SCENARIO:
        dose = params["scenario"]["dose_e_per_A2"]
        xs, clean, noise = scenario_frames(params)
        ys, noises = [clean] * len(indices), [noise] * len(indices)
    else:
        dataset = SyntheticPairDataset(params["modality"], size=params["size"], seed=VALIDATION_SEED)
        pairs = [dataset.pair(index) for index in indices]
        xs = np.stack([x.numpy().astype(np.float64) for x, _, _ in pairs])
        ys = [y.numpy().astype(np.float64) for _, y, _ in pairs]
        noises = [noise_model(record) for _, _, record in pairs]
    method, record = params["method"], {}
    if learns_from_data(method):  # one network for the whole stack, then each image scored
        restored_stack, record = apply_method(method, xs, noises[0], training_data(params))
    else:
        restored_stack = np.stack([method(x[None], noise)[0] for x, noise in zip(xs, noises)])
    rows, example = [], None
    for index, x, y, restored in zip(indices, xs, ys, restored_stack):
        data_range = float(y.max() - y.min())
        rows.append({
            "method": method.name, "modality": params["modality"], "image": index,
            "psnr_db": float(peak_signal_noise_ratio(y, restored, data_range=data_range)),
            "ssim": float(structural_similarity(y, restored, data_range=data_range)),
            "data_range": data_range, "training_s": float(record.get("training_s", 0.0)), "dose_e_per_A2": dose,
        })
        if example is None:
            example = {"measured": x.astype(np.float32), "restored": restored.astype(np.float32),
                       "clean": y.astype(np.float32)}
    return pd.DataFrame(rows), (example if params["first"] == 0 else None)


def summarise(table, preset: DenoisePreset):
    """Summarise mean PSNR and SSIM per method and modality with percentile-bootstrap 95 % intervals over images.

    Parameters
    ----------
    table : pandas.DataFrame
        The realisations table (rows of :func:`run_task`).
    preset : DenoisePreset
        The study's preset (seed and bootstrap resamples).

    Returns
    -------
    pandas.DataFrame
        One row per modality and method, with mean training time [s] and dose.
    """
    import pandas as pd

    rows = []
    rng = np.random.default_rng(preset.seed)
    for (method, modality), group in table.groupby(["method", "modality"]):
        row = {"method": method, "modality": modality, "images": len(group),
               "training_s": float(group["training_s"].mean()) if "training_s" in group else 0.0,
               "dose_e_per_A2": float(group["dose_e_per_A2"].iloc[0]) if "dose_e_per_A2" in group else float("nan")}
        for metric in ("psnr_db", "ssim"):
            values = group.sort_values("image")[metric].to_numpy(float)
            draws = values[rng.integers(0, values.size, size=(preset.bootstrap, values.size))].mean(axis=1)
            row[metric] = float(values.mean())
            row[f"{metric}_low"], row[f"{metric}_high"] = (float(q) for q in np.quantile(draws, [0.025, 0.975]))
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["modality", "method"]).reset_index(drop=True)


def write_examples(store, tasks) -> None:
    """Store the first restored image of each method and modality, and each modality's clean image.

    Parameters
    ----------
    store : ResultStore
        The results directory.
    tasks : sequence of Task
        Every task of the run.
    """
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
    quick_run_time = "≈ 1 min on a quiet 2-core CPU (4 min at load 8–9), measured"
    presets = PRESETS
    order = 4
    report = ReportSpec(
        intro="Mean PSNR and SSIM over the fixed synthetic validation pairs, or the frames of the abstract's "
              "scenario (abstract-stem: 50 pA, 1.4 µs), with data range max − min of the clean image and "
              "percentile-bootstrap 95 % intervals over images. Self-supervised methods train one network per "
              "modality; its CPU time is the training column.",
        columns=(("method", "method"), ("modality", "modality"), ("dose_e_per_A2", "dose [e⁻/Å²]"),
                 ("images", "images"), ("psnr_db", "PSNR [dB]"),
                 ("psnr_db_low", "95 % low"), ("psnr_db_high", "95 % high"), ("ssim", "SSIM"),
                 ("ssim_low", "95 % low"), ("ssim_high", "95 % high"), ("training_s", "training [s]")),
        figures=denoise_report_figures)
    refusals = {"doses": VALIDATION_REFUSAL, "thicknesses": VALIDATION_REFUSAL, "realisations": VALIDATION_REFUSAL,
                "estimator": "it scores PSNR and SSIM, it fits no columns"}

    def seeds(self, preset: DenoisePreset) -> dict[str, Any]:
        """Return the seeds recorded in the manifest.

        Parameters
        ----------
        preset : DenoisePreset
            The study's preset.

        Returns
        -------
        dict
            The bootstrap seed (also the scenario frames' and the training's) and the validation pairs' seed.
        """
        return {"bootstrap": preset.seed, "scenario_frames": preset.seed, "training": preset.seed,
                "validation_set": "restore.dataset.VALIDATION_SEED"}

    def describe(self, preset: DenoisePreset) -> str:
        """Return one line on the images per modality, their size and the modalities; the scenario's dose.

        Parameters
        ----------
        preset : DenoisePreset
            The study's preset.

        Returns
        -------
        str
            The description.
        """
        text = (f"{preset.images} images per modality ({', '.join(preset.modalities)}); validation pairs of "
                f"{preset.size}² px")
        if SCENARIO in preset.modalities:
            electrons = electrons_per_probe(preset.beam_current_pA, preset.dwell_time_us)
            text += (f"; {SCENARIO}: {preset.beam_current_pA:g} pA × {preset.dwell_time_us:g} µs = {electrons:.0f} e⁻ "
                     f"per probe position on the shipped {SCENARIO_SPECIMEN} image")
        return text

    def training_offers(self, preset: DenoisePreset) -> dict[str, str]:
        """Return what the study gives methods that learn from data.

        Only the scenario's frames are of one field, and only it has high-dose frames of another field; so
        nothing is offered unless the scenario is the only modality.

        Parameters
        ----------
        preset : DenoisePreset
            The study's preset.

        Returns
        -------
        dict
            'same_field' and 'high_dose' with one sentence each, or empty.
        """
        if any(m != SCENARIO for m in preset.modalities):
            return {}
        return {"same_field": f"the {preset.images} frames of the scenario: independent noisy frames of one field",
                "high_dose": f"{HIGH_DOSE_FRAMES} frames of the shipped {SCENARIO_TRAINING_SPECIMEN} image at "
                             f"{preset.training.hourglass_dose_factor:g} × the scenario's dose (Poisson and PMT)"}

    def prepare(self, preset: DenoisePreset, inputs, store, options) -> dict:
        """Load the scenario's noise-free image and dose (validation pairs are generated in the tasks).

        Parameters
        ----------
        preset : DenoisePreset
            The study's preset.
        inputs : Inputs
            The inputs (none for this study).
        store : ResultStore
            The results directory (nothing is written).
        options : RunOptions
            How the run is executed (unused).

        Returns
        -------
        dict
            Empty without the scenario; else ``scenario`` (image [fraction of the beam], pixel size [Å],
            electrons per probe position, dose [e⁻/Å²]) and ``training_image`` (hourglass's other field).

        Raises
        ------
        ValueError
            If the two shipped images differ in pixel size.
        """
        if SCENARIO not in preset.modalities:
            return {}
        from simulate.specimen_data import load_shipped

        specimen, other = load_shipped(SCENARIO_SPECIMEN), load_shipped(SCENARIO_TRAINING_SPECIMEN)
        px = float(specimen.pixel_size_A)
        if not np.isclose(other.pixel_size_A, px):
            raise ValueError(f"the {SCENARIO_TRAINING_SPECIMEN} image's pixels ({other.pixel_size_A} Å) differ "
                             f"from the {SCENARIO_SPECIMEN} image's ({px} Å): hourglass needs one pixel size")
        electrons = electrons_per_probe(preset.beam_current_pA, preset.dwell_time_us)
        return {"scenario": {"image": np.maximum(specimen.image, 0.0).astype(np.float64), "pixel_size_A": px,
                             "electrons_per_probe": electrons, "dose_e_per_A2": electrons / px**2},
                "training_image": np.maximum(other.image, 0.0).astype(np.float64)}

    def plan(self, preset: DenoisePreset, methods, shared: dict) -> list[Task]:
        """Split the run into tasks: one per method, modality and block of images.

        Parameters
        ----------
        preset : DenoisePreset
            The study's preset.
        methods : sequence of Method
            The methods compared.
        shared : dict
            What :meth:`prepare` returned.

        Returns
        -------
        list of Task
            The tasks (:func:`plan`).
        """
        return plan(preset, methods, shared)

    run_task = staticmethod(run_task)

    def finish(self, preset: DenoisePreset, shared: dict, tasks, store):
        """Write the examples, ``realisations`` and ``summary``.

        Parameters
        ----------
        preset : DenoisePreset
            The study's preset.
        shared : dict
            What :meth:`prepare` returned (unused).
        tasks : sequence of Task
            Every task of the run.
        store : ResultStore
            The results directory.

        Returns
        -------
        pandas.DataFrame
            The summary table (:func:`summarise`).
        """
        write_examples(store, tasks)
        return store.write_summary(lambda table: summarise(table, preset))


STUDY = register_study(Denoise())
