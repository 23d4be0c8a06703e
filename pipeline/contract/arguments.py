"""Argument types that `python -m pipeline run|transform` and `cloud start` share, so both parse alike."""

from __future__ import annotations


def comma_list(value: str) -> list[str]:
    """`a, b,,c` -> ['a', 'b', 'c']: one value of a repeatable, comma-separated option (--apply, --input)."""
    return [item.strip() for item in value.split(",") if item.strip()]
