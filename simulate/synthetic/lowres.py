"""Low-resolution image types (paper: soft and sharp particles, Voronoi grains, bands, boxes, cracks).

Each generator returns a non-negative float64 image of the requested shape, made from simple random
geometry; lengths are in pixels because these images stand for specimens much larger than atoms.
:func:`sample_lowres_image` composes one to three of them, optionally cracks the result and blurs it.

Assumptions (the paper's supplementary details are not available to us): counts, sizes and blur
ranges below are our choice, picked so that a 256² image shows a handful to a few hundred features.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import ellipse, line, polygon

LOWRES_KINDS = ("soft_particles", "sharp_particles", "voronoi_grains", "bands", "boxes")


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)


def _plane(shape, generator, rows, cols) -> np.ndarray:
    """Intensity a + b·x + c·y (a "3-D plane") evaluated at the given pixels, kept > 0."""
    a = generator.uniform(0.3, 1.0)
    slope = generator.uniform(-0.5, 0.5, 2) / max(shape)
    value = a + slope[0] * (rows - rows.mean()) + slope[1] * (cols - cols.mean())
    return np.clip(value, 0.05, None)


def soft_particles(shape: tuple[int, int], generator: np.random.Generator) -> np.ndarray:
    """Sum of smooth anisotropic blobs exp(−(q/σ)^p), p ∈ [1, 4]."""
    image = np.zeros(shape)
    n = int(generator.integers(3, 60))
    scale = min(shape)
    for _ in range(n):
        sigma = generator.uniform(0.01, 0.15) * scale * np.array([1.0, generator.uniform(0.4, 1.0)])
        centre = generator.uniform(0, 1, 2) * shape
        half = int(np.ceil(3 * sigma.max()))
        r0, r1 = max(0, int(centre[0]) - half), min(shape[0], int(centre[0]) + half + 1)
        c0, c1 = max(0, int(centre[1]) - half), min(shape[1], int(centre[1]) + half + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        rows, cols = np.mgrid[r0:r1, c0:c1].astype(float)
        angle = generator.uniform(0, np.pi)
        dr, dc = rows - centre[0], cols - centre[1]
        p = np.cos(angle) * dr + np.sin(angle) * dc
        q = -np.sin(angle) * dr + np.cos(angle) * dc
        radius = np.sqrt((p / sigma[0]) ** 2 + (q / sigma[1]) ** 2)
        image[r0:r1, c0:c1] += generator.uniform(0.2, 1.0) * np.exp(-(radius ** generator.uniform(1.0, 4.0)))
    return image


def sharp_particles(shape: tuple[int, int], generator: np.random.Generator) -> np.ndarray:
    """Polygons and ellipses with sharp edges and a planar intensity inside each."""
    image = np.zeros(shape)
    scale = min(shape)
    for _ in range(int(generator.integers(2, 40))):
        centre = generator.uniform(0, 1, 2) * shape
        radius = generator.uniform(0.02, 0.2) * scale
        if generator.random() < 0.5:
            rows, cols = ellipse(
                centre[0], centre[1], radius, radius * generator.uniform(0.3, 1.0), shape=shape,
                rotation=generator.uniform(-np.pi, np.pi),
            )
        else:
            n = int(generator.integers(3, 9))
            angles = np.sort(generator.uniform(0, 2 * np.pi, n))
            radii = radius * generator.uniform(0.5, 1.0, n)
            rows, cols = polygon(centre[0] + radii * np.sin(angles), centre[1] + radii * np.cos(angles), shape=shape)
        if len(rows):
            image[rows, cols] += _plane(shape, generator, rows.astype(float), cols.astype(float))
    return image


def voronoi_grains(shape: tuple[int, int], generator: np.random.Generator) -> np.ndarray:
    """Voronoi grains with planar intensities and, with p = 0.5, dark or bright grain borders."""
    n = int(generator.integers(4, 200))
    seeds = generator.uniform(0, 1, (n, 2)) * shape
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
    if generator.random() < 0.5:
        border = (np.diff(label, axis=0, prepend=label[:1]) != 0) | (np.diff(label, axis=1, prepend=label[:, :1]) != 0)
        width = int(generator.integers(1, 4))
        if width > 1:
            border = ndimage.binary_dilation(border, iterations=width - 1)
        image[border] = generator.uniform(0.0, 1.2) * image.mean()
    return image


def bands(shape: tuple[int, int], generator: np.random.Generator) -> np.ndarray:
    """Parallel bands of random widths and intensities with soft edges, in a random direction."""
    rows, cols = _grid(shape)
    angle = generator.uniform(0, np.pi)
    s = np.cos(angle) * rows + np.sin(angle) * cols
    s = s - s.min()
    edges = np.cumsum(generator.uniform(0.02, 0.3, 64) * min(shape))
    edges = edges[edges < s.max()]
    levels = generator.uniform(0.1, 1.0, len(edges) + 1)
    image = levels[np.searchsorted(edges, s)]
    return ndimage.gaussian_filter(image, generator.uniform(0.0, 3.0))


def boxes(shape: tuple[int, int], generator: np.random.Generator) -> np.ndarray:
    """Rotated rectangles with constant intensities, added over a constant floor."""
    image = np.full(shape, generator.uniform(0.0, 0.5))
    scale = min(shape)
    for _ in range(int(generator.integers(1, 30))):
        centre = generator.uniform(0, 1, 2) * shape
        half = generator.uniform(0.02, 0.3, 2) * scale
        angle = generator.uniform(0, np.pi)
        u = np.array([np.cos(angle), np.sin(angle)])
        w = np.array([-u[1], u[0]])
        corners = np.array([centre + a * half[0] * u + b * half[1] * w for a, b in ((-1, -1), (-1, 1), (1, 1), (1, -1))])
        rows, cols = polygon(corners[:, 0], corners[:, 1], shape=shape)
        image[rows, cols] += generator.uniform(0.1, 1.0)
    return image


def crack_mask(shape: tuple[int, int], generator: np.random.Generator) -> np.ndarray:
    """Multiplicative mask in [0, 1] with 1–5 jagged cracks (random-walk polylines, 1–4 px wide)."""
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
        Types used, weights, cracks and blur σ [px].

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
    image = sum(w * _GENERATORS[k](shape, generator) for w, k in zip(weights, chosen))
    cracked = bool(generator.random() < 0.2)
    if cracked:
        image = image * crack_mask(shape, generator)
    blur = float(generator.uniform(0.0, 2.0))
    image = ndimage.gaussian_filter(image, blur) if blur > 0.3 else image
    record = {"kinds": [str(k) for k in chosen], "weights": weights.tolist(), "cracks": cracked, "blur_px": blur}
    return np.clip(image, 0.0, None), record
