import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D

from bench.studies.precision_vs_dose import STUDY
from reports.figures import load_results, plot_metric_vs_thickness, write_figures
from reports.plotting import plot_image


def test_precision_plot_draws_each_method_with_intervals_and_the_crlb(tiny_run):
    summary = pd.read_parquet(tiny_run / "summary.parquet")
    ax = Figure().subplots()
    artists = plot_metric_vs_thickness(ax, summary, "position", 500.0, show_rmse=True)
    bars = [a for a in artists if isinstance(a, ErrorbarContainer)]
    lines = [a for a in artists if isinstance(a, Line2D)]
    assert len(bars) == 2  # raw and bm3d with their 95 % intervals
    assert [line.get_label() for line in lines].count("CRLB (raw data)") == 1
    assert len(lines) == 3  # two RMSE lines and the CRLB
    assert ax.get_yscale() == "log"


def test_plot_rejects_unknown_quantities_and_doses(tiny_run):
    summary = pd.read_parquet(tiny_run / "summary.parquet")
    ax = Figure().subplots()
    with pytest.raises(ValueError, match="quantity"):
        plot_metric_vs_thickness(ax, summary, "width", 500.0)
    with pytest.raises(ValueError, match="not in the table"):
        plot_metric_vs_thickness(ax, summary, "scs", 123.0)


def test_image_panel_returns_its_image(tiny_run):
    examples = load_results(tiny_run)["examples"]
    key = examples["index"][0]["key"]
    artist = plot_image(Figure().subplots(), examples["images"][key], "noise-free", pixel_size_A=0.2)
    assert isinstance(artist, AxesImage)
    assert artist.get_array().shape == examples["images"][key].shape


def test_figures_are_written_as_png_and_pdf(tiny_run, tmp_path):
    written = write_figures(tiny_run, tmp_path, STUDY.report)
    assert {"precision_positions", "precision_scs", "bias", "examples_t004"} <= set(written)
    assert write_figures(tiny_run, tmp_path / "generic") == {}  # a study without a report spec: no figures
    for caption, paths in written.values():
        assert caption
        assert [p.suffix for p in paths] == [".png", ".pdf"]
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert paths[1].read_bytes()[:5] == b"%PDF-"
