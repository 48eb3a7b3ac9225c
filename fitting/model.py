"""Gaussian column model, its Jacobian and the (weighted) normal equations, batched over images.

Model for one image with columns n = 1…N (pixel (i, j) sits at x_j = j·Δ, y_i = i·Δ):

    f(x, y) = ζ + Σ_n η_n · exp(−((x − x_n)² + (y − y_n)²) / (2 ρ_n²))

Every column term is separable, g_y(n, i) · g_x(n, j), and so is every column derivative
(∂/∂x_n, ∂/∂y_n, ∂/∂η_n are one separable product, ∂/∂ρ_n a sum of two). The normal matrix JᵀWJ
therefore never needs the (pixels × parameters) Jacobian: with W = 1 (least squares) each entry is a
product of two 1-D inner products, and with a pixel weight W (Poisson Fisher scoring, W = 1/λ) each
entry of a pair of neighbouring columns is Σ_i a_i [W b]_i. Nothing is truncated: the Gaussians are
evaluated on the whole image, so the column volume 2πηρ² is not biased by a cut-off.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

# Column parameter kinds and their Jacobian terms: (coefficient, y-factor, x-factor), where the factors
# are 0 = g (the Gaussian), 1 = d (its derivative by the centre), 2 = s (its derivative by ρ).
_G, _D, _S = 0, 1, 2
KIND_TERMS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "x": (("eta", _G, _D),),
    "y": (("eta", _D, _G),),
    "eta": (("one", _G, _G),),
    "rho": (("eta", _S, _G), ("eta", _G, _S)),
}


def axis_factors(coordinates: np.ndarray, centres: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """1-D Gaussian factors along one image axis.

    Parameters
    ----------
    coordinates : (L,) pixel-centre coordinates [Å].
    centres, widths : (B, N) column centres and widths ρ [Å] along this axis.

    Returns
    -------
    (3, B, N, L) array: g = exp(−u²/2ρ²), d = ∂g/∂centre = g·u/ρ², s = ∂g/∂ρ = g·u²/ρ³ with u = coordinate − centre.
    """
    inverse = 1.0 / widths[..., None]
    factors = np.empty((3, *widths.shape, coordinates.shape[-1]))
    scaled = (coordinates - centres[..., None]) * inverse
    np.exp(-0.5 * scaled * scaled, out=factors[_G])
    np.multiply(factors[_G], scaled * inverse, out=factors[_D])
    np.multiply(factors[_D], scaled, out=factors[_S])
    return factors


def gaussian_factor(coordinates: np.ndarray, centres: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Only g = exp(−u²/2ρ²) of :func:`axis_factors`, shape (1, B, N, L)."""
    scaled = (coordinates - centres[..., None]) / widths[..., None]
    return np.exp(-0.5 * scaled * scaled)[None]


def render(y_factors: np.ndarray, x_factors: np.ndarray, heights: np.ndarray, background: np.ndarray):
    """Model images (B, H, W) from factors (3, B, N, H|W), heights η (B, N) and background ζ (B,)."""
    columns = np.matmul(np.swapaxes(y_factors[_G], -1, -2) * heights[:, None, :], x_factors[_G])
    return columns + background[:, None, None]


def render_columns(shape, pixel_size, positions, heights, widths, background) -> np.ndarray:
    """Model images (B, H, W) for positions (B, N, 2) [Å], heights (B, N), widths (B, N) [Å], ζ (B,)."""
    rows = np.arange(shape[0]) * pixel_size
    cols = np.arange(shape[1]) * pixel_size
    yf = axis_factors(rows, positions[..., 1], widths)
    xf = axis_factors(cols, positions[..., 0], widths)
    return render(yf, xf, heights, background)


def _coefficient(name: str, heights: np.ndarray) -> np.ndarray | None:
    return heights if name == "eta" else None


def _scaled(values: np.ndarray, coefficient: np.ndarray | None) -> np.ndarray:
    return values if coefficient is None else values * coefficient


def projections(image_like: np.ndarray, y_factors, x_factors, heights, kinds) -> np.ndarray:
    """Σ_ij A_ij ∂f_ij/∂θ for every column parameter: (B, len(kinds)·N) plus the ζ entry Σ A (last).

    ``image_like`` is the residual (gradient) or the pixel weight (ζ row of the weighted normal matrix).
    """
    cache: dict[int, np.ndarray] = {}
    blocks = []
    for kind in kinds:
        total = 0.0
        for coefficient, y_type, x_type in KIND_TERMS[kind]:
            if x_type not in cache:
                cache[x_type] = np.matmul(image_like, np.swapaxes(x_factors[x_type], -1, -2))  # (B, H, N)
            contracted = np.einsum("bni,bin->bn", y_factors[y_type], cache[x_type])
            total = total + _scaled(contracted, _coefficient(coefficient, heights))
        blocks.append(total)
    blocks.append(image_like.sum(axis=(-2, -1))[:, None])
    return np.concatenate(blocks, axis=1)


def normal_matrix(y_factors, x_factors, heights, kinds, weights=None, pairs=None, half_window=None) -> np.ndarray:
    """JᵀWJ (B, P, P) over the column parameters ``kinds`` (each N long, in order) and ζ (last).

    Parameters
    ----------
    y_factors, x_factors : (3, B, N, H) and (3, B, N, W) from :func:`axis_factors`.
    heights : (B, N) column heights η.
    kinds : sequence of names from :data:`KIND_TERMS`.
    weights : (B, H, W) pixel weights, or None for W = 1 (least squares, exact separable products).
    pairs : (n_index, m_index) arrays of the column pairs whose Gaussians overlap; required with
        ``weights``. Pairs left out count as zero: the Fisher matrix is then approximate, which slows
        Fisher scoring at most slightly and never moves its fixed point (the gradient stays exact).
    half_window : (rows, cols) half size in pixels of the window around each pair's midpoint over which
        the weighted products are summed (None: the whole image, exact). About 4ρ/Δ loses < 1e-6.
    """
    n_images, n_columns = heights.shape
    n_params = len(kinds) * n_columns + 1
    matrix = np.zeros((n_images, n_params, n_params))
    terms = [(k, t) for k, kind in enumerate(kinds) for t in KIND_TERMS[kind]]

    if weights is None:
        grams: dict[tuple[str, int, int], np.ndarray] = {}

        def gram(axis: str, a: int, b: int) -> np.ndarray:
            if (axis, a, b) not in grams:
                factors = y_factors if axis == "y" else x_factors
                grams[(axis, a, b)] = np.matmul(factors[a], np.swapaxes(factors[b], -1, -2))  # (B, N, N)
            return grams[(axis, a, b)]

        for p, (cp, yp, xp) in terms:
            for q, (cq, yq, xq) in terms:
                if q < p:
                    continue
                block = gram("y", yp, yq) * gram("x", xp, xq)
                if cp == "eta":
                    block = block * heights[:, :, None]
                if cq == "eta":
                    block = block * heights[:, None, :]
                matrix[:, p * n_columns:(p + 1) * n_columns, q * n_columns:(q + 1) * n_columns] += block
        sums_y, sums_x = y_factors.sum(axis=-1), x_factors.sum(axis=-1)
        zeta_row = np.concatenate(
            [sum(_scaled(sums_y[yt] * sums_x[xt], _coefficient(c, heights)) for c, yt, xt in KIND_TERMS[k])
             for k in kinds], axis=1)
        zeta_zeta = float(y_factors.shape[-1] * x_factors.shape[-1])
    else:
        if pairs is None:
            raise ValueError("pairs must be given with weights: the (n, m) indices of overlapping columns")
        first, second = pairs
        y_first, y_second, x_first, x_second, weight_windows = _pair_windows(
            y_factors, x_factors, weights, first, second, half_window)
        gathered: dict[tuple[str, int, int], np.ndarray] = {}

        def pair_product(axis: str, a: int, b: int) -> np.ndarray:
            if (axis, a, b) not in gathered:
                one, two = (y_first, y_second) if axis == "y" else (x_first, x_second)
                gathered[(axis, a, b)] = one[a] * two[b]  # (B, P, window length)
            return gathered[(axis, a, b)]

        x_keys = sorted({(xp, xq) for p, (_, _, xp) in terms for q, (_, _, xq) in terms if q >= p})
        stacked = np.stack([pair_product("x", a, b) for a, b in x_keys], axis=-1)  # (B, P, Lx, K)
        weighted = np.matmul(weight_windows, stacked)  # (B, P, Ly, K): Σ_j W_ij X_a(n, j) X_b(m, j)
        weighted_x = {key: weighted[..., k] for k, key in enumerate(x_keys)}
        for p, (cp, yp, xp) in terms:
            for q, (cq, yq, xq) in terms:
                if q < p:
                    continue
                values = np.einsum("bph,bph->bp", pair_product("y", yp, yq), weighted_x[(xp, xq)])
                if cp == "eta":
                    values = values * heights[:, first]
                if cq == "eta":
                    values = values * heights[:, second]
                # (n, m) pairs are unique within one term combination, so plain += is safe.
                matrix[:, p * n_columns + first, q * n_columns + second] += values
        zeta_row = projections(weights, y_factors, x_factors, heights, kinds)[:, :-1]
        zeta_zeta = weights.sum(axis=(-2, -1))
    # Blocks were filled on and above the block diagonal; a diagonal block (p == q) holds the full
    # N × N block, so mirror only the strictly upper blocks.
    for p in range(len(kinds)):
        for q in range(p + 1, len(kinds)):
            upper = matrix[:, p * n_columns:(p + 1) * n_columns, q * n_columns:(q + 1) * n_columns]
            matrix[:, q * n_columns:(q + 1) * n_columns, p * n_columns:(p + 1) * n_columns] = np.swapaxes(upper, -1, -2)
    matrix[:, -1, :-1] = zeta_row
    matrix[:, :-1, -1] = zeta_row
    matrix[:, -1, -1] = zeta_zeta
    return matrix


def _pair_windows(y_factors, x_factors, weights, first, second, half_window):
    """Factors of each pair's two columns and the pixel weights, cut to a window around the pair."""
    if half_window is None:
        windows = np.broadcast_to(weights[:, None], (weights.shape[0], first.size, *weights.shape[1:]))
        return (y_factors[:, :, first], y_factors[:, :, second], x_factors[:, :, first], x_factors[:, :, second],
                windows)
    batch = np.arange(weights.shape[0])[:, None, None]
    cut = []
    for factors, half in ((y_factors, half_window[0]), (x_factors, half_window[1])):
        size = factors.shape[-1]
        length = min(size, 2 * int(half) + 1)
        centre = np.argmax(factors[0], axis=-1)  # (B, N): the pixel nearest each column centre
        begin = np.clip((centre[:, first] + centre[:, second]) // 2 - length // 2, 0, size - length)
        # Index sliding-window views: each pick is one contiguous run of ``length`` pixels.
        runs = np.lib.stride_tricks.sliding_window_view(factors, length, axis=-1)  # (3, B, N, size−L+1, L)
        cut.append((begin, runs[:, batch[..., 0], first[None, :], begin],
                    runs[:, batch[..., 0], second[None, :], begin]))
    (row_begin, y_first, y_second), (col_begin, x_first, x_second) = cut
    length_y, length_x = y_first.shape[-1], x_first.shape[-1]
    blocks = np.lib.stride_tricks.sliding_window_view(weights, (length_y, length_x), axis=(1, 2))
    windows = blocks[batch[..., 0], row_begin, col_begin]  # (B, P, Ly, Lx)
    return y_first, y_second, x_first, x_second, windows


def overlapping_pairs(positions: np.ndarray, widths: np.ndarray, reach: float = 6.0):
    """Ordered column pairs (n, m), self-pairs included, whose Gaussians overlap in some image.

    ``positions`` (B, N, 2) [Å]; two columns count as overlapping when closer than ``reach``·max(ρ) in
    the first image plus twice the largest deviation of any image's positions from the first.
    """
    reference = positions[0]
    spread = float(np.max(np.linalg.norm(positions - reference, axis=-1))) if positions.shape[0] > 1 else 0.0
    radius = reach * float(np.max(widths)) + 2.0 * spread
    tree = cKDTree(reference)
    first, second = [], []
    for n, neighbours in enumerate(tree.query_ball_point(reference, radius)):
        first.extend([n] * len(neighbours))
        second.extend(neighbours)
    return np.asarray(first, dtype=np.intp), np.asarray(second, dtype=np.intp)
