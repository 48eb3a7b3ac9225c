"""Low-resolution image types (paper: soft and sharp particles, Voronoi grains, bands, boxes, cracks).

Each generator returns a non-negative float64 image of the requested shape; lengths are in pixels
because these images stand for specimens much larger than atoms. Objects are placed at "individual
points" (as in the paper): random positions with a minimum distance U[1, 20] px, lowered where needed
so that the discs cover at most 30 % of the image (ours: a random packing jams near 55 %).

- soft particles: [15, 85] of them, each the asymmetric eq. 17 f(ρ) = h1 exp(−ρ²/2) + h2 exp(−ρ)
  + h3/(1 + ρ^{2n}) with ρ² = (p/r_mx)² + (q/r_my)² in a randomly rotated frame (p, q), r_my = α r_mx,
  α ~ U[0.8, 1.2]; ours: h1, h2, h3 ~ U[0.5, 1] and n ~ U[4, 16] per particle (as for atoms),
  r_mx ~ U[0.005, 0.05] · min(nx, ny);
- sharp particles: [15, 40] of them, polygons of [3, 5] vertices or ellipses (p = 0.5), each masking a
  random positive 3-D plane; ours: radius U[0.02, 0.2] · min(nx, ny), ellipse axis ratio U[0.3, 1];
- grains: Voronoi cells of [15, 175] points, each masking a random positive 3-D plane, with a
  borderline (p = 0.5) of intensity U[0.5, 1.5] × the mean grain intensity; ours: 1–3 px wide;
- bands, boxes and cracks (the paper gives no details; all ours): soft-edged parallel bands, rotated
  rectangles, and cracks as a multiplicative mask of jagged random-walk lines (p = 0.2) rather than an
  added object.

:func:`sample_lowres_image` composes one to three types (ours) and blurs the result (σ ∈ [0, 2] px, ours).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import ellipse, line, polygon

from simulate.synthetic.specimens import random_packing

LOWRES_KINDS = ("soft_particles", "sharp_particles", "voronoi_grains", "bands", "boxes")
SOFT_PARTICLE_COUNT_RANGE = (15, 85)
SOFT_PARTICLE_ASPECT_RANGE = (0.8, 1.2)
SHARP_PARTICLE_COUNT_RANGE = (15, 40)
POLYGON_VERTEX_RANGE = (3, 5)
GRAIN_COUNT_RANGE = (15, 175)
BORDER_INTENSITY_RANGE = (0.5, 1.5)
OBJECT_MIN_DISTANCE_RANGE_PX = (1.0, 20.0)
_MAX_OBJECT_COVERAGE = 0.3
_SOFT_REACH = np.log(1500.0)  # f < 1e-3 of its peak beyond this many r_m (the exponential term dominates)


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)


def _plane(shape, generator, rows, cols) -> np.ndarray:
    """Intensity a + b·x + c·y (a "3-D plane") evaluated at the given pixels, kept > 0."""
    a = generator.uniform(0.3, 1.0)
    slope = generator.uniform(-0.5, 0.5, 2) / max(shape)
    value = a + slope[0] * (rows - rows.mean()) + slope[1] * (cols - cols.mean())
    return np.clip(value, 0.05, None)


def object_positions(shape: tuple[int, int], count: int, generator: np.random.Generator) -> np.ndarray:
    """Draw up to ``count`` (row, column) positions with a random minimum distance ("individual points").

    The distance is U[1, 20] px, lowered where needed so that discs of that diameter cover at most 30 % of
    the image.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the image [px].
    count : int
        Target number of positions.
    generator : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Positions [px], shape (m, 2), m ≤ ``count`` (fewer when the packing is tight).
    """
    d = float(generator.uniform(*OBJECT_MIN_DISTANCE_RANGE_PX))
    d = min(d, float(np.sqrt(_MAX_OBJECT_COVERAGE * shape[0] * shape[1] / (np.pi / 4 * count))))
    return random_packing(count, np.asarray(shape, dtype=float), d, generator)


def soft_particle(rows, cols, centre, r_mx: float, alpha: float, heights, order: float, angle: float) -> np.ndarray:
    """Evaluate the asymmetric eq. 17 profile at pixels (rows, cols).

    f(ρ) = h1 exp(−ρ²/2) + h2 exp(−ρ) + h3/(1 + ρ^{2n}) with ρ² = (p/r_mx)² + (q/r_my)², p along the
    direction ``angle`` and q across it.

    Parameters
    ----------
    rows, cols : numpy.ndarray
        Pixel coordinates [px], same shape.
    centre : array_like
        (row, column) of the particle's centre [px].
    r_mx : float
        Width along the direction ``angle`` [px].
    alpha : float
        Aspect ratio: the width across is r_my = alpha · r_mx.
    heights : array_like
        (h1, h2, h3), the weights of the three terms.
    order : float
        Exponent n of the Butterworth-like term.
    angle : float
        Direction of r_mx [rad], measured from the row axis towards the column axis.

    Returns
    -------
    numpy.ndarray
        Profile values, shape of ``rows``.
    """
    dr, dc = rows - centre[0], cols - centre[1]
    p = np.cos(angle) * dr + np.sin(angle) * dc
    q = -np.sin(angle) * dr + np.cos(angle) * dc
    rho = np.sqrt((p / r_mx) ** 2 + (q / (alpha * r_mx)) ** 2)
    h1, h2, h3 = heights
    return h1 * np.exp(-0.5 * rho**2) + h2 * np.exp(-rho) + h3 / (1 + rho ** (2 * order))


def soft_particles(shape: tuple[int, int], generator: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Render soft particles: a sum of randomly rotated asymmetric eq. 17 profiles, r_my = α r_mx.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the image [px].
    generator : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    image : numpy.ndarray
        Non-negative float image of ``shape``.
    record : dict
        ``count``, the number of particles placed.
    """
    image = np.zeros(shape)
    count = int(generator.integers(SOFT_PARTICLE_COUNT_RANGE[0], SOFT_PARTICLE_COUNT_RANGE[1] + 1))
    centres = object_positions(shape, count, generator)
    for centre in centres:
        r_mx = generator.uniform(0.005, 0.05) * min(shape)
        alpha = generator.uniform(*SOFT_PARTICLE_ASPECT_RANGE)
        heights = generator.uniform(0.5, 1.0, 3)
        order = generator.uniform(4.0, 16.0)
        angle = generator.uniform(0, np.pi)
        half = int(np.ceil(_SOFT_REACH * r_mx * max(1.0, alpha)))
        r0, r1 = max(0, int(centre[0]) - half), min(shape[0], int(centre[0]) + half + 1)
        c0, c1 = max(0, int(centre[1]) - half), min(shape[1], int(centre[1]) + half + 1)
        rows, cols = np.mgrid[r0:r1, c0:c1].astype(float)
        image[r0:r1, c0:c1] += soft_particle(rows, cols, centre, r_mx, alpha, heights, order, angle)
    return image, {"count": len(centres)}


def sharp_particles(shape: tuple[int, int], generator: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Render polygons ([3, 5] vertices) and ellipses with sharp edges, each masking a positive 3-D plane.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the image [px].
    generator : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    image : numpy.ndarray
        Non-negative float image of ``shape`` (overlapping particles add).
    record : dict
        ``count`` and, per particle, ``vertices`` (0 for an ellipse).
    """
    image = np.zeros(shape)
    scale = min(shape)
    count = int(generator.integers(SHARP_PARTICLE_COUNT_RANGE[0], SHARP_PARTICLE_COUNT_RANGE[1] + 1))
    centres = object_positions(shape, count, generator)
    vertices = []  # 0 for an ellipse
    for centre in centres:
        radius = generator.uniform(0.02, 0.2) * scale
        if generator.random() < 0.5:
            rows, cols = ellipse(
                centre[0], centre[1], radius, radius * generator.uniform(0.3, 1.0), shape=shape,
                rotation=generator.uniform(-np.pi, np.pi),
            )
            vertices.append(0)
        else:
            n = int(generator.integers(POLYGON_VERTEX_RANGE[0], POLYGON_VERTEX_RANGE[1] + 1))
            vertices.append(n)
            angles = np.sort(generator.uniform(0, 2 * np.pi, n))
            rows, cols = polygon(centre[0] + radius * np.sin(angles), centre[1] + radius * np.cos(angles), shape=shape)
        if len(rows):
            image[rows, cols] += _plane(shape, generator, rows.astype(float), cols.astype(float))
    return image, {"count": len(centres), "vertices": vertices}


def voronoi_grains(shape: tuple[int, int], generator: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Render Voronoi grains of [15, 175] points with planar intensities; borderlines with p = 0.5.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the image [px].
    generator : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    image : numpy.ndarray
        Float image of ``shape``, ≥ 0.05 inside the grains.
    record : dict
        ``count`` of grains and ``border`` (None, or its width [px], intensity factor and the grain mean).
    """
    count = int(generator.integers(GRAIN_COUNT_RANGE[0], GRAIN_COUNT_RANGE[1] + 1))
    seeds = object_positions(shape, count, generator)
    n = len(seeds)
    rows, cols = _grid(shape)
    # Nearest seed per pixel from the Euclidean distance transform's feature indices (linear time).
    seed_pixels = np.minimum(seeds.astype(int), np.array(shape) - 1)
    seed_id = np.full(shape, -1)
    seed_id[seed_pixels[:, 0], seed_pixels[:, 1]] = np.arange(n)
    nearest = ndimage.distance_transform_edt(seed_id < 0, return_distances=False, return_indices=True)
    label = seed_id[nearest[0], nearest[1]]
    offsets = generator.uniform(0.2, 1.0, n)
    slopes = generator.uniform(-0.5, 0.5, (n, 2)) / max(shape)
    image = offsets[label] + slopes[label, 0] * (rows - seeds[label, 0]) + slopes[label, 1] * (cols - seeds[label, 1])
    image = np.clip(image, 0.05, None)
    record = {"count": n, "border": None}
    if generator.random() < 0.5:
        border = (np.diff(label, axis=0, prepend=label[:1]) != 0) | (np.diff(label, axis=1, prepend=label[:, :1]) != 0)
        width = int(generator.integers(1, 4))
        if width > 1:
            border = ndimage.binary_dilation(border, iterations=width - 1)
        factor = float(generator.uniform(*BORDER_INTENSITY_RANGE))
        record["border"] = {"width_px": width, "intensity_factor": factor, "grain_mean": float(image.mean())}
        image[border] = factor * image.mean()
    return image, record


def bands(shape: tuple[int, int], generator: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Render parallel bands of random widths and intensities with soft edges, in a random direction.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the image [px].
    generator : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    image : numpy.ndarray
        Non-negative float image of ``shape``.
    record : dict
        ``count``, the number of bands.
    """
    rows, cols = _grid(shape)
    angle = generator.uniform(0, np.pi)
    s = np.cos(angle) * rows + np.sin(angle) * cols
    s = s - s.min()
    edges = np.cumsum(generator.uniform(0.02, 0.3, 64) * min(shape))
    edges = edges[edges < s.max()]
    levels = generator.uniform(0.1, 1.0, len(edges) + 1)
    image = levels[np.searchsorted(edges, s)]
    return ndimage.gaussian_filter(image, generator.uniform(0.0, 3.0)), {"count": len(levels)}


def boxes(shape: tuple[int, int], generator: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Render rotated rectangles with constant intensities, added over a constant floor.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the image [px].
    generator : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    image : numpy.ndarray
        Non-negative float image of ``shape``.
    record : dict
        ``count``, the number of rectangles (1–29).
    """
    image = np.full(shape, generator.uniform(0.0, 0.5))
    scale = min(shape)
    count = int(generator.integers(1, 30))
    for _ in range(count):
        centre = generator.uniform(0, 1, 2) * shape
        half = generator.uniform(0.02, 0.3, 2) * scale
        angle = generator.uniform(0, np.pi)
        u = np.array([np.cos(angle), np.sin(angle)])
        w = np.array([-u[1], u[0]])
        signs = ((-1, -1), (-1, 1), (1, 1), (1, -1))
        corners = np.array([centre + a * half[0] * u + b * half[1] * w for a, b in signs])
        rows, cols = polygon(corners[:, 0], corners[:, 1], shape=shape)
        image[rows, cols] += generator.uniform(0.1, 1.0)
    return image, {"count": count}


def crack_mask(shape: tuple[int, int], generator: np.random.Generator) -> np.ndarray:
    """Draw a multiplicative mask with 1–5 jagged cracks (random-walk polylines, 1–4 px wide).

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the image [px].
    generator : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Float mask of ``shape``: 1 outside the cracks, one value U[0, 0.3] on them.
    """
    mask = np.zeros(shape, dtype=bool)
    for _ in range(int(generator.integers(1, 6))):
        point = generator.uniform(0, 1, 2) * shape
        heading = generator.uniform(0, 2 * np.pi)
        for _ in range(int(generator.integers(5, 40))):
            heading += generator.normal(0, 0.4)
            step = generator.uniform(2, 15)
            nxt = point + step * np.array([np.sin(heading), np.cos(heading)])
            rr, cc = line(int(point[0]), int(point[1]), int(nxt[0]), int(nxt[1]))
            ok = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
            mask[rr[ok], cc[ok]] = True
            point = nxt
    width = int(generator.integers(1, 5))
    if width > 1:
        mask = ndimage.binary_dilation(mask, iterations=width - 1)
    return np.where(mask, generator.uniform(0.0, 0.3), 1.0)


_GENERATORS = {
    "soft_particles": soft_particles,
    "sharp_particles": sharp_particles,
    "voronoi_grains": voronoi_grains,
    "bands": bands,
    "boxes": boxes,
}


def sample_lowres_image(
    shape: tuple[int, int], generator: np.random.Generator, kinds: tuple[str, ...] = LOWRES_KINDS
) -> tuple[np.ndarray, dict]:
    """Compose one to three low-resolution image types, with cracks (p = 0.2) and a blur.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns), each ≥ 8.
    generator : numpy.random.Generator
        Source of randomness.
    kinds : tuple of str
        Allowed types, a subset of ``LOWRES_KINDS``.

    Returns
    -------
    image : ndarray
        Non-negative image, not normalised.
    record : dict
        Types used, weights, each type's counts (``details``), cracks and blur σ [px].

    Raises
    ------
    ValueError
        If the shape is too small or a kind is unknown.
    """
    if min(shape) < 8:
        raise ValueError(f"shape={shape!r} must be at least 8 × 8 px")
    unknown = set(kinds) - set(LOWRES_KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds={kinds!r} must be a non-empty subset of {LOWRES_KINDS}")
    chosen = list(generator.choice(kinds, size=int(generator.integers(1, min(3, len(kinds)) + 1)), replace=False))
    weights = generator.uniform(0.2, 1.0, len(chosen))
    image = np.zeros(shape)
    details = []
    for weight, kind in zip(weights, chosen):
        layer, detail = _GENERATORS[kind](shape, generator)
        image = image + weight * layer
        details.append(detail)
    cracked = bool(generator.random() < 0.2)
    if cracked:
        image = image * crack_mask(shape, generator)
    blur = float(generator.uniform(0.0, 2.0))
    image = ndimage.gaussian_filter(image, blur) if blur > 0.3 else image
    record = {"kinds": [str(k) for k in chosen], "weights": weights.tolist(), "details": details, "cracks": cracked,
              "blur_px": blur}
    return np.clip(image, 0.0, None), record
