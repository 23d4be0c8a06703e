"""report.html fits a 390 px phone: checked on the page's own CSS rules, as no browser is installed.

What widened the page past a phone: a long value without spaces (a weights path, a photo's path, a
digest) that could not wrap, and a table wider than the screen. So: the viewport is the device's,
every long value sits in an element whose CSS lets it wrap anywhere, every table is in a box that
scrolls sideways, figures shrink to the page, and no CSS width is wider than the phone.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.pipeline.test_report import LABELS, VOID, rendered, sample_points, sample_report

PHONE_PX = 390
EM_PX = 16
LONG_TOKEN = 30
"""Characters without a space that a phone's line (390 px less the margins) may not hold."""
NOT_LAID_OUT_AS_TEXT = {"style", "title", "svg"}  # svg text scales with its figure


def css_rules(css: str) -> list[tuple[list[str], dict[str, str]]]:
    """(selectors, declarations) of each innermost rule (those inside an @supports block too)."""
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = dict(d.split(":", 1) for d in body.split(";") if ":" in d)
        rules.append(
            ([s.strip() for s in selectors.split(",")], {k.strip(): v.strip() for k, v in declarations.items()})
        )
    return rules


def selectors_with(rules: list[tuple[list[str], dict[str, str]]], prop: str, value: str) -> set[str]:
    return {s for selectors, body in rules if body.get(prop) == value for s in selectors}


def pixels(value: str) -> float | None:
    number = re.fullmatch(r"([\d.]+)(px|r?em)", value)
    return None if number is None else float(number.group(1)) * (1 if number.group(2) == "px" else EM_PX)


class Layout(HTMLParser):
    """The page's viewport, its tables' parents, and the long tokens with the elements around them."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, set[str]]] = []
        self.viewport: str | None = None
        self.table_parents: list[tuple[str, set[str]]] = []
        self.long_tokens: list[tuple[str, list[tuple[str, set[str]]]]] = []
        self.inline_styles: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "meta" and attributes.get("name") == "viewport":
            self.viewport = attributes.get("content")
        if tag == "table":
            self.table_parents.append(self.stack[-1])
        if attributes.get("style"):
            self.inline_styles.append(attributes["style"])
        if tag not in VOID:
            self.stack.append((tag, set((attributes.get("class") or "").split())))

    def handle_endtag(self, tag):
        if tag not in VOID:
            self.stack.pop()

    def handle_data(self, data):
        if any(tag in NOT_LAID_OUT_AS_TEXT for tag, _ in self.stack):
            return
        for token in data.split():
            if len(token) >= LONG_TOKEN:
                self.long_tokens.append((token, list(self.stack)))


def long_values_report() -> dict:
    report = sample_report(LABELS)
    deep = "/home/someone/Projects/fruit-photos/2026-11-26 shoot/" + "a_very_long_folder_name_without_spaces/" * 3
    report["model"]["weights"] = "/home/someone/models/mobilenet_v2_imagenet_no_top_converted_for_phones.weights.h5"
    report["run_dir"] = "file:/home/someone/output/" + "transform-20261126-100000-with-a-long-suffix" * 2
    report["skipped"].append({"path": "file:" + deep + "IMG_20261126_100000.jpg", "reason": "corrupt", "set": "train"})
    report["ignored"].append(
        {"path": "file:" + deep + ".DS_Store", "reason": "system file (.DS_Store)", "set": "train"}
    )
    report["files_written"].append(
        {"path": "features_" + "a_set_named_after_a_long_folder" * 2 + ".parquet/", "files": 3, "bytes": 1}
    )
    report["artifacts"]["model"] = {"uri": "s3://bucket/" + "models/mobilenet_v2/" * 4, "sha256": "ab" * 32}
    return report


def page_layout() -> tuple[Layout, list[tuple[list[str], dict[str, str]]]]:
    page = rendered(long_values_report(), sample_points(LABELS))
    layout = Layout()
    layout.feed(page)
    layout.close()
    (css,) = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    return layout, css_rules(css)


def test_the_viewport_is_the_phones_width():
    layout, _ = page_layout()
    assert layout.viewport is not None and "width=device-width" in layout.viewport


def test_every_long_value_may_wrap_anywhere():
    layout, rules = page_layout()
    wrapping = selectors_with(rules, "overflow-wrap", "anywhere")
    assert len(layout.long_tokens) >= 7  # weights, run folder (twice), skipped, ignored, files written, digest, uri
    for token, around in layout.long_tokens:
        assert any(tag in wrapping or {f".{c}" for c in classes} & wrapping for tag, classes in around), token


def test_every_table_scrolls_inside_its_own_box():
    layout, rules = page_layout()
    scrolling = selectors_with(rules, "overflow-x", "auto") & selectors_with(rules, "max-width", "100%")
    assert layout.table_parents and all(
        tag == "div" and {f".{c}" for c in classes} & scrolling for tag, classes in layout.table_parents
    )


def test_figures_shrink_to_the_page_and_no_width_is_wider_than_a_phone():
    layout, rules = page_layout()
    assert {"svg", "img"} <= selectors_with(rules, "max-width", "100%")
    widths = [v for _, body in rules for k, v in body.items() if k in ("width", "min-width")]
    widths += [v.strip() for style in layout.inline_styles for k, v in re.findall(r"(min-width|width):([^;]+)", style)]
    assert widths and all((pixels(w) or 0) <= PHONE_PX for w in widths), widths
