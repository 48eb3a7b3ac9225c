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
    """Return the 1-D Gaussian factors and their derivatives along one image axis.

    Parameters
    ----------
    coordinates : ndarray
        Shape (L,): pixel-centre coordinates along the axis [Å].
    centres : ndarray
        Shape (B, N): column centres along this axis [Å].
    widths : ndarray
        Shape (B, N): Gaussian widths ρ [Å].

    Returns
    -------
    ndarray
        Shape (3, B, N, L): g = exp(−u²/2ρ²), d = ∂g/∂centre = g·u/ρ², s = ∂g/∂ρ = g·u²/ρ³ with
        u = coordinate − centre.
    """
    inverse = 1.0 / widths[..., None]
    factors = np.empty((3, *widths.shape, coordinates.shape[-1]))
    scaled = (coordinates - centres[..., None]) * inverse
    np.exp(-0.5 * scaled * scaled, out=factors[_G])
    np.multiply(factors[_G], scaled * inverse, out=factors[_D])
    np.multiply(factors[_D], scaled, out=factors[_S])
    return factors


def gaussian_factor(coordinates: np.ndarray, centres: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Return only g = exp(−u²/2ρ²) of :func:`axis_factors` (for the linear problem, which needs no derivatives).

    Parameters
    ----------
    coordinates : ndarray
        Shape (L,): pixel-centre coordinates along the axis [Å].
    centres : ndarray
        Shape (B, N): column centres along this axis [Å].
    widths : ndarray
        Shape (B, N): Gaussian widths ρ [Å].

    Returns
    -------
    ndarray
        Shape (1, B, N, L): the Gaussian factor g.
    """
    scaled = (coordinates - centres[..., None]) / widths[..., None]
    return np.exp(-0.5 * scaled * scaled)[None]


def render(y_factors: np.ndarray, x_factors: np.ndarray, heights: np.ndarray, background: np.ndarray):
    """Render model images ζ + Σ_n η_n g_y(n, i) g_x(n, j) from precomputed axis factors.

    Parameters
    ----------
    y_factors : ndarray
        Shape (3, B, N, H) from :func:`axis_factors` (or (1, B, N, H) from :func:`gaussian_factor`);
        only g is used.
    x_factors : ndarray
        Shape (3, B, N, W) or (1, B, N, W), the same along x.
    heights : ndarray
        Shape (B, N): column heights η [image units].
    background : ndarray
        Shape (B,): constant background ζ [image units].

    Returns
    -------
    ndarray
        Shape (B, H, W): the model images [image units].
    """
    columns = np.matmul(np.swapaxes(y_factors[_G], -1, -2) * heights[:, None, :], x_factors[_G])
    return columns + background[:, None, None]


def render_columns(shape, *, pixel_size_A, positions, heights, widths, background) -> np.ndarray:
    """Render model images of Gaussian columns on a background (the model of :func:`fitting.fit_columns`).

    Pixel (i, j) is centred at (x, y) = (j·Δ, i·Δ). All inputs are batched: a single image needs B = 1.

    Parameters
    ----------
    shape : tuple of int
        Image shape (H, W) [px].
    pixel_size_A : float
        Δ [Å/px].
    positions : ndarray
        Shape (B, N, 2): column (x, y) [Å].
    heights : ndarray
        Shape (B, N): peak heights η [image units].
    widths : ndarray
        Shape (B, N): Gaussian widths ρ [Å].
    background : ndarray
        Shape (B,): constant background ζ [image units].

    Returns
    -------
    ndarray
        Shape (B, H, W): the model images [image units].
    """
    rows = np.arange(shape[0]) * pixel_size_A
    cols = np.arange(shape[1]) * pixel_size_A
    yf = axis_factors(rows, positions[..., 1], widths)
    xf = axis_factors(cols, positions[..., 0], widths)
    return render(yf, xf, heights, background)


def _coefficient(name: str, heights: np.ndarray) -> np.ndarray | None:
    return heights if name == "eta" else None


def _scaled(values: np.ndarray, coefficient: np.ndarray | None) -> np.ndarray:
    return values if coefficient is None else values * coefficient


def projections(image_like: np.ndarray, y_factors, x_factors, heights, kinds) -> np.ndarray:
    """Project an image-shaped array onto the model derivatives: Σ_ij A_ij ∂f_ij/∂θ for every parameter.

    ``image_like`` is the residual (gradient) or the pixel weight (ζ row of the weighted normal matrix).

    Parameters
    ----------
    image_like : ndarray
        Shape (B, H, W): the array A.
    y_factors : ndarray
        Shape (3, B, N, H) from :func:`axis_factors` (for ``kinds=("eta",)`` the (1, B, N, H) of
        :func:`gaussian_factor` suffices).
    x_factors : ndarray
        Shape (3, B, N, W) or (1, B, N, W), the same along x.
    heights : ndarray
        Shape (B, N): column heights η (the x, y and ρ derivatives scale with η).
    kinds : sequence of str
        Column parameter names from :data:`KIND_TERMS` ("x", "y", "eta", "rho"), in order.

    Returns
    -------
    ndarray
        Shape (B, len(kinds)·N + 1): N entries per kind in the order of ``kinds``, then the ζ entry Σ A.
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
    y_factors : ndarray
        Shape (3, B, N, H) from :func:`axis_factors` (for ``kinds=("eta",)`` the (1, B, N, H) of
        :func:`gaussian_factor` suffices).
    x_factors : ndarray
        Shape (3, B, N, W) or (1, B, N, W), the same along x.
    heights : ndarray
        Shape (B, N): column heights η.
    kinds : sequence of str
        Column parameter names from :data:`KIND_TERMS`, in order.
    weights : ndarray, optional
        Shape (B, H, W): pixel weights, or None for W = 1 (least squares, exact separable products).
    pairs : tuple of ndarray, optional
        (n_index, m_index) integer arrays of the ordered column pairs whose Gaussians overlap (see
        :func:`overlapping_pairs`); required with ``weights``. Pairs left out count as zero: the Fisher
        matrix is then approximate, which slows Fisher scoring at most slightly and never moves its fixed
        point (the gradient stays exact).
    half_window : tuple of int, optional
        (rows, cols) half size in pixels of the window around each pair's midpoint over which the
        weighted products are summed (None: the whole image, exact). About 4ρ/Δ loses < 1e-6. Used only
        with ``weights``.

    Returns
    -------
    ndarray
        Shape (B, P, P), P = len(kinds)·N + 1, symmetric; parameters ordered by kind, then ζ last.

    Raises
    ------
    ValueError
        If ``weights`` is given without ``pairs``.
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
    """Return the ordered column pairs (n, m), self-pairs included, whose Gaussians overlap in some image.

    Two columns count as overlapping when closer than ``reach``·max(ρ) in the first image plus twice the
    largest deviation of any image's positions from the first.

    Parameters
    ----------
    positions : ndarray
        Shape (B, N, 2): column (x, y) [Å].
    widths : ndarray
        Gaussian widths ρ [Å], any shape; only their maximum is used.
    reach : float, default 6.0
        Overlap distance in units of the largest width.

    Returns
    -------
    first : ndarray
        Integer (intp) indices n of the pairs.
    second : ndarray
        Integer (intp) indices m, of the same length; both (n, m) and (m, n) are listed.
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
