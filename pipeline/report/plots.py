"""The report's figures: SVG whose text the browser draws, points as one embedded image.

Text stays text (`svg.fonttype: none`): the browser renders it with the reader's fonts, so no
font file ships to EMR, and it stays sharp and searchable. Labels, which may be in any script,
are never drawn by matplotlib: the scatter plot's legend is an HTML table beside it
(report.py), which also stays legible with hundreds of labels. The scatter's points are
rasterized inside the SVG (thousands of vector markers would weigh megabytes).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

MARKERS = ("o", "s", "^", "D", "v", "X")
MAX_STYLED_LABELS = 20 * len(MARKERS)
"""Labels drawn with a style of their own (20 colours x 6 markers); the rarest others share grey."""
OTHER_COLOUR = "#b0b0b0"
RASTER_DPI = 100
"""Resolution of the scatter's points (the PNG plots had the same): ~200 KB for 5,000 points."""


@dataclass(frozen=True)
class LabelStyle:
    label: str  # "" for the labels beyond MAX_STYLED_LABELS, drawn together
    colour: str  # "#rrggbb"
    marker: str  # one of MARKERS
    points: int


def label_styles(counts: dict[str, int]) -> list[LabelStyle]:
    """A distinct (colour, marker) per label, most frequent labels first; tab10 colours up to 10 labels."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    ranked = sorted(counts, key=lambda label: (-counts[label], label))
    palette = colormaps["tab10" if len(ranked) <= 10 else "tab20"]
    styles = [
        LabelStyle(label, to_hex(palette(i % palette.N)), MARKERS[i // palette.N % len(MARKERS)], counts[label])
        for i, label in enumerate(ranked[:MAX_STYLED_LABELS])
    ]
    rest = sum(counts[label] for label in ranked[MAX_STYLED_LABELS:])
    return styles + ([LabelStyle("", OTHER_COLOUR, "o", rest)] if rest else [])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and EMR
    import matplotlib.pyplot as plt

    return plt


def _svg(figure, name: str) -> str:
    """The figure as an `<svg>` element for inline use in a page, its ids prefixed with `name`.

    matplotlib names its groups `figure_1`, `axes_1`... in every figure: two figures in one page
    would repeat them. The fixed salt makes the output the same on every run.
    """
    plt = _pyplot()
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        figure.savefig(buffer, format="svg", dpi=RASTER_DPI, bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S)  # RDF: no use inline
    return re.sub(r'(\bid="|url\(#|href="#)', rf"\g<1>{name}-", text)


def variance_svg(spectrum: list[float], k: int, target: float | None) -> str:
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
    return _svg(figure, "variance")


def projection_svg(points: pd.DataFrame, styles: list[LabelStyle]) -> str:
    """`points` (label, pc_1, pc_2) coloured by `styles`; the legend is the caller's (HTML)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 5))
    styled = {style.label: style for style in styles if style.label}
    other = points[~points["label"].isin(list(styled))]
    if len(other):
        axis.scatter(other["pc_1"], other["pc_2"], s=6, color=OTHER_COLOUR, alpha=0.5, rasterized=True)
    for style in reversed(styles):  # the most frequent labels last, on top
        group = points[points["label"] == style.label] if style.label else points.iloc[:0]
        if len(group):
            axis.scatter(
                group["pc_1"], group["pc_2"], s=9, alpha=0.75, color=style.colour, marker=style.marker, rasterized=True
            )
    axis.set(xlabel="PC 1", ylabel="PC 2")
    return _svg(figure, "projection")
