"""Paper-style figures of study results. Plot functions draw on a given ``ax`` and return their artists.

Everything is read from a results directory (tables and example images written by ``bench run``); nothing
is recomputed here. Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state), so they
render the same in any process.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from _shared.files import write_figure_atomic
from _shared.results import ResultStore

METHOD_COLOURS = {"raw": "#4d4d4d", "bm3d": "#1f77b4"}
_CYCLE = ("#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")

QUANTITIES = {
    "position": {"unit": "pm", "label": "position", "crlb": "crlb_position_pm"},
    "scs": {"unit": "%", "label": "SCS", "crlb": "crlb_scs_pct"},
}


def method_colour(method: str, methods: list[str]) -> str:
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    others = [m for m in methods if m not in METHOD_COLOURS]
    return _CYCLE[others.index(method) % len(_CYCLE)] if method in others else _CYCLE[0]


def readable_log_axes(ax) -> None:
    """Label the log-scaled axes of ``ax`` with plain numbers (4, 0.5, 20) instead of 4×10⁰; powers of ten
    are kept only outside 10⁻³ … 10⁴. Which ticks get a label is left to matplotlib's log formatter."""
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            text = super().__call__(x, pos)
            if not text or not 1e-3 <= abs(x) < 1e4:
                return text
            return f"{x:g}"

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
            axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1.5, 0.5)))


def place_legend(ax, fontsize: float = 7) -> None:
    """A legend beside the panel, outside it, so that no curve is hidden."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def figure_legend(figure, axes, fontsize: float = 7) -> None:
    """One legend for the whole figure, below the panels: every distinct label of ``axes`` once."""
    entries: dict = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        figure.legend(list(entries.values()), list(entries), loc="outside lower center",
                      ncols=min(len(entries), 4), fontsize=fontsize, frameon=False)


def _column(quantity: str, statistic: str, bound: str = "") -> str:
    """Summary column name, e.g. position_precision_pm or scs_rmse_low_pct."""
    unit = "pm" if quantity == "position" else "pct"
    return f"{quantity}_{statistic}_{bound + '_' if bound else ''}{unit}"


def plot_metric_vs_thickness(ax, summary, quantity: str, dose: float, *, statistic: str = "precision",
                             show_crlb: bool = True, show_rmse: bool = False, legend: bool = True) -> list:
    """Precision (or bias/RMSE) against thickness for every method at one dose, with 95 % intervals.

    Parameters
    ----------
    ax : matplotlib Axes
    summary : pandas.DataFrame
        The study's ``summary`` table.
    quantity : str
        'position' [pm] or 'scs' [%].
    dose : float
        Dose [e⁻/Å²] to plot.
    statistic : str
        'precision', 'bias' or 'rmse'.
    show_crlb : bool
        Draw the raw-data Poisson CRLB (precision only).
    show_rmse : bool
        Also draw each method's RMSE as a dashed line.
    legend : bool
        Draw a legend beside the panel (figure builders draw one figure legend instead).

    Returns
    -------
    list
        The artists drawn (error-bar containers and lines).

    Raises
    ------
    ValueError
        For an unknown quantity or statistic, or a dose that is not in the table.
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} must be one of {sorted(QUANTITIES)}")
    if statistic not in ("precision", "bias", "rmse"):
        raise ValueError(f"statistic={statistic!r} must be precision, bias or rmse")
    rows = summary[np.isclose(summary["dose_e_per_A2"], dose)]
    if rows.empty:
        raise ValueError(f"dose={dose!r} e⁻/Å² is not in the table; doses: {sorted(summary['dose_e_per_A2'].unique())}")
    methods = list(dict.fromkeys(summary["method"]))
    column = _column(quantity, statistic)
    artists = []
    for method in methods:
        data = rows[rows["method"] == method].sort_values("atoms_per_column")
        if data.empty:
            continue
        value = data[column].to_numpy(float)
        low = data[_column(quantity, statistic, "low")].to_numpy(float)
        high = data[_column(quantity, statistic, "high")].to_numpy(float)
        errors = np.abs(np.vstack([value - low, high - value]))
        colour = method_colour(method, methods)
        artists.append(ax.errorbar(data["atoms_per_column"], value, yerr=errors, marker="o", markersize=3,
                                   capsize=2, linewidth=1.2, color=colour, label=f"{method} {statistic}"))
        if show_rmse and statistic != "rmse":
            (line,) = ax.plot(data["atoms_per_column"], data[_column(quantity, "rmse")], linestyle="--",
                              linewidth=1.0, color=colour, label=f"{method} RMSE")
            artists.append(line)
    if show_crlb and statistic == "precision":
        crlb = rows.drop_duplicates("atoms_per_column").sort_values("atoms_per_column")
        (line,) = ax.plot(crlb["atoms_per_column"], crlb[QUANTITIES[quantity]["crlb"]], color="black",
                          linewidth=1.5, label="CRLB (raw data)")
        artists.append(line)
    spec = QUANTITIES[quantity]
    ax.set_xlabel("thickness [atoms per column]")
    ax.set_ylabel(f"{spec['label']} {statistic} [{spec['unit']}]")
    from reports.html import dose_text

    ax.set_title(f"{dose_text(dose)} e⁻/Å²")
    if statistic != "bias":
        ax.set_yscale("log")
        readable_log_axes(ax)
    ax.grid(True, which="both", alpha=0.3)
    if legend:
        place_legend(ax)
    return artists


def plot_image(ax, image: np.ndarray, title: str, pixel_size_angstrom: float | None = None):
    """One image panel (grey scale, no ticks) with a 5 Å scale bar when the pixel size is known.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    artist = ax.imshow(np.asarray(image), cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if pixel_size_angstrom:
        length = 5.0 / pixel_size_angstrom
        height, width = np.shape(image)
        ax.plot([width * 0.05, width * 0.05 + length], [height * 0.92] * 2, color="white", linewidth=2)
    return artist


# Reading results ----------------------------------------------------------------------------------------

def load_results(directory: str | os.PathLike) -> dict:
    """Manifest, tables and example images of a results directory (read only).

    Raises
    ------
    FileNotFoundError
        If the directory holds no results, or the run has not written its summary yet.
    ValueError
        If the manifest is unreadable or of a newer results layout.
    """
    store = ResultStore.load(Path(directory))
    tables = {name: store.read_table(name) for name in ("summary", "crlb", "reference") if store.has_table(name)}
    if "summary" not in tables:
        raise FileNotFoundError(f"{directory} has no summary.parquet yet; finish the run (`bench run` resumes it)")
    return {"directory": store.directory, "manifest": store.manifest, "tables": tables,
            "examples": store.read_examples()}


def _save(figure, base: Path) -> list[Path]:
    paths = [base.with_suffix(suffix) for suffix in (".png", ".pdf")]
    for path in paths:
        write_figure_atomic(path, figure, dpi=150, bbox_inches="tight")
    return paths


def precision_figure(summary, quantity: str):
    """Precision (with RMSE dashed and the CRLB) against thickness, one panel per dose."""
    from matplotlib.figure import Figure

    doses = sorted(summary["dose_e_per_A2"].unique())
    figure = Figure(figsize=(4.2 * len(doses), 3.9), layout="constrained")
    axes = figure.subplots(1, len(doses), squeeze=False)[0]
    for ax, dose in zip(axes, doses):
        plot_metric_vs_thickness(ax, summary, quantity, dose, show_rmse=True, legend=False)
    figure_legend(figure, axes)
    return figure


def bias_figure(summary):
    """Position and SCS bias against thickness, one column per dose."""
    from matplotlib.figure import Figure

    doses = sorted(summary["dose_e_per_A2"].unique())
    figure = Figure(figsize=(4.2 * len(doses), 6.9), layout="constrained")
    axes = figure.subplots(2, len(doses), squeeze=False)
    for column, dose in enumerate(doses):
        plot_metric_vs_thickness(axes[0, column], summary, "position", dose, statistic="bias", legend=False)
        plot_metric_vs_thickness(axes[1, column], summary, "scs", dose, statistic="bias", legend=False)
        axes[1, column].axhline(0.0, color="black", linewidth=0.8)
    figure_legend(figure, axes.ravel())
    return figure


def examples_figure(examples: dict, pixel_size_angstrom: float | None, atoms: int):
    """Noise-free image, then measured and restored images of each method, one row per dose."""
    from matplotlib.figure import Figure

    index = [e for e in examples["index"] if e["atoms_per_column"] == atoms]
    doses = sorted({e["dose_e_per_A2"] for e in index if e["dose_e_per_A2"] is not None})
    methods = list(dict.fromkeys(e["method"] for e in index if e["kind"] == "restored"))
    noise_free = next((e for e in index if e["kind"] == "noise_free"), None)
    columns = 1 + len(methods)
    figure = Figure(figsize=(2.2 * columns, 2.3 * max(len(doses), 1)), layout="constrained")
    axes = figure.subplots(max(len(doses), 1), columns, squeeze=False)
    for row, dose in enumerate(doses):
        if noise_free is not None:
            plot_image(axes[row, 0], examples["images"][noise_free["key"]], f"noise-free, {atoms} atoms",
                       pixel_size_angstrom)
        for column, method in enumerate(methods, start=1):
            entry = next((e for e in index if e["kind"] == "restored" and e["method"] == method
                          and e["dose_e_per_A2"] == dose), None)
            if entry is not None:
                label = "measured" if method == "raw" else method
                plot_image(axes[row, column], examples["images"][entry["key"]], f"{label}, {dose:.0e} e⁻/Å²",
                           pixel_size_angstrom)
            else:
                axes[row, column].axis("off")
    return figure


def write_figures(directory: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> dict[str, list[Path]]:
    """Write every figure of a precision-vs-dose results directory as PNG and PDF.

    Returns
    -------
    dict
        Figure name -> [png path, pdf path].
    """
    from reports import study_figures as other

    results = load_results(directory)
    out = Path(out_dir) if out_dir else Path(directory) / "report"
    summary = results["tables"]["summary"]
    if results["manifest"].get("study") == "dislocation":
        written = {"dislocation_errors": _save(other.dislocation_figure(summary), out / "dislocation_errors")}
        if results["examples"]:
            written["examples"] = _save(other.dislocation_examples_figure(results["examples"]), out / "examples")
        return written
    if results["manifest"].get("study") == "atom-counting":
        return {"counting": _save(other.counting_figure(summary), out / "counting")}
    if results["manifest"].get("study") == "denoise":
        written = {"scores": _save(other.scores_figure(summary), out / "scores")}
        if results["examples"]:
            written["examples"] = _save(other.denoise_examples_figure(results["examples"]), out / "examples")
        return written
    written = {
        "precision_positions": _save(precision_figure(summary, "position"), out / "precision_positions"),
        "precision_scs": _save(precision_figure(summary, "scs"), out / "precision_scs"),
        "bias": _save(bias_figure(summary), out / "bias"),
    }
    examples = results["examples"]
    if examples:
        pixel = results["manifest"].get("config", {}).get("pixel_size_angstrom")
        for atoms in sorted({e["atoms_per_column"] for e in examples["index"]}):
            written[f"examples_t{atoms:03d}"] = _save(examples_figure(examples, pixel, atoms),
                                                      out / f"examples_t{atoms:03d}")
    return written
