"""Validation curves of the model card: the shipped model's line of runs, and the network-size ablation.

A campaign model is the end of a line of runs, each started ``--init-from`` a checkpoint of the one before;
every run's ``val_log.csv`` records the validation PSNR/SSIM with the lineage's total steps and CPU hours.
``collect`` keeps, from each run, the rows of its segment of the line and writes one CSV; ``plot`` draws
PSNR and SSIM against steps and CPU core-hours from that CSV (so the figure can be redrawn without the run
directories, which stay on the machine that trained them)::

    python docs/scripts/campaign_curve.py collect runs/m_causal:0:2881 runs/m_uniform_dose:2881:3481 … \
        -o docs/model_card_hrstem_default_curve.csv
    python docs/scripts/campaign_curve.py plot docs/model_card_hrstem_default_curve.csv \
        -o docs/model_card_hrstem_default_curve.png

The size ablation compares runs of one recipe at several network sizes per CPU core-hour. The core-hours of a
step come from the quiet step time measured beside each other (``bench train-step``, 2 threads), not from the
runs' wall clocks, which other jobs on a shared machine inflate unevenly::

    python docs/scripts/campaign_curve.py sizes "0.18 M:runs/s_causal:0.297" "1.45 M:runs/m_causal:1.60" \
        "7.04 M:runs/l_causal:4.89" --up-to 3000 -o docs/model_card_hrstem_default_sizes.csv
    python docs/scripts/campaign_curve.py plot-sizes docs/model_card_hrstem_default_sizes.csv \
        -o docs/model_card_hrstem_default_sizes.png
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

COLUMNS = ["total_steps", "cpu_hours", "gpu_hours", "psnr_db", "ssim", "l1", "run"]


def collect(segments: list[str]) -> pd.DataFrame:
    """Read each ``RUN:FIRST:LAST`` segment's validation rows with FIRST < total_steps ≤ LAST.

    Parameters
    ----------
    segments : list of str
        ``RUN_DIR:FIRST:LAST`` in the order of the line (total steps of the lineage).

    Returns
    -------
    pandas.DataFrame
        One row per validation, columns :data:`COLUMNS`, sorted by total steps.

    Raises
    ------
    ValueError
        If a segment is malformed, a run has no ``val_log.csv`` (or one without total steps) or a segment has
        no validation row.
    """
    frames = []
    for segment in segments:
        run, first, last = segment.rsplit(":", 2) if segment.count(":") >= 2 else (segment, "", "")
        if not first.isdigit() or not last.isdigit():
            raise ValueError(f"segment {segment!r}: write RUN_DIR:FIRST:LAST with total step numbers")
        log = Path(run) / "val_log.csv"
        if not log.is_file():
            raise ValueError(f"segment {segment!r}: {log} is missing")
        rows = pd.read_csv(log)
        if "total_steps" not in rows:
            raise ValueError(f"segment {segment!r}: {log} has no total_steps column (a run of an older trainer)")
        rows = rows[(rows["total_steps"] > int(first)) & (rows["total_steps"] <= int(last))].copy()
        if rows.empty:
            raise ValueError(f"segment {segment!r}: no validation between total steps {first} and {last}")
        rows["run"] = Path(run).name
        frames.append(rows[COLUMNS])
    return pd.concat(frames).sort_values("total_steps").reset_index(drop=True)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panel(ax, table: pd.DataFrame, group: str, x_name: str, y_name: str, x_label: str) -> None:
    """One line per value of ``group`` (in the table's order), with markers and a light grid."""
    for value, part in table.groupby(group, sort=False):
        ax.plot(part[x_name], part[y_name], marker="o", markersize=3, label=value)
    ax.set_xlabel(x_label)
    ax.grid(alpha=0.3)


def plot(curve: pd.DataFrame, output: Path) -> None:
    """Draw validation PSNR and SSIM against total steps and CPU core-hours into ``output`` (PNG).

    Parameters
    ----------
    curve : pandas.DataFrame
        The table of :func:`collect`.
    output : Path
        Figure file.
    """
    figure, axes = _pyplot().subplots(2, 2, figsize=(9, 5.5), sharey="row", constrained_layout=True)
    for column, x_name, label in ((0, "total_steps", "optimiser steps (8 × 128² px)"),
                                  (1, "cpu_hours", "CPU core-hours (as recorded)")):
        for row, (y_name, y_label) in enumerate((("psnr_db", "validation PSNR [dB]"), ("ssim", "validation SSIM"))):
            _panel(axes[row, column], curve, "run", x_name, y_name, label)
            axes[row, column].set_ylabel(y_label)
    axes[0, 0].legend(fontsize=7, title="run (recipe)", title_fontsize=7)
    figure.suptitle("cgrdn.hrstem_default: 64 validation pairs, EMA weights", fontsize=10)
    figure.savefig(output, dpi=110)


def sizes(runs: list[str], up_to: int) -> pd.DataFrame:
    """Read each ``LABEL:RUN:STEP_SECONDS`` run's validation rows up to step ``up_to``, with core-hours.

    Parameters
    ----------
    runs : list of str
        ``LABEL:RUN_DIR:STEP_SECONDS``: the size's label, its run directory and the quiet time of one step
        with 2 threads [s].
    up_to : int
        Last step kept, > 0.

    Returns
    -------
    pandas.DataFrame
        Columns ``size``, ``step``, ``core_hours`` (step · seconds · 2 threads / 3600), ``psnr_db``, ``ssim``, ``l1``.

    Raises
    ------
    ValueError
        If an entry is malformed, ``up_to`` is not positive, a run has no ``val_log.csv`` or no validation up
        to ``up_to``.
    """
    if up_to < 1:
        raise ValueError(f"up_to={up_to!r}: must be a positive step number")
    frames = []
    for entry in runs:
        label, _, rest = entry.partition(":")
        run, _, seconds = rest.rpartition(":")
        try:
            seconds_per_step = float(seconds)
        except ValueError:
            seconds_per_step = math.nan
        if not (label and run and seconds_per_step > 0):
            raise ValueError(f"size run {entry!r}: write LABEL:RUN_DIR:STEP_SECONDS with seconds > 0")
        log = Path(run) / "val_log.csv"
        if not log.is_file():
            raise ValueError(f"size run {entry!r}: {log} is missing")
        rows = pd.read_csv(log)
        rows = rows[rows["step"] <= up_to]
        if rows.empty:
            raise ValueError(f"size run {entry!r}: no validation up to step {up_to}")
        frames.append(pd.DataFrame({"size": label, "step": rows["step"],
                                    "core_hours": rows["step"] * seconds_per_step * 2 / 3600,
                                    "psnr_db": rows["psnr_db"], "ssim": rows["ssim"], "l1": rows["l1"]}))
    return pd.concat(frames, ignore_index=True)


def plot_sizes(table: pd.DataFrame, output: Path) -> None:
    """Draw validation PSNR against steps and against core-hours, one line per size, into ``output`` (PNG).

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`sizes`.
    output : Path
        Figure file.
    """
    figure, axes = _pyplot().subplots(1, 2, figsize=(9, 3.4), sharey=True, constrained_layout=True)
    for ax, x_name, label in ((axes[0], "step", "optimiser steps (8 × 128² px)"),
                              (axes[1], "core_hours", "CPU core-hours (quiet step time × 2 threads)")):
        _panel(ax, table, "size", x_name, "psnr_db", label)
    axes[0].set_ylabel("validation PSNR [dB]")
    axes[0].legend(fontsize=8, title="CGRDN size", title_fontsize=8)
    figure.suptitle("Same recipe (hrstem_*_causal.toml), 64 validation pairs, EMA weights", fontsize=10)
    figure.savefig(output, dpi=110)


def main() -> None:
    """Command line: ``collect SEGMENT… -o CSV``, ``plot CSV -o PNG``, ``sizes RUN… -o CSV``, ``plot-sizes CSV -o PNG``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    collecting = actions.add_parser("collect")
    collecting.add_argument("segments", nargs="+", metavar="RUN:FIRST:LAST")
    collecting.add_argument("-o", "--output", required=True)
    plotting = actions.add_parser("plot")
    plotting.add_argument("csv")
    plotting.add_argument("-o", "--output", required=True)
    sizing = actions.add_parser("sizes")
    sizing.add_argument("runs", nargs="+", metavar="LABEL:RUN:STEP_SECONDS")
    sizing.add_argument("--up-to", type=int, required=True)
    sizing.add_argument("-o", "--output", required=True)
    plotting_sizes = actions.add_parser("plot-sizes")
    plotting_sizes.add_argument("csv")
    plotting_sizes.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    if args.action == "collect":
        collect(args.segments).to_csv(args.output, index=False, float_format="%.6g")
    elif args.action == "sizes":
        sizes(args.runs, args.up_to).to_csv(args.output, index=False, float_format="%.6g")
    elif args.action == "plot":
        plot(pd.read_csv(args.csv), Path(args.output))
    else:
        plot_sizes(pd.read_csv(args.csv), Path(args.output))


if __name__ == "__main__":
    main()
