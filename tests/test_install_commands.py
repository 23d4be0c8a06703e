"""The docs' install commands (README.md, docs/*.md) are the ones the Makefile runs (npm's install-script notices
hidden alike)."""

from __future__ import annotations

import re

from tests.conftest import REPO
from tests.docs_text import all_text

NPM_CI = re.compile(r"npm ci(?: --?[\w=-]+)*")
QUIET_NPM_CI = "npm ci --no-audit --no-fund --loglevel=error"


def npm_ci_commands(text: str) -> list[str]:
    return [match.group().strip() for match in NPM_CI.finditer(text)]


def test_every_npm_ci_of_the_docs_is_the_makefiles() -> None:
    recipes = [line.strip() for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("\tnpm ")]
    assert recipes == [QUIET_NPM_CI]
    documented = npm_ci_commands(all_text())
    assert len(documented) >= 4 and set(documented) == {QUIET_NPM_CI}, documented
