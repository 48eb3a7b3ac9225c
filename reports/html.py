"""One self-contained HTML report of a results directory: figures (embedded PNG), tables and provenance.

The report is a single file with no external references (images are base64 data URIs), so it can be
mailed or archived as it is. It is built from the stored tables only.
"""
from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from pathlib import Path

from reports.figures import load_results, write_figures

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; font-size: 0.8em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #eee; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 1em; font-size: 0.8em; overflow-x: auto; }
.note { background: #fff6d5; padding: 0.5em 1em; }
"""

DISLOCATION_COLUMNS = [
    ("method", "method"), ("dose_e_per_A2", "dose [e⁻/Å²]"), ("region", "columns"), ("columns", "n"),
    ("position_mae_pm", "position MAE [pm]"), ("position_mae_low_pm", "95 % low"),
    ("position_mae_high_pm", "95 % high"), ("scs_mpe_pct", "SCS MPE [%]"), ("scs_mpe_low_pct", "95 % low"),
    ("scs_mpe_high_pct", "95 % high"), ("flagged_fraction", "flagged"),
]

COUNTING_COLUMNS = [
    ("method", "method"), ("dose_e_per_A2", "dose [e⁻/Å²]"), ("columns", "n"),
    ("correct_library_fraction", "correct (library)"), ("correct_library_low_fraction", "95 % low"),
    ("correct_library_high_fraction", "95 % high"),
    ("correct_library_noise_free_fraction", "correct (library, noise-free)"),
    ("correct_gmm_fraction", "correct (GMM/ICL)"),
    ("correct_gmm_low_fraction", "95 % low"), ("correct_gmm_high_fraction", "95 % high"),
    ("position_mae_pm", "position MAE [pm]"), ("scs_mpe_pct", "SCS MPE [%]"), ("flagged_fraction", "flagged"),
]

DENOISE_COLUMNS = [
    ("method", "method"), ("modality", "modality"), ("images", "images"), ("psnr_db", "PSNR [dB]"),
    ("psnr_db_low", "95 % low"), ("psnr_db_high", "95 % high"), ("ssim", "SSIM"), ("ssim_low", "95 % low"),
    ("ssim_high", "95 % high"),
]

SUMMARY_COLUMNS = [
    ("method", "method"), ("dose_e_per_A2", "dose [e⁻/Å²]"), ("atoms_per_column", "atoms"),
    ("position_precision_pm", "pos. precision [pm]"), ("position_precision_low_pm", "95 % low"),
    ("position_precision_high_pm", "95 % high"), ("position_bias_pm", "pos. bias [pm]"),
    ("position_rmse_pm", "pos. RMSE [pm]"), ("crlb_position_pm", "pos. CRLB [pm]"),
    ("scs_precision_pct", "SCS precision [%]"), ("scs_precision_low_pct", "95 % low"),
    ("scs_precision_high_pct", "95 % high"), ("scs_bias_pct", "SCS bias [%]"), ("scs_rmse_pct", "SCS RMSE [%]"),
    ("crlb_scs_pct", "SCS CRLB [%]"), ("flagged_fraction", "flagged"),
]


def _image_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame, columns) -> str:
    present = [(key, label) for key, label in columns if key in frame.columns]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in present)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for key, _ in present:
            value = row[key]
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(results: dict, figures: dict[str, list[Path]]) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    manifest = results["manifest"]
    summary = results["tables"]["summary"]
    title = f"bench report — {manifest.get('study')} ({manifest.get('preset', '')})"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for note in manifest.get("notes", []):
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    denoise = manifest.get("study") == "denoise"
    dislocation = manifest.get("study") == "dislocation"
    counting = manifest.get("study") == "atom-counting"
    if counting:
        parts.append("<p>Fraction of correctly counted columns (library matching with the same estimator, and a "
                     "Gaussian mixture with the ICL criterion), position MAE and SCS MPE, with percentile-bootstrap "
                     "95 % intervals over realisations.</p>")
    elif dislocation:
        parts.append("<p>Mean absolute position error against the true column positions and mean absolute "
                     "percentage SCS error against the noise-free fit, for the core columns and all columns, "
                     "with percentile-bootstrap 95 % intervals over realisations (flagged fits included).</p>")
    elif denoise:
        parts.append("<p>Mean PSNR and SSIM over the fixed synthetic validation pairs (data range max − min of "
                     "the clean image), with percentile-bootstrap 95 % intervals over images.</p>")
    else:
        parts.append(
            "<p>Precision is the standard deviation over noise realisations (95 % chi-square interval); bias and "
            "RMSE have basic bootstrap intervals. The CRLB is the Poisson bound of the raw data: a restored "
            "estimate below it is only possible through bias, shown beside it. Ground truth: true column "
            "positions; SCS from the same estimator on the noise-free image.</p>")
    captions = {
        "precision_positions": "Position precision (markers, 95 % CI), RMSE (dashed) and CRLB (black) vs thickness",
        "precision_scs": "SCS precision (markers, 95 % CI), RMSE (dashed) and CRLB (black) vs thickness",
        "bias": "Position bias (top) and signed SCS bias (bottom) vs thickness",
        "scores": "PSNR (top) and SSIM (bottom) per method and modality, 95 % CI",
        "counting": "Correctly counted fraction, position MAE and SCS MPE vs dose",
        "dislocation_errors": "Position MAE and SCS MPE vs dose: core columns (solid) and all columns (dashed)",
        "examples": "Example images of each method",
    }
    for name, paths in figures.items():
        caption = captions.get(name, f"Example images ({name.split('_t')[-1].lstrip('0')} atoms per column)")
        parts.append(f"<h2>{html.escape(caption)}</h2>{_image_tag(paths[0], caption)}")
    columns = (COUNTING_COLUMNS if counting else DISLOCATION_COLUMNS if dislocation
               else DENOISE_COLUMNS if denoise else SUMMARY_COLUMNS)
    parts.append("<h2>Summary</h2>" + _table(summary, columns))
    provenance = {key: manifest.get(key) for key in ("study", "preset", "config", "config_hash", "methods", "seeds",
                                                      "versions", "hardware", "scheduler", "wall_time_s",
                                                      "last_run_wall_time_s", "created", "status", "command",
                                                      "thickness_series")}
    parts.append("<h2>Provenance</h2><pre>" + html.escape(json.dumps(provenance, indent=2, sort_keys=True,
                                                                      default=str)) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(directory: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """Write the figures (PNG, PDF) and ``report.html`` of a results directory.

    Parameters
    ----------
    directory : path
        A results directory written by ``bench run``.
    out_dir : path, optional
        Where to write (default ``DIRECTORY/report``).

    Returns
    -------
    Path
        The HTML file.

    Raises
    ------
    FileNotFoundError
        If the directory holds no finished study.
    """
    results = load_results(directory)
    out = Path(out_dir) if out_dir else Path(directory) / "report"
    figures = write_figures(directory, out)
    text = render_html(results, figures)
    path = out / "report.html"
    handle, temporary = tempfile.mkstemp(dir=out, prefix=".report.html.", suffix=".tmp")
    with os.fdopen(handle, "wb") as stream:
        stream.write(text.encode("utf-8"))
    os.replace(temporary, path)
    return path
