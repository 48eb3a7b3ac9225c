"""Speed and precision of the batched column fitter against a per-column lmfit fitter (Atomap kind).

Side-by-side table (one run, same images):

    .venv/bin/python tests/benchmarks/test_fitting_speed.py [--images 400] [--reference-images 10]
    .venv/bin/python tests/benchmarks/test_fitting_speed.py --bias-doses 1e3 1e4 1e5
    .venv/bin/python tests/benchmarks/test_fitting_speed.py --large-field

pytest-benchmark timings:

    .venv/bin/python -m pytest -m benchmark tests/benchmarks/test_fitting_speed.py
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pytest

from fitting import crlb_columns, fit_columns, render_columns
from fitting.reference import fit_columns_lmfit

SPACING, PIXEL, RHO, ETA, ZETA, DOSE, SIDE = 1.962, 0.15, 0.45, 0.3, 0.02, 1e4, 6


def make_images(n_images: int, seed: int = 0, dose: float = DOSE):
    """Poisson images of a 6 × 6 Pt [001]-like Gaussian lattice (counts), truth (N, 2) Å and start."""
    axis = SPACING * (np.arange(SIDE) + 0.5)
    x, y = np.meshgrid(axis, axis)
    truth = np.stack([x.ravel(), y.ravel()], axis=1)
    side = int(round(SIDE * SPACING / PIXEL))
    n = truth.shape[0]
    clean = render_columns((side, side), pixel_size_A=PIXEL, positions=truth[None], heights=np.full((1, n), ETA),
                           widths=np.full((1, n), RHO), background=np.array([ZETA]))[0]
    rng = np.random.default_rng(seed)
    counts = rng.poisson(dose * PIXEL ** 2 * clean, size=(n_images, side, side)).astype(np.float64)
    start = truth + rng.normal(0.0, 0.05, truth.shape)
    return counts, truth, start


def _precision(fit, truth):
    error = fit.positions - truth
    volume = 2 * np.pi * ETA * RHO ** 2
    scs = fit.scs / (DOSE * PIXEL ** 2)
    return float(np.sqrt(np.mean(error ** 2))), float(np.std(scs / volume - 1)), float(np.mean(scs / volume - 1))


def compare(n_images: int = 400, reference_images: int = 10) -> list[dict]:
    """Fit the same images with every fitter; columns per second and precision against the truth."""
    counts, truth, start = make_images(n_images)
    rows = []
    runs = [
        ("fit_columns least_squares",
         lambda imgs: fit_columns(imgs, start, pixel_size_A=PIXEL, estimator="least_squares"), counts),
        ("fit_columns poisson", lambda imgs: fit_columns(imgs, start, pixel_size_A=PIXEL, estimator="poisson"), counts),
        ("fit_columns least_squares (same images as lmfit)",
         lambda imgs: fit_columns(imgs, start, pixel_size_A=PIXEL, estimator="least_squares"),
         counts[:reference_images]),
        ("lmfit per column (Atomap kind, window 0.5 nn)",
         lambda imgs: fit_columns_lmfit(imgs, start, pixel_size_A=PIXEL, width=0.5), counts[:reference_images]),
    ]
    for name, run, images in runs:
        started, cpu_started = time.perf_counter(), time.process_time()
        fit = run(images)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        rms_position, scs_spread, scs_bias = _precision(fit, truth)
        rows.append(dict(fitter=name, images=len(images), columns=fit.scs.size, seconds=elapsed, cpu_seconds=cpu,
                         columns_per_second=fit.scs.size / elapsed, columns_per_cpu_second=fit.scs.size / cpu,
                         rms_position_A=rms_position,
                         scs_relative_spread=scs_spread, scs_relative_bias=scs_bias,
                         flagged=int(fit.flagged.sum())))
    bound = crlb_columns(truth, 2 * np.pi * ETA * RHO ** 2, width=RHO, background=ZETA, pixel_size_A=PIXEL,
                         shape=counts.shape[1:], dose=DOSE)
    rows.append(dict(fitter="Poisson CRLB", images=0, columns=0, seconds=np.nan, cpu_seconds=np.nan,
                     columns_per_second=np.nan, columns_per_cpu_second=np.nan,
                     rms_position_A=float(np.sqrt(np.mean(bound.sigma_x ** 2 + bound.sigma_y ** 2) / 2)),
                     scs_relative_spread=float(np.sqrt(np.mean(bound.relative_volume ** 2))),
                     scs_relative_bias=0.0, flagged=0))
    return rows


def bias_versus_dose(doses, n_images: int = 300) -> str:
    """Mean relative SCS error (bias) of both estimators at several doses, as a Markdown table."""
    volume = 2 * np.pi * ETA * RHO ** 2
    lines = ["| dose [e⁻/Å²] | estimator | SCS rel. bias | SCS rel. spread | width rel. bias | background rel. bias |",
             "|---|---|---|---|---|---|"]
    for dose in doses:
        counts, _, start = make_images(n_images, seed=3, dose=dose)
        scale = dose * PIXEL ** 2
        for estimator in ("least_squares", "poisson"):
            fit = fit_columns(counts, start, pixel_size_A=PIXEL, estimator=estimator)
            scs = fit.scs / scale / volume
            lines.append(f"| {dose:.0e} | {estimator} | {scs.mean() - 1:+.4f} | {scs.std():.4f} | "
                         f"{fit.widths.mean() / RHO - 1:+.4f} | {fit.background.mean() / scale / ZETA - 1:+.4f} |")
    return "\n".join(lines)


def large_field(n_side: int = 18, pixel: float = 0.1, n_images: int = 2) -> str:
    """CPU seconds per image for an n_side² lattice on one large field of view."""
    axis = SPACING * (np.arange(n_side) + 0.5)
    x, y = np.meshgrid(axis, axis)
    truth = np.stack([x.ravel(), y.ravel()], axis=1)
    side = int(round(n_side * SPACING / pixel))
    n = truth.shape[0]
    clean = render_columns((side, side), pixel_size_A=pixel, positions=truth[None], heights=np.full((1, n), ETA),
                           widths=np.full((1, n), RHO), background=np.array([ZETA]))[0]
    rng = np.random.default_rng(0)
    counts = rng.poisson(DOSE * pixel ** 2 * clean, size=(n_images, side, side)).astype(np.float64)
    start = truth + rng.normal(0.0, 0.05, truth.shape)
    lines = [f"{n} columns on {side} × {side} px ({pixel} Å pixels), {n_images} images:"]
    for estimator in ("least_squares", "poisson"):
        cpu = time.process_time()
        fit = fit_columns(counts, start, pixel_size_A=pixel, estimator=estimator)
        per_image = (time.process_time() - cpu) / n_images
        lines.append(f"  {estimator}: {per_image:.2f} s CPU per image, converged {fit.converged.tolist()}, "
                     f"RMS position error {np.sqrt(np.mean((fit.positions - truth) ** 2)):.4f} Å")
    return "\n".join(lines)


def _table(rows) -> str:
    lines = ["| fitter | images | columns | wall s | columns/s (wall) | columns/s (CPU) | RMS position error [Å] "
             "| SCS rel. spread | SCS rel. bias | flagged |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['fitter']} | {r['images']} | {r['columns']} | {r['seconds']:.2f} | "
                     f"{r['columns_per_second']:.0f} | {r['columns_per_cpu_second']:.0f} | {r['rms_position_A']:.4f} | "
                     f"{r['scs_relative_spread']:.4f} | "
                     f"{r['scs_relative_bias']:+.4f} | {r['flagged']} |")
    return "\n".join(lines)


@pytest.mark.benchmark
@pytest.mark.parametrize("estimator", ["least_squares", "poisson"])
def test_batched_fit_speed(benchmark, estimator):
    counts, truth, start = make_images(100)
    fit = benchmark.pedantic(fit_columns, args=(counts, start), kwargs=dict(pixel_size_A=PIXEL, estimator=estimator),
                             rounds=3, iterations=1)
    assert fit.converged.all()
    benchmark.extra_info["columns_per_second"] = fit.scs.size / benchmark.stats.stats.mean


@pytest.mark.benchmark
def test_lmfit_reference_speed(benchmark):
    counts, truth, start = make_images(2)
    fit = benchmark.pedantic(fit_columns_lmfit, args=(counts, start), kwargs=dict(pixel_size_A=PIXEL, width=0.5),
                             rounds=1, iterations=1)
    assert fit.converged.all()
    benchmark.extra_info["columns_per_second"] = fit.scs.size / benchmark.stats.stats.mean


@pytest.mark.benchmark
def test_fast_fitter_is_twenty_times_faster_at_equal_precision():
    rows = {r["fitter"]: r for r in compare(n_images=100, reference_images=5)}
    fast = rows["fit_columns least_squares (same images as lmfit)"]
    fast_all = rows["fit_columns least_squares"]
    slow = rows["lmfit per column (Atomap kind, window 0.5 nn)"]
    assert fast_all["columns_per_second"] >= 20 * slow["columns_per_second"]
    assert fast["rms_position_A"] <= 1.05 * slow["rms_position_A"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--reference-images", type=int, default=10)
    parser.add_argument("--bias-doses", type=float, nargs="*", default=None,
                        help="instead of the speed table, the SCS bias of both estimators at these doses")
    parser.add_argument("--large-field", action="store_true", help="time one large field of view instead")
    options = parser.parse_args()
    if options.large_field:
        print(large_field())
    elif options.bias_doses:
        print(bias_versus_dose(options.bias_doses))
    else:
        print(_table(compare(options.images, options.reference_images)))
