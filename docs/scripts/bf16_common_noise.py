# SPDX-License-Identifier: GPL-3.0-or-later
"""bf16 against fp32 inference on the same noise: what the rounding does to positions and SCS (issue 18).

Run a study with one model twice in one run, so that both paths restore the same noise realisations
(common random numbers), e.g.::

    bench run precision-vs-dose --methods cgrdn.hrstem_default+fp32,cgrdn.hrstem_default+bf16 -o RUN
    .venv/bin/python docs/scripts/bf16_common_noise.py RUN

For every model, dose and thickness it prints the change bf16 − fp32 of position precision, bias (r.m.s.
over columns) and RMSE and of SCS precision, signed bias and RMSE, each with a 95 % paired-bootstrap
interval over realisations (both paths resampled together), as a percentage of the CRLB; and the r.m.s.
displacement of a fitted position (SCS) between the two paths. docs/benchmarks.md, "bf16 inference".
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench.studies.statistics import STATISTICS

BOOTSTRAP = 2000


def grids(table: pd.DataFrame):
    table = table.sort_values(["realisation", "column"])
    n_real, n_col = table["realisation"].nunique(), table["column"].nunique()
    flagged = table["flagged"].to_numpy().reshape(n_real, n_col)

    def grid(name):
        return np.where(flagged, np.nan, table[name].to_numpy(float).reshape(n_real, n_col))

    return np.concatenate([grid("x_error_pm"), grid("y_error_pm")], axis=1), grid("scs_error_pct")


def paired(first: np.ndarray, second: np.ndarray, statistic: str, rng: np.random.Generator):
    """Statistic of ``second`` minus that of ``first`` (R, C) with a paired-bootstrap 95 % interval."""
    function = STATISTICS[statistic]
    value = float(function(second) - function(first))
    picks = rng.integers(0, first.shape[0], size=(BOOTSTRAP, first.shape[0]))
    draws = function(second[picks]) - function(first[picks])
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return value, float(low), float(high)


def main(run: Path) -> None:
    table = pd.read_parquet(run / "realisations.parquet")
    summary = pd.read_parquet(run / "summary.parquet")
    methods = sorted(table["method"].unique())
    bases = sorted({m.rsplit("+", 1)[0] for m in methods if m.endswith(("+fp32", "+bf16"))})
    rows = []
    for base in bases:
        for (dose, atoms), _ in table.groupby(["dose_e_per_A2", "atoms_per_column"]):
            pick = table[(table["dose_e_per_A2"] == dose) & (table["atoms_per_column"] == atoms)]
            pos32, scs32 = grids(pick[pick["method"] == f"{base}+fp32"])
            pos16, scs16 = grids(pick[pick["method"] == f"{base}+bf16"])
            crlb = summary[(summary["dose_e_per_A2"] == dose) & (summary["atoms_per_column"] == atoms)].iloc[0]
            rng = np.random.default_rng(int(atoms))
            row = {"model": base, "dose_e_per_A2": dose, "atoms": atoms,
                   "crlb_pos_pm": crlb["crlb_position_pm"], "crlb_scs_pct": crlb["crlb_scs_pct"],
                   "moved_pos_pct_crlb": 100 * np.sqrt(np.nanmean((pos16 - pos32) ** 2)) / crlb["crlb_position_pm"],
                   "moved_scs_pct_crlb": 100 * np.sqrt(np.nanmean((scs16 - scs32) ** 2)) / crlb["crlb_scs_pct"]}
            for name, a, b, unit in (("pos", pos32, pos16, crlb["crlb_position_pm"]),
                                     ("scs", scs32, scs16, crlb["crlb_scs_pct"])):
                stats = ("precision", "bias", "rmse") if name == "pos" else ("precision", "signed_bias", "rmse")
                for statistic in stats:
                    value, low, high = paired(a, b, statistic, rng)
                    row[f"d_{name}_{statistic}_pct_crlb"] = 100 * value / unit
                    row[f"d_{name}_{statistic}_ci"] = f"[{100 * low / unit:+.2f}, {100 * high / unit:+.2f}]"
            rows.append(row)
    result = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    print(result.round(3).to_string(index=False))
    worst = result.filter(like="_pct_crlb").abs().max()
    print("\nlargest |change| as % of the CRLB:")
    print(worst.round(3).to_string())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
