"""Gallery figures: every distortion model applied on its own to one synthetic image (one panel each).

Like the paper's Figs. 12-14 the panels let a person look at each model. The test image is a square
lattice of round Gaussian columns (a HAADF-like intensity, fraction of the beam) generated here; the
parameters are exaggerated where needed so each effect is visible at thumbnail size.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from _shared.files import write_figure_atomic, write_text_atomic
from simulate.distortions.defects import RowLineParams, ZingerParams
from simulate.distortions.detector import PmtParams
from simulate.distortions.fast_scan import FastScanParams
from simulate.distortions.jitter import JitterParams
from simulate.distortions.params import StemDistortionParams, TemDistortionParams
from simulate.distortions.pipeline import apply_stem_distortions, apply_tem_distortions
from simulate.distortions.postprocess import (
    AffineParams,
    AnnotationParams,
    CropParams,
    PostprocessParams,
    apply_postprocessing,
)
from simulate.distortions.samplers import sample_postprocess_params, sample_stem_params, sample_tem_params
from simulate.distortions.tem import ClusterParams, DarkCurrentParams, MtfParams, apply_mtf

PIXEL_SIZE = 0.2  # Å
DOSE = 2e4  # e⁻/Å²: 800 e⁻ per pixel of full beam, ~ 40 counts on a column


def lattice_image(size: int = 128, spacing: float = 1.962, rho: float = 0.35, peak: float = 0.05,
                  background: float = 0.005) -> np.ndarray:
    """Return a square lattice of round Gaussian columns, intensity as a fraction of the beam.

    The pixel size is :data:`PIXEL_SIZE` (0.2 Å); columns sit at spacing/2 + k · spacing along both axes.

    Parameters
    ----------
    size : int
        Side of the image [px].
    spacing : float
        Column spacing [Å].
    rho : float
        Standard deviation of each Gaussian column [Å].
    peak : float
        Peak height of a column above the background [fraction of the incident beam].
    background : float
        Constant background [fraction of the incident beam].

    Returns
    -------
    numpy.ndarray
        Float image, shape (size, size).
    """
    coords = np.arange(size) * PIXEL_SIZE
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    image = np.full((size, size), background)
    centres = np.arange(spacing / 2, size * PIXEL_SIZE + spacing, spacing)
    for cy in centres:
        for cx in centres:
            image += peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rho**2))
    return image


def _stem_panels(image: np.ndarray, seed: int) -> list[tuple[str, np.ndarray, dict]]:
    base = StemDistortionParams(pixel_size_A=PIXEL_SIZE)
    settings = [
        ("clean", base),
        ("X jitter (41-42)", StemDistortionParams(PIXEL_SIZE, jitter=JitterParams(0.2, 0.6))),
        ("Y jitter (41-42)", StemDistortionParams(PIXEL_SIZE, jitter=JitterParams(sigma_slow=0.2, phi_slow=0.6))),
        ("XY jitter (41-42)", StemDistortionParams(PIXEL_SIZE, jitter=JitterParams(0.15, 0.6, 0.15, 0.6))),
        ("Poisson (45)", StemDistortionParams(PIXEL_SIZE, dose_e_per_A2=DOSE / 20)),
        # A weak scintillator (σ = 1.75 counts) at a low dose, so the signal-independent PMT noise shows.
        ("Poisson + PMT (43-44, 46)", StemDistortionParams(PIXEL_SIZE, dose_e_per_A2=DOSE / 20,
                                                           pmt=PmtParams(photons_per_electron=5, photons_variance=15,
                                                                         quantum_efficiency=0.1))),
        ("fast scan (47-50)", StemDistortionParams(PIXEL_SIZE, dose_e_per_A2=DOSE * 10,
                                                   fast_scan=FastScanParams(detector_alpha_px=3 * math.pi,
                                                                            readout_beta_px=5.6,
                                                                            readout_gamma_px=11.0))),
        ("row lines (51)", StemDistortionParams(PIXEL_SIZE, dose_e_per_A2=DOSE * 10,
                                                row_lines=RowLineParams(max_line_density=0.1))),
        ("black pixels (52)", StemDistortionParams(PIXEL_SIZE, dose_e_per_A2=DOSE * 10, black_pixels=0.01)),
        ("zingers (53)", StemDistortionParams(PIXEL_SIZE, dose_e_per_A2=DOSE * 10, zingers=ZingerParams(0.002, 1.0))),
        ("upper clip (54)", StemDistortionParams(PIXEL_SIZE, dose_e_per_A2=DOSE * 10, clip=0.6)),
        ("quantisation 3 bit (55)", StemDistortionParams(PIXEL_SIZE, dose_e_per_A2=DOSE * 10, quantisation_bits=3)),
        ("sampled (training)", sample_stem_params(seed, pixel_size_A=PIXEL_SIZE, mean_intensity=float(image.mean()))),
    ]
    panels = []
    for i, (title, params) in enumerate(settings):
        out, record = apply_stem_distortions(image, params, seed + i)
        panels.append((title, out, record))
    return panels


def _tem_panels(image: np.ndarray, seed: int) -> list[tuple[str, np.ndarray, dict]]:
    def tem(**kwargs):
        return TemDistortionParams(pixel_size_A=PIXEL_SIZE, **kwargs)

    expected = tem()  # input already in expected electrons below
    scaled = image * DOSE * PIXEL_SIZE**2
    mtf = MtfParams(a=0.5, b_nyquist=0.15, c_nyquist=0.6)
    # The MTF (eq. 27) blurs the undistorted target itself; the panel shows that target.
    settings = [
        ("clean", expected, scaled),
        ("MTF on the target (27-29)", expected, apply_mtf(scaled, mtf)),
        ("shot noise (30)", tem(dose_e_per_A2=DOSE / 10), image),
        ("fixed pattern (31)", tem(dose_e_per_A2=DOSE, fixed_pattern=0.3), image),
        ("dark current (32-33)", tem(dark_current=DarkCurrentParams(mean_e=10.0, std_e=5.0, hot_fraction=0.005)),
         scaled),
        ("thermal (34)", tem(thermal_noise=5.0), scaled),
        ("flicker 1/f (35)", tem(flicker_noise=8.0), scaled),
        ("reset rows (36)", tem(reset_row_noise=5.0), scaled),
        ("black clusters (37)", tem(black_clusters=ClusterParams(0.002, 6)), scaled),
        ("zinger clusters (38)", tem(zinger_clusters=ClusterParams(0.001, 6, 1.0)), scaled),
        ("clip (39)", tem(full_scale=float(0.6 * scaled.max())), scaled),
        ("quantisation (40)", tem(conversion_gain=0.1, quantise=True), scaled),
        ("sampled (training)", sample_tem_params(seed, pixel_size_A=PIXEL_SIZE, mean_intensity=float(image.mean())),
         image),
    ]
    panels = []
    for i, (title, params, source) in enumerate(settings):
        out, record = apply_tem_distortions(source, params, seed + i)
        if title.startswith("MTF"):
            record = {"pipeline": "tem", "images": [[{"name": "mtf", "equations": "27-29",
                                                       "parameters": mtf.to_dict()}]]}
        panels.append((title, out, record))
    return panels


def _post_panels(image: np.ndarray, seed: int) -> list[tuple[str, np.ndarray, dict]]:
    noisy, _ = apply_stem_distortions(image, StemDistortionParams(PIXEL_SIZE, dose_e_per_A2=DOSE), seed)
    clean = image * DOSE * PIXEL_SIZE**2
    settings = [
        ("affine", PostprocessParams(affine=AffineParams(12.0, 1.1, 0.9, 0.1, 3.0, -2.0))),
        ("blur σ = 1 px", PostprocessParams(blur_sigma=1.0)),
        ("annotations", PostprocessParams(annotations=AnnotationParams(4, 1.0))),
        ("crop, median fill", PostprocessParams(crop=CropParams(0.7, 0.8, "median"))),
        ("sampled", sample_postprocess_params(seed)),
    ]
    panels = []
    for i, (title, params) in enumerate(settings):
        x, y, record = apply_postprocessing(noisy, clean, params, seed + i)
        panels.append((f"{title}: input", x, record))
        panels.append((f"{title}: target", y, record))
    return panels


def _figure(panels, title: str, path: Path, columns: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, image, _) in zip(axes.flat, panels):
        ax.imshow(image, cmap="gray", interpolation="nearest")
        ax.set_title(name, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    write_figure_atomic(path, fig, dpi=110)
    plt.close(fig)


def make_distortion_gallery(out_dir: str | os.PathLike, seed: int = 0) -> list[Path]:
    """Write STEM, TEM and post-processing gallery PNGs plus a JSON of every panel's record.

    Parameters
    ----------
    out_dir : path
        Output folder (created if missing).
    seed : int
        Seed of every random draw (panel i uses seed + i).

    Returns
    -------
    list of Path
        distortions_stem.png, distortions_tem.png, distortions_postprocessing.png, distortions_records.json.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer; got {seed!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image = lattice_image()
    groups = {
        "stem": ("S(T)EM distortions, eqs. 41-55 (Pt [001]-like lattice, 0.2 Å pixels)", _stem_panels(image, seed), 5),
        "tem": ("TEM camera distortions, eqs. 27-40", _tem_panels(image, seed), 5),
        "postprocessing": ("Post-processing distortions (input / target pairs)", _post_panels(image, seed), 4),
    }
    paths, records = [], {}
    for name, (title, panels, columns) in groups.items():
        path = out / f"distortions_{name}.png"
        _figure(panels, title, path, columns)
        paths.append(path)
        records[name] = {panel_title: record for panel_title, _, record in panels}
    record_path = out / "distortions_records.json"
    text = json.dumps({"seed": int(seed), "pixel_size_A": PIXEL_SIZE, "panels": records}, indent=1)
    write_text_atomic(record_path, text)
    paths.append(record_path)
    return paths
