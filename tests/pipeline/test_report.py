"""report.html and report.json built from a report dict, without Spark."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ElementTree
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pandas as pd

from pipeline.model.classifier import confusion_matrix
from pipeline.report.plots import MAX_STYLED_LABELS
from pipeline.report.run_report import (
    MATRIX_TABLE_LABELS,
    TOP_CONFUSIONS,
    confusion_html,
    files_written,
    render_html,
    render_plots,
    to_json,
)

LABELS = ["Apple Golden 1", "Pêche", "りんご", "苹果", 'Kiwi, "green" <b>']
VOID = {"meta", "br", "img", "hr", "input", "link", "circle", "rect", "polygon", "path", "use", "image"}


def sample_report(labels: list[str], with_apply: bool = True) -> dict:
    per_label = {label: 10 + i for i, label in enumerate(labels)}
    truth = [label for label in labels for _ in range(3)]
    predicted = truth[1:] + truth[:1]
    sets = {"train": {"files": 61, "photos": 60, "featurized": 58, "skipped": 2, "ignored": 1}}
    sets["train"].update(embedded=58, reused=0, reused_from=None)
    sets["train"]["featurized_per_label"] = per_label
    sets["train"]["csv"] = {"file": "pca_train.csv", "rows": 58, "bytes": 9000, "parts": 1, "driver_bytes": 0}
    if with_apply:
        sets["validation"] = {"files": 15, "photos": 15, "featurized": 15, "skipped": 0, "ignored": 0}
        sets["validation"].update(embedded=15, reused=0, reused_from=None)
        sets["validation"]["featurized_per_label"] = {}
    return {
        "command": "run",
        "run_id": "r1",
        "run_dir": "file:/out/r1",
        "started_at": "2026-11-26T10:00:00+00:00",
        "finished_at": "2026-11-26T10:01:33+00:00",
        "model": {"weights": "imagenet", "image_size": 96, "engine": "tflite"},
        "sets": sets,
        "skipped": [{"path": "file:/in/a <b>.jpg", "reason": "corrupt", "set": "train"}],
        "ignored": [{"path": "file:/in/A/._a <i>.jpg", "reason": "macOS AppleDouble companion (._*)", "set": "train"}],
        "pca": {
            "fit_set": "train",
            "k": 3,
            "variance_target": 0.95,
            "explained_variance": [0.6, 0.3, 0.06],
            "spectrum": [0.6, 0.3, 0.06, 0.04],
        },
        "classifier": {
            "fitted_on": "train",
            "accuracy": {"validation": 0.8, "train": 1.0},
            "training_accuracy": 1.0,
            "cross_validation": {
                "folds": 3,
                "photos": 58,
                "accuracy": 0.9,
                "confusion_matrix": confusion_matrix(truth, truth, labels),
            },
            "held_out_accuracy": {"validation": 0.8} if with_apply else {},
            "confusion_matrices": {"validation": confusion_matrix(truth, predicted, labels)} if with_apply else {},
        },
        "files_written": [{"path": "pca_train.csv", "files": 1, "bytes": 9000}],
        "artifacts": {
            "code": {"sha256": "c0de", "files": 20},
            "environment": {"archive": None, "python": "3.11.7", "packages_sha256": "e9v"},
            "model": {"uri": "imagenet", "sha256": "m0de1"},
        },
        "timings_s": {"featurize train": 40.0, "total": 93.2},
    }


def sample_points(labels: list[str], n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    coordinates = rng.standard_normal((n, 2))
    return pd.DataFrame({"label": rng.choice(labels, n), "pc_1": coordinates[:, 0], "pc_2": coordinates[:, 1]})


class TagChecker(HTMLParser):
    """Every element closed in order (void elements aside): the page parses cleanly."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.open or self.open.pop() != tag:
            self.problems.append(tag)


def rendered(report: dict, points: pd.DataFrame) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = render_html(report, render_plots(report, points), "train").decode("utf-8")
    assert [str(w.message) for w in caught] == []  # matplotlib warns about glyphs it lacks: none here
    return page


def test_page_parses_cleanly_with_unique_ids_and_inline_svg_figures():
    page = rendered(sample_report(LABELS), sample_points(LABELS))
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.problems == [] and checker.open == []
    ids = Counter(re.findall(r'\bid="([^"]+)"', page))
    assert ids and max(ids.values()) == 1
    figures = re.findall(r"<svg xmlns.*?</svg>", page, flags=re.S)
    assert len(figures) == 2 and "<img" not in page
    assert re.findall(r"(?:src|href)=[\"']?(?:https?:)?//", page) == []  # nothing fetched
    for figure in figures:
        ElementTree.fromstring(figure)  # well-formed XML
        assert "<text" in figure  # text left to the browser, not glyphs drawn as paths


def test_labels_in_any_script_are_text_of_the_page_escaped():
    page = rendered(sample_report(LABELS), sample_points(LABELS))
    for label in ["Pêche", "りんご", "苹果", "Kiwi, &quot;green&quot; &lt;b&gt;"]:
        assert page.count(label) >= 3  # legend, photos per label, confusion matrices
    assert "<b>" not in page.replace("<b>training", "").replace("<b>held out", "").replace("<b>93.2", "")
    assert "file:/in/a &lt;b&gt;.jpg" in page and "file:/in/A/._a &lt;i&gt;.jpg" in page


def test_ignored_files_are_counted_by_reason_and_named():
    report = sample_report(LABELS)
    report["ignored"] += [
        {"path": f"file:/in/A/{i}.txt", "reason": "not a photo (.txt)", "set": "train"} for i in range(250)
    ]
    page = rendered(report, sample_points(LABELS))
    assert "Ignored files (251)" in page and "<td>not a photo (.txt)</td><td>250</td>" in page
    assert "file:/in/A/0.txt" in page and "file:/in/A/249.txt" not in page and "and 51 more in report.json" in page


def test_training_accuracy_is_labelled_and_held_out_figures_shown():
    page = rendered(sample_report(LABELS), sample_points(LABELS))
    assert "training accuracy 100.0%" in page
    assert "held out: 90.0%</b> in 3-fold cross-validation on 58 photos" in page
    assert "held out: 80.0%</b> on validation" in page
    assert "<h3>validation</h3>" in page and "<h3>train (cross-validated)</h3>" in page


def test_total_time_and_files_written_are_shown():
    page = rendered(sample_report(LABELS), sample_points(LABELS))
    assert "took <b>93.2 s</b>" in page
    assert "<td><span class='long'>pca_train.csv</span></td><td>1</td><td>9.0 KB</td>" in page
    assert "<h2>Artifacts</h2>" in page and "sha256 m0de1" in page


def test_legend_of_many_labels_is_a_table_with_the_rarest_grouped():
    labels = [f"Label {i:03d}" for i in range(MAX_STYLED_LABELS + 30)]
    page = rendered(sample_report(labels, with_apply=False), sample_points(labels, n=3000))
    legend = re.search(r"<ul class='legend'>(.*?)</ul>", page, flags=re.S).group(1)
    assert legend.count("<li>") == MAX_STYLED_LABELS + 1 and "every other label" in legend
    styles = re.findall(r"(fill|stroke)='(#[0-9a-f]{6})'/?>.*?</svg> ([^<]+) <span", legend)
    assert len({(colour, name) for _, colour, name in styles}) == len(styles)


def test_small_confusion_matrix_is_a_table_and_a_large_one_its_worst_cells():
    small = confusion_html(confusion_matrix(["a", "a", "b", "c"], ["a", "b", "b", "a"], ["a", "b"]))
    assert small.count("<tr>") == 1 + 3 and "50.0%" in small and "0.0%" in small  # c: never right
    labels = [f"L{i}" for i in range(MATRIX_TABLE_LABELS + 5)]
    truth = labels * 3
    large = confusion_html(confusion_matrix(truth, labels[1:] + labels[:1] + truth[len(labels) :], labels))
    assert "most frequent mistakes" in large and large.count("<tr>") == 1 + TOP_CONFUSIONS  # of 35 mistakes


def test_files_written_are_grouped_by_top_level_entry():
    listing = [("a.parquet/part-0.parquet", 10), ("a.parquet/_SUCCESS", 0), ("pca.csv", 5)]
    assert files_written(listing) == [
        {"path": "a.parquet/", "files": 2, "bytes": 10},
        {"path": "pca.csv", "files": 1, "bytes": 5},
    ]


def test_report_json_keeps_non_latin_labels_readable():
    assert "苹果" in to_json({"label": "苹果"}).decode("utf-8")


def test_photos_embedded_and_reused_are_shown_per_set_with_the_run_they_came_from():
    report = sample_report(LABELS)
    report["sets"]["train"].update(embedded=8, reused=50, reused_from="s3://bucket/runs/earlier <1>")
    page = render_html(report, render_plots(report, sample_points(LABELS)), "train").decode()
    assert "<th>embedded</th><th>reused</th>" in page
    assert "<td>58</td><td>8</td><td>50</td>" in page
    assert "photos unchanged since <code>s3://bucket/runs/earlier &lt;1&gt;</code> took its features" in page
    assert (
        "unchanged since"
        not in render_html(sample_report(LABELS), render_plots(report, sample_points(LABELS)), "train").decode()
    )
