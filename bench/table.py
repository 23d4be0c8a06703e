"""The benchmarks' output: a Markdown table for people, then one JSON line for machines."""

from __future__ import annotations

import json
from typing import Any


def report(rows: list[dict[str, Any]], summary: dict[str, Any], columns: list[str] | None = None) -> None:
    columns = columns or list(rows[0])
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    print(json.dumps({**summary, "rows": rows}))
