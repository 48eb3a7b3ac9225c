"""bf16 against fp32 on the same noise: the changes are measured in % of the CRLB, and the verdict holds the
weights to ±5 % of it, interval ends included."""
import numpy as np
import pandas as pd
import pytest

from bench.bf16_check import BOUND_PCT_CRLB, bf16_changes, bf16_verdict, changes_text, largest_change

CRLB_POS_PM, CRLB_SCS_PCT = 0.5, 2.0
REALISATIONS, COLUMNS = 30, 12


def _tables(shift_scs_pct_crlb=0.0, jitter_pct_crlb=0.0, seed=0, flag_columns=0):
    """A realisations table of model+fp32 and model+bf16 (the fp32 errors plus a shift and jitter; bf16 flags the
    first ``flag_columns`` columns of every realisation) and its CRLB."""
    rng = np.random.default_rng(seed)
    rows = []
    for dose in (500.0, 5e4):
        for atoms in (2, 10):
            x, y, scs = (rng.normal(0.0, crlb, (REALISATIONS, COLUMNS))
                         for crlb in (CRLB_POS_PM, CRLB_POS_PM, CRLB_SCS_PCT))
            for method in ("m+fp32", "m+bf16"):
                moved = method == "m+bf16"
                scale = jitter_pct_crlb / 100 if moved else 0.0
                dscs = shift_scs_pct_crlb / 100 * CRLB_SCS_PCT if moved and dose == 5e4 else 0.0
                values = {"x_error_pm": x + rng.normal(0.0, scale * CRLB_POS_PM, x.shape),
                          "y_error_pm": y + rng.normal(0.0, scale * CRLB_POS_PM, x.shape),
                          "scs_error_pct": scs + dscs + rng.normal(0.0, scale * CRLB_SCS_PCT, x.shape)}
                for r in range(REALISATIONS):
                    for c in range(COLUMNS):
                        rows.append({"method": method, "dose_e_per_A2": dose, "atoms_per_column": atoms,
                                     "realisation": r, "column": c, "flagged": moved and c < flag_columns,
                                     **{k: v[r, c] for k, v in values.items()}})
    summary = pd.DataFrame([{"dose_e_per_A2": d, "atoms_per_column": a, "crlb_position_pm": CRLB_POS_PM,
                             "crlb_scs_pct": CRLB_SCS_PCT} for d in (500.0, 5e4) for a in (2, 10)])
    return pd.DataFrame(rows), summary


def test_identical_paths_change_nothing_and_pass():
    table, summary = _tables()
    changes = bf16_changes(table, summary, "m", bootstrap=200)
    assert len(changes) == 4 * 6  # 4 points × (3 position + 3 SCS statistics)
    assert np.all(changes[["change_pct_crlb", "low_pct_crlb", "high_pct_crlb", "moved_pct_crlb"]].to_numpy() == 0)
    verdict = bf16_verdict(changes, weights_sha256="ab", preset="quick", realisations=REALISATIONS)
    assert verdict["passed"] and verdict["largest_pct_crlb"] == 0 and verdict["weights_sha256"] == "ab"
    assert verdict["doses_e_per_A2"] == [500.0, 5e4] and verdict["atoms_per_column"] == [2, 10]


def test_a_shifted_scs_is_measured_exactly_and_fails_beyond_the_bound():
    shift = 2 * BOUND_PCT_CRLB  # a constant SCS offset of 10 % of the CRLB at the high dose only
    table, summary = _tables(shift_scs_pct_crlb=shift)
    changes = bf16_changes(table, summary, "m", bootstrap=200)
    high = changes[(changes["dose_e_per_A2"] == 5e4) & (changes["quantity"] == "scs")].set_index(
        ["atoms_per_column", "statistic"])
    # a constant offset moves every realisation alike: the signed bias by exactly the offset (the interval too),
    # the precision not at all, every fit by the offset
    np.testing.assert_allclose(high.xs("signed_bias", level=1)[["change_pct_crlb", "low_pct_crlb", "high_pct_crlb"]],
                               shift, rtol=1e-9)
    np.testing.assert_allclose(high.xs("precision", level=1)["change_pct_crlb"], 0.0, atol=1e-9)
    np.testing.assert_allclose(high["moved_pct_crlb"], shift, rtol=1e-9)
    verdict = bf16_verdict(changes, weights_sha256="ab", preset="quick", realisations=REALISATIONS)
    assert not verdict["passed"] and "scs" in verdict["largest_at"] and "50000" in verdict["largest_at"]
    assert "scs signed_bias +10.00" not in changes_text(changes)  # printed as 'scs bias'
    assert "scs bias +10.00 [+10.00, +10.00]" in changes_text(changes)


@pytest.mark.parametrize("jitter, passed", [(1.0, True), (40.0, False)])
def test_random_rounding_passes_when_small_and_fails_when_the_interval_leaves_the_bound(jitter, passed):
    # independent per-fit jitter of 1 % of the CRLB changes the precision by ≈ 0.01 % (added in quadrature);
    # 40 % changes it by √(1 + 0.4²) − 1 ≈ 8 %, beyond the bound
    table, summary = _tables(jitter_pct_crlb=jitter, seed=1)
    changes = bf16_changes(table, summary, "m", bootstrap=400)
    largest, row = largest_change(changes)
    verdict = bf16_verdict(changes, weights_sha256="ab", preset="quick", realisations=REALISATIONS)
    assert verdict["passed"] is passed and verdict["largest_pct_crlb"] == pytest.approx(largest, abs=1e-3)
    assert verdict["flag_changed_pct"] == 0


def test_a_path_that_flags_other_fits_fails_even_when_the_statistics_are_within_the_bound():
    # bf16 flags one column of 12 (8.3 % of fits) that fp32 kept; the remaining fits are identical, so the
    # statistics change only by leaving that column out (a few % of the CRLB: judged against a loose bound here)
    table, summary = _tables(flag_columns=1)
    changes = bf16_changes(table, summary, "m", bootstrap=200)
    np.testing.assert_allclose(changes["flag_changed_pct"], 100 / COLUMNS)
    loose = 50.0
    verdict = bf16_verdict(changes, weights_sha256="ab", preset="quick", realisations=REALISATIONS,
                           bound_pct_crlb=loose)
    assert verdict["largest_pct_crlb"] < loose and not verdict["passed"]
    assert verdict["flag_changed_pct"] == pytest.approx(100 / COLUMNS, abs=1e-3)
    assert "flagged by one path only 8.3 % of fits" in changes_text(changes)


def test_missing_paths_and_mismatched_runs_are_refused():
    table, summary = _tables()
    with pytest.raises(ValueError, match=r"m\+bf16 has no results here.*--methods m\+fp32,m\+bf16"):
        bf16_changes(table[table["method"] == "m+fp32"], summary, "m")
    with pytest.raises(ValueError, match="different doses"):
        bf16_changes(table[(table["method"] == "m+fp32") | (table["dose_e_per_A2"] == 500.0)], summary, "m")
    with pytest.raises(ValueError, match="no CRLB"):
        bf16_changes(table, summary[summary["atoms_per_column"] == 2], "m")
    with pytest.raises(ValueError, match="empty"):
        bf16_verdict(bf16_changes(table, summary, "m").iloc[:0], weights_sha256="ab", preset="q", realisations=1)
