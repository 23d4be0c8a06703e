"""The run report: `report.json` for machines, `report.html` for people.

The page is one self-contained file (no scripts, no network): summary, sets, the classifier's
training and held-out figures with a confusion matrix per labelled set, the plots (inline SVG,
plots.py), photos per label, skipped files, the files the run wrote, and time per stage. Every
label is HTML text, so the reader's browser renders any script.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.report.plots import LabelStyle, label_styles, projection_svg, variance_svg

MATRIX_TABLE_LABELS = 30
"""Confusion matrices up to this many labels are drawn as a table; larger ones as their worst cells."""
TOP_CONFUSIONS = 25
IGNORED_SHOWN = 200
"""Ignored files named on the page (report.json names them all)."""
STYLE = """body{font-family:system-ui,sans-serif;max-width:64em;margin:1em auto;padding:0 1em;line-height:1.4}
h1,h2,h3,p,li,summary,code,.long{overflow-wrap:anywhere} .scroll{overflow-x:auto;max-width:100%}
td,th{padding:2px 8px;text-align:left;vertical-align:bottom}
svg,img{max-width:100%;height:auto} .legend{columns:14em;list-style:none;padding:0;font-size:90%}
.legend svg{vertical-align:middle} .n{color:#666} .bars td:last-child{width:60%}
.bar{background:#4c78a8;height:0.9em} .matrix td{text-align:right} .matrix td span{display:block;padding:0 4px}
.v{writing-mode:vertical-rl;white-space:nowrap} @supports (writing-mode:sideways-lr){.v{writing-mode:sideways-lr}}"""
"""The page fits a phone (390 px): text and long values (paths, digests: `code`, `.long`) wrap
anywhere rather than widen the page, and every table scrolls sideways inside its own box."""


def to_json(report: dict[str, Any]) -> bytes:
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False).encode("utf-8")


def files_written(listing: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """One entry per file or folder at the top of the run directory: its files and bytes."""
    grouped: dict[str, list[int]] = {}
    for path, size in listing:
        top, slash, _ = path.partition("/")
        totals = grouped.setdefault(top + slash, [0, 0])
        totals[0] += 1
        totals[1] += size
    return [{"path": path, "files": files, "bytes": size} for path, (files, size) in sorted(grouped.items())]


@dataclass(frozen=True)
class Figures:
    variance: str
    projection: str
    styles: list[LabelStyle]


def render_plots(report: dict[str, Any], points: pd.DataFrame) -> Figures:
    """The two plots as inline SVG: cumulative explained variance, and `points` (label, pc_1, pc_2)."""
    pca = report["pca"]
    styles = label_styles(points["label"].value_counts().to_dict())
    return Figures(
        variance_svg(pca["spectrum"], pca["k"], pca.get("variance_target")),
        projection_svg(points, styles),
        styles,
    )


def _e(value: Any) -> str:
    return html.escape(str(value))


def _long(value: Any) -> str:
    """A value without spaces (a path) that may break anywhere, so that its table cell fits a phone."""
    return f"<span class='long'>{_e(value)}</span>"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def _table(header: list[str], rows: list[list[str]], css: str = "") -> str:
    """A table of already-escaped cells, scrollable sideways on narrow screens."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<div class='scroll'><table class='{css}'><tr>{head}</tr>{body}</table></div>"


_SWATCHES = {
    "o": "<circle cx='6' cy='6' r='4.5' fill='{c}'/>",
    "s": "<rect x='1.5' y='1.5' width='9' height='9' fill='{c}'/>",
    "^": "<polygon points='6,1 11,10.5 1,10.5' fill='{c}'/>",
    "D": "<polygon points='6,0.5 11.5,6 6,11.5 0.5,6' fill='{c}'/>",
    "v": "<polygon points='1,1.5 11,1.5 6,11' fill='{c}'/>",
    "X": "<path d='M2 2L10 10M10 2L2 10' stroke='{c}' stroke-width='3'/>",
}


def _legend(styles: list[LabelStyle]) -> str:
    items = []
    for style in styles:
        shape = _SWATCHES[style.marker].format(c=style.colour)
        swatch = f"<svg width='12' height='12' aria-hidden='true'>{shape}</svg>"
        name = _e(style.label) if style.label else "<i>every other label</i>"
        items.append(f"<li>{swatch} {name} <span class='n'>({style.points})</span></li>")
    return f"<ul class='legend'>{''.join(items)}</ul>"


def _bars(per_label: dict[str, int]) -> str:
    most = max(per_label.values(), default=1) or 1
    rows = [
        [_e(label), str(count), f"<div class='bar' style='width:{100 * count / most:.1f}%'></div>"]
        for label, count in per_label.items()
    ]
    return _table(["label", "photos", ""], rows, "bars")


def _placement_html(placement: dict[str, Any] | None) -> str:
    """Where the work ran, as measured: master, executors with their cores, tasks (and photos) per executor."""
    if not placement:
        return ""
    executors = [
        [_e(e["id"]), _e(e["host"]), _e(e["cores"])] if "id" in e else [_e(e["error"]), "", ""]
        for e in placement["executors"]
    ]
    steps = []
    for step, measured in placement["steps"].items():
        if "error" in measured:
            steps.append([_e(step), _e(measured["error"]), "", "", ""])
        for executor, counts in measured.get("executors", {}).items():
            steps.append(
                [
                    _e(v)
                    for v in (step, executor, counts["tasks"], counts.get("photos", ""), counts.get("model_builds", ""))
                ]
            )
    sized = placement.get("sized_for_cores")
    sizing = f", work sized for {sized} cores ({placement['cores_from']})" if sized else ""
    return f"""<h2>Where the work ran</h2>
<p>Master <code>{_e(placement["master"])}</code>, started by {_e(placement["started_by"] + sizing)}.
Tasks per executor as Spark's status store recorded them; photos and model builds as the workers counted them.</p>
{_table(["executor", "host", "cores"], executors)}
{_table(["step", "executor", "tasks", "photos", "model builds"], steps)}"""


def _artifacts_html(artifacts: dict[str, Any] | None) -> str:
    """What the run used: code, environment and model, by digest and location."""
    if not artifacts:
        return ""
    code, environment, model = artifacts["code"], artifacts["environment"], artifacts["model"]
    rows = [
        ["code", f"sha256 {code['sha256']} ({code['files']} files)"],
        [
            "environment",
            f"{environment['archive'] or 'local'}; Python {environment['python']}, "
            f"packages sha256 {environment['packages_sha256']}",
        ],
        ["model", f"{model['uri']}, sha256 {model['sha256']}"],
    ]
    return "<h2>Artifacts</h2>" + _table(["", ""], [[name, f"<code>{_e(value)}</code>"] for name, value in rows])


def confusion_html(confusion: dict[str, Any]) -> str:
    """A confusion matrix (rows: true label, columns: predicted) as a shaded table, or its worst cells."""
    labels, counts = confusion["labels"], np.array(confusion["matrix"], dtype=np.int64)
    used = [i for i in range(len(labels)) if counts[i].sum() or counts[:, i].sum()]
    row_totals = counts.sum(axis=1)
    if len(used) <= MATRIX_TABLE_LABELS:
        header = ["true \u2193 predicted \u2192", *(f"<span class='v'>{_e(labels[j])}</span>" for j in used), "right"]
        rows = []
        for i in used:
            cells = [_e(labels[i])]
            for j in used:
                share = counts[i, j] / row_totals[i] if row_totals[i] else 0
                tone = "127,191,123" if i == j else "215,48,39"
                shade = f" style='background:rgba({tone},{share:.2f})'" if counts[i, j] else ""
                cells.append(f"<span{shade}>{counts[i, j] or ''}</span>")
            rows.append(cells + [_percent(counts[i, i] / row_totals[i] if row_totals[i] else None)])
        return _table(header, rows, "matrix")
    wrong = [(counts[i, j], i, j) for i in used for j in used if i != j and counts[i, j]]
    worst = sorted(wrong, key=lambda cell: (-cell[0], labels[cell[1]], labels[cell[2]]))[:TOP_CONFUSIONS]
    rows = [[_e(labels[i]), _e(labels[j]), str(n), _percent(n / row_totals[i])] for n, i, j in worst]
    note = f"<p>{len(used)} labels: the {len(worst)} most frequent mistakes (the whole matrix is in report.json).</p>"
    return note + _table(["true label", "predicted as", "photos", "share of the true label"], rows)


def _classifier_html(report: dict[str, Any]) -> tuple[str, str]:
    """The classifier's figures, and its confusion matrices (empty without a classifier)."""
    info = report.get("classifier")
    if not info:
        return "<p>No classifier: the fit set has fewer than two labels.</p>", ""
    validation = info.get("cross_validation")
    held_out = info.get("held_out_accuracy", {})
    figures = [
        f"<b>training accuracy {_percent(info.get('training_accuracy'))}</b> on the photos it was fitted on "
        "(a model can score well there and still fail on new photos)"
    ]
    if validation:
        figures.append(
            f"<b>held out: {_percent(validation['accuracy'])}</b> in {validation['folds']}-fold cross-validation on "
            f"{validation['photos']} photos of the fit set (random folds: near-duplicates such as frames of one "
            "video on both sides of a fold make it optimistic)"
        )
    figures += [f"<b>held out: {_percent(value)}</b> on {_e(name)}" for name, value in held_out.items()]
    matrices = dict(info.get("confusion_matrices", {}))
    if validation:
        matrices[f"{info['fitted_on']} (cross-validated)"] = validation["confusion_matrix"]
    sections = "".join(f"<h3>{_e(name)}</h3>{confusion_html(matrix)}" for name, matrix in matrices.items())
    if sections:
        sections = f"<h2>Confusion matrices</h2><p>Rows: true label; columns: predicted label.</p>{sections}"
    summary = (
        f"<p>A logistic regression on the {report['pca']['k']} components, fitted on {_e(info['fitted_on'])} "
        f"(<code>classifier.json</code>, used by <code>predict</code>):</p><ul>"
        + "".join(f"<li>{figure}</li>" for figure in figures)
        + "</ul>"
    )
    return summary, sections


def _sets_html(report: dict[str, Any]) -> str:
    info = report.get("classifier") or {}
    fit_set = report["pca"]["fit_set"]
    validation = info.get("cross_validation")
    rows = []
    for name, counts in report["sets"].items():
        if name == fit_set:
            held_out = f"{_percent(validation['accuracy'])} (cross-validated)" if validation else ""
            training = _percent(info.get("training_accuracy"))
        else:
            held_out, training = _percent(info.get("held_out_accuracy", {}).get(name)), ""
        csv = counts.get("csv", {})
        rows.append(
            [
                _e(name) + (" (fit)" if name == fit_set else ""),
                str(counts["files"]),
                str(counts["featurized"]),
                str(counts["embedded"]),
                str(counts["reused"]),
                str(counts["skipped"]),
                str(counts["ignored"]),
                _e(csv.get("file", "")),
                held_out,
                training,
            ]
        )
    header = ["set", "files", "featurized", "embedded", "reused", "skipped", "ignored", "CSV"]
    header += ["held-out accuracy", "training accuracy"]
    return _table(header, rows) + _reused_from_html(report)


def _reused_from_html(report: dict[str, Any]) -> str:
    """Which run lent the features of the unchanged photos (`run --reuse`), if any."""
    sources = sorted({counts["reused_from"] for counts in report["sets"].values() if counts["reused_from"]})
    if not sources:
        return ""
    return (
        "<p>Featurized = embedded in this run + reused: photos unchanged since "
        + ", ".join(f"<code>{_e(source)}</code>" for source in sources)
        + " took its features, unread (see docs/local.md, Reusing a finished run).</p>"
    )


def _ignored_html(report: dict[str, Any]) -> str:
    """Files left out on purpose: how many for each reason, and the first IGNORED_SHOWN by name."""
    ignored = report["ignored"]
    if not ignored:
        return "<h2>Ignored files (0)</h2><p>None: every file found is a photo.</p>"
    reasons = Counter(entry["reason"] for entry in ignored).most_common()
    shown = [[_long(entry["path"]), _e(entry["reason"])] for entry in ignored[:IGNORED_SHOWN]]
    more = f"<p>... and {len(ignored) - IGNORED_SHOWN} more in report.json.</p>" if len(ignored) > IGNORED_SHOWN else ""
    return (
        f"<h2>Ignored files ({len(ignored)})</h2><p>Not photos, on purpose (see docs/outputs.md).</p>"
        + _table(["reason", "files"], [[_e(reason), str(count)] for reason, count in reasons])
        + f"<details><summary>The files</summary>{_table(['file', 'reason'], shown)}{more}</details>"
    )


def render_html(report: dict[str, Any], figures: Figures, plot_set: str) -> bytes:
    """A self-contained page (inline SVG and CSS, nothing fetched)."""
    pca, model = report["pca"], report["model"]
    timings = report["timings_s"]
    skipped = [[_long(s["path"]), _e(s["reason"])] for s in report["skipped"]]
    files = [[_long(f["path"]), str(f["files"]), _size(f["bytes"])] for f in report.get("files_written", [])]
    stages = [[_e(name), f"{seconds:.1f} s"] for name, seconds in timings.items()]
    source = f" from run {_e(report['source_run'])}" if report.get("source_run") else ""
    classifier, matrices = _classifier_html(report)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Run {_e(report["run_id"])}</title>
<style>{STYLE}</style>
</head><body><h1>Fruit features: {_e(report["command"])} {_e(report["run_id"])}</h1>
<p>{pca["k"]} principal components explain {sum(pca["explained_variance"]):.1%} of the variance of
the photos of {_e(pca["fit_set"])} ({_e(model["weights"])} weights, {model["image_size"]} px,
{_e(model["engine"])} engine){source}. The run took <b>{timings.get("total", 0):.1f} s</b>, from
{_e(report["started_at"])} to {_e(report.get("finished_at", ""))}.</p>
{_sets_html(report)}
<h2>Classifier</h2>{classifier}
<h2>Cumulative explained variance</h2>{figures.variance}
<h2>First two components of {_e(plot_set)}, by label</h2>{figures.projection}{_legend(figures.styles)}
<h2>Photos per label ({_e(plot_set)})</h2>{_bars(report["sets"][plot_set]["featurized_per_label"])}
{matrices}
<h2>Skipped files ({len(skipped)})</h2>{_table(["file", "reason"], skipped) if skipped else "<p>None.</p>"}
{_ignored_html(report)}
<h2>Files written</h2><p>Under {_e(report["run_dir"])}; then this page, report.json and, last, _SUCCESS.</p>
{_table(["path", "files", "size"], files)}
{_placement_html(report.get("placement"))}
<h2>Time per stage</h2>{_table(["stage", "time"], stages)}
{_artifacts_html(report.get("artifacts"))}</body></html>"""
    return page.encode("utf-8")
