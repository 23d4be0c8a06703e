"""The Python and the Java that a local run needs, found as they really are.

`make` runs this file with the interpreter it is about to build the venv from
(`python -m pipeline.job.prerequisites`), before pip; the job checks the same before Spark starts.
So it imports the standard library only, and stays valid on the old Pythons it must turn away.

Why each bound: numpy 2.4 (requirements-emr.txt) has no wheels below Python 3.11. Spark 3.5's
Hadoop calls `Subject.getSubject`, which fails from JDK 23 on ("getSubject is supported only if a
security manager is allowed"), and Spark 3.5 supports Java 8, 11 and 17 (21 runs its tests as
well); Homebrew's plain `openjdk` is always the newest release. And a `java` on PATH is not yet
a Java: macOS ships a /usr/bin/java placeholder that only says "Unable to locate a Java Runtime".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

PYTHON_MINIMUM = (3, 11)
JAVA_MAJORS = (17, 21)
"""The oldest and newest Java major version Spark 3.5 starts on here."""

INSTALL_JAVA = (
    "install Java 17 (macOS: `brew install openjdk@17` and "
    "`export JAVA_HOME=$(brew --prefix openjdk@17)/libexec/openjdk.jdk/Contents/Home`; "
    "Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless`) or set JAVA_HOME to a Java 17 to 21"
)
INSTALL_PYTHON = "install Python 3.11 or 3.12 and give it to make: `make demo PYTHON=/path/to/python3.11`"

_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


class MissingPrerequisite(RuntimeError):
    """Python or Java is missing or of a version the job cannot run on."""


def java_major(version_output: str) -> int | None:
    """The major version that `java -version` reports (on stderr), or None where it names none.

    `openjdk version "17.0.9"`, `java version "21.0.1" ... LTS`, `openjdk version "23"` and
    `"24-ea"` name it first; Java 8 and older say `"1.8.0_392"`.
    """
    found = _VERSION.search(version_output)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2)) if major == 1 and found.group(2) else major


def java_command(environ: Mapping[str, str]) -> str:
    """The java Spark's launcher runs: JAVA_HOME's if JAVA_HOME is set, else `java` from PATH."""
    java_home = environ.get("JAVA_HOME")
    return os.path.join(java_home, "bin", "java") if java_home else "java"


def java_version_problem(java: str, returncode: int, output: str) -> str | None:
    """What is wrong with the Java whose `java -version` exited with `returncode` and printed `output`."""
    major = java_major(output) if returncode == 0 else None
    if major is None:
        said = next((line.strip() for line in output.splitlines() if line.strip()), f"exit code {returncode}")
        if "Unable to locate a Java Runtime" in output:
            return f"`{java}` is macOS's placeholder, not a Java ({said}): {INSTALL_JAVA}"
        return f"`{java} -version` does not run ({said}): {INSTALL_JAVA}"
    low, high = JAVA_MAJORS
    if not low <= major <= high:
        why = "Hadoop fails on Java 23 and newer" if major > high else "Spark 3.5 needs Java 17"
        return f"Spark 3.5 runs on Java {low} to {high}, but `{java}` is Java {major} ({why}): {INSTALL_JAVA}"
    return None


def java_problem(
    environ: Mapping[str, str] = os.environ,
    run: Callable[[Sequence[str]], tuple[int, str]] | None = None,
) -> str | None:
    """One line on why the Java Spark would start cannot run the job, or None if it can."""
    java = java_command(environ)
    try:
        returncode, output = (run or _run)([java, "-version"])
    except FileNotFoundError:
        where = f"JAVA_HOME is {environ['JAVA_HOME']}, which has no bin/java" if environ.get("JAVA_HOME") else None
        return f"Java is required by Spark but {where or 'no `java` is on PATH'}: {INSTALL_JAVA}"
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`{java} -version` does not run ({error}): {INSTALL_JAVA}"
    return java_version_problem(java, returncode, output)


def python_problem(version: Sequence[int] = sys.version_info, executable: str = sys.executable) -> str | None:
    """One line on why this Python cannot run the job, or None if it can."""
    if tuple(version[:2]) >= PYTHON_MINIMUM:
        return None
    have = ".".join(str(part) for part in version[:3])
    return f"Python 3.11 or newer is required (numpy 2.4 has no wheels for older ones), {executable} is {have}: " + (
        INSTALL_PYTHON
    )


def python_command(executable: str = sys.executable, cwd: str | None = None) -> str:
    """This interpreter as a command to copy: relative where it is under the current folder
    (`.venv/bin/python`), else its full path."""
    if not executable:
        return "python"
    try:
        relative = os.path.relpath(executable, cwd)
    except ValueError:  # another drive (Windows)
        return executable
    return executable if relative.startswith("..") else relative


def missing_module_problem(module: str, executable: str = sys.executable, prefix: str = sys.prefix) -> str:
    """One line for a job started by an interpreter that lacks one of its packages (the system
    Python rather than the project's venv, or a venv whose install stopped half-way)."""
    # This file is <repository>/pipeline/job/prerequisites.py.
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    venv = os.path.join(repository, ".venv")
    if os.path.abspath(prefix) == venv:
        return f"the project's .venv has no {module}: reinstall it with `rm -f .venv/.job && make demo`"
    return (
        f"{python_command(executable)} has no {module}, which the job needs: run it with the project's venv, "
        "`.venv/bin/python -m pipeline ...` (`make demo` creates .venv and runs the job on the sample photos)"
    )


def check() -> None:
    """Raise MissingPrerequisite with one line if this Python or the Java Spark would start cannot run the job."""
    problem = python_problem() or java_problem()
    if problem:
        raise MissingPrerequisite(problem)


def _run(command: Sequence[str]) -> tuple[int, str]:
    """`java -version` prints on stderr; a JVM starts in well under a second, 60 s covers a cold disk."""
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, check=False)
    return done.returncode, done.stdout.decode(errors="replace")


if __name__ == "__main__":  # `make prerequisites`
    try:
        check()
    except MissingPrerequisite as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
