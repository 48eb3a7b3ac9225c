"""Float32 rounding model for the restoration tests: tolerances from first principles, not from a second kernel.

Model. Round to nearest with unit roundoff u = 2⁻²⁴: every operation returns x(1 + δ), |δ| ≤ u. The
probabilistic model of Higham & Mary (SIAM J. Sci. Comput. 41, A2815, 2019) takes the δ independent and
of mean zero; as the error is uniform within ±½ ulp and ½ ulp ≤ u·|x|, E[δ²] ≤ u²/3.

A K-term dot product Σ t_i (t_i = w_i·x_i), summed in any order, rounds K products and K − 1 partial sums
s_j; its error is Σ δ·(rounded value). For terms of independent random sign (random weights and data, as
in these tests) E[s_j²] ≤ Σ t_i², so its variance is at most ``(u²/3)·K·Σ t_i²`` whatever the order
(blocked or pairwise summation only lowers it). One more rounding each for the bias and a following
residual addition gives the per-layer variance ``(u²/3)·(K + 2)·(conv(x², w²) + b²)`` used below.

Winograd F(4×4, 3×3) (restore.winograd) rounds instead, per 6×6 tile: the input transform V = BᵀdB (≤ 36
terms), the float64 filters U = GgGᵀ once to float32, the products and the channel sum M = Σ_c U⊙V
(C terms), the output transform AᵀMA (≤ 36 terms) and the bias. :func:`winograd_variance` propagates each
of these through the later linear steps exactly (float64), so the transforms' amplification of rounding
(their coefficients up to 2.5 in Bᵀ and 2³ in Aᵀ for the points (0, ±1, 2, −½, ∞)) is part of the model.

bfloat16 autocast on the CPU (restore.inference with numeric="bf16") rounds, per convolution, its input and
its weights to bf16 (u_b = 2⁻⁸, 8 significant bits), accumulates in float32, and stores the output (bias
included) as bf16; the residual additions that follow add in bf16. :func:`bf16_variance` counts each of
these once, ``(u_b²/3)·(2·conv(x², w²) + 2·y² + b²)``, plus the float32 accumulation; an input that is
already bf16 (a previous layer's output) is counted again, so the model is an upper estimate.

A network's error is the sum of its layers' rounding errors carried to the output by the later layers. To
first order that is linear, so :func:`network_error_std` draws every layer's error from its modelled
variance in a float64 copy of the network (forward hooks) and measures the output's response: the r.m.s.
over pixels and draws is the model's error level. Because each layer's variance above is an upper
estimate, a float32 evaluation whose r.m.s. error against float64 exceeds the model's has lost precision
(lower-precision arithmetic, a wrong transform, a lost guard), and a correct one stays well below it.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restore.models.cgrdn import CGRDN, DenseLayer, normalisation
from restore.winograd import POINTS, winograd_matrices

U32 = 2.0 ** -24
ROUNDING_VARIANCE = U32 ** 2 / 3  # E[δ²] of one float32 rounding, relative
U_BF16 = 2.0 ** -8
BF16_ROUNDING_VARIANCE = U_BF16 ** 2 / 3


def direct_variance(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Modelled variance of a float32 Conv2d/ConvTranspose2d output computed directly, float64."""
    w2, b2 = conv.weight.double().square(), conv.bias.double().square().view(1, -1, 1, 1)
    if isinstance(conv, nn.ConvTranspose2d):
        taps = (conv.kernel_size[0] // conv.stride[0]) * (conv.kernel_size[1] // conv.stride[1])
        terms = F.conv_transpose2d(x.square(), w2, None, conv.stride, conv.padding)
        k = conv.in_channels * taps
    else:
        terms = F.conv2d(x.square(), w2, None, conv.stride, conv.padding)
        k = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    return ROUNDING_VARIANCE * (k + 2) * (terms + b2)


def bf16_variance(conv: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Modelled variance of a Conv2d/ConvTranspose2d output under CPU bf16 autocast (float64 x and output y)."""
    w2 = conv.weight.double().square()
    if isinstance(conv, nn.ConvTranspose2d):
        terms = F.conv_transpose2d(x.square(), w2, None, conv.stride, conv.padding)
    else:
        terms = F.conv2d(x.square(), w2, None, conv.stride, conv.padding)
    b2 = conv.bias.double().square().view(1, -1, 1, 1)
    return BF16_ROUNDING_VARIANCE * (2 * terms + 2 * y.square() + b2) + direct_variance(conv, x)


def winograd_variance(conv: nn.Conv2d, x: torch.Tensor, points=POINTS) -> torch.Tensor:
    """Modelled variance of a 3×3, padding-1 convolution evaluated by Winograd F(4×4, 3×3) in float32.

    x: (B, C, H, W) float64. Returns (B, out, H, W) float64.
    """
    at, g, bt = (torch.from_numpy(m) for m in winograd_matrices(points))
    batch, channels, height, width = x.shape
    rows, cols = -(-height // 4), -(-width // 4)
    padded = F.pad(x, (1, 4 * cols + 1 - width, 1, 4 * rows + 1 - height))
    d = padded.unfold(2, 6, 4).unfold(3, 6, 4)  # (B, C, rows, cols, 6, 6)
    v = torch.einsum("xt,ys,bcrwts->bcrwxy", bt, bt, d)
    v_terms = torch.einsum("xt,ys,bcrwts->bcrwxy", bt.square(), bt.square(), d.square())
    u = torch.einsum("xk,yl,ockl->ocxy", g, g, conv.weight.double())
    m = torch.einsum("ocxy,bcrwxy->borwxy", u, v)
    m_terms = torch.einsum("ocxy,bcrwxy->borwxy", u.square(), v.square())
    a2 = at.square()
    var_m = (36 * torch.einsum("ocxy,bcrwxy->borwxy", u.square(), v_terms)  # input transform, carried by U
             + (channels + 1) * m_terms)  # filter rounding, products and the channel sum
    y = torch.einsum("px,qy,borwxy->borwpq", at, at, m) + conv.bias.double().view(1, -1, 1, 1, 1, 1)
    var = (torch.einsum("px,qy,borwxy->borwpq", a2, a2, var_m)
           + 36 * torch.einsum("px,qy,borwxy->borwpq", a2, a2, m.square())  # output transform
           + 2 * y.square())  # bias and the residual/concatenation step
    var = ROUNDING_VARIANCE * var.permute(0, 1, 2, 4, 3, 5).reshape(batch, -1, 4 * rows, 4 * cols)
    return var[..., :height, :width]


def network_error_std(model: CGRDN, x: torch.Tensor, winograd: bool = False, draws: int = 2, seed: int = 0,
                      input_std: torch.Tensor | None = None, bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The float64 output of a CGRDN and the modelled per-pixel std of its float32 evaluation's error.

    Parameters
    ----------
    model : CGRDN
        Float32 weights (copied to float64 here).
    x : torch.Tensor
        (B, 1, H, W) float32 input.
    winograd : bool
        Model the dense 3×3 convolutions as Winograd F(4×4, 3×3) (restore.winograd), else direct.
    draws : int
        Independent draws of all rounding errors; the std is the r.m.s. over draws.
    seed : int
        Seed of the draws.
    input_std : torch.Tensor, optional
        Std of an error already in ``x`` (e.g. the rounding of the float32 arithmetic that made it),
        drawn and carried through the network with the others.
    bf16 : bool
        Model every convolution under bf16 autocast (:func:`bf16_variance`) instead.

    Returns
    -------
    exact, std : torch.Tensor
        Float64, the shape of ``x``.
    """
    reference = copy.deepcopy(model).double().eval()
    dense = {id(layer.conv) for layer in reference.modules() if isinstance(layer, DenseLayer)}
    variances: list[torch.Tensor] = []
    state = {"record": True, "next": 0}
    generator = torch.Generator().manual_seed(seed)

    def perturb(module, inputs, output):
        if state["record"]:
            if bf16:
                variance = bf16_variance(module, inputs[0], output)
            elif winograd and id(module) in dense:
                variance = winograd_variance(module, inputs[0])
            else:
                variance = direct_variance(module, inputs[0])
            variances.append(variance)
            return output
        variance = variances[state["next"]]
        state["next"] += 1
        noise = torch.randn(output.shape, generator=generator, dtype=torch.float64)
        return output + noise * variance.sqrt()

    def normalise(module, inputs):  # xn = (x − shift)/scale: two roundings of |xn|
        if state["record"]:
            return None
        noise = torch.randn(inputs[0].shape, generator=generator, dtype=torch.float64)
        return (inputs[0] + noise * (2 * ROUNDING_VARIANCE) ** 0.5 * inputs[0].abs(),)

    handles = [m.register_forward_hook(perturb) for m in reference.modules()
               if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    handles.append(reference.head.register_forward_pre_hook(normalise))
    x64 = x.double()
    try:
        with torch.no_grad():
            exact = reference(x64)
            state["record"] = False
            responses = []
            for _ in range(draws):
                state["next"] = 0
                noisy = x64 if input_std is None else x64 + torch.randn(
                    x64.shape, generator=generator, dtype=torch.float64) * input_std.double()
                responses.append(reference(noisy) - exact)
    finally:
        for handle in handles:
            handle.remove()
    shift, scale = normalisation(x64, reference.config.std_floor)
    # the output step (residual + xn)·scale + shift: roundings of |out − shift| (twice) and of |out|
    output_variance = ROUNDING_VARIANCE * (2 * (exact - shift).square() + exact.square())
    std = (torch.stack(responses).square().mean(0) + output_variance).sqrt()
    return exact, std


def image_error_std(model: CGRDN, frames: np.ndarray, winograd: bool = False, bf16: bool = False) -> np.ndarray:
    """Modelled error std of ``restore_image`` on (F, H, W) float32 frames, per pixel.

    Each frame is evaluated whole (padded to even sides by reflection, as restore_image does): the tiles
    run the same layers on the same magnitudes, so the per-pixel error level is that of the whole image.
    The blending adds ≤ 4 roundings of |output| (a weighted sum over ≤ 4 overlapping tiles and a division).
    """
    frames = np.asarray(frames, np.float32)
    height, width = frames.shape[-2:]
    padded = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2)), mode="reflect")
    exact, std = network_error_std(model, torch.from_numpy(padded)[:, None], winograd=winograd, bf16=bf16)
    std = (std.square() + rounding_std(*[exact] * 4).square()).sqrt()
    return std[:, 0, :height, :width].numpy()


def rounding_std(*values) -> torch.Tensor:
    """Std of the float32 roundings of the given (float64) intermediate values: one rounding each."""
    return (ROUNDING_VARIANCE * sum(torch.as_tensor(v, dtype=torch.float64).square() for v in values)).sqrt()


def gamma(k: int, unit_roundoff: float = U32) -> float:
    """Worst-case relative error factor of k successive roundings, γ_k = k·u/(1 − k·u) (Higham, §3.1)."""
    return k * unit_roundoff / (1 - k * unit_roundoff)


def within_model(error: torch.Tensor | np.ndarray, std: torch.Tensor | np.ndarray, tail: float = 6.0) -> bool:
    """Whether an error field is within the model: r.m.s. ≤ the model's r.m.s., max ≤ ``tail``·max std.

    ``tail`` = 6: a Gaussian error exceeds 6σ with probability 2·10⁻⁹ per pixel.
    """
    error, std = (t.detach().double() if isinstance(t, torch.Tensor) else torch.as_tensor(np.asarray(t, np.float64))
                  for t in (error, std))
    return bool(error.square().mean() <= std.square().mean() and error.abs().max() <= tail * std.max())
