"""What a reader must know from the report: model cards, anomalies, estimator, readable figures."""
import copy

import numpy as np
import pytest
from matplotlib.legend import Legend

from reports.figures import bias_figure, load_results, precision_figure
from reports.html import anomalies, model_card_summary, render_html


@pytest.fixture
def results(tiny_run):
    return copy.deepcopy(load_results(tiny_run))


def test_a_cnn_method_shows_its_model_card_summary_and_link(results):
    from bench.methods import cnn_method

    method = cnn_method("cgrdn.hrstem_default").provenance()
    card = model_card_summary(method)
    assert card["status"] == "provisional"
    assert card["parameters"] == 1_446_961
    assert card["steps"] == 11_448 and card["cpu_hours"] > 19  # the lineage's, not its last run's 300 steps
    assert card["card"].name == "model_card_hrstem_default.md" and card["card"].is_file()
    results["manifest"]["methods"].append(method)
    text = render_html(results, {})
    assert "cgrdn.hrstem_default" in text and "provisional" in text and "1,446,961 parameters" in text
    assert f'href="{card["card"].resolve().as_uri()}"' in text
    assert "11448 training steps (9.9 h)" in text and "19.8 CPU core-hours, 0.0 GPU hours" in text


def test_a_lineage_without_its_ancestors_compute_shows_the_last_run_alone(tmp_path):
    import json
    import shutil
    from pathlib import Path

    from bench.methods import cnn_method

    method = cnn_method("cgrdn.hrstem_default").provenance()
    weights = tmp_path / "cgrdn.partial.safetensors"
    shutil.copy(method["weights"], weights)
    sidecar = json.loads(Path(method["weights"]).with_suffix(".json").read_text())
    sidecar["lineage"]["compute_of_ancestors_recorded"] = False
    weights.with_suffix(".json").write_text(json.dumps(sidecar))
    card = model_card_summary({**method, "name": "cgrdn.partial", "weights": str(weights)})
    assert card["steps"] == sidecar["steps"] == 300 and card["wall_time_s"] == sidecar["wall_time_s"]
    assert card["cpu_hours"] is None and card["gpu_hours"] is None


def test_a_forced_numeric_path_keeps_the_model_card():
    from bench.methods import cnn_method

    for spec in ("cgrdn.hrstem_default+bf16", "cgrdn.hrstem_default+fp32"):
        card = model_card_summary(cnn_method(spec).provenance())
        assert card["card"] is not None and card["card"].name == "model_card_hrstem_default.md"
        assert card["status"] == "provisional"


def test_points_with_many_flagged_fits_or_a_precision_above_100_percent_are_flagged(results):
    summary = results["tables"]["summary"]
    row = summary.index[(summary["method"] == "bm3d") & (summary["dose_e_per_A2"] == 500.0)][0]
    summary.loc[row, ["scs_precision_pct", "flagged_fraction"]] = [548.0, 0.6]
    found = anomalies(summary)
    assert len(found) == 1 and "bm3d" in found[0] and "548 %" in found[0] and "60 % of the fits flagged" in found[0]
    text = render_html(results, {})
    assert "Points to read with care" in text and "548 %" in text
    assert text.count("class='anomaly'") == 1  # the table row is marked too


def test_clean_results_raise_no_anomaly(results):
    summary = results["tables"]["summary"]
    summary["flagged_fraction"] = 0.0
    summary["scs_precision_pct"] = np.minimum(summary["scs_precision_pct"], 99.0)
    assert anomalies(summary) == []
    assert "Points to read with care" not in render_html(results, {})


def test_the_estimator_and_the_run_status_are_shown_and_provenance_is_collapsed(results):
    results["manifest"]["estimator"] = "poisson"
    text = render_html(results, {})
    assert "Poisson maximum likelihood" in text
    assert "<details><summary>Provenance" in text and "</pre></details>" in text
    del results["manifest"]["estimator"]  # results written before the option existed: the config says it
    assert "least squares" in render_html(results, {})


def _draw(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def test_legends_cover_no_axes_and_log_labels_are_plain_numbers(results):
    summary = results["tables"]["summary"]
    for figure in (precision_figure(summary, "position"), precision_figure(summary, "scs"), bias_figure(summary)):
        renderer = _draw(figure)
        legends = [a for a in figure.findobj(Legend)]
        assert legends, "a legend is drawn"
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for ax in figure.axes:
                assert not box.overlaps(ax.get_window_extent(renderer)), "a legend covers a panel"
        for ax in figure.axes:
            if ax.get_yscale() == "log":
                labels = [t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels()]
                assert not any("times" in t or "×" in t for t in labels), labels


def test_the_study_figures_keep_their_legends_off_the_panels(tmp_path):
    import pandas as pd

    from reports.study_figures import counting_figure, dislocation_figure

    rows = []
    for method in ("raw", "bm3d"):
        for dose in (5e2, 5e3, 5e4, 5e5):
            for region in ("core", "all"):
                row = {"method": method, "dose_e_per_A2": dose, "region": region}
                for stem, unit, value in (("position_mae", "pm", 30.0), ("scs_mpe", "pct", 8.0)):
                    row.update({f"{stem}_{unit}": value, f"{stem}_low_{unit}": value * 0.9,
                                f"{stem}_high_{unit}": value * 1.1})
                for counter in ("library", "gmm"):
                    row.update({f"correct_{counter}_fraction": 0.5, f"correct_{counter}_low_fraction": 0.4,
                                f"correct_{counter}_high_fraction": 0.6})
                rows.append(row)
    table = pd.DataFrame(rows)
    for figure in (dislocation_figure(table), counting_figure(table[table["region"] == "all"])):
        renderer = _draw(figure)
        for legend in figure.findobj(Legend):
            for ax in figure.axes:
                assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
