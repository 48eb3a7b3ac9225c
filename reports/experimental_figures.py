"""Figure of the experimental study: a montage of measured frames and each method's restoration of them.

Drawn from the stored examples only (``examples.npz``): each frame's full view (binned) and a full-resolution
crop, every panel of a frame on the same grey scale, the raw frame's 0.5–99.5 percentile stretch.
"""
from __future__ import annotations

from reports.plotting import plot_image


def montage_figure(examples: dict):
    """Draw one pair of rows per frame (full view above, crop below) and one column per method, raw first.

    Parameters
    ----------
    examples : dict
        ``{"index": [...], "images": {key: array}}`` as stored by the experimental study: per entry ``key``
        (``KEY_full`` and ``KEY_crop`` in ``images``), ``method``, ``frame``, ``stretch`` (grey-scale limits),
        ``crop`` (top, left) and ``crop_px`` [px of the frame], and ``bin`` (the full view's binning factor).

    Returns
    -------
    matplotlib.figure.Figure
        The montage; the crop's place is outlined in yellow on each full view.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    index, images = examples["index"], examples["images"]
    frames = sorted({entry["frame"] for entry in index})
    methods = list(dict.fromkeys(entry["method"] for entry in index))
    methods.sort(key=lambda method: method != "raw")  # the measured frame first, the others as stored
    figure = Figure(figsize=(2.3 * len(methods), 4.7 * len(frames)), layout="constrained")
    axes = figure.subplots(2 * len(frames), len(methods), squeeze=False)
    for row, frame in enumerate(frames):
        for column, method in enumerate(methods):
            entry = next((e for e in index if e["frame"] == frame and e["method"] == method), None)
            full, crop = axes[2 * row, column], axes[2 * row + 1, column]
            if entry is None:
                full.axis("off")
                crop.axis("off")
                continue
            label = "raw (measured)" if method == "raw" else method
            plot_image(full, images[f"{entry['key']}_full"], f"{label}, frame {frame}").set_clim(*entry["stretch"])
            (top, left), side, factor = entry["crop"], entry["crop_px"], entry["bin"]
            full.add_patch(Rectangle((left / factor - 0.5, top / factor - 0.5), side / factor, side / factor,
                                     fill=False, edgecolor="yellow", linewidth=0.8))
            plot_image(crop, images[f"{entry['key']}_crop"], f"{side}² px crop").set_clim(*entry["stretch"])
    return figure


def experimental_report_figures(results: dict) -> dict:
    """Draw the experimental report's figure: the montage, when examples are stored.

    Parameters
    ----------
    results : dict
        As :func:`reports.figures.load_results` returns it.

    Returns
    -------
    dict
        Name -> (caption, matplotlib.figure.Figure): ``montage``, or nothing without examples.
    """
    if not results["examples"]:
        return {}
    return {"montage": ("Frames (rows; below each, a full-resolution crop outlined in yellow) restored by each "
                        "method (columns, the measured frame first), every panel of a frame on the raw frame's "
                        "0.5–99.5 % grey scale", montage_figure(results["examples"]))}
