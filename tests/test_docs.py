"""The documentation holds together: README.md stays a front door, every relative link and anchor of
README.md and docs/*.md leads somewhere, every `python -m pipeline ...` command of their code blocks is
one the real argument parser takes, and every file path they name exists."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import unicodedata
from pathlib import Path

import pytest

from tests.docs_text import REPO, page, page_names, pages, prose, shell_blocks

README_MAX_LINES = 200
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
"""A Markdown link or image, `[text](target)`; its target."""
COMMAND = re.compile(r"(?:^|\s)\S*python3?\s+-m\s+pipeline\b")

UNPARSED_COMMANDS: dict[str, str] = {}
"""Commands of the docs' code blocks that the parser is not asked about, each with the reason (none now)."""


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lower-cased, spaces to `-`, every character but
    letters, digits, `-` and `_` dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "").strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor of a page's headings, duplicates numbered as GitHub does (`x`, `x-1`, `x-2`)."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(text).splitlines():
        match = re.match(r"#{1,6} +(.*?) *#* *$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(text: str) -> list[str]:
    """The targets of a page's links and images, code blocks and code spans aside."""
    without_code = re.sub(r"`[^`\n]*`", "", prose(text))
    return LINK.findall(without_code)


def broken_links(name: str, text: str, root: Path = REPO) -> list[str]:
    broken = []
    for target in links(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        file = (root / name).parent / path if path else root / name
        if not file.exists():
            broken.append(f"{target}: no file {path}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with the anchor #{anchor} in {path or name}")
    return broken


@pytest.mark.parametrize("name", page_names())
def test_every_relative_link_and_anchor_leads_somewhere(name: str) -> None:
    assert broken_links(name, page(name)) == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme_targets = {target.partition("#")[0] for target in links(page("README.md"))}
    assert {name for name in page_names() if name.startswith("docs/")} <= readme_targets


def test_the_readme_stays_a_front_door() -> None:
    assert len(page("README.md").splitlines()) <= README_MAX_LINES


def table_rows_out_of_shape(text: str) -> list[str]:
    """Rows of a Markdown table with another number of cells than its header (an unescaped `|` in a cell)."""
    wrong, header = [], None
    for line in prose(text).splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line.strip())) - 2
        if header is None:
            header = cells
        elif cells != header:
            wrong.append(line)
    return wrong


@pytest.mark.parametrize("name", page_names())
def test_every_table_row_has_the_cells_of_its_header(name: str) -> None:
    assert table_rows_out_of_shape(page(name)) == []


def test_the_table_check_sees_a_pipe_in_a_cell() -> None:
    table = "| a | b |\n|---|---|\n| `x \\| y` | z |\n| `x | y` | z |\n\ntext\n| c |\n|---|\n"
    assert table_rows_out_of_shape(table) == ["| `x | y` | z |"]


def test_the_link_check_follows_githubs_anchor_rules(tmp_path: Path) -> None:
    assert slug("Configuration (CDK context, `-c key=value`)") == "configuration-cdk-context--c-keyvalue"
    assert slug("Forking: CI/CD on GitHub Actions") == "forking-cicd-on-github-actions"
    assert slug("Why a venv-pack archive and not a custom image") == "why-a-venv-pack-archive-and-not-a-custom-image"
    assert slug("The `run_id` field") == "the-run_id-field"
    text = "# A\n\n## Notes\n\n```bash\n# not a heading\n```\n\n### Notes\n\n## Notes\n"
    assert anchors(text) == {"a", "notes", "notes-1", "notes-2"}
    assert links("[a](x.md#b) `[c](d.md)` ![e](f.png)\n```\n[g](h.md)\n```\n") == ["x.md#b", "f.png"]
    (tmp_path / "docs").mkdir()
    page_text = "# Title\n\n## Part one\n\n[ok](#part-one) [bad](#part-two) [gone](missing.md) [web](https://x.org)\n"
    (tmp_path / "docs" / "p.md").write_text(page_text)
    assert broken_links("docs/p.md", page_text, tmp_path) == [
        "#part-two: no heading with the anchor #part-two in docs/p.md",
        "missing.md: no file missing.md",
    ]
    assert broken_links("docs/p.md", page_text.replace("missing.md", "p.md#title"), tmp_path) == [
        "#part-two: no heading with the anchor #part-two in docs/p.md"
    ]


def pipeline_commands(text: str) -> list[str]:
    """Every `python -m pipeline ...` command of a page's shell code blocks (not its Mermaid pictures),
    continuations joined, one a line."""
    commands = []
    for block in shell_blocks(text):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if COMMAND.search(line):
                commands.append(" ".join(line.split()))
    return commands


def pipeline_arguments(command: str) -> list[str]:
    """What follows `python -m pipeline`, as the shell would split it, up to a pipe, `;`, `&&` or a comment."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)
    for at in range(len(tokens) - 2):
        if re.search(r"python3?$", tokens[at]) and tokens[at + 1 : at + 3] == ["-m", "pipeline"]:
            rest = tokens[at + 3 :]
            ends = [i for i, token in enumerate(rest) if set(token) <= set("|&;")]
            return rest[: ends[0]] if ends else rest
    raise AssertionError(f"no `python -m pipeline` in {command!r}")


def parse_error(arguments: list[str]) -> str | None:
    """None if the project's parser takes these arguments (as `python -m pipeline` would), else its message."""
    from pipeline.cli import CLIENT_COMMANDS, client_parser, parser

    chosen = client_parser() if arguments[:1] and arguments[0] in CLIENT_COMMANDS else parser()
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            chosen.parse_args(arguments)
    except SystemExit as exit:
        if exit.code not in (0, None) or "--help" not in arguments and "-h" not in arguments:
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {exit.code}"
    return None


DOCUMENTED_COMMANDS = sorted({(name, command) for name, text in pages().items() for command in pipeline_commands(text)})


def test_the_docs_show_commands_of_every_kind() -> None:
    verbs = {" ".join(pipeline_arguments(command)[:2]) for _, command in DOCUMENTED_COMMANDS}
    for expected in ("cloud smoke", "cloud start", "cloud upload", "cloud results", "cloud dashboard"):
        assert expected in verbs
    firsts = {pipeline_arguments(command)[0] for _, command in DOCUMENTED_COMMANDS}
    assert {"run", "transform", "predict", "dashboard", "cloud"} <= firsts


@pytest.mark.parametrize(("name", "command"), DOCUMENTED_COMMANDS)
def test_every_documented_command_parses(name: str, command: str) -> None:
    if command in UNPARSED_COMMANDS:
        pytest.fail(f"allow-listed ({UNPARSED_COMMANDS[command]}), yet the test is asked about it")
    assert parse_error(pipeline_arguments(command)) is None, f"{name}: {command}"


def test_every_allow_listed_command_is_still_in_the_docs() -> None:
    assert set(UNPARSED_COMMANDS) <= {command for _, command in DOCUMENTED_COMMANDS}


def test_the_command_check_reads_commands_as_the_shell_does() -> None:
    assert pipeline_commands("```mermaid\nflowchart LR\n    a[python -m pipeline run] --> b\n```\n") == []
    block = "```bash\n.venv/bin/python -m pipeline run --input a \\\n    --output b  # note\nmake demo\n```\n"
    assert pipeline_commands(block) == [".venv/bin/python -m pipeline run --input a --output b # note"]
    assert pipeline_arguments(pipeline_commands(block)[0]) == ["run", "--input", "a", "--output", "b"]
    assert pipeline_arguments("X=1 python -m pipeline cloud logs <run-id> --tail 200 | tail") == [
        "cloud",
        "logs",
        "<run-id>",
        "--tail",
        "200",
    ]
    assert parse_error(["run", "--input", "a", "--output", "b"]) is None
    assert parse_error(["run", "--help"]) is None
    assert parse_error(["cloud", "start", "--help"]) is None
    assert parse_error(["run", "--input", "a"]) is not None  # --output is required
    assert parse_error(["run", "--input", "a", "--output", "b", "--engine", "tflite|keras"]) is not None
    assert parse_error(["cloud", "strat"]) is not None


PATH_NAMED = re.compile(r"(?<![\w/.<-])((?:pipeline|infra|bench|tests|data|docs)/[\w./-]*[\w/])")
"""A repository path named in a code span: `pipeline/job/run.py`, `tests/infra/`."""


def named_paths(top: str) -> set[tuple[str, str]]:
    found = set()
    for name, text in pages().items():
        for span in re.findall(r"`([^`\n]+)`", prose(text)):
            for path in PATH_NAMED.findall(span):
                if path.startswith(f"{top}/"):
                    found.add((name, path.rstrip("/")))
    return found


ARRIVES_WITH_THE_LAYOUT = {"tests/test_architecture.py"}
"""Named by docs/architecture.md; written with the move of `pipeline/` into its layers."""


@pytest.mark.parametrize("top", ["infra", "bench", "tests", "data", "docs"])
def test_every_path_the_docs_name_exists(top: str) -> None:
    named = {(name, path) for name, path in named_paths(top) if path not in ARRIVES_WITH_THE_LAYOUT}
    assert sorted((name, path) for name, path in named if not (REPO / path).exists()) == []


def test_every_module_path_the_docs_name_exists() -> None:
    """The layers of docs/architecture.md: `pipeline/job/run.py` and the others must be where the docs say."""
    named = named_paths("pipeline") | {
        (name, path) for name, path in named_paths("tests") if path in ARRIVES_WITH_THE_LAYOUT
    }
    assert sorted((name, path) for name, path in named if not (REPO / path).exists()) == []
