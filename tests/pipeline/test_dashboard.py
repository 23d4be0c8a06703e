"""The dashboard on runs made by the test suite: every finished run listed, links that resolve, clean HTML,
nothing fetched from the network."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.report.dashboard import MAX_DEPTH, Found, RunRow, render, summarise
from tests.conftest import REPO

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "wbr", "area", "base", "source"}
# job_run.json as the state machine writes it: GetJobRun's record in Step Functions' capitalised names
# (moto's SDK stand-in writes VCpuHour; the names are read whatever their case).
JOB_RUN = {
    "Arn": "arn:aws:emr-serverless:eu-west-3:1:/applications/a/jobruns/j",
    "State": "SUCCESS",
    "BilledResourceUtilization": {"VCpuHour": 1.5, "MemoryGbHour": 6.0, "StorageGbHour": 0.0},
}
# The same saved from boto3 or `aws emr-serverless get-job-run`: camelCase, under jobRun.
GET_JOB_RUN = {
    "jobRun": {
        "arn": JOB_RUN["Arn"],
        "billedResourceUtilization": {"vCPUHour": 1.5, "memoryGBHour": 6.0, "storageGBHour": 0.0},
    }
}


class Page(HTMLParser):
    """Collects links and the text; records any end tag that does not close the innermost open element."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.links: list[str] = []
        self.urls: list[str] = []
        self.text = ""
        self.cells: dict[str, list[str]] = {}  # the table's cells by column (their data-label)
        self._cell: str | None = None
        self.feed(text)
        self.close()
        self.problems += [f"unclosed <{tag}>" for tag in self.open]

    def handle_starttag(self, tag, attrs) -> None:
        if tag not in VOID:
            self.open.append(tag)
        if tag == "td" and dict(attrs).get("data-label"):
            self._cell = dict(attrs)["data-label"]
            self.cells.setdefault(self._cell, []).append("")
        for name, value in attrs:
            if name in ("href", "src", "action", "srcset", "poster", "data"):
                (self.links if name == "href" else self.urls).append(value or "")

    def handle_endtag(self, tag) -> None:
        if tag == "td":
            self._cell = None
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.open[-1] if self.open else 'nothing'}>")
        else:
            self.open.pop()

    def handle_data(self, data) -> None:
        self.text += data
        if self._cell:
            self.cells[self._cell][-1] += data


def copied_runs(tiny_runs: Path, target: Path) -> Path:
    shutil.copytree(tiny_runs, target)
    (target / "fit" / "job_run.json").write_text(json.dumps(JOB_RUN))
    return target


def test_every_finished_run_is_listed_and_linked_with_nothing_from_the_network(tiny_runs, tmp_path, capsys):
    runs = copied_runs(tiny_runs, tmp_path / "runs")
    assert main(["dashboard", "--runs", str(runs)]) == 0
    assert "2 finished run(s)" in capsys.readouterr().out
    page = Page((runs / "index.html").read_text())
    assert page.problems == []
    assert sorted(page.links) == ["fit/report.html", "reuse/report.html"]
    assert all((runs / link).is_file() for link in page.links)
    assert page.urls == []  # no scripts, images, frames or forms: nothing to fetch
    source = (runs / "index.html").read_text()
    assert not any("://" in link or link.startswith("//") for link in page.links)
    assert "http" not in source and "@import" not in source and "url(" not in source
    fit = json.loads((runs / "fit" / "report.json").read_text())
    row = page.cells["Run"].index("fit")  # newest first: the transform ran later
    assert page.cells["Run"] == ["reuse transform", "fit"]
    assert page.cells["Photos"][row] == str(fit["sets"]["train"]["photos"] + fit["sets"]["validation"]["photos"])
    assert page.cells["k"][row] == str(fit["pca"]["k"]) and page.cells["Skipped"][row] == "0"
    assert page.cells["Held-out accuracy"][row] == f"validation {fit['classifier']['accuracy']['validation']:.1%}"
    assert (page.cells["Billed"][row], page.cells["Cost"][row]) == ("1.50 vCPU-h6.00 GB-h", "$0.14")
    assert page.cells["Cost"][1 - row] == ""  # no job_run.json: cost unknown, not zero
    assert "Not finished (no _SUCCESS), not listed: broken." in page.text
    assert 'name="viewport"' in source and "@media (max-width:" in source


def test_the_page_links_from_another_folder(tiny_runs, tmp_path, capsys):
    out = tmp_path / "elsewhere" / "board"
    assert main(["dashboard", "--runs", str(tiny_runs), "--out", str(out)]) == 0
    links = Page((out / "index.html").read_text()).links
    assert links and all((out / link).resolve().is_file() for link in links)
    assert not (tiny_runs / "index.html").exists()


def test_a_missing_runs_folder_is_one_error_line(tmp_path, capsys):
    assert main(["dashboard", "--runs", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: --runs")


def test_runs_in_subfolders_are_found_down_to_a_bound(tiny_runs, tmp_path, capsys):
    runs = tmp_path / "output"
    shutil.copytree(tiny_runs, runs / "quality")
    shutil.copytree(tiny_runs / "fit", runs / "a" / "b" / "c" / "d" / "too-deep")
    (runs / "empty").mkdir()
    assert main(["dashboard", "--runs", str(runs)]) == 0
    page = Page((runs / "index.html").read_text())
    assert sorted(page.links) == ["quality/fit/report.html", "quality/reuse/report.html"]
    assert page.cells["Run"] == ["quality/reuse transform", "quality/fit"]
    assert "Not finished (no _SUCCESS), not listed: empty, quality/broken." in page.text
    assert f"searched {MAX_DEPTH} folder levels" not in page.text and "too-deep" not in page.text


def test_a_run_without_a_held_out_set_shows_its_cross_validated_accuracy(tiny_runs, tmp_path, capsys):
    run = tmp_path / "runs" / "alone"
    shutil.copytree(tiny_runs / "fit", run)
    report = json.loads((run / "report.json").read_text())
    classifier = report["classifier"]
    classifier["accuracy"] = {"train": classifier["accuracy"]["train"]}
    classifier["held_out_accuracy"] = {}
    classifier["cross_validation"] = {**(classifier["cross_validation"] or {}), "accuracy": 0.75}
    (run / "report.json").write_text(json.dumps(report))
    assert main(["dashboard", "--runs", str(tmp_path / "runs")]) == 0
    page = Page((tmp_path / "runs" / "index.html").read_text())
    assert page.cells["Held-out accuracy"] == ["75.0% (cross-validated)"]


def test_reports_are_read_defensively():
    assert summarise("old", {}, None, "old/report.html") == RunRow("old", "old/report.html")
    both = [summarise("r", {}, record, "r/report.html").billed for record in (JOB_RUN, GET_JOB_RUN)]
    assert both[0] == both[1] and both[0].usd == pytest.approx(1.5 * 0.06318 + 6 * 0.00689)
    odd = {"sets": ["x"], "pca": "k=3", "classifier": {"accuracy": {"test": "high"}}, "timings_s": None}
    row = summarise("odd", odd, {"jobRun": "none"}, "odd/report.html")
    assert (row.photos, row.k, row.accuracy, row.billed) == (None, None, {"test": None}, None)


def test_client_commands_start_without_spark_or_boto3():
    probe = (
        "import sys; from pipeline.cli import client_parser; client_parser().parse_args(['cloud', 'runs']); "
        "print(sorted(m for m in ('pyspark', 'boto3', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_run_that_reused_another_says_which_and_how_many_photos():
    sets = {
        "train": {"featurized": 100, "reused": 90, "reused_from": "s3://results/runs/monday/"},
        "validation": {"featurized": 20, "reused": 20, "reused_from": "s3://results/runs/monday/"},
    }
    row = summarise("tuesday", {"sets": sets}, None, "tuesday/report.html")
    assert (row.reused, row.reused_from) == (110, "monday")
    assert summarise("monday", {"sets": {"train": {"reused_from": None}}}, None, "m").reused_from is None
    page = render(Found(rows=[row]), "s3://results/runs/")
    assert "reused 110 photos' features from monday" in page
