"""Which CDK CLI command runs this app: `cdk synth` may skip bundling, `cdk deploy` must not.

The CLI tells the app nothing that tells the two apart: it sets the context key
`aws:cdk:bundling-stacks` to `["**"]` for deploy, diff, synth, watch, import and publish-assets
alike (`commandLineArgumentsToSettings` in the aws-cdk CLI: `[]` only for the other commands, which
bundle nothing), and the environment it passes (`CDK_CONTEXT_JSON`, `CDK_OUTDIR`...) is the same.
What does tell them apart is the CLI's own command line: the app runs as a child of the CLI's Node
process (`node .../aws-cdk/bin/cdk deploy ...`), possibly through a shell and `npx`, so the app
reads its ancestors' command lines (/proc on Linux, `ps` elsewhere) up to the first that is the CLI.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

CLI_COMMANDS = frozenset(
    "acknowledge bootstrap context deploy destroy diff docs doctor drift flags gc import init list ls metadata "
    "migrate notices publish-assets refactor rollback synth synthesize watch".split()
)
"""Commands of the aws-cdk CLI (its `--help`), to find the command among the options before it."""
UPLOADING_COMMANDS = frozenset({"deploy", "watch", "import", "publish-assets"})
"""Commands that upload the assets the app staged, and so need them bundled."""
CLI_SCRIPTS = ("cdk", "cdk.js")
MAX_ANCESTORS = 12


def cli_command(argv: Sequence[str]) -> str | None:
    """`deploy` for `node /x/node_modules/.bin/cdk -c a=b deploy --all`; None if `argv` is not the CDK CLI."""
    for index, word in enumerate(argv):
        if os.path.basename(word) in CLI_SCRIPTS:
            return next((later for later in argv[index + 1 :] if later in CLI_COMMANDS), None)
    return None


def running_cli_command(
    pid: int | None = None, process: Callable[[int], tuple[int, list[str]] | None] | None = None
) -> str | None:
    """The command of the nearest ancestor process that is the CDK CLI, or None (tests, `python3 app.py`)."""
    read = process or _process
    pid = os.getppid() if pid is None else pid
    for _ in range(MAX_ANCESTORS):
        found = read(pid) if pid > 1 else None
        if found is None:
            return None
        parent, argv = found
        if any(os.path.basename(word) in CLI_SCRIPTS for word in argv):
            return cli_command(argv)
        pid = parent
    return None


def _process(pid: int) -> tuple[int, list[str]] | None:
    """(parent pid, argv) of a process: from /proc where there is one (Linux), else from `ps` (macOS, BSD)."""
    proc = Path("/proc") / str(pid)
    if Path("/proc/self").is_dir():
        try:
            argv = [word.decode(errors="replace") for word in (proc / "cmdline").read_bytes().split(b"\0") if word]
            parent = int((proc / "stat").read_text().rpartition(")")[2].split()[1])  # "pid (comm) state ppid ..."
        except (OSError, ValueError, IndexError):
            return None
        return parent, argv
    try:
        answer = subprocess.run(
            ["ps", "-o", "ppid=", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parent, _, command = answer.stdout.strip().partition(" ")
    return (int(parent), command.split()) if parent.isdigit() else None
