"""The README speaks of the product, not of the machine and the history it was written on.

Figures stay, each with its date and machine; what goes is what a reader cannot use or check: the
development machine's paths and lock, commit hashes, "before this change", and test counts that go
stale with the next test (the README says how to count them instead).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
PROSE = re.sub(r"^```.*?^```", "", README, flags=re.S | re.M)
"""The README without its fenced code blocks."""
COMMIT_LIKE = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b")
"""7 to 40 hex digits with a letter and a digit: a commit hash (not a date such as 20261126)."""


def test_no_path_of_the_development_machine():
    assert re.findall(r"/work/\S*", README) == []


def test_no_commit_hash_in_prose():
    assert COMMIT_LIKE.findall(PROSE) == []


@pytest.mark.parametrize(
    "history", [r"before this change", r"\bon main\b", r"\bmain at\b", r"\bflock\b", r"heavy\.lock", r"this round"]
)
def test_no_history_or_internals_of_the_development(history):
    assert re.findall(rf".{{0,40}}{history}.{{0,40}}", README, flags=re.I) == []


def test_no_test_counts_that_go_stale():
    assert re.findall(r"\b\d[\d,]* (?:tests|passed|skipped|failed)\b", README) == []


def test_the_checks_catch_what_they_are_for():
    assert COMMIT_LIKE.findall("main at 27d696c, commit 5024a3d") == ["27d696c", "5024a3d"]
    assert COMMIT_LIKE.findall("measured 2026-11-26, run 20261126-214800, avx512f, deadbeef") == []
