"""The run report: `report.json` for machines, `report.html` (with PNG plots) for people."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

import numpy as np
import pandas as pd


def to_json(report: dict[str, Any]) -> bytes:
    return json.dumps(report, indent=2, sort_keys=False).encode("utf-8")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and EMR
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> str:
    plt = _pyplot()

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _variance_plot(spectrum: list[float], k: int, target: float | None) -> str:
    plt = _pyplot()

    cumulative = np.cumsum(spectrum)
    shown = cumulative[: max(k * 3, min(len(cumulative), 50))]
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(np.arange(1, len(shown) + 1), shown, marker=".")
    axis.axvline(k, color="tab:red", linestyle="--", label=f"k = {k}")
    if target is not None:
        axis.axhline(target, color="tab:gray", linestyle=":", label=f"target {target:.0%}")
    axis.set(xlabel="components", ylabel="cumulative explained variance", ylim=(0, 1.02))
    axis.legend(loc="lower right")
    return _png(figure)


def _projection_plot(points: pd.DataFrame) -> str:
    plt = _pyplot()

    figure, axis = plt.subplots(figsize=(6, 5))
    groups = list(points.groupby("label"))
    colours = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    for index, (label, group) in enumerate(groups):
        axis.scatter(group["pc_1"], group["pc_2"], s=8, alpha=0.7, label=label, color=colours(index % colours.N))
    axis.set(xlabel="PC 1", ylabel="PC 2")
    axis.legend(fontsize=7, markerscale=2, loc="best")
    return _png(figure)


def _labels_plot(per_label: dict[str, int]) -> str:
    plt = _pyplot()

    figure, axis = plt.subplots(figsize=(6, 0.3 * len(per_label) + 1))
    axis.barh(list(per_label), list(per_label.values()))
    axis.invert_yaxis()
    axis.set(xlabel="photos")
    return _png(figure)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _row(*cells: Any) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>"


def _placement_html(placement: dict[str, Any] | None) -> str:
    """Where the work ran, as measured: master, executors with their cores, tasks (and photos) per executor."""
    if not placement:
        return ""
    executors = "".join(
        _row(e["id"], e["host"], e["cores"]) if "id" in e else _row(e["error"], "", "") for e in placement["executors"]
    )
    steps = ""
    for step, measured in placement["steps"].items():
        if "error" in measured:
            steps += _row(step, measured["error"], "", "", "")
        for executor, counts in measured.get("executors", {}).items():
            steps += _row(step, executor, counts["tasks"], counts.get("photos", ""), counts.get("model_builds", ""))
    sized = placement.get("sized_for_cores")
    sizing = f", work sized for {sized} cores ({placement['cores_from']})" if sized else ""
    return f"""<h2>Where the work ran</h2>
<p>Master <code>{html.escape(placement["master"])}</code>, started by {html.escape(placement["started_by"] + sizing)}.
Tasks per executor as Spark's status store recorded them; photos and model builds as the workers counted them.</p>
<table><tr><th>executor</th><th>host</th><th>cores</th></tr>{executors}</table>
<table><tr><th>step</th><th>executor</th><th>tasks</th><th>photos</th><th>model builds</th></tr>{steps}</table>"""


def _artifacts_table(artifacts: dict[str, Any]) -> str:
    """What the run used: code, environment and model, by digest and location."""
    code, environment, model = artifacts["code"], artifacts["environment"], artifacts["model"]
    rows = (
        ("code", f"sha256 {code['sha256']} ({code['files']} files)"),
        (
            "environment",
            f"{environment['archive'] or 'local'}; Python {environment['python']}, "
            f"packages sha256 {environment['packages_sha256']}",
        ),
        ("model", f"{model['uri']}, sha256 {model['sha256']}"),
    )
    return "".join(f"<tr><td>{name}</td><td><code>{html.escape(value)}</code></td></tr>" for name, value in rows)


def render_html(report: dict[str, Any], points: pd.DataFrame, plot_set: str) -> bytes:
    """A self-contained page: summary, the three plots inline, skipped files."""
    pca, shown = report["pca"], report["sets"][plot_set]
    plots = [
        ("Cumulative explained variance", _variance_plot(pca["spectrum"], pca["k"], pca.get("variance_target"))),
        (f"First two components of {plot_set}, coloured by label", _projection_plot(points)),
        (f"Photos per label ({plot_set})", _labels_plot(shown["featurized_per_label"])),
    ]
    accuracy = (report.get("classifier") or {}).get("accuracy") or {}
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{s['photos']}</td><td>{s['featurized']}</td><td>{s['skipped']}</td>"
        f"<td>{_percent(accuracy.get(name))}</td></tr>"
        for name, s in report["sets"].items()
    )
    skipped = "".join(
        f"<tr><td>{html.escape(s['path'])}</td><td>{html.escape(s['reason'])}</td></tr>" for s in report["skipped"]
    )
    figures = "".join(
        f"<h2>{title}</h2><img alt='{title}' src='data:image/png;base64,{data}'>" for title, data in plots
    )
    timings = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.1f} s</td></tr>" for k, v in report["timings_s"].items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Run {html.escape(report["run_id"])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:2px 8px;text-align:left}}</style>
</head><body><h1>Fruit features: run {html.escape(report["run_id"])}</h1>
<p>{pca["k"]} principal components explain {sum(pca["explained_variance"]):.1%} of the variance of
the photos of {html.escape(pca["fit_set"])} ({html.escape(report["model"]["weights"])} weights,
{report["model"]["image_size"]} px, {report["model"]["engine"]} engine).</p>
<table><tr><th>set</th><th>photos</th><th>featurized</th><th>skipped</th><th>classifier accuracy</th></tr>
{rows}</table>
{figures}
{_placement_html(report.get("placement"))}
<h2>Skipped files ({len(report["skipped"])})</h2><table>{skipped}</table>
<h2>Time per stage</h2><table>{timings}</table>
<h2>Artifacts</h2><table>{_artifacts_table(report["artifacts"])}</table></body></html>"""
    return page.encode("utf-8")
