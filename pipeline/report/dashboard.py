"""The page of runs: one static HTML page indexing every finished run found in a local folder.

A run is finished when its folder has `_SUCCESS`. The page links each run to its own
`report.html` with relative links, inlines its CSS and loads nothing else, so it opens
from disk (no server, no network) on a laptop or a phone.

Runs in S3 are first downloaded by the client (pipeline/cloud/dashboard.py: each run's
RUN_FILES under `<out>/<run-id>/`), then read from there by `collect` like any local folder.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import quote

from pipeline.contract.prices import Billed, api_field, billed

PAGE = "index.html"
RUN_FILES = ("report.json", "report.html", "job_run.json")
"""What the page reads and links per run; job_run.json (GetJobRun's record, written by the
state machine beside the results) is optional: without it the cost is unknown, not zero."""


@dataclass(frozen=True)
class RunRow:
    """One finished run as the page shows it; every field but the id may be unknown (None)."""

    run_id: str
    link: str
    command: str = "run"
    started: str | None = None
    input: str | None = None
    photos: int | None = None
    skipped: int | None = None
    k: int | None = None
    explained: float | None = None
    accuracy: dict[str, float | None] = field(default_factory=dict)
    cross_validated: float | None = None  # the fit set's cross-validated accuracy: shown when no set was held out
    seconds: float | None = None
    billed: Billed | None = None
    reused: int | None = None  # photos whose features came from `reused_from` (`run --reuse`)
    reused_from: str | None = None  # that run's id


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def summarise(run_id: str, report: dict[str, Any], job_run: dict[str, Any] | None, link: str) -> RunRow:
    """Read report.json defensively: fields are added over time, older runs lack some."""
    sets = {name: _dict(s) for name, s in _dict(report.get("sets")).items()}
    pca = _dict(report.get("pca"))
    command = str(report.get("command") or "run")
    fit_set = pca.get("fit_set") if command == "run" else None
    parameters = _dict(report.get("parameters"))
    if command == "run":
        source = _dict(sets.get(str(fit_set))).get("input") or parameters.get("input")
    else:
        source = ", ".join(str(s.get("input", name)) for name, s in sets.items())
        if report.get("source_run"):
            source += f" (with run {report['source_run']})"
    photos = [_number(s.get("photos")) for s in sets.values()]
    skipped = [_number(s.get("skipped")) for s in sets.values()]
    explained = pca.get("explained_variance")
    classifier = _dict(report.get("classifier"))
    held_out = classifier.get("held_out_accuracy")  # newer reports: every set but the fit set
    accuracy = _dict(held_out) if isinstance(held_out, dict) else _dict(classifier.get("accuracy"))
    reusing = [s for s in sets.values() if s.get("reused_from")]  # `run --reuse`: the earlier run's folder
    sources = sorted({str(s["reused_from"]).rstrip("/").rsplit("/", 1)[-1] for s in reusing})
    reused = [_number(s.get("reused")) for s in reusing]
    record = _dict(api_field(_dict(job_run), "jobRun") or job_run)
    seconds = _number(_dict(report.get("timings_s")).get("total"))
    if seconds is None:
        seconds = _number(api_field(record, "totalExecutionDurationSeconds"))
    return RunRow(
        run_id=run_id,
        link=link,
        command=command,
        started=str(report["started_at"]) if report.get("started_at") else None,
        input=str(source) if source else None,
        photos=int(sum(photos)) if photos and None not in photos else None,
        skipped=int(sum(skipped)) if skipped and None not in skipped else None,
        k=int(pca["k"]) if _number(pca.get("k")) is not None else None,
        explained=float(sum(explained)) if isinstance(explained, list) and explained else None,
        accuracy={name: _number(value) for name, value in accuracy.items() if name != fit_set},
        cross_validated=_number(_dict(classifier.get("cross_validation")).get("accuracy")),
        seconds=seconds,
        billed=billed(record, architecture=str(api_field(record, "architecture") or "X86_64")) if record else None,
        reused=int(sum(reused)) if sources and None not in reused else None,
        reused_from=", ".join(sources) or None,
    )


@dataclass
class Found:
    """Run folders found under the source: finished ones summarised, the others only named."""

    rows: list[RunRow] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def read_json(path: Path) -> dict[str, Any] | None:
    """A run file's JSON object, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


MAX_DEPTH = 4
"""Folder levels below the given folder searched for runs (`output/quality/<run>` is two)."""
RUN_MARKERS = ("_SUCCESS", "report.json")

Listing = Callable[[tuple[str, ...]], tuple[Iterable[str], Iterable[str]]]
"""(file names, subfolder names) of the folder at these path parts below the root."""


def find_runs(listing: Listing, max_depth: int = MAX_DEPTH) -> list[tuple[str, ...]]:
    """The run folders below the root, as path parts, up to `max_depth` levels down.

    A run folder has `_SUCCESS` or `report.json`, or a Parquet folder (a run cut before its
    report); it is not searched further (its Spark outputs have `_SUCCESS` files of their own).
    Another folder is searched; one with no subfolder at all is returned too, as a run that
    never got far (the dashboard lists it as not finished). Names starting with `.` or `_`
    (Spark's `_temporary`) are skipped; folders past `max_depth` are not searched.
    """
    found: list[tuple[str, ...]] = []

    def visit(parts: tuple[str, ...]) -> None:
        files, folders = listing(parts)
        files, folders = set(files), [name for name in folders if not name.startswith((".", "_"))]
        if parts and (files & set(RUN_MARKERS) or any(name.endswith(".parquet") for name in folders)):
            found.append(parts)
        elif parts and not folders:
            found.append(parts)
        elif len(parts) < max_depth:
            for name in sorted(folders):
                visit((*parts, name))

    visit(())
    return found


def collect(root: Path, runs: list[tuple[str, ...]], out: Path) -> Found:
    """Summarise each run folder found below `root` (a local folder: the runs, or their downloaded reports)."""
    found = Found()
    for parts in sorted(runs):
        name, folder = "/".join(parts), root.joinpath(*parts)
        if not (folder / "_SUCCESS").is_file():
            found.unfinished.append(name)
            continue
        report = read_json(folder / "report.json")
        if report is None:
            found.unreadable.append(name)
            continue
        link = quote(Path(os.path.relpath(folder / "report.html", out)).as_posix())
        job_run = read_json(folder / "job_run.json") if (folder / "job_run.json").is_file() else None
        found.rows.append(summarise(name, report, job_run, link))
    found.rows.sort(key=lambda row: (row.started or "", row.run_id), reverse=True)
    return found


def local_runs(folder: Path, out: Path) -> Found:
    """Every run folder below `folder` (what `run --output folder` makes, also in subfolders)."""

    def listing(parts: tuple[str, ...]) -> tuple[list[str], list[str]]:
        entries = list(folder.joinpath(*parts).iterdir())
        return [e.name for e in entries if e.is_file()], [e.name for e in entries if e.is_dir()]

    return collect(folder, find_runs(listing), out)


def _cell(label: str, content: str, css: str = "") -> str:
    return f'<td data-label="{label}"{f" class={css!r}" if css else ""}>{content}</td>'


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _row(run: RunRow) -> str:
    accuracy = "<br>".join(
        f"{html.escape(name)} {_percent(value) if value is not None else 'n/a'}" for name, value in run.accuracy.items()
    )
    if not accuracy and run.cross_validated is not None:
        accuracy = f"{_percent(run.cross_validated)} (cross-validated)"
    usage = cost = ""
    if run.billed is not None:
        usage = f"{run.billed.vcpu_hours:.2f} vCPU-h<br>{run.billed.memory_gb_hours:.2f} GB-h"
        title = html.escape(f"{run.billed.priced_as} prices, pipeline/contract/prices.py", quote=True)
        cost = f'<span title="{title}">${run.billed.usd:.2f}</span>' if run.billed.usd is not None else "?"
    when = html.escape(run.started.replace("T", " ").replace("+00:00", " UTC")) if run.started else ""
    kind = "" if run.command == "run" else f' <span class="tag">{html.escape(run.command)}</span>'
    if run.reused_from:
        count = "" if run.reused is None else f"{run.reused:,} photos' features "
        kind += f'<br><span class="tag">reused {count}from {html.escape(run.reused_from)}</span>'
    return (
        "<tr>"
        + "".join(
            [
                _cell("Run", f'<a href="{html.escape(run.link, quote=True)}">{html.escape(run.run_id)}</a>{kind}'),
                _cell("When", when),
                _cell("Input", html.escape((run.input or "").replace("file://", "")), "path"),
                _cell("Photos", "" if run.photos is None else f"{run.photos:,}", "num"),
                _cell("Skipped", "" if run.skipped is None else f"{run.skipped:,}", "num"),
                _cell("k", "" if run.k is None else str(run.k), "num"),
                _cell("Variance", _percent(run.explained), "num"),
                _cell("Held-out accuracy", accuracy),
                _cell("Duration", _duration(run.seconds), "num"),
                _cell("Billed", usage, "num"),
                _cell("Cost", cost, "num"),
            ]
        )
        + "</tr>"
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:84rem;padding:0 1rem;
color:#1d2430;background:#fff;line-height:1.4}
h1{font-size:1.5rem;margin:0 0 .25rem}p.meta{color:#5a6472;margin:.25rem 0 1rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{padding:.45rem .6rem;text-align:left;vertical-align:top;border-bottom:1px solid #e3e7ec}
th{background:#f4f6f8;position:sticky;top:0;font-weight:600}
td.num{text-align:right;white-space:nowrap}td.path{overflow-wrap:anywhere;max-width:22rem}
tr:hover td{background:#fafbfc}a{color:#0b5cad}
.tag{font-size:.75rem;background:#e8eef7;border-radius:.3rem;padding:0 .3rem}
footer{color:#5a6472;font-size:.85rem;margin-top:1rem}
@media (max-width:760px){
table,tbody,tr,td{display:block;width:auto}thead{display:none}
tr{border:1px solid #e3e7ec;border-radius:.5rem;margin:0 0 .8rem;padding:.3rem .5rem}
td{border:none;padding:.2rem 0;text-align:left!important;display:flex;gap:.8rem;max-width:none;align-items:baseline}
td:empty{display:none}
td::before{content:attr(data-label);flex:0 0 8.5rem;color:#5a6472;font-weight:600}
}
"""
COLUMNS = (
    "Run",
    "When",
    "Input",
    "Photos",
    "Skipped",
    "k",
    "Variance",
    "Held-out accuracy",
    "Duration",
    "Billed",
    "Cost",
)


def render(found: Found, source: str) -> str:
    costs = [run.billed.usd for run in found.rows if run.billed is not None and run.billed.usd is not None]
    total = f" Known compute cost: ${sum(costs):.2f} over {len(costs)} run(s)." if costs else ""
    notes = []
    if found.unfinished:
        notes.append("Not finished (no _SUCCESS), not listed: " + ", ".join(map(html.escape, found.unfinished)) + ".")
    if found.unreadable:
        notes.append("Unreadable report.json, not listed: " + ", ".join(map(html.escape, found.unreadable)) + ".")
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = "".join(f"<th>{c}</th>" for c in COLUMNS)
    rows = "\n".join(_row(run) for run in found.rows) or f'<tr><td colspan="{len(COLUMNS)}">No finished run.</td></tr>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Fruit features: runs</title><style>{STYLE}</style></head>
<body><h1>Fruit features: {len(found.rows)} finished run(s)</h1>
<p class="meta">{html.escape(source)}, generated {generated}.{total}
Accuracy: the run's classifier on each set it was not fitted on; for a run without such a set, its
cross-validated accuracy on the set it was fitted on, labelled as such. Billed and cost: EMR Serverless's own
figures (the run's job_run.json, written by the stack's state machine) at pipeline/contract/prices.py's rates; runs made
elsewhere have none.</p>
<table><thead><tr>{header}</tr></thead>
<tbody>
{rows}
</tbody></table>
<footer>{"<br>".join(notes)}</footer>
</body></html>
"""


def write(found: Found, source: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    page = out / PAGE
    page.write_text(render(found, source), encoding="utf-8")
    return page
