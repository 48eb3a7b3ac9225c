"""Gallery figures: every distortion model applied on its own to one synthetic image (one panel each).

Like the paper's Figs. 12-14 the panels let a person look at each model. The test image is a square
lattice of round Gaussian columns (a HAADF-like intensity, fraction of the beam) generated here; the
parameters are exaggerated where needed so each effect is visible at thumbnail size.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

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
from simulate.distortions.tem import ClusterParams, DarkCurrentParams, MtfParams

PIXEL_SIZE = 0.2  # Å
DOSE = 2e4  # e⁻/Å²: 800 e⁻ per pixel of full beam, ~ 40 counts on a column


def lattice_image(size: int = 128, spacing: float = 1.962, rho: float = 0.35, peak: float = 0.05,
                  background: float = 0.005) -> np.ndarray:
    """Square lattice of Gaussian columns, intensity as a fraction of the beam (spacing, rho in Å)."""
    coords = np.arange(size) * PIXEL_SIZE
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    image = np.full((size, size), background)
    centres = np.arange(spacing / 2, size * PIXEL_SIZE + spacing, spacing)
    for cy in centres:
        for cx in centres:
            image += peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rho**2))
    return image


def _stem_panels(image: np.ndarray, seed: int) -> list[tuple[str, np.ndarray, dict]]:
    base = StemDistortionParams(pixel_size=PIXEL_SIZE)
    settings = [
        ("clean", base),
        ("X jitter (41-42)", StemDistortionParams(PIXEL_SIZE, jitter=JitterParams(0.2, 0.6))),
        ("Y jitter (41-42)", StemDistortionParams(PIXEL_SIZE, jitter=JitterParams(sigma_slow=0.2, phi_slow=0.6))),
        ("XY jitter (41-42)", StemDistortionParams(PIXEL_SIZE, jitter=JitterParams(0.15, 0.6, 0.15, 0.6))),
        ("Poisson (43)", StemDistortionParams(PIXEL_SIZE, dose_per_area=DOSE)),
        ("Poisson + PMT (44-46)", StemDistortionParams(PIXEL_SIZE, dose_per_area=DOSE,
                                                       pmt=PmtParams(photons_per_electron=5, photons_variance=15,
                                                                     quantum_efficiency=0.1, read_noise=0.5))),
        ("fast scan (47-50)", StemDistortionParams(PIXEL_SIZE, dose_per_area=DOSE * 10,
                                                   fast_scan=FastScanParams(1.5, 0.6, 0.3))),
        ("row lines (51)", StemDistortionParams(PIXEL_SIZE, dose_per_area=DOSE * 10,
                                                row_lines=RowLineParams(0.1, 1.0))),
        ("black pixels (52)", StemDistortionParams(PIXEL_SIZE, dose_per_area=DOSE * 10, black_pixels=0.01)),
        ("zingers (53)", StemDistortionParams(PIXEL_SIZE, dose_per_area=DOSE * 10, zingers=ZingerParams(0.002, 1.0))),
        ("upper clip (54)", StemDistortionParams(PIXEL_SIZE, dose_per_area=DOSE * 10, clip=0.6)),
        ("quantisation 3 bit (55)", StemDistortionParams(PIXEL_SIZE, dose_per_area=DOSE * 10, quantisation_bits=3)),
        ("sampled (training)", sample_stem_params(seed, PIXEL_SIZE, mean_intensity=float(image.mean()))),
    ]
    panels = []
    for i, (title, params) in enumerate(settings):
        out, record = apply_stem_distortions(image, params, seed + i)
        panels.append((title, out, record))
    return panels


def _tem_panels(image: np.ndarray, seed: int) -> list[tuple[str, np.ndarray, dict]]:
    def tem(**kwargs):
        return TemDistortionParams(pixel_size=PIXEL_SIZE, **kwargs)

    expected = tem()  # input already in expected electrons below
    scaled = image * DOSE * PIXEL_SIZE**2
    settings = [
        ("clean", expected),
        ("MTF (27-29)", tem(mtf=MtfParams(0.12, 0.03, 0.3))),
        ("shot noise (30)", tem(dose_per_area=DOSE / 10)),
        ("fixed pattern (31)", tem(fixed_pattern=0.3)),
        ("dark current (32-33)", tem(dark_current=DarkCurrentParams(10.0, 0.8, 0.005, 100.0))),
        ("thermal (34)", tem(thermal_noise=5.0)),
        ("flicker 1/f (35)", tem(flicker_noise=8.0)),
        ("reset rows (36)", tem(reset_row_noise=5.0)),
        ("black clusters (37)", tem(black_clusters=ClusterParams(0.002, 6))),
        ("zinger clusters (38)", tem(zinger_clusters=ClusterParams(0.001, 6, 1.0))),
        ("clip (39)", tem(full_scale=float(0.6 * scaled.max()))),
        ("quantisation (40)", tem(conversion_gain=0.1, quantise=True)),
        ("sampled (training)", sample_tem_params(seed, PIXEL_SIZE, mean_intensity=float(image.mean()))),
    ]
    panels = []
    for i, (title, params) in enumerate(settings):
        source = image if params.dose_per_area is not None else scaled
        out, record = apply_tem_distortions(source, params, seed + i)
        panels.append((title, out, record))
    return panels


def _post_panels(image: np.ndarray, seed: int) -> list[tuple[str, np.ndarray, dict]]:
    noisy, _ = apply_stem_distortions(image, StemDistortionParams(PIXEL_SIZE, dose_per_area=DOSE), seed)
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


def _atomic_write_bytes(path: Path, writer) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        writer(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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
    _atomic_write_bytes(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
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
    text = json.dumps({"seed": int(seed), "pixel_size": PIXEL_SIZE, "panels": records}, indent=1)
    _atomic_write_bytes(record_path, lambda tmp: Path(tmp).write_text(text))
    paths.append(record_path)
    return paths
