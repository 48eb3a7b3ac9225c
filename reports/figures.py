"""Reading a results directory, writing its figures, and the precision-vs-dose figures (paper Fig. 3).

Plot functions draw on a given ``ax`` and return their artists. Everything is read from a results directory
(tables and example images written by ``bench run``); nothing is recomputed here. Which figures a report
has is the study's choice (:class:`reports.spec.ReportSpec`); the other studies' figures are in
:mod:`reports.study_figures`, the helpers they share in :mod:`reports.plotting`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from _shared.results import ResultStore
from reports.plotting import (
    dose_text,
    figure_legend,
    method_colour,
    place_legend,
    plot_image,
    readable_log_axes,
    save_figure,
)
from reports.spec import GENERIC, ReportSpec

QUANTITIES = {
    "position": {"unit": "pm", "label": "position", "crlb": "crlb_position_pm"},
    "scs": {"unit": "%", "label": "SCS", "crlb": "crlb_scs_pct"},
}


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
    ax.set_title(f"{dose_text(dose)} e⁻/Å²")
    if statistic != "bias":
        ax.set_yscale("log")
        readable_log_axes(ax)
    ax.grid(True, which="both", alpha=0.3)
    if legend:
        place_legend(ax)
    return artists


# Reading results ----------------------------------------------------------------------------------------

def load_results(directory: str | os.PathLike) -> dict:
    """Read the manifest, tables and example images of a results directory (read only).

    Parameters
    ----------
    directory : str or os.PathLike
        A results directory written by ``bench run``.

    Returns
    -------
    dict
        ``"directory"`` (pathlib.Path), ``"manifest"`` (dict), ``"tables"`` (name -> pandas.DataFrame:
        ``summary``, and ``crlb`` and ``reference`` where stored) and ``"examples"`` (as
        :meth:`_shared.results.ResultStore.read_examples` returns them, ``{}`` when none were stored).

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


def precision_figure(summary, quantity: str):
    """Draw precision (with RMSE dashed and the CRLB) against thickness, one panel per dose.

    Parameters
    ----------
    summary : pandas.DataFrame
        The study's ``summary`` table.
    quantity : str
        'position' [pm] or 'scs' [%].

    Returns
    -------
    matplotlib.figure.Figure
        One panel per dose of the table, with one legend below them.

    Raises
    ------
    ValueError
        For an unknown quantity.
    """
    from matplotlib.figure import Figure

    doses = sorted(summary["dose_e_per_A2"].unique())
    figure = Figure(figsize=(4.2 * len(doses), 3.9), layout="constrained")
    axes = figure.subplots(1, len(doses), squeeze=False)[0]
    for ax, dose in zip(axes, doses):
        plot_metric_vs_thickness(ax, summary, quantity, dose, show_rmse=True, legend=False)
    figure_legend(figure, axes)
    return figure


def bias_figure(summary):
    """Draw position and SCS bias against thickness, one column of panels per dose.

    Parameters
    ----------
    summary : pandas.DataFrame
        The study's ``summary`` table.

    Returns
    -------
    matplotlib.figure.Figure
        Position bias [pm] in the top row, signed SCS bias [%] in the bottom row, with one legend.
    """
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


def examples_figure(examples: dict, *, pixel_size_A: float | None, atoms: int):
    """Draw the noise-free image, then the measured and restored images of each method, one row per dose.

    Parameters
    ----------
    examples : dict
        ``{"index": [...], "images": {key: array}}`` as stored by the run.
    pixel_size_A : float or None
        Pixel size [Å/px] for the 5 Å scale bar; None draws none.
    atoms : int
        The thickness [atoms per column] whose examples are drawn.

    Returns
    -------
    matplotlib.figure.Figure
        One row per dose (the noise-free image repeated in each), one column per method after it.
    """
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
                       pixel_size_A=pixel_size_A)
        for column, method in enumerate(methods, start=1):
            entry = next((e for e in index if e["kind"] == "restored" and e["method"] == method
                          and e["dose_e_per_A2"] == dose), None)
            if entry is not None:
                label = "measured" if method == "raw" else method
                plot_image(axes[row, column], examples["images"][entry["key"]], f"{label}, {dose:.0e} e⁻/Å²",
                           pixel_size_A=pixel_size_A)
            else:
                axes[row, column].axis("off")
    return figure


def precision_report_figures(results: dict) -> dict:
    """Draw the precision-vs-dose report's figures.

    Parameters
    ----------
    results : dict
        As :func:`load_results` returns it.

    Returns
    -------
    dict
        Name -> (caption, matplotlib.figure.Figure): position and SCS precision, bias, and, when examples
        were stored, ``examples_tNNN`` for each example thickness.
    """
    summary = results["tables"]["summary"]
    figures = {
        "precision_positions": ("Position precision (markers, 95 % CI), RMSE (dashed) and CRLB (black) vs thickness",
                                precision_figure(summary, "position")),
        "precision_scs": ("SCS precision (markers, 95 % CI), RMSE (dashed) and CRLB (black) vs thickness",
                          precision_figure(summary, "scs")),
        "bias": ("Position bias (top) and signed SCS bias (bottom) vs thickness", bias_figure(summary)),
    }
    examples = results["examples"]
    if examples:
        pixel = results["manifest"].get("config", {}).get("pixel_size_A")
        for atoms in sorted({e["atoms_per_column"] for e in examples["index"]}):
            figures[f"examples_t{atoms:03d}"] = (f"Example images ({atoms} atoms per column)",
                                                 examples_figure(examples, pixel_size_A=pixel, atoms=atoms))
    return figures


def write_figures(directory: str | os.PathLike, out_dir: str | os.PathLike | None = None,
                  spec: ReportSpec = GENERIC) -> dict[str, tuple[str, list[Path]]]:
    """Write every figure of a results directory's report as PNG and PDF.

    Parameters
    ----------
    directory : str or os.PathLike
        A results directory written by ``bench run``.
    out_dir : str or os.PathLike, optional
        Where to write (default ``DIRECTORY/report``).
    spec : ReportSpec
        The study's report (its ``figures`` draws them).

    Returns
    -------
    dict
        Figure name -> (caption, [png path, pdf path]).
    """
    results = load_results(directory)
    out = Path(out_dir) if out_dir else Path(directory) / "report"
    return {name: (caption, save_figure(figure, out / name))
            for name, (caption, figure) in spec.figures(results).items()}
