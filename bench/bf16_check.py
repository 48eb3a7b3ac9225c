"""Whether a model's weights may restore in bfloat16: bf16 against float32 on the same noise, against the CRLB.

bf16 keeps 8 significant bits (unit roundoff 2⁻⁸); a deep network carries that rounding through ≈ 100
layers, and at high dose the Cramér–Rao lower bound is a small fraction of a pixel, so whether bf16 moves
what a microscopist measures depends on the weights (docs/benchmarks.md, "bf16 inference"). The suite
answers per model with its own study: precision-vs-dose is run with ``MODEL+fp32`` and ``MODEL+bf16`` in
one results directory, so both paths restore the same noise realisations (common random numbers), and
every statistic the study reports — position precision, bias and RMSE, SCS precision, signed bias and
RMSE — changes by bf16 − fp32 with a paired bootstrap 95 % interval over realisations, in % of the CRLB.

The weights pass when every such interval lies within ± :data:`BOUND_PCT_CRLB` % of the CRLB at every
dose and thickness, and the two paths flag (leave out of the statistics) the same fits but for at most
:data:`FLAGGED_BOUND_PCT` % of them. How far one fitted value moves between the paths is reported, not
judged: it adds in quadrature to the precision, which is. :func:`bf16_verdict` writes the record that
``bench check-bf16 --record`` stores in the weights' sidecar; :func:`restore.numerics.inference_path` lets
``numeric="auto"`` choose bf16 only for weights whose record passed.
"""
from __future__ import annotations

import datetime as _dt

import numpy as np

from bench.gate import error_grid
from bench.studies.statistics import paired_difference
from restore.numerics import BF16_CHECK_BOUND_PCT_CRLB as BOUND_PCT_CRLB

# A flagged fit is left out of every statistic, so a path that flags other fits changes what is measured.
FLAGGED_BOUND_PCT = 1.0
# quantity -> (error columns, CRLB column of the study's summary, the statistics compared)
QUANTITIES = {
    "position": (("x_error_pm", "y_error_pm"), "crlb_position_pm", ("precision", "bias", "rmse")),
    "scs": (("scs_error_pct",), "crlb_scs_pct", ("precision", "signed_bias", "rmse")),
}
BOOTSTRAP = 2000


def path_names(model: str) -> tuple[str, str]:
    """Return the method names of a model's two numeric paths in a results table.

    Parameters
    ----------
    model : str
        The method name without a numeric suffix (a registry name, or a weights file's stem).

    Returns
    -------
    tuple of str
        ``(model + "+fp32", model + "+bf16")``.
    """
    return f"{model}+fp32", f"{model}+bf16"


def bf16_changes(realisations, summary, model: str, *, bootstrap: int = BOOTSTRAP, seed: int = 0):
    """Change of every precision-vs-dose statistic from ``MODEL+fp32`` to ``MODEL+bf16``, in % of the CRLB.

    Parameters
    ----------
    realisations : pandas.DataFrame
        The study's per-realisation table (``realisations.parquet``) holding both paths of ``model``.
    summary : pandas.DataFrame
        The study's summary (``summary.parquet``): its ``crlb_position_pm`` and ``crlb_scs_pct`` per dose and
        thickness scale the changes.
    model : str
        The method name without its numeric suffix.
    bootstrap : int
        Paired bootstrap resamples of the realisations.
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame
        One row per dose, thickness, quantity (``position``, ``scs``) and statistic: ``change_pct_crlb`` with
        its 95 % interval ``low_pct_crlb``, ``high_pct_crlb``, and ``moved_pct_crlb``, the r.m.s. change of one
        fitted value between the two paths (the same for every statistic of a quantity), and
        ``flag_changed_pct``, the percentage of fits flagged by one path only (the same for the whole point).

    Raises
    ------
    ValueError
        If a path is missing from the table, the two paths were not run on the same realisations, or the
        summary has no CRLB for a point.
    """
    import pandas as pd

    fp32, bf16 = path_names(model)
    present = sorted(realisations["method"].unique())
    missing = [name for name in (fp32, bf16) if name not in present]
    if missing:
        raise ValueError(f"{', '.join(missing)} has no results here (methods present: {present}); run `bench run "
                         f"precision-vs-dose --methods {fp32},{bf16}` so that both paths share the noise")
    keys = ["dose_e_per_A2", "atoms_per_column"]
    first = dict(tuple(realisations[realisations["method"] == fp32].groupby(keys)))
    second = dict(tuple(realisations[realisations["method"] == bf16].groupby(keys)))
    if set(first) != set(second):
        raise ValueError(f"{fp32} and {bf16} were run at different doses or thicknesses; run both in one study")
    bounds = summary.drop_duplicates(keys).set_index(keys)
    rows = []
    for key in sorted(first):
        if key not in bounds.index:
            raise ValueError(f"the summary has no CRLB at dose {key[0]:g} e⁻/Å², {key[1]} atoms per column")
        for quantity, (columns, crlb_column, statistics) in QUANTITIES.items():
            a, b = error_grid(second[key], columns), error_grid(first[key], columns)
            if a.shape != b.shape:
                raise ValueError(f"{fp32} and {bf16} differ in realisations or columns at dose {key[0]:g}, "
                                 f"{key[1]} atoms; they must share the noise realisations")
            crlb = float(bounds.loc[key, crlb_column])
            flag_changed = 100.0 * float(np.mean(_flags(first[key]) != _flags(second[key])))
            moved = 100.0 * float(np.sqrt(np.nanmean((a - b) ** 2))) / crlb
            for statistic in statistics:
                change, low, high = paired_difference(a, b, statistic, bootstrap=bootstrap, seed=seed)
                rows.append({"dose_e_per_A2": key[0], "atoms_per_column": key[1], "quantity": quantity,
                             "statistic": statistic, "crlb": crlb, "change_pct_crlb": 100.0 * change / crlb,
                             "low_pct_crlb": 100.0 * low / crlb, "high_pct_crlb": 100.0 * high / crlb,
                             "moved_pct_crlb": moved, "flag_changed_pct": flag_changed})
    return pd.DataFrame(rows)


def _flags(group) -> np.ndarray:
    return group.sort_values(["realisation", "column"])["flagged"].to_numpy(bool)


def largest_change(changes) -> tuple[float, dict]:
    """Return the largest |change| of any statistic, its interval ends included, and the row it was found in.

    Parameters
    ----------
    changes : pandas.DataFrame
        :func:`bf16_changes`' table.

    Returns
    -------
    largest : float
        max over rows of max(|change|, |low|, |high|), in % of the CRLB (NaN ends count as infinite: an
        interval that could not be computed cannot show the change is small).
    row : dict
        The row with the largest value.
    """
    ends = changes[["change_pct_crlb", "low_pct_crlb", "high_pct_crlb"]].abs().fillna(np.inf).max(axis=1)
    where = int(np.argmax(ends.to_numpy()))
    return float(ends.iloc[where]), changes.iloc[where].to_dict()


def bf16_verdict(changes, *, weights_sha256: str, preset: str, realisations: int, command: str = "",
                 bound_pct_crlb: float = BOUND_PCT_CRLB, cpu: str = "", torch_version: str = "") -> dict:
    """Return the record of a bf16 check: passed or not, the largest change and how it was measured.

    Parameters
    ----------
    changes : pandas.DataFrame
        :func:`bf16_changes`' table.
    weights_sha256 : str
        SHA-256 of the weights checked (the record holds only for them).
    preset : str
        The precision-vs-dose preset that was run.
    realisations : int
        Noise realisations per dose and thickness.
    command : str
        The command that measured it.
    bound_pct_crlb : float
        The bound every interval must lie within, % of the CRLB (> 0).
    cpu : str
        Where bf16 ran (a CPU model and its bf16 flag, or a GPU).
    torch_version : str
        The torch version.

    Returns
    -------
    dict
        JSON-serialisable: ``passed``, ``bound_pct_crlb``, ``largest_pct_crlb``, ``largest_at``,
        ``flag_changed_pct`` (the largest over points) and its bound, the largest ``moved_*_pct_crlb``,
        ``weights_sha256``, ``study``, ``preset``, ``doses_e_per_A2``,
        ``atoms_per_column``, ``realisations``, ``statistics``, ``measured_on``, ``torch``, ``date``, ``command``.

    Raises
    ------
    ValueError
        If the table is empty or the bound is not positive.
    """
    if changes.empty:
        raise ValueError("no bf16 changes to judge: the table is empty")
    if not bound_pct_crlb > 0:
        raise ValueError(f"bound_pct_crlb={bound_pct_crlb!r} must be > 0")
    largest, row = largest_change(changes)
    moved = changes.groupby("quantity")["moved_pct_crlb"].max()
    flag_changed = float(changes["flag_changed_pct"].max())
    return {
        "passed": bool(largest <= bound_pct_crlb and flag_changed <= FLAGGED_BOUND_PCT),
        "bound_pct_crlb": float(bound_pct_crlb), "largest_pct_crlb": round(largest, 3),
        "flag_changed_pct": round(flag_changed, 3), "flag_changed_bound_pct": FLAGGED_BOUND_PCT,
        "largest_at": (f"{row['quantity']} {row['statistic'].replace('_', ' ')} at {row['dose_e_per_A2']:g} e⁻/Å², "
                       f"{int(row['atoms_per_column'])} atoms per column"),
        "moved_position_pct_crlb": round(float(moved.get("position", np.nan)), 3),
        "moved_scs_pct_crlb": round(float(moved.get("scs", np.nan)), 3),
        "weights_sha256": weights_sha256, "study": "precision-vs-dose", "preset": preset,
        "doses_e_per_A2": sorted(float(d) for d in changes["dose_e_per_A2"].unique()),
        "atoms_per_column": sorted(int(a) for a in changes["atoms_per_column"].unique()),
        "realisations": int(realisations),
        "statistics": sorted(f"{q} {s}" for q, (_, _, names) in QUANTITIES.items() for s in names),
        "measured_on": cpu, "torch": torch_version,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d"), "command": command,
    }


def changes_text(changes) -> str:
    """Return the changes as a table for the terminal: one row per dose and thickness, % of the CRLB.

    Parameters
    ----------
    changes : pandas.DataFrame
        :func:`bf16_changes`' table.

    Returns
    -------
    str
        Per point: each statistic's change with its interval, and how far one fitted value moved.
    """
    lines = []
    for (dose, atoms), group in changes.groupby(["dose_e_per_A2", "atoms_per_column"]):
        cells = [f"{r.quantity[:3]} {r.statistic.replace('signed_', '')} {r.change_pct_crlb:+.2f} "
                 f"[{r.low_pct_crlb:+.2f}, {r.high_pct_crlb:+.2f}]" for r in group.itertuples()]
        moved = group.groupby("quantity")["moved_pct_crlb"].first()
        lines.append(f"{dose:>8g} e⁻/Å² {int(atoms):>3d} atoms: " + "; ".join(cells)
                     + f"; moved pos {moved.get('position', np.nan):.2f}, scs {moved.get('scs', np.nan):.2f}; "
                     f"flagged by one path only {group['flag_changed_pct'].iloc[0]:.1f} % of fits")
    return "\n".join(lines)
