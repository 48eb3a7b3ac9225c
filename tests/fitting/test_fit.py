import numpy as np
import pytest

from fitting import crlb_columns, fit_columns, render_columns
from tests.fitting.lattice import clean_image, field_shape, poisson_stack, square_lattice

PIXEL, RHO, ETA, ZETA = 0.15, 0.45, 0.3, 0.02


def test_noiseless_lattice_is_recovered_from_perturbed_starts():
    rng = np.random.default_rng(11)
    truth = square_lattice(3)
    shape = field_shape(3, PIXEL)
    heights = rng.uniform(0.2, 0.4, truth.shape[0])
    image = clean_image(truth, shape, PIXEL, heights, RHO, ZETA)
    start = truth + rng.normal(0.0, 0.1, truth.shape)
    for estimator in ("least_squares", "poisson"):
        fit = fit_columns(image * 1e4, start, pixel_size_A=PIXEL, estimator=estimator)
        assert fit.converged.all()
        assert np.abs(fit.positions[0] - truth).max() < 1e-5
        assert np.allclose(fit.heights[0], heights * 1e4, rtol=1e-5)
        assert np.allclose(fit.widths, RHO, rtol=1e-5)
        assert np.allclose(fit.scs[0], 2 * np.pi * heights * 1e4 * RHO ** 2, rtol=1e-5)
        assert abs(fit.background[0] - ZETA * 1e4) < 1e-3
        assert not fit.flagged.any()


def test_width_types_and_per_column_widths():
    truth = square_lattice(2)
    shape = field_shape(2, PIXEL)
    widths = np.array([0.4, 0.55, 0.55, 0.4])
    image = render_columns(shape, pixel_size_A=PIXEL, positions=truth[None], heights=np.full((1, 4), 0.5),
                           widths=widths[None], background=np.array([0.01]))
    typed = fit_columns(image, truth + 0.05, pixel_size_A=PIXEL, column_types=[0, 1, 1, 0])
    assert np.allclose(typed.widths[0], widths, rtol=1e-6)
    free = fit_columns(image, truth - 0.05, pixel_size_A=PIXEL, shared_width=False, width=0.5)
    assert np.allclose(free.widths[0], widths, rtol=1e-6)
    fixed = fit_columns(image, truth, pixel_size_A=PIXEL, width=0.5, fit_width=False)
    assert np.allclose(fixed.widths, 0.5)  # held fixed, so the fit is wrong but stays put
    assert not np.allclose(fixed.heights, 0.5, rtol=1e-3)


def test_monte_carlo_bias_and_precision_against_crlb():
    """Poisson ML reaches the Cramér–Rao bound at high dose; least squares is reported against it."""
    n_side, dose, n_images = 4, 5e4, 400
    truth = square_lattice(n_side)
    shape = field_shape(n_side, PIXEL)
    clean = clean_image(truth, shape, PIXEL, ETA, RHO, ZETA)
    counts = poisson_stack(clean, dose, PIXEL, n_images, seed=2024)
    volume = 2 * np.pi * ETA * RHO ** 2
    bound = crlb_columns(truth, volume, width=RHO, background=ZETA, pixel_size_A=PIXEL, shape=shape, dose=dose)
    start = truth + np.random.default_rng(5).normal(0.0, 0.05, truth.shape)
    report = {}
    for estimator in ("poisson", "least_squares"):
        fit = fit_columns(counts, start, pixel_size_A=PIXEL, estimator=estimator)
        assert fit.converged.all() and not fit.flagged.any()
        error = fit.positions - truth  # (B, N, 2)
        scs = fit.scs / (dose * PIXEL ** 2)  # counts × Å² → Å² (fraction of beam)
        spread_xy = np.sqrt(np.mean(error.var(axis=0) / np.stack([bound.sigma_x, bound.sigma_y], 1) ** 2))
        spread_v = np.sqrt(np.mean(scs.var(axis=0) / bound.sigma_volume ** 2))
        # Bias of the pooled means, in units of the bound, with the Monte Carlo standard error of each
        # pooled mean taken from the spread of the per-image means (the shared width correlates the
        # columns of one image).
        per_image_xy = error.mean(axis=1) / bound.sigma_x.mean()  # (B, 2)
        per_image_v = (scs.mean(axis=1) / volume - 1) / bound.relative_volume.mean()  # (B,)
        bias_xy, se_xy = np.abs(per_image_xy.mean(axis=0)), per_image_xy.std(axis=0) / np.sqrt(n_images)
        bias_v, se_v = abs(per_image_v.mean()), per_image_v.std() / np.sqrt(n_images)
        report[estimator] = dict(spread_xy=spread_xy, spread_v=spread_v, bias_xy=bias_xy, bias_v=bias_v,
                              se_xy=se_xy, se_v=se_v)
        assert np.all(bias_xy < 0.1 + 3 * se_xy) and bias_v < 0.1 + 3 * se_v, report
        assert se_v < 0.05 and np.all(se_xy < 0.05)  # the test keeps the power to see a 0.1 σ bias
    print("spread / CRLB (positions, SCS), bias / CRLB:", report)
    poisson_xy, poisson_v = report["poisson"]["spread_xy"], report["poisson"]["spread_v"]
    assert abs(poisson_xy - 1) < 0.10 and abs(poisson_v - 1) < 0.10, report
    ls_xy, ls_v = report["least_squares"]["spread_xy"], report["least_squares"]["spread_v"]
    assert ls_xy > 0.95 and ls_v > 0.95, report  # no unbiased estimator beats the bound
    assert ls_xy >= poisson_xy - 0.02, report


def test_flags_unphysical_columns_and_keeps_real_ones_clean():
    truth = square_lattice(3)
    shape = field_shape(3, PIXEL)
    heights = np.full(truth.shape[0], ETA)
    heights[4] = -0.1  # a dip where a column was expected: unphysical
    image = clean_image(truth, shape, PIXEL, heights, RHO, ZETA + 0.2)
    fit = fit_columns(image, truth, pixel_size_A=PIXEL, width=RHO)
    assert fit.negative_height[0, 4] and fit.flagged[0, 4]
    assert not fit.flagged[0, np.arange(9) != 4].any()
    frame = fit.to_dataframe()
    assert len(frame) == 9 and bool(frame.loc[4, "negative_height"]) and frame["flagged"].sum() == 1


def test_left_cell_flag():
    # Two listed columns but only one real one, sitting in the second column's cell: the first start
    # is pulled across the cell boundary towards the only signal.
    shape = (40, 60)
    real = np.array([[6.0, 3.0]])
    image = render_columns(shape, pixel_size_A=PIXEL, positions=real[None], heights=np.array([[1.0]]),
                           widths=np.array([[RHO]]), background=np.array([0.0]))
    fit = fit_columns(image, [[3.0, 3.0], [7.0, 3.0]], pixel_size_A=PIXEL, width=RHO, fit_width=False,
                      shared_width=True)
    assert fit.flagged[0].any()


def test_poisson_fit_is_scale_invariant_and_iteration_cap_is_reported():
    truth = square_lattice(2)
    shape = field_shape(2, PIXEL)
    dose = 2e4
    counts = poisson_stack(clean_image(truth, shape, PIXEL, ETA, RHO, ZETA), dose, PIXEL, 2, seed=8)
    in_counts = fit_columns(counts, truth, pixel_size_A=PIXEL, estimator="poisson")
    in_beam_fraction = fit_columns(counts / (dose * PIXEL ** 2), truth, pixel_size_A=PIXEL, estimator="poisson")
    assert np.allclose(in_counts.positions, in_beam_fraction.positions, atol=1e-5)
    assert np.allclose(in_counts.scs / (dose * PIXEL ** 2), in_beam_fraction.scs, rtol=1e-5)
    capped = fit_columns(counts, truth + 0.1, pixel_size_A=PIXEL, max_iterations=1)
    assert not capped.converged.any() and capped.flagged.all()
    assert np.all(capped.iterations == 1)


@pytest.mark.parametrize("estimator", ["least_squares", "poisson"])
def test_every_image_of_a_stack_fits_as_if_alone(estimator):
    # Images that converge after different numbers of iterations must not disturb each other.
    truth = square_lattice(2)
    shape = field_shape(2, PIXEL)
    clean = clean_image(truth, shape, PIXEL, ETA, RHO, ZETA)
    stack = np.concatenate([poisson_stack(clean, dose, PIXEL, 1, seed=int(dose)) / dose
                            for dose in (3e2, 1e6, 3e3, 1e5)])
    start = truth + np.random.default_rng(2).normal(0.0, 0.08, truth.shape)
    stacked = fit_columns(stack, start, pixel_size_A=PIXEL, estimator=estimator)
    assert stacked.positions.shape == (4, 4, 2) and len(set(stacked.iterations.tolist())) > 1
    for b in range(4):
        alone = fit_columns(stack[b], start, pixel_size_A=PIXEL, estimator=estimator)
        assert alone.positions.shape == (1, 4, 2)
        assert np.allclose(stacked.positions[b], alone.positions[0], atol=1e-6)
        assert np.allclose(stacked.scs[b], alone.scs[0], rtol=1e-6)


@pytest.mark.parametrize(
    "images, positions, match",
    [
        (np.ones((20, 20)), [[50.0, 1.0]], "outside the image"),
        (np.ones((20, 20)), [[-1.0, 1.0]], "outside the image"),
        (np.where(np.eye(20) > 0, np.nan, 1.0), [[1.0, 1.0]], "NaN"),
        (np.ones((20, 20)), np.zeros((0, 2)), "empty"),
        (np.ones((3, 20, 20)), np.ones((2, 1, 2)), "3 images"),
        (np.ones(20), [[1.0, 1.0]], "shape"),
        (np.ones((20, 20)), [[1.0, 1.0, 1.0]], r"\(N, 2\)"),
        ([np.ones((20, 20)), np.ones((20, 22))], [[1.0, 1.0]], "equally shaped"),
    ],
)
def test_bad_input_raises_clear_value_error(images, positions, match):
    with pytest.raises(ValueError, match=match):
        fit_columns(images, positions, pixel_size_A=0.2)


def test_bad_options_raise():
    image = np.ones((20, 20))
    with pytest.raises(ValueError, match="estimator"):
        fit_columns(image, [[1.0, 1.0]], pixel_size_A=0.2, estimator="median")
    with pytest.raises(ValueError, match="pixel_size_A"):
        fit_columns(image, [[1.0, 1.0]], pixel_size_A=-0.2)
    with pytest.raises(ValueError, match="width"):
        fit_columns(image, [[1.0, 1.0]], pixel_size_A=0.2, width=-1.0)
    with pytest.raises(ValueError, match="non-negative"):
        fit_columns(-image, [[1.0, 1.0]], pixel_size_A=0.2, estimator="poisson")
    with pytest.raises(ValueError, match="column_types"):
        fit_columns(image, [[1.0, 1.0]], pixel_size_A=0.2, column_types=[0, 1])


def _vacancy_lattice(seed):
    """5 × 5 Pt-like columns with the centre one missing (a vacancy), Poisson counts at 5·10³ e⁻/Å²."""
    truth = square_lattice(5)
    shape = field_shape(5, 0.2)
    heights = np.full(25, ETA)
    heights[12] = 0.0
    clean = clean_image(truth, shape, 0.2, heights, 0.3, ZETA)
    return truth, poisson_stack(clean, 5e3, 0.2, 3, seed=seed)


def test_bounds_hold_a_column_without_signal_and_leave_the_others_alone():
    truth, counts = _vacancy_lattice(seed=23)
    others = np.arange(25) != 12
    free = fit_columns(counts, truth, pixel_size_A=0.2, width=0.3)
    # unbounded, the empty column runs off (Å away) and in the first image never settles, so that image is
    # not converged and every one of its columns is flagged
    assert np.linalg.norm(free.positions[:, 12] - truth[12], axis=-1).max() > 1.0
    assert not free.converged[0] and free.flagged[0].all() and free.converged[1:].all()
    bounded = fit_columns(counts, truth, pixel_size_A=0.2, width=0.3, max_displacement=0.5, nonnegative=True)
    assert bounded.converged.all()
    assert np.all(bounded.heights >= 0.0)
    assert np.all(np.linalg.norm(bounded.positions - truth, axis=-1) <= 0.5 + 1e-9)
    assert bounded.flagged[:, 12].all()  # at η = 0 or held on the rim of its disc
    assert not bounded.flagged[:, others].any()
    assert np.abs(bounded.positions[:, others] - truth[others]).max() < 0.05  # Å
    # where the unbounded fit converged, the bounded one agrees on the real columns
    assert np.abs(bounded.positions[1:, others] - free.positions[1:, others]).max() < 0.01


def test_inactive_bounds_and_the_objective_tolerance_do_not_move_the_estimate():
    truth = square_lattice(3)
    shape = field_shape(3, PIXEL)
    counts = poisson_stack(clean_image(truth, shape, PIXEL, ETA, RHO, ZETA), 1e4, PIXEL, 4, seed=13)
    start = truth + np.random.default_rng(6).normal(0.0, 0.05, truth.shape)
    plain = fit_columns(counts, start, pixel_size_A=PIXEL)
    bounded = fit_columns(counts, start, pixel_size_A=PIXEL, max_displacement=0.8, nonnegative=True)
    assert plain.converged.all() and bounded.converged.all()
    assert np.array_equal(plain.positions, bounded.positions) and np.array_equal(plain.scs, bounded.scs)
    early = fit_columns(counts, start, pixel_size_A=PIXEL, objective_tolerance=1e-6)
    assert early.converged.all() and np.all(early.iterations <= plain.iterations)
    assert np.abs(early.positions - plain.positions).max() < 1e-3  # Å
    assert np.allclose(early.scs, plain.scs, rtol=1e-3)


def test_bound_options_are_validated():
    image = np.ones((20, 20))
    with pytest.raises(ValueError, match="max_displacement"):
        fit_columns(image, [[1.0, 1.0]], pixel_size_A=0.2, max_displacement=0.0)
    with pytest.raises(ValueError, match="objective_tolerance"):
        fit_columns(image, [[1.0, 1.0]], pixel_size_A=0.2, objective_tolerance=-1.0)
