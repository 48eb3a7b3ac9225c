import numpy as np

from fitting import fit_columns, render_columns
from fitting.reference import fit_columns_lmfit


def test_fast_fitter_agrees_with_lmfit_on_a_single_column():
    pixel, shape = 0.1, (48, 52)
    truth = np.array([[2.43, 2.61]])
    clean = render_columns(shape, pixel_size_A=pixel, positions=truth[None], heights=np.array([[0.25]]),
                           widths=np.array([[0.42]]), background=np.array([0.015]))
    counts = np.random.default_rng(21).poisson(2e4 * pixel ** 2 * clean).astype(float)
    # A window larger than the image makes both fitters solve the same least-squares problem.
    reference = fit_columns_lmfit(counts, truth + 0.07, pixel_size_A=pixel, window_radius=20.0, width=0.5)
    fast = fit_columns(counts, truth + 0.07, pixel_size_A=pixel)
    assert reference.converged.all() and fast.converged.all()
    assert np.abs(fast.positions - reference.positions).max() < 1e-5
    assert np.allclose(fast.heights, reference.heights, rtol=1e-5)
    assert np.allclose(fast.widths, reference.widths, rtol=1e-5)
    assert np.allclose(fast.scs, reference.scs, rtol=1e-5)
    assert np.allclose(fast.background, reference.background, rtol=1e-4)
    # …and both are close to the truth (noise only).
    assert np.abs(fast.positions[0] - truth).max() < 0.02


def test_reference_windows_are_local_on_a_lattice():
    pixel, shape = 0.1, (40, 40)
    truth = np.array([[1.0, 1.0], [3.0, 1.0], [1.0, 3.0], [3.0, 3.0]])
    clean = render_columns(shape, pixel_size_A=pixel, positions=truth[None], heights=np.full((1, 4), 0.3),
                           widths=np.full((1, 4), 0.35), background=np.array([0.0]))
    result = fit_columns_lmfit(clean, truth + 0.03, pixel_size_A=pixel)
    assert result.positions.shape == (1, 4, 2)
    assert np.abs(result.positions[0] - truth).max() < 2e-3
