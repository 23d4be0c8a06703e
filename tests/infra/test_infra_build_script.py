"""build.sh runs in a bare amazonlinux:2023 container: every tool it calls is in the image or installed by it.

The container image is not the AMI: it has no `find` (findutils), `tar`, `gzip` or `strip`
(amazonlinux/amazon-linux-2023 issue 355: findutils stays off the container image). With
`set -euo pipefail`, the first missing tool stops `cdk deploy`'s Docker bundling. The commands are
read with a shell parser (bashlex), so that those inside `$(...)`, pipes, loops, `if` blocks,
subshells and `find -exec` count as well, not with a regular expression.

What the image holds, from AWS's page "Comparing packages installed on Amazon Linux 2023 Minimal AMI
and Container Images", https://docs.aws.amazon.com/linux/al2023/ug/al2023-container-ami.html
(read 2026-12-06, its "Container" column): among the packages with commands, bash, coreutils-single,
curl-minimal, dnf, gawk, grep, sed, rpm, gnupg2-minimal and python3 (3.9); not findutils, tar, gzip,
binutils, make, gcc, which, procps-ng, diffutils, xz or util-linux.
"""

from __future__ import annotations

from collections.abc import Iterator

import bashlex
import pytest

from infra.compute import PYTHON_ENV_DIR

BUILD_SCRIPT = PYTHON_ENV_DIR / "build.sh"

COREUTILS = (
    "basename cat chmod chown cp cut date dirname du echo env expr head id install ln ls mkdir mktemp mv nproc "
    "printf pwd readlink realpath rm rmdir sha256sum sleep sort stat tail tee touch tr true false uname uniq wc"
).split()
IMAGE_PACKAGES = {
    "bash": ["bash", "sh"],
    "coreutils-single": COREUTILS,
    "curl-minimal": ["curl"],
    "dnf": ["dnf", "yum"],
    "gawk": ["awk", "gawk"],
    "grep": ["grep"],
    "sed": ["sed"],
    "rpm": ["rpm"],
    "gnupg2-minimal": ["gpg"],
    "python3": ["python3"],
}
"""Packages of the container image (AWS's page above) and the commands this test knows them by."""

INSTALLABLE = {
    "gcc": ["gcc", "cc"],
    "make": ["make"],
    "tar": ["tar"],
    "gzip": ["gzip", "gunzip", "zcat"],
    "binutils": ["strip", "ar", "ld", "objcopy", "objdump", "readelf"],
    "findutils": ["find", "xargs"],
    "xz": ["xz", "unxz"],
    "which": ["which"],
    "unzip": ["unzip"],
    "procps-ng": ["ps", "free"],
    "diffutils": ["diff", "cmp"],
    "patch": ["patch"],
    "file": ["file"],
}
"""Packages that AL2023's repositories have and the image lacks, with their commands."""

SHELL_BUILTINS = frozenset(
    ": . [ cd echo eval exec exit export false local printf pwd read return set shift test".split()
)
SHELL_BUILTINS |= {"trap", "true", "type", "unset", "wait", "command", "source"}
SCRIPT_MADE = ("${PYTHON_PREFIX}/bin/", "${VENV}/bin/", "./configure")
"""Commands the script itself builds or unpacks (the compiled CPython, the venv, CPython's configure)."""
EXEC_OPTIONS = ("-exec", "-execdir", "-ok", "-okdir")


def _walk(node: bashlex.ast.node) -> Iterator[bashlex.ast.node]:
    yield node
    for attribute in ("parts", "list"):
        for child in getattr(node, attribute, None) or ():
            yield from _walk(child)
    for attribute in ("command", "output"):
        child = getattr(node, attribute, None)
        if isinstance(child, bashlex.ast.node):
            yield from _walk(child)


def command_words(script: str) -> Iterator[list[str]]:
    """The words of every simple command, wherever it stands (lists, pipes, loops, `$(...)`, subshells)."""
    for tree in bashlex.parse(script):
        for node in _walk(tree):
            if node.kind == "command":
                yield [part.word for part in node.parts if part.kind == "word"]


def commands_called(script: str) -> set[str]:
    """Every program the script runs: command names, and what `find -exec` and `xargs` run in turn."""
    called = set()
    for words in command_words(script):
        if not words:
            continue  # an assignment alone
        called.add(words[0])
        if words[0] == "find":
            called.update(words[i + 1] for i, word in enumerate(words[:-1]) if word in EXEC_OPTIONS)
        if words[0] == "xargs":
            called.update(next((word for word in words[1:] if not word.startswith("-")), "echo").split()[:1])
    return called


def packages_installed(script: str) -> set[str]:
    """What the script's `dnf install` commands install (their arguments that are not options)."""
    installed = set()
    for words in command_words(script):
        if words[:1] == ["dnf"] and "install" in words:
            installed.update(word for word in words[words.index("install") + 1 :] if not word.startswith("-"))
    return installed


def missing_tools(script: str) -> dict[str, str]:
    """Each external command that neither the image nor the script's own installs provide -> why."""
    available = {command for commands in IMAGE_PACKAGES.values() for command in commands}
    for package in packages_installed(script):
        available.update(INSTALLABLE.get(package, ()))
    missing = {}
    for command in sorted(commands_called(script) - SHELL_BUILTINS - available):
        if command.startswith(SCRIPT_MADE):
            continue
        provider = next((package for package, commands in INSTALLABLE.items() if command in commands), None)
        missing[command] = (
            f"from package {provider}, not in the container image: add it to build.sh's dnf install"
            if provider
            else "unknown to this test: name the package that provides it (AWS's package list above)"
        )
    return missing


def test_build_sh_calls_only_tools_it_has() -> None:
    script = BUILD_SCRIPT.read_text()
    assert missing_tools(script) == {}
    # The parser does see the commands that matter here, in a subshell, a pipe and `find -exec`.
    assert {"find", "rm", "strip", "tar", "curl", "make", "nproc", "basename", "dnf"} <= commands_called(script)
    assert {"findutils", "tar", "gzip", "binutils", "make", "gcc"} <= packages_installed(script)


def test_a_copy_that_calls_an_uninstalled_tool_fails() -> None:
    script = BUILD_SCRIPT.read_text()
    assert missing_tools(script + '\nwhich "${VENV}/bin/python"\n') == {
        "which": "from package which, not in the container image: add it to build.sh's dnf install"
    }
    without_findutils = script.replace(" findutils ", " ", 1)
    assert without_findutils != script
    assert set(missing_tools(without_findutils)) == {"find"}


@pytest.mark.parametrize(
    "snippet, tool",
    [
        ('echo "$(xargs -n1 < list.txt)"', "xargs"),  # inside $(...)
        ('curl -fsSL "$URL" | unzip -q -', "unzip"),  # in a pipe
        ('for change in *.diff; do patch -p1 < "${change}"; done', "patch"),  # in a loop
        ('find "${VENV}" -name "*.so" -exec file {} \\;', "file"),  # run by find -exec
        ("if [ -d /x ]; then (cd /x && diff a b); fi", "diff"),  # in an if block's subshell
        ("ls /proc | xargs -r ps -p", "ps"),  # run by xargs
    ],
)
def test_the_parser_sees_every_place_a_command_can_stand(snippet: str, tool: str) -> None:
    assert tool in missing_tools(f"set -euo pipefail\n{snippet}\n")


def test_an_unknown_tool_is_named() -> None:
    assert missing_tools("jq . file.json\n") == {
        "jq": "unknown to this test: name the package that provides it (AWS's package list above)"
    }
