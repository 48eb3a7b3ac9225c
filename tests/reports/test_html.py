import re

import pandas as pd

from reports.html import render_html


def test_report_is_one_self_contained_html_file_with_tables_and_provenance(tiny_run):
    path = tiny_run / "report" / "report.html"  # `bench run` writes the report at the end
    text = path.read_text()
    assert path.name == "report.html"
    assert text.count("data:image/png;base64,") >= 4
    assert not re.search(r'src="(?!data:)', text)  # nothing loaded from elsewhere
    assert "<table>" in text and "pos. CRLB [pm]" in text
    assert "config_hash" in text and "pt001-haadf-coarse" in text
    assert (tiny_run / "report" / "precision_positions.pdf").exists()


def test_render_html_lists_notes_and_every_figure(tiny_run):
    from reports.figures import load_results

    results = load_results(tiny_run)
    results["manifest"]["notes"] = ["the default model is not available"]
    figures = {"precision_positions": ("Position precision", [tiny_run / "report" / "precision_positions.png"])}
    text = render_html(results, figures)
    assert "the default model is not available" in text and text.count("data:image/png") == 1
    assert "<h2>Position precision</h2>" in text


def test_a_method_trained_on_the_images_it_restores_is_marked_and_says_what_it_saw(tiny_run):
    from bench.methods import make_method
    from reports.figures import load_results

    results = load_results(tiny_run)
    summary = results["tables"]["summary"]
    raw = summary[summary["method"] == "raw"]
    results["tables"]["summary"] = pd.concat([summary, raw.assign(method="n2v2"), raw.assign(method="hourglass")])
    results["manifest"]["methods"] += [make_method("n2v2").provenance(), make_method("hourglass").provenance()]
    results["manifest"]["training_data"] = {"high_dose": "frames of the 4- and 6-atom fields"}
    text = render_html(results, {})
    assert "<h2>Self-supervised methods</h2>" in text and "frames of the 4- and 6-atom fields" in text
    assert "<td>n2v2 †</td>" in text  # trained on the very images it restores
    assert "<td>hourglass</td>" in text  # trained on other fields only: no mark
    assert "not comparable to those of a model that never saw the test data" in text
