"""The docs (README.md and docs/*.md) speak of the product, not of the machine and the history they were
written on.

Figures stay, each with its date and machine; what goes is what a reader cannot use or check: the
development machine's paths and lock, commit hashes, "before this change", and test counts that go
stale with the next test (docs/development.md says how to count them instead).
"""

from __future__ import annotations

import re

import pytest

from tests.docs_text import page_names, pages, prose

PAGES = pages()
NAMES = page_names()
COMMIT_LIKE = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b")
"""7 to 40 hex digits with a letter and a digit: a commit hash (not a date such as 20261126)."""


@pytest.mark.parametrize("name", NAMES)
def test_no_path_of_the_development_machine(name):
    assert re.findall(r"/work/\S*", PAGES[name]) == []


@pytest.mark.parametrize("name", NAMES)
def test_no_commit_hash_in_prose(name):
    assert COMMIT_LIKE.findall(prose(PAGES[name])) == []


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "history", [r"before this change", r"\bon main\b", r"\bmain at\b", r"\bflock\b", r"heavy\.lock", r"this round"]
)
def test_no_history_or_internals_of_the_development(name, history):
    assert re.findall(rf".{{0,40}}{history}.{{0,40}}", PAGES[name], flags=re.I) == []


@pytest.mark.parametrize("name", NAMES)
def test_no_test_counts_that_go_stale(name):
    assert re.findall(r"\b\d[\d,]* (?:tests|passed|skipped|failed)\b", PAGES[name]) == []


def test_every_docs_page_is_checked():
    assert "README.md" in NAMES and len([name for name in NAMES if name.startswith("docs/")]) >= 6


def test_the_checks_catch_what_they_are_for():
    assert COMMIT_LIKE.findall("main at 27d696c, commit 5024a3d") == ["27d696c", "5024a3d"]
    assert COMMIT_LIKE.findall("measured 2026-11-26, run 20261126-214800, avx512f, deadbeef") == []
