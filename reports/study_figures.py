"""Figures of the dislocation, atom-counting and denoise studies (helpers in :mod:`reports.plotting`).

Plot functions draw on a given ``ax`` and return their artists; figure builders return a
:class:`matplotlib.figure.Figure`. Nothing is recomputed: everything comes from the stored tables.
"""
from __future__ import annotations

import numpy as np

from reports.plotting import figure_legend, method_colour, place_legend, plot_image, readable_log_axes


def plot_scores(ax, summary, metric: str, modality: str) -> list:
    """Draw the mean PSNR [dB] or SSIM of each method for one modality, with 95 % intervals (denoise study).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    summary : pandas.DataFrame
        The denoise study's ``summary`` table (one row per method and modality).
    metric : str
        'psnr_db' or 'ssim' (with its ``_low`` and ``_high`` interval columns).
    modality : str
        The modality whose rows are drawn.

    Returns
    -------
    list
        The bar container and the error-bar container.

    Raises
    ------
    ValueError
        For an unknown metric or a modality that is not in the table.
    """
    if metric not in ("psnr_db", "ssim"):
        raise ValueError(f"metric={metric!r} must be psnr_db or ssim")
    rows = summary[summary["modality"] == modality]
    if rows.empty:
        raise ValueError(f"modality={modality!r} is not in the table; modalities: "
                         f"{sorted(summary['modality'].unique())}")
    methods = list(rows["method"])
    positions = np.arange(len(methods))
    values = rows[metric].to_numpy(float)
    errors = np.abs(np.vstack([values - rows[f"{metric}_low"].to_numpy(float),
                               rows[f"{metric}_high"].to_numpy(float) - values]))
    bars = ax.bar(positions, values, color=[method_colour(m, methods) for m in methods])
    whiskers = ax.errorbar(positions, values, yerr=errors, fmt="none", ecolor="black", capsize=3)
    ax.set_xticks(positions, methods)
    ax.set_ylabel("PSNR [dB]" if metric == "psnr_db" else "SSIM")
    ax.set_title(modality)
    return [bars, whiskers]


def scores_figure(summary):
    """Draw PSNR (top row) and SSIM (bottom row) per method, one column of panels per modality.

    Parameters
    ----------
    summary : pandas.DataFrame
        The denoise study's ``summary`` table.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    from matplotlib.figure import Figure

    modalities = sorted(summary["modality"].unique())
    figure = Figure(figsize=(3.4 * len(modalities), 5.6), layout="constrained")
    axes = figure.subplots(2, len(modalities), squeeze=False)
    for column, modality in enumerate(modalities):
        plot_scores(axes[0, column], summary, "psnr_db", modality)
        plot_scores(axes[1, column], summary, "ssim", modality)
    return figure


def denoise_examples_figure(examples: dict):
    """Draw the clean image and each method's output, one row per modality.

    Parameters
    ----------
    examples : dict
        ``{"index": [...], "images": {key: array}}`` as stored by the denoise study.

    Returns
    -------
    matplotlib.figure.Figure
        One row per modality; panels without a stored image are left blank.
    """
    from matplotlib.figure import Figure

    index = examples["index"]
    modalities = sorted({e["modality"] for e in index})
    methods = list(dict.fromkeys(e["method"] for e in index if e["kind"] == "restored"))
    figure = Figure(figsize=(2.2 * (1 + len(methods)), 2.3 * len(modalities)), layout="constrained")
    axes = figure.subplots(len(modalities), 1 + len(methods), squeeze=False)
    for row, modality in enumerate(modalities):
        for column, kind_method in enumerate([("clean", None)] + [("restored", m) for m in methods]):
            entry = next((e for e in index if e["modality"] == modality and e["kind"] == kind_method[0]
                          and e["method"] == kind_method[1]), None)
            if entry is None:
                axes[row, column].axis("off")
                continue
            label = kind_method[1] or "clean"
            plot_image(axes[row, column], examples["images"][entry["key"]],
                       f"{'measured' if label == 'raw' else label}, {modality}")
    return figure


def plot_error_vs_dose(ax, summary, metric: str = "position_mae_pm", *, legend: bool = True) -> list:
    """Draw an error against dose per method, core (solid) and all columns (dashed) (dislocation study).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    summary : pandas.DataFrame
        The ``summary`` table, with a ``region`` column ("core", "all").
    metric : str, default "position_mae_pm"
        'position_mae_pm' (position mean absolute error [pm]) or 'scs_mpe_pct' (SCS mean percentage
        error [%]), with its ``_low`` and ``_high`` interval columns.
    legend : bool, default True
        Draw a legend beside the panel (figure builders draw one figure legend instead).

    Returns
    -------
    list
        The error-bar containers.

    Raises
    ------
    ValueError
        For an unknown metric.
    """
    if metric not in ("position_mae_pm", "scs_mpe_pct"):
        raise ValueError(f"metric={metric!r} must be position_mae_pm or scs_mpe_pct")
    unit = metric.rsplit("_", 1)[1]
    stem = metric[: -len(unit) - 1]
    methods = list(dict.fromkeys(summary["method"]))
    artists = []
    for method in methods:
        for region, style in (("core", "-"), ("all", "--")):
            data = summary[(summary["method"] == method) & (summary["region"] == region)].sort_values("dose_e_per_A2")
            if data.empty:
                continue
            value = data[metric].to_numpy(float)
            errors = np.abs(np.vstack([value - data[f"{stem}_low_{unit}"].to_numpy(float),
                                       data[f"{stem}_high_{unit}"].to_numpy(float) - value]))
            artists.append(ax.errorbar(data["dose_e_per_A2"], value, yerr=errors, marker="o", markersize=3,
                                       capsize=2, linestyle=style, color=method_colour(method, methods),
                                       label=f"{method} ({region})"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    readable_log_axes(ax)
    ax.set_xlabel("dose [e⁻/Å²]")
    ax.set_ylabel("position MAE [pm]" if metric == "position_mae_pm" else "SCS MPE [%]")
    ax.grid(True, which="both", alpha=0.3)
    if legend:
        place_legend(ax)
    return artists


def plot_counting_vs_dose(ax, summary, *, legend: bool = True) -> list:
    """Draw the fraction of correctly counted columns against dose per method (atom-counting study).

    Library matching is drawn solid, GMM/ICL counting dashed, both with 95 % intervals.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The panel.
    summary : pandas.DataFrame
        The atom-counting study's ``summary`` table.
    legend : bool, default True
        Draw a legend beside the panel (figure builders draw one figure legend instead).

    Returns
    -------
    list
        The error-bar containers.
    """
    methods = list(dict.fromkeys(summary["method"]))
    artists = []
    for method in methods:
        data = summary[summary["method"] == method].sort_values("dose_e_per_A2")
        for counter, style in (("library", "-"), ("gmm", "--")):
            value = data[f"correct_{counter}_fraction"].to_numpy(float)
            errors = np.abs(np.vstack([value - data[f"correct_{counter}_low_fraction"].to_numpy(float),
                                       data[f"correct_{counter}_high_fraction"].to_numpy(float) - value]))
            artists.append(ax.errorbar(data["dose_e_per_A2"], value, yerr=errors, marker="o", markersize=3,
                                       capsize=2, linestyle=style, color=method_colour(method, methods),
                                       label=f"{method} ({'library' if counter == 'library' else 'GMM/ICL'})"))
    ax.set_xscale("log")
    readable_log_axes(ax)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("dose [e⁻/Å²]")
    ax.set_ylabel("fraction of correctly counted columns")
    ax.grid(True, which="both", alpha=0.3)
    if legend:
        place_legend(ax)
    return artists


def counting_figure(summary):
    """Draw the atom-counting study's panels: counting fractions, position MAE and SCS MPE against dose.

    Parameters
    ----------
    summary : pandas.DataFrame
        The atom-counting study's ``summary`` table (its rows are drawn as region "all" in the error panels).

    Returns
    -------
    matplotlib.figure.Figure
        Three panels side by side with one legend below them.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12.0, 3.9), layout="constrained")
    first, second, third = figure.subplots(1, 3)
    plot_counting_vs_dose(first, summary, legend=False)
    for ax, metric in ((second, "position_mae_pm"), (third, "scs_mpe_pct")):
        with_region = summary.assign(region="all")
        plot_error_vs_dose(ax, with_region, metric, legend=False)
    figure_legend(figure, (first, second))
    return figure


def dislocation_figure(summary):
    """Draw the dislocation study's position MAE and SCS MPE against dose, side by side.

    Parameters
    ----------
    summary : pandas.DataFrame
        The dislocation study's ``summary`` table.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels with one legend below them.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.4, 3.9), layout="constrained")
    left, right = figure.subplots(1, 2)
    plot_error_vs_dose(left, summary, "position_mae_pm", legend=False)
    plot_error_vs_dose(right, summary, "scs_mpe_pct", legend=False)
    figure_legend(figure, (left, right))
    return figure


def dislocation_examples_figure(examples: dict):
    """Draw each method's image at each dose with the true and fitted columns and the Burgers circuit.

    True columns are blue crosses (core columns red), fitted positions yellow circles, and the Burgers
    circuit walked on the fitted positions cyan, its closure failure in the title.

    Parameters
    ----------
    examples : dict
        ``{"index": [...], "images": {key: array}}`` as stored by the dislocation study; ``images`` holds
        ``truth`` ((N, 2) true positions [Å]), ``core`` (mask of the core columns) and, per entry,
        ``KEY`` and ``KEY__positions`` (fitted positions [Å]).

    Returns
    -------
    matplotlib.figure.Figure
        One row per dose, one column per method.
    """
    from matplotlib.figure import Figure

    index, images = examples["index"], examples["images"]
    doses = sorted({e["dose_e_per_A2"] for e in index})
    methods = list(dict.fromkeys(e["method"] for e in index))
    figure = Figure(figsize=(2.6 * len(methods), 2.7 * max(len(doses), 1)), layout="constrained")
    axes = figure.subplots(max(len(doses), 1), max(len(methods), 1), squeeze=False)
    truth, core = images["truth"], images["core"].astype(bool)
    for row, dose in enumerate(doses):
        for column, method in enumerate(methods):
            entry = next((e for e in index if e["method"] == method and e["dose_e_per_A2"] == dose), None)
            ax = axes[row, column]
            if entry is None:
                ax.axis("off")
                continue
            pixel = entry["pixel_size_A"]
            plot_image(ax, images[entry["key"]], f"{'measured' if method == 'raw' else method}, {dose:.0e} e⁻/Å²",
                       pixel_size_A=pixel)
            fitted = images[f"{entry['key']}__positions"] / pixel
            ax.scatter(truth[~core, 0] / pixel, truth[~core, 1] / pixel, s=4, c="#1f77b4", marker="+", linewidths=0.5)
            ax.scatter(truth[core, 0] / pixel, truth[core, 1] / pixel, s=6, c="red", marker="+", linewidths=0.6)
            ax.scatter(fitted[:, 0], fitted[:, 1], s=3, facecolors="none", edgecolors="yellow", linewidths=0.4)
            if "circuit_corners_A" in entry:
                corners = np.asarray(entry["circuit_corners_A"]) / pixel
                ax.plot(corners[:, 0], corners[:, 1], color="cyan", linewidth=0.8)
                bx, by = entry["burgers_closure_A"]
                closure = f"({bx:.2f}, {by:.2f}) Å" if np.isfinite([bx, by]).all() else "walk lost its way"
                ax.set_title(f"{ax.get_title()}\nBurgers closure {closure}", fontsize=7)
            height, width = images[entry["key"]].shape
            ax.set_xlim(-0.5, width - 0.5)
            ax.set_ylim(height - 0.5, -0.5)
    return figure


def denoise_report_figures(results: dict) -> dict:
    """Draw the denoise report's figures: scores per modality and, when stored, example images.

    Parameters
    ----------
    results : dict
        As :func:`reports.figures.load_results` returns it.

    Returns
    -------
    dict
        Name -> (caption, matplotlib.figure.Figure): ``scores`` and, when stored, ``examples``.
    """
    figures = {"scores": ("PSNR (top) and SSIM (bottom) per method and modality, 95 % CI",
                          scores_figure(results["tables"]["summary"]))}
    if results["examples"]:
        figures["examples"] = ("Example images of each method", denoise_examples_figure(results["examples"]))
    return figures


def dislocation_report_figures(results: dict) -> dict:
    """Draw the dislocation report's figures: errors against dose and, when stored, example images.

    Parameters
    ----------
    results : dict
        As :func:`reports.figures.load_results` returns it.

    Returns
    -------
    dict
        Name -> (caption, matplotlib.figure.Figure): ``dislocation_errors`` and, when stored,
        ``examples``.
    """
    figures = {"dislocation_errors": ("Position MAE and SCS MPE vs dose: core columns (solid) and all columns "
                                      "(dashed)", dislocation_figure(results["tables"]["summary"]))}
    if results["examples"]:
        figures["examples"] = ("Example images of each method", dislocation_examples_figure(results["examples"]))
    return figures


def counting_report_figures(results: dict) -> dict:
    """Draw the atom-counting report's figure: counting fractions, position MAE and SCS MPE against dose.

    Parameters
    ----------
    results : dict
        As :func:`reports.figures.load_results` returns it.

    Returns
    -------
    dict
        Name -> (caption, matplotlib.figure.Figure): ``counting``.
    """
    return {"counting": ("Correctly counted fraction, position MAE and SCS MPE vs dose",
                         counting_figure(results["tables"]["summary"]))}
