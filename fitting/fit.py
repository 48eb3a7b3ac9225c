"""Batched StatSTEM-style fitting of Gaussian columns: least squares and Poisson maximum likelihood.

Heights and background start from their exact linear least-squares solution for the starting positions
and width (the width itself from a 1-D search when not given); then all parameters of an image — positions,
heights, widths, background — are refined jointly by Levenberg–Marquardt (least squares) or by damped
Fisher scoring (Poisson likelihood), vectorised over the image stack. See :mod:`fitting.model` for why
the normal equations are cheap.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from threadpoolctl import threadpool_limits

from fitting import _checks
from fitting.linear import linear_heights, search_width
from fitting.model import axis_factors, normal_matrix, overlapping_pairs, projections, render
from fitting.result import ColumnFit

ESTIMATORS = ("least_squares", "poisson")


@dataclass(frozen=True)
class _Problem:
    rows: np.ndarray  # (H,) pixel-centre y [Å]
    cols: np.ndarray  # (W,) pixel-centre x [Å]
    width_type: np.ndarray  # (N,) index of each column's width parameter
    n_widths: int
    fit_width: bool
    pairs: tuple[np.ndarray, np.ndarray] | None
    position_tolerance: float
    relative_tolerance: float
    max_displacement: float | None = None  # [Å] from each column's start, or None (unbounded)
    nonnegative: bool = False  # project heights η onto η ≥ 0
    objective_tolerance: float | None = None  # decrease in units of one pixel's noise contribution


def fit_columns(images, positions, *, pixel_size_A, width=None, estimator="least_squares", shared_width=True,
                column_types=None, fit_width=True, max_iterations=100, position_tolerance=1e-4,
                relative_tolerance=1e-6, objective_tolerance=None, max_displacement=None, nonnegative=False,
                batch_size=None) -> ColumnFit:
    """Fit ζ + Σ_n η_n exp(−r²/2ρ²) to one image or a stack of images with the same column layout.

    Parameters
    ----------
    images : array_like
        (H, W) or (B, H, W) [intensity units, e.g. fraction of the beam or counts]. Pixel (i, j) is
        centred at (x, y) = (j·pixel_size_A, i·pixel_size_A).
    positions : array_like
        (N, 2) or (B, N, 2) starting (x, y) [Å]; x runs along axis −1, y along axis −2.
    pixel_size_A : float
        Δ [Å/px].
    width : float, optional
        Starting Gaussian width ρ [Å]; None (default) runs a 1-D search over ρ first.
    estimator : {"least_squares", "poisson"}, default "least_squares"
        "least_squares" (StatSTEM's estimator) or "poisson" (maximum likelihood for counting data; starts
        from the least-squares solution; the image must be non-negative and proportional to counts).
    shared_width : bool, default True
        One ρ per column type (True) or one per column (False).
    column_types : array_like, optional
        Shape (N,): labels of column types, each with its own shared ρ; default one type. Used only with
        ``shared_width=True``.
    fit_width : bool, default True
        Refine ρ (True) or keep it fixed at ``width`` (which is then required).
    max_iterations : int, default 100
        Iteration cap per estimator.
    position_tolerance : float, default 1e-4
        An image has converged when every position step is below this [Å] and the steps meet
        ``relative_tolerance``.
    relative_tolerance : float, default 1e-6
        Bound on every height and background step relative to max|η| + |ζ|, and on every width step
        relative to ρ.
    objective_tolerance : float, optional
        Also converged when an undamped-enough step lowers the objective by less than this many units of
        one pixel's noise contribution: the mean ½·residual² per pixel (least squares) or one unit of
        log-likelihood (Poisson). None (default) uses the step tolerances only. The step tolerances are
        absolute in position; a column with almost no signal (a height of a fraction of a count) has a
        nearly flat position valley in which it creeps by more than ``position_tolerance`` per
        iteration for hundreds of iterations without changing the fit measurably: this criterion ends
        such a fit, e.g. 1e-6.
    max_displacement : float, optional
        Keep every column within this distance [Å] of its start (a projected step: a column that would
        leave the disc is put back on its rim); None (default) leaves positions unbounded. With many
        columns in one image the step is accepted on the whole image's cost, so without a bound a weak
        column that a Gauss–Newton step throws off its peak can wander for ever while the others have
        long converged. A column that ends on the rim is flagged (``left_cell``).
    nonnegative : bool, default False
        Keep heights η ≥ 0 (projected); a column the data do not support then ends at η = 0 (flagged
        ``negative_height``) instead of drifting with a negative height.
    batch_size : int, optional
        Images processed together (memory ↔ speed); default chosen from the problem size.

    Returns
    -------
    ColumnFit
        Arrays of leading dimension B (B = 1 for a single image).

    Raises
    ------
    ValueError
        For non-finite pixels, empty or out-of-image positions, mismatched stack shapes, a bad estimator,
        width, tolerance, displacement, batch size or ``column_types``, ``fit_width=False`` without a
        width, or negative pixels with ``estimator="poisson"``.
    """
    stack = _checks.as_image_stack(images)
    pixel_size_A = _checks.check_pixel_size(pixel_size_A)
    start = _checks.as_positions(positions, n_images=stack.shape[0])
    _checks.check_inside(start, stack.shape[1:], pixel_size_A=pixel_size_A)
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if width is not None and not (np.isfinite(width) and width > 0):
        raise ValueError(f"width must be a positive Gaussian width ρ in Å or None, got {width!r}")
    if not fit_width and width is None:
        raise ValueError("fit_width=False needs a width ρ [Å] to hold fixed")
    if max_iterations < 1 or position_tolerance <= 0 or relative_tolerance <= 0:
        raise ValueError("max_iterations must be ≥ 1 and the tolerances positive")
    if objective_tolerance is not None and not (np.isfinite(objective_tolerance) and objective_tolerance > 0):
        raise ValueError(f"objective_tolerance must be positive or None, got {objective_tolerance!r}")
    if max_displacement is not None and not (np.isfinite(max_displacement) and max_displacement > 0):
        raise ValueError(f"max_displacement must be a positive distance in Å or None, got {max_displacement!r}")
    n_images, n_columns = start.shape[:2]
    width_type, n_widths = _width_types(column_types, shared_width, n_columns)
    if estimator == "poisson" and np.any(stack < 0):
        raise ValueError("estimator='poisson' needs non-negative images proportional to counts; "
                         f"the stack has a minimum of {stack.min():.3g}")

    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")

    height, width_px = stack.shape[1:]
    rows, cols = np.arange(height) * pixel_size_A, np.arange(width_px) * pixel_size_A
    if batch_size is None:
        per_image = 8 * height * width_px + 12 * n_columns * (height + width_px) + (4 * n_columns + 1) ** 2
        if estimator == "poisson":
            per_image += 40 * (height + width_px) * n_columns
        batch_size = max(1, min(n_images, int(4e6 // per_image)))
    outputs = []
    # The work is many small batched matrix products: BLAS threads only add overhead (50× slower
    # measured on a loaded 2-core machine), so keep BLAS single-threaded while fitting.
    with threadpool_limits(limits=1, user_api="blas"):
        if width is None:
            initial_width = search_width(stack, start, rows, cols, pixel_size_A=pixel_size_A)
        else:
            initial_width = np.full(n_images, float(width))
        problem = _Problem(rows, cols, width_type, n_widths, fit_width, None, position_tolerance,
                           relative_tolerance, None if max_displacement is None else float(max_displacement),
                           bool(nonnegative), None if objective_tolerance is None else float(objective_tolerance))
        for first in range(0, n_images, int(batch_size)):
            chunk = slice(first, first + int(batch_size))
            outputs.append(_fit_chunk(stack[chunk], start[chunk], initial_width[chunk], problem, estimator,
                                      max_iterations))
    merged = {key: np.concatenate([out[key] for out in outputs]) for key in outputs[0]}
    return _finish(merged, start, stack.shape[1:], pixel_size_A, estimator, max_displacement)


def _width_types(column_types, shared_width, n_columns):
    if not shared_width:
        return np.arange(n_columns), n_columns
    if column_types is None:
        return np.zeros(n_columns, dtype=np.intp), 1
    labels = np.asarray(column_types)
    if labels.shape != (n_columns,):
        raise ValueError(f"column_types must have one label per column, shape ({n_columns},), got {labels.shape}")
    unique, inverse = np.unique(labels, return_inverse=True)
    return inverse.astype(np.intp), len(unique)


def _fit_chunk(images, start, initial_width, problem: _Problem, estimator, max_iterations):
    n_images, n_columns = start.shape[:2]
    state = {
        "x": start[..., 0].copy(),
        "y": start[..., 1].copy(),
        "rho": np.repeat(initial_width[:, None], problem.n_widths, axis=1),
    }
    widths = state["rho"][:, problem.width_type]
    state["eta"], state["zeta"] = linear_heights(images, state["x"], state["y"], widths, problem.rows, problem.cols)
    if problem.nonnegative:
        state["eta"] = np.maximum(state["eta"], 0.0)
    anchor = start  # the centres of the max_displacement discs
    # For Poisson ML the least-squares stage only provides a start: stop it at a coarser tolerance.
    coarse = replace(problem, position_tolerance=100 * problem.position_tolerance,
                     relative_tolerance=100 * problem.relative_tolerance)
    converged, iterations, objective = _levenberg_marquardt(
        images, state, coarse if estimator == "poisson" else problem, "least_squares", max_iterations, anchor)
    if estimator == "poisson":
        positions = np.stack([state["x"], state["y"]], axis=-1)
        problem = replace(problem, pairs=overlapping_pairs(positions, state["rho"]))
        converged, more, objective = _levenberg_marquardt(images, state, problem, "poisson", max_iterations, anchor)
        iterations = iterations + more
    return {**state, "widths": state["rho"][:, problem.width_type], "converged": converged,
            "iterations": iterations, "objective": objective}


def _evaluate(images, state, problem, objective, index):
    widths = state["rho"][index][:, problem.width_type]
    y_factors = axis_factors(problem.rows, state["y"][index], widths)
    x_factors = axis_factors(problem.cols, state["x"][index], widths)
    model = render(y_factors, x_factors, state["eta"][index], state["zeta"][index])
    data = images[index]
    if objective == "least_squares":
        residual = data - model
        return y_factors, x_factors, model, 0.5 * np.einsum("bij,bij->b", residual, residual)
    floor = 1e-9 * np.maximum(data.mean(axis=(-2, -1)), 1e-300)[:, None, None]
    rate = np.maximum(model, floor)
    return y_factors, x_factors, rate, (rate - data * np.log(rate)).sum(axis=(-2, -1))


def _kinds(problem):
    return ("x", "y", "eta", "rho") if problem.fit_width else ("x", "y", "eta")


def _reduce_widths(matrix, gradient, problem, n_columns):
    """Map per-column ρ_n rows/columns onto the width parameters (ρ_n = ρ_type(n)) by slicing."""
    if not problem.fit_width:
        return matrix, gradient
    n, k = n_columns, problem.n_widths
    one_hot = np.zeros((n, k))
    one_hot[np.arange(n), problem.width_type] = 1.0
    rest = np.r_[0:3 * n, 4 * n]  # x, y, η and ζ keep their place (ζ moves to the end)
    size = 3 * n + k + 1
    reduced = np.empty((matrix.shape[0], size, size))
    new_rest = np.r_[0:3 * n, size - 1]
    rho = slice(3 * n, 4 * n)
    reduced[:, :3 * n, :3 * n] = matrix[:, :3 * n, :3 * n]
    reduced[:, :3 * n, -1] = matrix[:, :3 * n, -1]
    reduced[:, -1, :3 * n] = matrix[:, -1, :3 * n]
    reduced[:, -1, -1] = matrix[:, -1, -1]
    cross = matrix[:, rest, rho] @ one_hot  # (B, 3N + 1, K)
    reduced[:, new_rest, 3 * n:3 * n + k] = cross
    reduced[:, 3 * n:3 * n + k, new_rest] = np.swapaxes(cross, -1, -2)
    reduced[:, 3 * n:3 * n + k, 3 * n:3 * n + k] = one_hot.T @ matrix[:, rho, rho] @ one_hot
    reduced_gradient = np.concatenate([gradient[:, :3 * n], gradient[:, rho] @ one_hot, gradient[:, -1:]], axis=1)
    return reduced, reduced_gradient


def _levenberg_marquardt(images, state, problem, objective, max_iterations, anchor):
    n_images, n_columns = state["x"].shape
    damping = np.full(n_images, 1e-3)
    converged = np.zeros(n_images, dtype=bool)
    iterations = np.zeros(n_images, dtype=np.int64)
    everything = np.arange(n_images)
    _, _, _, cost = _evaluate(images, state, problem, objective, everything)
    kinds = _kinds(problem)
    for _ in range(max_iterations):
        index = np.nonzero(~converged)[0]
        if index.size == 0:
            break
        iterations[index] += 1
        y_factors, x_factors, model, _ = _evaluate(images, state, problem, objective, index)
        heights = state["eta"][index]
        if objective == "least_squares":
            residual, weights = images[index] - model, None
        else:
            weights = 1.0 / model
            residual = (images[index] - model) * weights
        gradient = projections(residual, y_factors, x_factors, heights, kinds)
        half_window = None
        if weights is not None:
            # Pair products of Gaussians (and their derivatives) are negligible beyond ±4ρ of the midpoint.
            reach = np.ceil(4.0 * np.max(state["rho"][index]) / (problem.rows[1] - problem.rows[0]))
            half_window = (reach, reach)
        matrix = normal_matrix(y_factors, x_factors, heights, kinds, weights, problem.pairs, half_window)
        matrix, gradient = _reduce_widths(matrix, gradient, problem, n_columns)
        step = _damped_solve(matrix, gradient, damping[index])
        trial = _apply_step(state, index, step, n_columns, problem, anchor)
        if problem.nonnegative or problem.max_displacement is not None:
            step = _resolve_on_bounds(matrix, gradient, damping[index], step, state, index, trial, n_columns,
                                      anchor, problem.max_displacement)
            trial = _apply_step(state, index, step, n_columns, problem, anchor)
        _, _, _, trial_cost = _evaluate(images[index], trial, problem, objective, np.arange(index.size))
        accepted = np.isfinite(trial_cost) & (trial_cost <= cost[index])
        # A tiny step only means convergence when it was not shrunk by heavy damping. The step measured is
        # the one actually taken (after the width floor and the bounds), so a column held on a bound counts
        # as settled.
        small = _small_step(state, index, trial, problem) & (damping[index] <= 1.0)
        if problem.objective_tolerance is not None:
            noise_unit = cost[index] / images[0].size if objective == "least_squares" else 1.0
            settled = accepted & (cost[index] - trial_cost < problem.objective_tolerance * noise_unit)
            small |= settled & (damping[index] <= 1.0)
        for key in state:
            state[key][index[accepted]] = trial[key][accepted]
        cost[index[accepted]] = trial_cost[accepted]
        damping[index] = np.where(accepted, np.maximum(damping[index] * 0.3, 1e-9), damping[index] * 10.0)
        converged[index] = small | (damping[index] > 1e12)
    # A damping blow-up means no further decrease was possible; only a small final step counts as converged.
    return converged & (damping < 1e12), iterations, cost


def _damped_solve(matrix, gradient, damping, fixed=None, fixed_step=None):
    """Solve (M + μ·diag(M))δ = g; parameters marked ``fixed`` (B, P) take ``fixed_step`` instead and the
    others are solved with those steps moved to the right-hand side (an active-set Newton step)."""
    diagonal = np.diagonal(matrix, axis1=-2, axis2=-1)
    floor = 1e-12 * np.max(diagonal, axis=-1, keepdims=True)
    scale = np.maximum(diagonal, floor)
    damped = matrix + (damping[:, None] * scale)[:, :, None] * np.eye(matrix.shape[-1])
    if fixed is not None:
        known = np.where(fixed, fixed_step, 0.0)
        gradient = np.where(fixed, known, gradient - np.einsum("bpq,bq->bp", damped, known))
        free = ~fixed
        damped = damped * (free[:, :, None] & free[:, None, :]) + fixed[:, :, None] * np.eye(matrix.shape[-1])
    try:
        return np.linalg.solve(damped, gradient[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(a, g, rcond=None)[0] for a, g in zip(damped, gradient)])


def _resolve_on_bounds(matrix, gradient, damping, step, state, index, trial, n_columns, anchor, max_displacement):
    """Re-solve a step whose projection onto the bounds changed some parameters.

    Projecting an unconstrained Newton step leaves the other parameters with steps computed as if the
    clipped ones had moved freely; with neighbours coupled through the width and background, the fit then
    zig-zags along the bound for hundreds of iterations. Fixing the clipped parameters at their projected
    step and solving for the rest gives the consistent (active-set) step.
    """
    n = n_columns
    taken = np.concatenate([trial["x"] - state["x"][index], trial["y"] - state["y"][index],
                            trial["eta"] - state["eta"][index]], axis=1)
    clipped = np.abs(taken - step[:, :3 * n]) > 1e-12 * (1.0 + np.abs(step[:, :3 * n]))
    if not clipped.any():
        return step
    # a column held on its disc keeps both coordinates' projected steps
    held = clipped[:, :n] | clipped[:, n:2 * n]
    clipped[:, :n], clipped[:, n:2 * n] = held, held
    fixed = np.zeros_like(step, dtype=bool)
    fixed[:, :3 * n] = clipped
    fixed_step = np.zeros_like(step)
    fixed_step[:, :3 * n] = taken
    # a column already on the rim stays where it is: sliding along the rim only trades one flagged position
    # for another and, rejected step after rejected step, keeps the damping up
    on_rim = np.zeros_like(held)
    if max_displacement is not None:
        offset = np.hypot(state["x"][index] - anchor[index, :, 0], state["y"][index] - anchor[index, :, 1])
        on_rim = held & (offset >= (1.0 - 1e-9) * max_displacement)
    fixed_step[:, :n] = np.where(on_rim, 0.0, fixed_step[:, :n])
    fixed_step[:, n:2 * n] = np.where(on_rim, 0.0, fixed_step[:, n:2 * n])
    rows = np.nonzero(fixed.any(axis=1))[0]
    resolved = step.copy()
    resolved[rows] = _damped_solve(matrix[rows], gradient[rows], damping[rows], fixed[rows], fixed_step[rows])
    return resolved


def _apply_step(state, index, step, n_columns, problem, anchor):
    n = n_columns
    trial = {
        "x": state["x"][index] + step[:, 0:n],
        "y": state["y"][index] + step[:, n:2 * n],
        "eta": state["eta"][index] + step[:, 2 * n:3 * n],
        "zeta": state["zeta"][index] + step[:, -1],
        "rho": state["rho"][index].copy(),
    }
    if problem.fit_width:
        # Never let a width collapse or go negative in one step.
        trial["rho"] = np.maximum(trial["rho"] + step[:, 3 * n:3 * n + problem.n_widths], 0.5 * trial["rho"])
    if problem.nonnegative:
        trial["eta"] = np.maximum(trial["eta"], 0.0)
    if problem.max_displacement is not None:
        # Project onto the disc of radius max_displacement around each column's start.
        dx, dy = trial["x"] - anchor[index, :, 0], trial["y"] - anchor[index, :, 1]
        shrink = np.minimum(1.0, problem.max_displacement / np.maximum(np.hypot(dx, dy), 1e-300))
        trial["x"], trial["y"] = anchor[index, :, 0] + dx * shrink, anchor[index, :, 1] + dy * shrink
    return trial


def _small_step(state, index, trial, problem):
    heights = state["eta"][index]
    scale = np.max(np.abs(heights), axis=1) + np.abs(state["zeta"][index]) + 1e-300
    moved = np.maximum(np.abs(trial["x"] - state["x"][index]), np.abs(trial["y"] - state["y"][index]))
    small = np.max(moved, axis=1) < problem.position_tolerance
    small &= np.max(np.abs(trial["eta"] - heights), axis=1) < problem.relative_tolerance * scale
    small &= np.abs(trial["zeta"] - state["zeta"][index]) < problem.relative_tolerance * scale
    if problem.fit_width:
        rho = state["rho"][index]
        small &= np.max(np.abs(trial["rho"] - rho) / rho, axis=1) < problem.relative_tolerance
    return small


def _finish(merged, start, shape, pixel_size_A, estimator, max_displacement=None) -> ColumnFit:
    positions = np.stack([merged["x"], merged["y"]], axis=-1)
    heights = merged["eta"]
    n_columns = heights.shape[1]
    widths = merged["widths"]
    outside = ((positions < -0.5 * pixel_size_A)
               | (positions[..., 0:1] > (shape[1] - 0.5) * pixel_size_A)
               | (positions[..., 1:2] > (shape[0] - 0.5) * pixel_size_A)).any(axis=-1)
    distance = np.linalg.norm(positions[:, :, None, :] - start[:, None, :, :], axis=-1)
    left_cell = (np.argmin(distance, axis=2) != np.arange(n_columns)) | outside
    if max_displacement is not None:
        # held on the rim of its disc: the column's optimum lies outside the allowed region
        own = distance[:, np.arange(n_columns), np.arange(n_columns)]
        left_cell |= own >= (1.0 - 1e-6) * max_displacement
    return ColumnFit(
        positions=positions, heights=heights, widths=widths, background=merged["zeta"],
        scs=2.0 * np.pi * heights * widths ** 2, converged=merged["converged"],
        negative_height=heights <= 0, left_cell=left_cell, iterations=merged["iterations"],
        objective=merged["objective"], start_positions=start, estimator=estimator, pixel_size_A=pixel_size_A)
