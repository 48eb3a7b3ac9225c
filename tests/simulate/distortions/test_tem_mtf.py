from dataclasses import fields

import numpy as np
import pytest
import torch

from simulate.distortions import TemDistortionParams, apply_tem_distortions
from simulate.distortions.samplers import MTF_WIDTH_RANGE_NYQUIST, sample_mtf
from simulate.distortions.tem import MtfParams, apply_mtf, check_mtf, mtf_admissible, mtf_radial, mtf_transfer


def _paper_mtf(shape, a, b, c):
    """Eqs. 28-29 written out independently: u, v in Nyquist units, sinc(z) = sin(z)/z."""
    u = np.fft.fftfreq(shape[1])[None, :] / 0.5
    v = np.fft.fftfreq(shape[0])[:, None] / 0.5
    g2 = u**2 + v**2

    def sinc(z):
        return np.where(z == 0, 1.0, np.sin(z) / np.where(z == 0, 1.0, z))

    radial = a * np.exp(-g2 / (2 * b**2)) + (1 - a) * np.exp(-g2 / (2 * c**2))
    return radial * sinc(np.pi * u / 2) * sinc(np.pi * v / 2)


@pytest.mark.parametrize("a, b, c", [(0.4, 0.3, 1.2), (1.2, 0.5, 0.3)])
def test_mtf_psf_of_a_delta_has_the_paper_mtf_as_spectrum(a, b, c):
    """Eq. 27: apply_mtf(delta) is the PSF, whose Fourier transform is the MTF of eqs. 28-29."""
    shape = (32, 48)
    delta = np.zeros(shape)
    delta[0, 0] = 1.0
    psf = apply_mtf(delta, MtfParams(a=a, b_nyquist=b, c_nyquist=c), nonnegative=False)
    spectrum = np.fft.fft2(psf)
    assert np.abs(spectrum.imag).max() < 1e-12
    np.testing.assert_allclose(spectrum.real, _paper_mtf(shape, a, b, c), atol=1e-12)
    # sinc(πu/2) at the Nyquist frequency (u = 1) is the pixel aperture's 2/π.
    transfer = mtf_transfer((16, 16), [MtfParams(a=a, b_nyquist=b, c_nyquist=c)])
    assert float(transfer[0, 0, 8]) == pytest.approx(mtf_radial(1.0, a, b, c) * 2 / np.pi, rel=1e-12)


def test_mtf_blurs_the_target_and_the_camera_pipeline_does_not():
    """The MTF belongs to y (eq. 27): it is not a TemDistortionParams field and the pipeline keeps a delta sharp."""
    assert "mtf" not in {f.name for f in fields(TemDistortionParams)}
    delta = torch.zeros((2, 24, 24), dtype=torch.float64)
    delta[:, 12, 12] = 5.0
    out, record = apply_tem_distortions(delta, TemDistortionParams(pixel_size_A=0.5), 0)
    assert torch.equal(out, delta) and [s["name"] for s in record["images"][0]] == ["conversion_gain"]
    mtfs = [MtfParams(a=0.5, b_nyquist=0.3, c_nyquist=1.0), MtfParams(a=1.0, b_nyquist=1.5, c_nyquist=1.0)]
    blurred = apply_mtf(delta, mtfs, nonnegative=False)
    assert blurred.shape == delta.shape and float(blurred.min()) < 0.0  # ringing of the cut-off at Nyquist
    assert torch.allclose(blurred.sum(dim=(-2, -1)), delta.sum(dim=(-2, -1)), rtol=1e-12)  # MTF(0) = 1
    assert torch.equal(apply_mtf(delta, mtfs), blurred.clamp_min(0.0))
    assert float(blurred[0, 12, 12]) < float(blurred[1, 12, 12]) < 5.0  # narrower MTF, wider PSF
    with pytest.raises(ValueError, match="one per image"):
        apply_mtf(delta, mtfs[:1] * 3)


def test_mtf_check_rejects_non_monotonic_and_negative_and_accepts_flat_tops():
    grid = np.linspace(0.0, 10.0, 1000)
    # a > 1 with a/b² < (a - 1)/c²: MTF_r rises above 1 near g = 0 (positive everywhere, not monotonic).
    rising = mtf_radial(grid, 1.5, 0.5, 0.2)
    assert np.all(rising > 0) and np.diff(rising).max() > 0
    assert not mtf_admissible(1.5, 0.5, 0.2)
    # a > 1 with b < c: the negative Gaussian outlives the positive one.
    assert mtf_radial(grid, 1.5, 0.2, 0.5).min() < 0 and not mtf_admissible(1.5, 0.2, 0.5)
    with pytest.raises(ValueError, match="monotonically decreasing"):
        MtfParams(a=1.5, b_nyquist=0.5, c_nyquist=0.2)
    # Flat-topped (a > 1, a/b² >= (a - 1)/c²) and ordinary (a <= 1) MTFs are admitted.
    flat = MtfParams(a=1.2, b_nyquist=0.5, c_nyquist=0.3)
    check_mtf(flat)
    assert np.all(np.diff(mtf_radial(grid, 1.2, 0.5, 0.3)) <= 0)
    assert mtf_radial(0.2, 1.2, 0.5, 0.3) > mtf_radial(0.2, 1.0, 0.5, 0.3)  # flatter than its a = 1 Gaussian
    assert mtf_admissible(0.3, 0.1, 2.0)
    with pytest.raises(ValueError, match="mtf.a"):
        MtfParams(a=0.0, b_nyquist=0.5, c_nyquist=0.3)


def test_sampled_mtfs_pass_the_paper_constraint_and_include_flat_tops():
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 10.0, 1000)
    draws = [sample_mtf(rng) for _ in range(400)]
    for mtf in draws:
        values = mtf_radial(grid, mtf.a, mtf.b_nyquist, mtf.c_nyquist)
        assert values[0] == pytest.approx(1.0) and np.all(values >= 0) and np.all(np.diff(values) <= 0)
        assert 0 < mtf.a <= 1.5
        for width in (mtf.b_nyquist, mtf.c_nyquist):
            assert MTF_WIDTH_RANGE_NYQUIST[0] <= width <= MTF_WIDTH_RANGE_NYQUIST[1]
    assert sum(m.a > 1 for m in draws) >= 10  # the constraint acts on these
    assert sample_mtf(3) == sample_mtf(3)
