"""One self-contained HTML report of a results directory: figures (embedded PNG), tables and provenance.

The report is a single file with no external references (images are base64 data URIs), so it can be
mailed or archived as it is. It is built from the stored tables and the manifest; the only things read
besides are the sidecars of the CNN checkpoints that made the numbers (when they are still where the
manifest says, with the same SHA-256) and their model cards in ``docs/``, for the card summary shown
beside the results. Points that a reader must not take at face value — a precision above 100 % or
more than ``FLAGGED_LIMIT`` of the fits flagged — are listed at the top and marked in the table.
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path

import numpy as np

from _shared.files import write_text_atomic
from _shared.model_spec import split_numeric
from _shared.sidecar import read_sidecar
from reports.figures import load_results, write_figures
from reports.plotting import dose_text
from reports.spec import GENERIC, ReportSpec

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; font-size: 0.8em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #eee; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 1em; font-size: 0.8em; overflow-x: auto; }
.note { background: #fff6d5; padding: 0.5em 1em; }
.warn { background: #fde2e1; padding: 0.5em 1em; }
tr.anomaly td { background: #fde2e1; }
.card { border-left: 4px solid #888; padding: 0.2em 1em; margin: 0.5em 0; }
summary { cursor: pointer; font-weight: bold; }
"""

FLAGGED_LIMIT = 0.10  # a point with a larger fraction of flagged fits is listed as an anomaly
PRECISION_LIMIT_PCT = 100.0  # an SCS precision (or error) above this is no measurement
ESTIMATORS = {"least_squares": "least squares (StatSTEM's estimator)",
              "poisson": "Poisson maximum likelihood (for count images)"}
DOCS = Path(__file__).resolve().parents[1] / "docs"

def _image_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame, columns, marked=(), daggered=frozenset()) -> str:
    present = [(key, label) for key, label in columns if key in frame.columns]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in present)
    body = []
    for index, row in frame.iterrows():
        cells = []
        for key, _ in present:
            value = row[key]
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            if key == "method" and value in daggered:
                text += " †"
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append(("<tr class='anomaly'>" if index in marked else "<tr>") + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _anomalous_rows(summary) -> dict:
    """Row index -> reasons, for rows with too many flagged fits or a precision/error above 100 %."""
    found: dict = {}
    for index, row in summary.iterrows():
        reasons = []
        for column, label in (("scs_precision_pct", "SCS precision"), ("scs_mpe_pct", "SCS MPE")):
            value = row.get(column)
            if value is not None and np.isfinite(value) and value > PRECISION_LIMIT_PCT:
                reasons.append(f"{label} {value:.0f} % (> {PRECISION_LIMIT_PCT:.0f} %)")
        flagged = row.get("flagged_fraction")
        if flagged is not None and np.isfinite(flagged) and flagged > FLAGGED_LIMIT:
            reasons.append(f"{flagged:.0%} of the fits flagged (> {FLAGGED_LIMIT:.0%})".replace("%", " %"))
        if reasons:
            found[index] = reasons
    return found


def _point(row) -> str:
    parts = [str(row["method"])]
    if "dose_e_per_A2" in row:
        parts.append(f"{dose_text(row['dose_e_per_A2'])} e⁻/Å²")
    if "atoms_per_column" in row:
        parts.append(f"{int(row['atoms_per_column'])} atoms per column")
    if "region" in row:
        parts.append(f"{row['region']} columns")
    return ", ".join(parts)


def anomalies(summary) -> list[str]:
    """List the summary rows whose numbers must not be read at face value, one sentence each.

    A row is listed when more than :data:`FLAGGED_LIMIT` of its fits are flagged (not converged, negative
    height, left the cell) or its SCS precision or MPE exceeds :data:`PRECISION_LIMIT_PCT` — the estimator
    or the restoration has then left the range where the numbers measure what their names say.

    Parameters
    ----------
    summary : pandas.DataFrame
        The study's ``summary`` table (``scs_precision_pct``, ``scs_mpe_pct`` and ``flagged_fraction``
        are read where present).

    Returns
    -------
    list of str
        ``"POINT: REASONS"`` in table order, the point named by the row's method and, where the table has
        them, its dose, thickness and region; empty when no row is anomalous.
    """
    rows = _anomalous_rows(summary)
    return [f"{_point(summary.loc[index])}: {'; '.join(reasons)}" for index, reasons in rows.items()]


def model_card_summary(method: dict) -> dict:
    """Collect what the report says about a CNN method: parameters, training, status and its model card.

    The checkpoint's sidecar is read when the weights file is still there with the SHA-256 the manifest
    recorded; the status is the ``Status:`` line of ``docs/model_card_TAG.md`` when the card exists (else
    "interim" when the sidecar's notes say so).

    Parameters
    ----------
    method : dict
        The method's provenance from the manifest (``name`` as ``KIND.TAG``, ``weights``, ``sha256``,
        ``modality``).

    Returns
    -------
    dict
        ``name``, ``status`` (lower case, or None), ``parameters``, ``steps`` and ``wall_time_s`` (of the
        whole lineage for weights trained from other weights), ``cpu_hours`` and ``gpu_hours`` (the
        lineage's; None without one, or when it lacks its ancestors' compute), ``hardware``, ``modality``,
        ``validation`` (dict), ``source``, ``notes`` (str), ``card`` (pathlib.Path of the model card, or
        None) and ``sha256``; sidecar entries are None when the sidecar was not read.
    """
    name = str(method.get("name", ""))
    try:
        registered = split_numeric(name)[0]  # `+bf16`/`+fp32` runs of a model share its card
    except ValueError:
        registered = name
    card = DOCS / f"model_card_{registered.split('.', 1)[-1]}.md" if "." in registered else None
    sidecar: dict = {}
    weights = method.get("weights")
    if weights and Path(weights).is_file():
        try:
            candidate = read_sidecar(Path(weights))
        except (ValueError, OSError):
            candidate = {}
        if candidate.get("sha256") == method.get("sha256"):
            sidecar = candidate
    status = None
    if card is not None and card.is_file():
        match = re.search(r"\*\*Status:\s*([^*.]+)\.?\*\*", card.read_text())
        status = match.group(1).strip().lower() if match else None
    else:
        card = None
    notes = str(sidecar.get("notes", ""))
    if status is None and "interim" in notes.lower():
        status = "interim"
    # a model trained in chunks from other weights (--init-from) counts its whole lineage, not its last run, when
    # the lineage recorded its ancestors' compute; otherwise the card states what the last run alone recorded
    lineage = sidecar.get("lineage") or {}
    whole = (all(lineage.get(key) is not None for key in ("steps", "wall_s", "cpu_hours", "gpu_hours"))
             and lineage.get("compute_of_ancestors_recorded", True))
    return {"name": name, "status": status, "parameters": sidecar.get("parameters"),
            "steps": lineage["steps"] if whole else sidecar.get("steps"),
            "wall_time_s": lineage["wall_s"] if whole else sidecar.get("wall_time_s"),
            "cpu_hours": lineage["cpu_hours"] if whole else None,
            "gpu_hours": lineage["gpu_hours"] if whole else None,
            "hardware": sidecar.get("hardware"), "modality": sidecar.get("modality") or method.get("modality"),
            "validation": sidecar.get("validation") or {}, "source": sidecar.get("source"),
            "notes": notes, "card": card, "sha256": method.get("sha256")}


def _card_html(card: dict) -> str:
    facts = []
    if card["parameters"]:
        facts.append(f"{card['parameters']:,} parameters")
    if card["steps"]:
        wall = float(card["wall_time_s"] or 0)
        took = f" ({wall / 3600:.1f} h)" if wall >= 3600 else f" ({wall / 60:.0f} min)" if wall else ""
        facts.append(f"{card['steps']} training steps{took}")
    if card["cpu_hours"] or card["gpu_hours"]:
        facts.append(f"{card['cpu_hours'] or 0:.1f} CPU core-hours, {card['gpu_hours'] or 0:.1f} GPU hours")
    if card["modality"]:
        facts.append(f"modality {card['modality']}")
    validation = card["validation"]
    if "psnr_db" in validation:
        facts.append(f"validation PSNR {validation['psnr_db']:.1f} dB, SSIM {validation.get('ssim', float('nan')):.3f}")
    if card["source"]:
        facts.append(f"source: {card['source']}")
    status = card["status"] or "no status recorded"
    parts = [f"<div class='card'><b>{html.escape(card['name'])}</b> — status: <b>{html.escape(status)}</b>"]
    if facts:
        parts.append("; " + html.escape("; ".join(facts)))
    if card["notes"]:
        parts.append(f"<br>{html.escape(card['notes'])}")
    if card["card"] is not None:
        uri = card["card"].resolve().as_uri()
        parts.append(f"<br>Model card: <a href=\"{uri}\">docs/{html.escape(card['card'].name)}</a>")
    else:
        parts.append("<br>No model card in docs/: read the checkpoint's sidecar for how it was trained.")
    return "".join(parts) + "</div>"


TRAINED_ON_TEST_DATA = ("† trained on the very images it restores (as a user would): its gains are not comparable "
                        "to those of a model that never saw the test data.")
NEEDS_TEXT = {"same_field": "pairs of its noisy frames of one field", "high_dose": "high-dose frames"}


def _self_supervised_html(methods: list[dict], offered: dict) -> str:
    """What each self-supervised method saw: its description, and the study's frames where it needed them."""
    items = []
    for method in methods:
        text = f"{method.get('name')}: {method.get('description', '')}"
        for need in method.get("needs", []):
            if need in offered:
                text += f"; {NEEDS_TEXT.get(need, need)}: {offered[need]}"
        if method.get("trains_on_restored_images"):
            text += " †"
        items.append(f"<li>{html.escape(text)}</li>")
    return ("<h2>Self-supervised methods</h2><p>One network per study point, trained during the run with the "
            "preset's budget (<code>training_budget</code> in the provenance); no method sees a noise-free image."
            f"</p><ul>{''.join(items)}</ul><p class='note'>{html.escape(TRAINED_ON_TEST_DATA)}</p>")


def _run_facts(manifest: dict, spec: ReportSpec) -> str:
    config = manifest.get("config") or {}
    estimator = manifest.get("estimator") or config.get("estimator")
    facts = []
    if estimator or spec.fits_columns:
        facts.append(f"Columns fitted by {ESTIMATORS.get(estimator or 'least_squares', estimator)}.")
    runs = manifest.get("runs") or []
    if manifest.get("status"):
        facts.append(f"Run status: {manifest['status']}" + (f", {len(runs)} segment(s): " + ", ".join(
            f"{r.get('status')} {r.get('wall_time_s', 0):.0f} s" for r in runs) if runs else "") + ".")
    return f"<p>{html.escape(' '.join(facts))}</p>" if facts else ""


def render_html(results: dict, figures: dict[str, tuple[str, list[Path]]], spec: ReportSpec = GENERIC) -> str:
    """The report as an HTML string (see :func:`write_report`).

    Parameters
    ----------
    results : dict
        :func:`reports.figures.load_results` of the results directory.
    figures : dict
        Figure name -> (caption, [png path, …]) as :func:`reports.figures.write_figures` returns it.
    spec : ReportSpec
        The study's report: introduction and summary columns.

    Returns
    -------
    str
    """
    manifest = results["manifest"]
    summary = results["tables"]["summary"]
    title = f"bench report — {manifest.get('study')} ({manifest.get('preset', '')})"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for note in manifest.get("notes", []):
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    parts.append(_run_facts(manifest, spec))
    marked = _anomalous_rows(summary)
    if marked:
        items = "".join(f"<li>{html.escape(text)}</li>" for text in anomalies(summary))
        parts.append("<div class='warn'><b>Points to read with care</b> (marked in the summary table): the "
                     "method or the estimator has left the range where these numbers mean what their names say "
                     f"(e.g. BM3D's variance-stabilising transform below ≈ 1 count per pixel, docs/studies.md)."
                     f"<ul>{items}</ul></div>")
    cnn = [m for m in manifest.get("methods", []) if m.get("kind") == "cnn"]
    if cnn:
        parts.append("<h2>Models</h2>" + "".join(_card_html(model_card_summary(m)) for m in cnn))
    learned = [m for m in manifest.get("methods", []) if m.get("kind") == "self_supervised"]
    if learned:
        parts.append(_self_supervised_html(learned, manifest.get("training_data") or {}))
    if spec.intro:
        parts.append(f"<p>{html.escape(spec.intro)}</p>")
    for caption, paths in figures.values():
        parts.append(f"<h2>{html.escape(caption)}</h2>{_image_tag(paths[0], caption)}")
    columns = spec.columns or tuple((column, column) for column in summary.columns)
    daggered = frozenset(m["name"] for m in learned if m.get("trains_on_restored_images"))
    parts.append("<h2>Summary</h2>")
    if daggered:
        parts.append(f"<p class='note'>{html.escape(TRAINED_ON_TEST_DATA)}</p>")
    parts.append(_table(summary, columns, marked, daggered))
    provenance = {key: manifest.get(key) for key in ("study", "preset", "config", "config_hash", "methods", "seeds",
                                                      "versions", "hardware", "scheduler", "wall_time_s",
                                                      "last_run_wall_time_s", "created", "status", "command",
                                                      "thickness_series", "estimator", "runs", "training_data",
                                                      "training_budget", "frames")}
    parts.append("<details><summary>Provenance (configuration, versions, hardware, seeds, run segments)</summary>"
                 "<pre>" + html.escape(json.dumps(provenance, indent=2, sort_keys=True, default=str))
                 + "</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(directory: str | os.PathLike, spec: ReportSpec = GENERIC,
                 out_dir: str | os.PathLike | None = None) -> Path:
    """Write the figures (PNG, PDF) and ``report.html`` of a results directory.

    Parameters
    ----------
    directory : path
        A results directory written by ``bench run``.
    spec : ReportSpec
        The study's report (``bench`` passes the registered study's; the generic one shows every summary
        column and no figures).
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
    figures = write_figures(directory, out, spec)
    text = render_html(results, figures, spec)
    path = out / "report.html"
    write_text_atomic(path, text)
    return path
