"""Winograd F(4×4, 3×3) inference of a CGRDN on the CPU.

The dense 3×3 convolutions of the residual dense blocks are 98 % of a CGRDN's arithmetic, and on a CPU
float32 direct convolution already runs near the cores' FMA peak (docs/benchmarks.md). Winograd's minimal
filtering algorithm (Lavin & Gray 2016, "Fast algorithms for convolutional neural networks") computes each
4×4 output tile of a 3×3 convolution from a 6×6 input tile with 36 instead of 144 multiplications per
input/output channel pair, at the price of a linear transform of each input and output tile.

A dense block suits it unusually well: a dense layer's input is the concatenation of the block input and all
earlier layers' outputs, so each feature map is transformed into the Winograd domain once, when it is
made, and every later layer of the block reuses it. What remains per layer is one batched matrix product
over the 36 tile positions and the inverse transform of its 32 new channels.

Rounding: the transforms are built from the interpolation points (0, 1, −1, 2, −½, ∞), which keep the
float32 error of a 288-channel layer at the level of direct convolution (relative RMS error 1.6·10⁻⁶ against
float64, direct convolution 0.9·10⁻⁶; the textbook points (0, ±1, ±2, ∞) give 2.5·10⁻⁶ and 8·10⁻⁶ at the
worst pixel). The whole network agrees with direct convolution to float32 precision (tests/restore/
test_winograd.py; docs/restore.md).

Memory: a residual dense block's transformed features are 36/16 × 288 channels of the half-resolution map,
2.7 GB for a 2048² image of the published size. Each block is therefore evaluated in horizontal bands
(:class:`_Bands`): a window of rows with ``dense_layers`` extra rows on each inner side, because each 3×3
layer widens what an output row depends on by one row. The window's outer rows are wrong (their neighbours
are zeros, not the image), the error moves one row inward per layer, and the rows kept are the exact ones.
Whole images up to ``max_band_rows`` half-resolution rows run as one window.

Only inference: :class:`WinogradCGRDN` wraps a trained :class:`~restore.models.CGRDN`, shares its weights
(the Winograd-domain filters are computed once, at construction) and has the same forward contract.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restore.models.cgrdn import CGRDN, ResidualDenseBlock, check_input, normalisation

OUTPUT_TILE = 4
INPUT_TILE = OUTPUT_TILE + 2
POINTS = (0.0, 1.0, -1.0, 2.0, -0.5)  # the point at infinity is implicit


def winograd_matrices(points=POINTS, output_tile: int = OUTPUT_TILE, kernel: int = 3):
    """Toom–Cook matrices (Aᵀ, G, Bᵀ) of the 1-D minimal filtering algorithm F(m, r).

    ``y = Aᵀ[(G g) ⊙ (Bᵀ d)]`` is the correlation ``y_i = Σ_k g_k d_{i+k}`` of an input tile d of m + r − 1
    samples with a filter g of r taps; the 2-D algorithm nests it along rows and columns.

    Parameters
    ----------
    points : sequence of float
        The m + r − 2 distinct finite interpolation points; the point at infinity is added.
    output_tile : int
        m, outputs per tile.
    kernel : int
        r, filter taps.

    Returns
    -------
    tuple of numpy.ndarray
        Aᵀ (m × n), G (n × r), Bᵀ (n × n) in float64, n = m + r − 1.

    Raises
    ------
    ValueError
        If the number of points does not match or points repeat.
    """
    n = output_tile + kernel - 1
    a = np.asarray(points, dtype=np.float64)
    if a.shape != (n - 1,) or len(set(a.tolist())) != n - 1:
        raise ValueError(f"points={points!r}: need {n - 1} distinct finite points for F({output_tile}, {kernel})")
    at = np.zeros((output_tile, n))
    g = np.zeros((n, kernel))
    for j, p in enumerate(a):
        at[:, j] = p ** np.arange(output_tile)
        g[j] = p ** np.arange(kernel) / np.prod([p - q for q in a if q != p])
    at[-1, -1] = g[-1, -1] = 1.0
    # Bᵀ is what makes the product exact: Σ_j Aᵀ[i, j] G[j, k] Bᵀ[j, t] = [t = i + k] for all i, k, t.
    system = np.zeros((output_tile * kernel * n, n * n))
    rhs = np.zeros(output_tile * kernel * n)
    for row, (i, k, t) in enumerate(np.ndindex(output_tile, kernel, n)):
        system[row, t::n] = at[i] * g[:, k]
        rhs[row] = float(t == i + k)
    solution = np.linalg.lstsq(system, rhs, rcond=None)[0]
    if not np.allclose(system @ solution, rhs, atol=1e-10):
        raise ValueError(f"points={points!r}: no exact F({output_tile}, {kernel}) algorithm")
    return at, g, solution.reshape(n, n)


@dataclass(frozen=True)
class _Layout:
    """How the 4×4 output tiles of an H×W map are grouped: strips of whole tile rows, ≈ 1024 tiles each.

    One strip's transformed inputs (36 × channels × tiles) are what a layer's matrix product streams through;
    keeping strips near 1024 tiles keeps that product in the processor's cache for images of any size.
    """

    rows_per_strip: int
    cols: int
    strips: int

    @classmethod
    def of(cls, height: int, width: int, tiles_per_strip: int = 1024) -> _Layout:
        rows, cols = -(-height // OUTPUT_TILE), -(-width // OUTPUT_TILE)
        rows_per_strip = max(1, min(rows, round(tiles_per_strip / cols)))
        return cls(rows_per_strip, cols, -(-rows // rows_per_strip))

    @property
    def tiles_per_strip(self) -> int:
        return self.rows_per_strip * self.cols


@dataclass(frozen=True)
class _Bands:
    """Windows of equal height that one residual dense block is evaluated in, and the rows each one keeps.

    ``windows`` holds (window start, first kept row, end of kept rows) in map rows; the kept rows tile the
    map. A window keeps only rows at least ``halo`` rows from its edges, except at the map's own top and
    bottom (there the zero padding is the true boundary), so its kept rows are exactly the whole-map result.
    Needs ``max_rows > 2 · halo`` (checked once, by :class:`WinogradCGRDN`).
    """

    height: int
    windows: tuple[tuple[int, int, int], ...]

    @classmethod
    def of(cls, rows: int, halo: int, max_rows: int) -> _Bands:
        if rows <= max_rows:
            return cls(rows, ((0, 0, rows),))
        # n windows overlap by 2·halo rows at each of their n − 1 seams; equal heights, whole 4-row tiles
        n = -(-(rows - 2 * halo) // (max_rows - 2 * halo))
        height = -(-(rows + 2 * halo * (n - 1)) // n)
        height = min(rows, -(-height // OUTPUT_TILE) * OUTPUT_TILE)
        windows, kept = [], 0
        while kept < rows:
            start = max(0, min(kept - halo, rows - height))
            end = start + height - (halo if start + height < rows else 0)
            windows.append((start, kept, end))
            kept = end
        return cls(height, tuple(windows))


class _Transforms:
    """The 2-D transforms of F(4×4, 3×3) as float32 tensors."""

    def __init__(self):
        at, g, bt = winograd_matrices()
        self.g = torch.from_numpy(g)  # float64: filters are transformed once, in double precision
        # input transform as a stride-4 convolution with 36 6×6 kernels: kernel (i, j) = Bᵀ[i] ⊗ Bᵀ[j]
        self.input_kernels = torch.from_numpy(np.kron(bt, bt)).float().view(INPUT_TILE ** 2, 1, INPUT_TILE,
                                                                            INPUT_TILE)
        self.output_matrix = torch.from_numpy(np.kron(at, at)).float()  # (16, 36)

    def filters(self, conv: nn.Conv2d) -> torch.Tensor:
        """Winograd-domain filters (36, out, in) of a 3×3 convolution."""
        out_channels, in_channels = conv.weight.shape[:2]
        pairs = out_channels * in_channels
        # G g Gᵀ for every (out, in) pair as two flat matrix products (batched 3×3 products are slow)
        g = conv.weight.detach().double().cpu().reshape(pairs * 3, 3) @ self.g.T  # (pair, k, j)
        u = g.view(pairs, 3, INPUT_TILE).transpose(1, 2).reshape(pairs * INPUT_TILE, 3) @ self.g.T  # (pair, j, i)
        u = u.view(out_channels, in_channels, INPUT_TILE, INPUT_TILE).permute(3, 2, 0, 1)  # (i, j, out, in)
        return u.reshape(INPUT_TILE ** 2, out_channels, in_channels).float().contiguous()

    def to_tiles(self, work: _Workspace, start: int, stop: int) -> None:
        """Transform channels [start, stop) of the work buffer's padded maps into its tiles buffer."""
        layout, span = work.layout, OUTPUT_TILE * work.layout.rows_per_strip
        for strip in range(layout.strips):
            # strip by strip: oneDNN runs this convolution 3–4× slower per pixel on maps beyond ≈ 256²
            rows = work.padded[start:stop, None, strip * span:(strip + 1) * span + 2]
            tiles = F.conv2d(rows, self.input_kernels, stride=OUTPUT_TILE)  # (C, 36, rows, cols)
            work.tiles[strip, :, start:stop].copy_(tiles.view(stop - start, INPUT_TILE ** 2, -1).transpose(0, 1))

    def from_tiles(self, work: _Workspace, bias: torch.Tensor, start: int) -> None:
        """Inverse-transform the products, add the bias, write ReLU(·) to channels [start, start + C)."""
        layout, channels = work.layout, work.products.shape[2]
        for strip in range(layout.strips):
            torch.mm(self.output_matrix, work.products[strip].view(INPUT_TILE ** 2, -1), out=work.pixels[strip])
        # (strip, p, q, C, row, col) → (C, strip, row, p, col, q): pixel (4·(strip·rows + row) + p, 4·col + q)
        tiled = work.pixels.view(layout.strips, OUTPUT_TILE, OUTPUT_TILE, channels, layout.rows_per_strip,
                                 layout.cols).permute(3, 0, 4, 1, 5, 2)
        grid = work.padded[start:start + channels, 1:-1, 1:-1]
        torch.add(tiled, bias.view(-1, 1, 1, 1, 1, 1), out=grid.view(tiled.shape))
        grid.relu_()
        grid[:, work.height:] = 0  # beyond the image: the next convolution's zero padding
        grid[:, :, work.width:] = 0


class _Workspace:
    """Buffers shared by all blocks of one image, allocated once: fresh large tensors cost page faults.

    ``padded`` holds the dense features with a one-pixel zero border and zeros beyond the image up to whole
    tiles — the 3×3 convolutions' zero padding, read in place by the input transform.
    """

    def __init__(self, layout: _Layout, height: int, width: int, features: int, growth: int, dense_layers: int,
                 like: torch.Tensor):
        self.layout, self.height, self.width = layout, height, width
        channels = features + dense_layers * growth
        rows = layout.strips * layout.rows_per_strip
        self.padded = like.new_zeros(channels, OUTPUT_TILE * rows + 2, OUTPUT_TILE * layout.cols + 2)
        self.tiles = like.new_empty(layout.strips, INPUT_TILE ** 2, channels - growth, layout.tiles_per_strip)
        self.products = like.new_empty(layout.strips, INPUT_TILE ** 2, growth, layout.tiles_per_strip)
        self.pixels = like.new_empty(layout.strips, OUTPUT_TILE ** 2, growth * layout.tiles_per_strip)
        self.fused = like.new_empty(features, *self.padded.shape[1:])

    def interior(self, buffer: torch.Tensor) -> torch.Tensor:
        return buffer[:, 1:1 + self.height, 1:1 + self.width]


class _WinogradBlock:
    """One residual dense block with its filters in the Winograd domain."""

    def __init__(self, block: ResidualDenseBlock, transforms: _Transforms):
        self.transforms = transforms
        self.filters = [transforms.filters(layer.conv) for layer in block.dense]
        self.biases = [layer.conv.bias.detach().float().cpu() for layer in block.dense]
        self.growth = self.filters[0].shape[1]
        self.fusion_weight = block.fusion.weight.detach().float().cpu().flatten(1)
        self.fusion_bias = block.fusion.bias.detach().float().cpu()

    def __call__(self, x: torch.Tensor, work: _Workspace, bands: _Bands, out: torch.Tensor) -> None:
        """x (C, H, W) → ``out`` (C, H, W), window by window of ``bands``, using the buffers of ``work``."""
        for start, first, end in bands.windows:
            window = x[:, start:start + bands.height]
            self._window(window, work)
            kept = slice(first - start, end - start)
            torch.add(work.interior(work.fused)[:, kept], window[:, kept], out=out[:, first:end])

    def _window(self, x: torch.Tensor, work: _Workspace) -> None:
        """The block's dense layers and fusion on one window x (C, h, W), into ``work.fused``."""
        channels = x.shape[0]
        work.interior(work.padded[:channels]).copy_(x)
        self.transforms.to_tiles(work, 0, channels)
        last = len(self.filters) - 1
        for k, (filters, bias) in enumerate(zip(self.filters, self.biases)):
            for strip in range(work.layout.strips):
                torch.bmm(filters, work.tiles[strip, :, :channels], out=work.products[strip])
            self.transforms.from_tiles(work, bias, channels)
            if k < last:
                self.transforms.to_tiles(work, channels, channels + self.growth)
            channels += self.growth
        # the fusion runs over the padded maps (≈ 3 % more pixels at 128²) so that it reads them in place
        torch.addmm(self.fusion_bias[:, None], self.fusion_weight, work.padded.view(channels, -1),
                    out=work.fused.view(work.fused.shape[0], -1))


class WinogradCGRDN(nn.Module):
    """A CGRDN evaluated with Winograd dense blocks on the CPU, in float32, for inference only.

    Parameters
    ----------
    model : CGRDN
        The trained network, float32 on the CPU. The dense blocks' filters are transformed once, here:
        later changes to ``model``'s weights are not seen (:func:`winograd_model` rebuilds when they change).
    tiles_per_strip : int
        Tiles (4×4 output pixels of the half-resolution trunk) per strip of a layer's matrix product;
        1024 suits a processor with ~1 MB of level-2 cache per core.
    max_band_rows : int
        Most half-resolution rows a residual dense block is evaluated on at once (:class:`_Bands`); taller
        maps run in overlapping windows: 512 runs a 1024² image whole and a 2048² image of the published
        size in three windows for ≈ 3 % more arithmetic and a third of the block memory (docs/benchmarks.md).
        Must exceed twice the number of dense layers.

    Notes
    -----
    Same contract as :meth:`CGRDN.forward`: (batch, 1, H, W) with even H, W, output on the input's
    intensity scale. Images of a batch are processed one after another, and each image's tiles in strips
    of ≈ 1024 (:class:`_Layout`), which keeps every matrix product's operands in the processor's cache.
    """

    def __init__(self, model: CGRDN, tiles_per_strip: int = 1024, max_band_rows: int = 512):
        super().__init__()
        if tiles_per_strip < 1:
            raise ValueError(f"tiles_per_strip={tiles_per_strip}: must be ≥ 1")
        self.tiles_per_strip = tiles_per_strip
        if not isinstance(model, CGRDN):
            raise TypeError(f"model: expected a restore.models.CGRDN, got {type(model).__name__}")
        if max_band_rows <= 2 * model.config.dense_layers:
            raise ValueError(f"max_band_rows={max_band_rows}: must exceed twice the dense layers "
                             f"({model.config.dense_layers}), the rows each window loses at an inner edge")
        self.max_band_rows = max_band_rows
        if any(p.device.type != "cpu" or p.dtype != torch.float32 for p in model.parameters()):
            raise ValueError("model: WinogradCGRDN needs float32 weights on the CPU; call model.cpu().float()")
        # the model's own modules outside the dense blocks, but no reference to the model itself, so that
        # winograd_model's cache does not keep models alive
        self.config = model.config
        self.head, self.down, self.fusion, self.up, self.tail = (model.head, model.down, model.fusion, model.up,
                                                                 model.tail)
        self.group_fusions = nn.ModuleList(group.fusion for group in model.groups)
        transforms = _Transforms()
        self.groups = [[_WinogradBlock(block, transforms) for block in group.blocks] for group in model.groups]
        self.eval()

    def _trunk(self, h0: torch.Tensor) -> torch.Tensor:
        """The GRDBs and the global fusion on one image's half-resolution features (C, H, W)."""
        c = self.config
        features, height, width = h0.shape
        bands = _Bands.of(height, c.dense_layers, self.max_band_rows)
        work = _Workspace(_Layout.of(bands.height, width, self.tiles_per_strip), bands.height, width, features,
                          c.growth, c.dense_layers, h0)
        group_outputs = h0.new_empty(c.groups * features, height, width)
        block_outputs = h0.new_empty(c.blocks_per_group * features, height, width)
        h = h0
        for g, (group_fusion, blocks) in enumerate(zip(self.group_fusions, self.groups)):
            x = h
            for b, block in enumerate(blocks):
                out = block_outputs[b * features:(b + 1) * features]
                block(x, work, bands, out)
                x = out
            h = group_outputs[g * features:(g + 1) * features]
            torch.addmm(group_fusion.bias[:, None], group_fusion.weight.flatten(1),
                        block_outputs.view(block_outputs.shape[0], -1), out=h.view(features, -1))
            h += group_outputs[(g - 1) * features:g * features] if g else h0
        fused = torch.addmm(self.fusion.bias[:, None], self.fusion.weight.flatten(1),
                            group_outputs.view(group_outputs.shape[0], -1))
        return h0 + fused.view(features, height, width)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore a batch, as :meth:`CGRDN.forward` does, with the dense blocks in the Winograd domain.

        Parameters
        ----------
        x : torch.Tensor
            Images (batch, 1, H, W), float32 on the CPU, H and W even, any intensity unit.

        Returns
        -------
        torch.Tensor
            The restored images, same shape and intensity scale.

        Raises
        ------
        ValueError
            If ``x`` is not float32 on the CPU or has the wrong shape.
        """
        check_input(x, self.config.in_channels)
        if x.device.type != "cpu" or x.dtype != torch.float32:
            raise ValueError(f"x: WinogradCGRDN runs float32 on the CPU, got {x.dtype} on {x.device}")
        shift, scale = normalisation(x, self.config.std_floor)
        xn = (x - shift) / scale
        # oneDNN's direct convolutions outside the trunk are 2–4× faster channels-last
        h0 = self.down(self.head(xn.contiguous(memory_format=torch.channels_last)))
        h = torch.stack([self._trunk(image.contiguous()) for image in h0])
        residual = self.tail(self.up(h.contiguous(memory_format=torch.channels_last)))
        return (residual + xn) * scale + shift


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weights_state(model: nn.Module) -> tuple:
    # in-place updates bump a tensor's version counter; replaced tensors change their storage
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def winograd_model(model: CGRDN) -> WinogradCGRDN:
    """The :class:`WinogradCGRDN` of ``model``, built once and rebuilt only when its weights change.

    Parameters
    ----------
    model : CGRDN
        A network with float32 weights on the CPU.

    Returns
    -------
    WinogradCGRDN
        Shares ``model``'s weights; its Winograd-domain filters match the current weights.

    Raises
    ------
    TypeError, ValueError
        As :class:`WinogradCGRDN`.
    """
    state = _weights_state(model)
    cached = _CACHE.get(model)
    if cached is None or cached[0] != state:
        cached = _CACHE[model] = (state, WinogradCGRDN(model))
    return cached[1]


__all__ = ["WinogradCGRDN", "winograd_matrices", "winograd_model", "POINTS"]
