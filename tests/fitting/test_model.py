import numpy as np

from fitting.model import axis_factors, normal_matrix, overlapping_pairs, projections, render, render_columns

KINDS = ("x", "y", "eta", "rho")


def _random_problem(seed=3):
    rng = np.random.default_rng(seed)
    n_images, n_columns, height, width, pixel = 2, 4, 26, 30, 0.2
    positions = rng.uniform(1.0, 4.5, (n_images, n_columns, 2))
    return (rng, pixel, np.arange(height) * pixel, np.arange(width) * pixel, positions,
            rng.uniform(0.5, 1.0, (n_images, n_columns)), rng.uniform(0.35, 0.6, (n_images, n_columns)),
            rng.uniform(0.05, 0.2, n_images))


def _dense_jacobian(rows, cols, positions, heights, widths, background, step=1e-6):
    """Central finite differences of the model, ordered x, y, η, ρ (per column), ζ."""
    base = [positions[..., 0], positions[..., 1], heights, widths]

    def model(params, zeta):
        x, y, eta, rho = params
        return render(axis_factors(rows, y, rho), axis_factors(cols, x, rho), eta, zeta)

    columns = []
    for k in range(4):
        for n in range(heights.shape[1]):
            plus = [a.copy() for a in base]
            minus = [a.copy() for a in base]
            plus[k][:, n] += step
            minus[k][:, n] -= step
            columns.append((model(plus, background) - model(minus, background)) / (2 * step))
    columns.append((model(base, background + step) - model(base, background - step)) / (2 * step))
    return np.stack(columns, axis=1).reshape(heights.shape[0], len(columns), -1)


def test_normal_matrix_and_gradient_match_finite_difference_jacobian():
    rng, _, rows, cols, positions, heights, widths, background = _random_problem()
    jacobian = _dense_jacobian(rows, cols, positions, heights, widths, background)
    y_factors = axis_factors(rows, positions[..., 1], widths)
    x_factors = axis_factors(cols, positions[..., 0], widths)
    exact = np.einsum("bpk,bqk->bpq", jacobian, jacobian)
    unweighted = normal_matrix(y_factors, x_factors, heights, KINDS)
    assert np.allclose(unweighted, exact, rtol=1e-6, atol=1e-6 * np.abs(exact).max())

    weights = rng.uniform(0.5, 2.0, (2, rows.size, cols.size))
    everything = overlapping_pairs(positions, widths, reach=100.0)
    weighted = normal_matrix(y_factors, x_factors, heights, KINDS, weights, everything)
    exact_weighted = np.einsum("bpk,bk,bqk->bpq", jacobian, weights.reshape(2, -1), jacobian)
    assert np.allclose(weighted, exact_weighted, rtol=1e-6, atol=1e-6 * np.abs(exact_weighted).max())

    residual = rng.normal(size=(2, rows.size, cols.size))
    gradient = projections(residual, y_factors, x_factors, heights, KINDS)
    assert np.allclose(gradient, np.einsum("bpk,bk->bp", jacobian, residual.reshape(2, -1)), atol=1e-6)


def test_model_volume_is_not_truncated():
    # A column in the middle of a large fine grid integrates to 2πηρ² to 1e-9: no 3ρ cut-off.
    pixel, rho, eta = 0.05, 0.45, 0.7
    image = render_columns((200, 200), pixel_size_A=pixel, positions=np.array([[[5.0, 5.0]]]),
                           heights=np.array([[eta]]), widths=np.array([[rho]]), background=np.array([0.0]))
    assert abs(image.sum() * pixel ** 2 / (2 * np.pi * eta * rho ** 2) - 1.0) < 1e-9


def test_pair_windows_only_drop_negligible_tails():
    # The Poisson fit sums weighted pair products over ±4ρ around each pair's midpoint.
    rng = np.random.default_rng(8)
    pixel, size = 0.1, 64
    rows = cols = np.arange(size) * pixel
    positions = np.array([[[1.5, 1.6], [3.3, 1.9], [1.8, 3.6], [5.0, 5.1]]])
    heights, widths = np.array([[0.8, 0.6, 0.7, 0.9]]), np.full((1, 4), 0.4)
    y_factors = axis_factors(rows, positions[..., 1], widths)
    x_factors = axis_factors(cols, positions[..., 0], widths)
    weights = rng.uniform(0.5, 2.0, (1, size, size))
    pairs = overlapping_pairs(positions, widths)
    exact = normal_matrix(y_factors, x_factors, heights, KINDS, weights, pairs)
    half = int(np.ceil(4 * 0.4 / pixel))
    windowed = normal_matrix(y_factors, x_factors, heights, KINDS, weights, pairs, (half, half))
    assert 2 * half + 1 < size / 1.8  # the windows really are smaller than the image
    assert np.allclose(windowed, exact, rtol=1e-5, atol=1e-5 * np.abs(exact).max())
