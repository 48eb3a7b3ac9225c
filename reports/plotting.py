"""What every study's figures share: method colours, readable log axes, legends outside the panels, image
panels, dose labels, and writing a figure as PNG and PDF.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state), so they render the same in any
process; matplotlib itself is imported only where a figure is drawn.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from _shared.files import write_figure_atomic

# fixed colours: the baselines and the self-supervised denoisers (bench.methods.self_supervised); CNN models
# take the colours of _CYCLE in the order they appear
METHOD_COLOURS = {"raw": "#4d4d4d", "bm3d": "#1f77b4", "n2v2": "#17becf", "structn2v": "#bcbd22", "n2n": "#393b79",
                  "hourglass": "#7b4173"}
_CYCLE = ("#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")

def method_colour(method: str, methods: list[str]) -> str:
    """Return the plot colour of a method: a fixed one for the baselines, else the next of a cycle.

    Parameters
    ----------
    method : str
        The method's name.
    methods : list of str
        All methods of the figure, in order; methods without a fixed colour take the cycle's colours in
        the order they appear here.

    Returns
    -------
    str
        A hex colour, ``"#rrggbb"``; the cycle's first colour for a method without a fixed colour that is
        not in ``methods``.
    """
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    others = [m for m in methods if m not in METHOD_COLOURS]
    return _CYCLE[others.index(method) % len(_CYCLE)] if method in others else _CYCLE[0]


def readable_log_axes(ax) -> None:
    """Label the log-scaled axes of ``ax`` with plain numbers (4, 0.5, 20) instead of 4×10⁰.

    Powers of ten are kept only outside 10⁻³ … 10⁴. Which ticks get a label is left to matplotlib's log
    formatter; linear axes are left alone.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel, its scales already set.
    """
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        """Log-axis tick formatter writing labels within 10⁻³ … 10⁴ as plain numbers."""

        def __call__(self, x, pos=None):
            """Return the label of tick ``x``.

            Parameters
            ----------
            x : float
                The tick value.
            pos : int, optional
                The tick position (passed on to matplotlib's formatter).

            Returns
            -------
            str
                ``f"{x:g}"`` where matplotlib labels the tick and 10⁻³ ≤ |x| < 10⁴, else matplotlib's label
                (empty for an unlabelled tick).
            """
            text = super().__call__(x, pos)
            if not text or not 1e-3 <= abs(x) < 1e4:
                return text
            return f"{x:g}"

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
            axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1.5, 0.5)))


def place_legend(ax, fontsize: float = 7) -> None:
    """Draw a legend beside the panel, outside it, so that no curve is hidden.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel whose labelled artists are listed.
    fontsize : float, default 7
        Font size of the entries [pt].
    """
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def figure_legend(figure, axes, fontsize: float = 7) -> None:
    """Draw one legend for the whole figure, below the panels: every distinct label of ``axes`` once.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure (with a constrained layout, for the ``"outside lower center"`` placement).
    axes : iterable of matplotlib.axes.Axes
        The panels whose labels are collected; the first handle of each label is used.
    fontsize : float, default 7
        Font size of the entries [pt].
    """
    entries: dict = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        figure.legend(list(entries.values()), list(entries), loc="outside lower center",
                      ncols=min(len(entries), 4), fontsize=fontsize, frameon=False)


def plot_image(ax, image: np.ndarray, title: str, *, pixel_size_A: float | None = None):
    """Draw one image panel (grey scale, no ticks) with a 5 Å scale bar when the pixel size is known.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    image : ndarray
        Shape (H, W): the image, shown with pixel coordinates.
    title : str
        The panel title.
    pixel_size_A : float, optional
        Pixel size [Å/px]; None (or 0) draws no scale bar.

    Returns
    -------
    matplotlib.image.AxesImage
        The image artist.
    """
    artist = ax.imshow(np.asarray(image), cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if pixel_size_A:
        length = 5.0 / pixel_size_A
        height, width = np.shape(image)
        ax.plot([width * 0.05, width * 0.05 + length], [height * 0.92] * 2, color="white", linewidth=2)
    return artist


def dose_text(dose: float) -> str:
    """Format a dose as mantissa·10ⁿ: 500 → '5·10²', 50000 → '5·10⁴', 1234 → '1.234·10³'.

    Parameters
    ----------
    dose : float
        The dose [e⁻/Å²] (any positive number).

    Returns
    -------
    str
        The mantissa (at most 6 significant digits, trailing zeros dropped) and a superscript exponent,
        without the unit.
    """
    mantissa, exponent = f"{float(dose):e}".split("e")
    superscript = str(int(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{float(mantissa):g}·10{superscript}"


def save_figure(figure, base: Path) -> list[Path]:
    """Write ``figure`` as ``BASE.png`` and ``BASE.pdf`` (150 dpi, tight), atomically.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        The figure to render.
    base : pathlib.Path
        The path without suffix (a suffix it has, i.e. anything after a dot in its name, is replaced).

    Returns
    -------
    list of pathlib.Path
        The PNG and the PDF path, in that order.
    """
    paths = [base.with_suffix(suffix) for suffix in (".png", ".pdf")]
    for path in paths:
        write_figure_atomic(path, figure, dpi=150, bbox_inches="tight")
    return paths


