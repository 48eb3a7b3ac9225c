"""StatSTEM-style quantification: 2D Gaussian column fitting, Poisson Cramér–Rao lower bounds and
atom counting. Imports none of the suite's other packages: it takes images, pixel sizes and positions as
plain arrays.

Coordinate convention (used by every function here): positions are (x, y) in Å. x runs along the last
image axis (columns), y along the second-to-last (rows). **The centre of pixel (i, j) — row i, column j —
is at (x, y) = (j·Δ, i·Δ)**, Δ = pixel size [Å]; pixel (0, 0) is centred at the origin (the convention of
an abTEM scan starting at 0). A column at x = 3.0 Å on a 0.1 Å grid therefore sits exactly on pixel
column 30.

Intensity units: images are in any units proportional to the signal (fraction of the incident beam, or
counts); SCS = 2πηρ² comes out in image units × Å² (Å² for fraction-of-beam images). The dose convention
of the suite is λ = dose · pixel area · intensity expected counts per pixel.
"""
from fitting.counting import MixtureCounting, count_by_gmm, count_by_library, first_local_minimum, library_offset
from fitting.crlb import CramerRaoBound, crlb_columns, crlb_positions
from fitting.fit import fit_columns
from fitting.gmm import GaussianMixture, fit_gmm, gmm_path
from fitting.model import render_columns
from fitting.peaks import find_columns, snap_to_peaks
from fitting.result import ColumnFit
from fitting.voronoi import voronoi_cells, voronoi_scs

__all__ = [
    "ColumnFit", "CramerRaoBound", "GaussianMixture", "MixtureCounting",
    "count_by_gmm", "count_by_library", "crlb_columns", "crlb_positions", "find_columns", "first_local_minimum",
    "fit_columns", "fit_gmm", "gmm_path", "library_offset", "render_columns", "snap_to_peaks", "voronoi_cells",
    "voronoi_scs",
]
