# SPDX-License-Identifier: GPL-3.0-or-later
"""BM3D at 2 atoms per column and 5·10² e⁻/Å²: where the Anscombe VST stops stabilising (issue 17).

Run from the repository root: `.venv/bin/python docs/scripts/bm3d_low_counts.py` (≈ 1 min on one core).
Prints, for 2 and 5 atoms per column of the shipped series at 5·10² e⁻/Å², the counts per pixel, the std
of the transformed noise and, for raw data (least squares and Poisson ML) and BM3D with σ = 1 and with
the measured σ, the flagged fraction, fitted width and SCS error of the scored columns (docs/studies.md).
"""
import bm3d
import numpy as np
from scipy.stats import poisson

from bench.methods import anscombe, inverse_anscombe_unbiased
from fitting import fit_columns
from simulate.distortions import poisson_noise
from simulate.field_of_view import field_of_view
from simulate.thickness_series import load_embedded_default

z = np.arange(0, 200); f = 2*np.sqrt(z+0.375)
def var_f(lam):
    p = poisson.pmf(z[None], np.atleast_1d(lam)[:,None]); m=(p*f).sum(1); return (p*(f-m[:,None])**2).sum(1)
series = load_embedded_default(); px=0.2; dose=500.0; R=20
for atoms in (2, 5):
    view = field_of_view(series, atoms_per_column=atoms, cells=(4,4), pixel_size_A=px); image=np.maximum(view.image,0); truth=view.column_positions_A
    lam = image*dose*px*px
    sig = float(np.sqrt(var_f(lam.ravel()).mean()))
    ref = fit_columns(image, truth, pixel_size_A=px, estimator="least_squares")
    edge = np.minimum.reduce([truth[:,0],truth[:,1],(image.shape[1]-1)*px-truth[:,0],(image.shape[0]-1)*px-truth[:,1]])
    central = edge >= 2.5
    counts = np.asarray(poisson_noise(np.repeat(image[None],R,0), dose_e_per_A2=dose, pixel_size_A=px, generator=7))
    prof = bm3d.BM3DProfile(); prof.num_threads=1
    print(f"atoms {atoms}: counts/px mean {lam.mean():.3f} max {lam.max():.2f}; VST std over the image {sig:.3f}; ref width {ref.widths[0,0]:.3f} A")
    cases = {"raw LS": (counts, "least_squares"), "raw Poisson": (counts, "poisson")}
    for sigma in (1.0, sig):
        out = np.stack([inverse_anscombe_unbiased(bm3d.bm3d(anscombe(c), sigma_psd=float(sigma), profile=prof)) for c in counts])
        cases[f"bm3d sigma={sigma:.2f}"] = (out, "least_squares")
        if sigma == 1.0: print(f"   bm3d sigma=1 output mean / lambda mean {out.mean()/lam.mean():.3f}")
    for name,(data,estimator) in cases.items():
        fit = fit_columns(data, truth, pixel_size_A=px, width=float(ref.widths[0,0]), estimator=estimator, max_iterations=300)
        rel = 100*(fit.scs[:,central]/(dose*px*px)/ref.scs[0][central][None]-1)
        fl = fit.flagged[:,central]
        good = np.where(fl, np.nan, rel)
        allv = rel
        print(f"   {name:18s} flagged {fl.mean():.2f}  width {np.median(fit.widths[:,0]):.3f}  SCS err (unflagged) mean {np.nanmean(good):+.1f} % sd {np.nanstd(good):.1f} %   (all fits: sd {np.std(allv):.0f} %)")
