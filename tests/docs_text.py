"""The documentation's text, for the tests that hold it to the code: README.md and docs/*.md.

Each table or claim lives on one page; a test reads that page (`page("docs/aws.md")`), or every page
(`pages()`, `all_text()`), never a copy.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)
SHELL = ("", "bash", "sh", "shell", "console")
"""Info strings of the code blocks that hold commands (a `mermaid` block is a picture, a `text` block output)."""


def page(name: str) -> str:
    """The text of one page, by its path from the repository's root: `README.md`, `docs/aws.md`."""
    return (REPO / name).read_text(encoding="utf-8")


def page_names() -> list[str]:
    """README.md, then every docs/*.md in name order."""
    return ["README.md", *(f"docs/{path.name}" for path in sorted(DOCS.glob("*.md")))]


def pages() -> dict[str, str]:
    return {name: page(name) for name in page_names()}


def all_text() -> str:
    return "\n".join(pages().values())


def code_blocks(text: str) -> list[str]:
    """The contents of the fenced code blocks of a Markdown text."""
    return [body for _, body in FENCE.findall(text)]


def shell_blocks(text: str) -> list[str]:
    """The contents of the code blocks that hold commands: plain, `bash`, `sh`, `shell` or `console`."""
    return [body for info, body in FENCE.findall(text) if info.strip() in SHELL]


def prose(text: str) -> str:
    """A Markdown text without its fenced code blocks."""
    return FENCE.sub("", text)


def section(text: str, heading: str) -> str:
    """From the heading that starts with `heading` (e.g. `## Security`) to the next heading of its level or
    above, code blocks aside (a `# comment` in a shell block is no heading)."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines(keepends=True)
    fenced, start, out = False, None, []
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        is_heading = not fenced and re.match(r"#{1,6} ", line)
        if start is None:
            if is_heading and line.startswith(heading):
                start = True
                out.append(line)
            continue
        if is_heading and len(line) - len(line.lstrip("#")) <= level:
            break
        out.append(line)
    if start is None:
        raise ValueError(f"no heading {heading!r}")
    return "".join(out)
