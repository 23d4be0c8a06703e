"""Python and Java as they really are: `java -version` of several vendors, the macOS placeholder, and
one line from `make prerequisites` and from the job when either is unfit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.job.prerequisites import (
    INSTALL_JAVA,
    java_command,
    java_major,
    java_problem,
    java_version_problem,
    python_problem,
)
from tests.conftest import REPO, SAMPLE

JAVA_VERSIONS = {
    # Debian's OpenJDK 17, as on this project's machines.
    'openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)\n': 17,
    # Eclipse Temurin, with a JAVA_TOOL_OPTIONS line before it.
    'Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version "17.0.10" 2024-01-16\n'
    "OpenJDK Runtime Environment Temurin-17.0.10+7 (build 17.0.10+7)\n": 17,
    # Amazon Corretto 21, Oracle's JDK 21, IBM Semeru (a fourth number).
    'openjdk version "21.0.5" 2024-10-15 LTS\nOpenJDK Runtime Environment Corretto-21.0.5.11.1\n': 21,
    'java version "21.0.1" 2023-10-17 LTS\nJava(TM) SE Runtime Environment (build 21.0.1+12-LTS-29)\n': 21,
    'openjdk version "17.0.8.1" 2023-08-24\nIBM Semeru Runtime Open Edition 17.0.8.1\n': 17,
    # Homebrew's plain `openjdk`: the newest release; an early-access build.
    'openjdk version "23" 2024-09-17\nOpenJDK Runtime Environment Homebrew (build 23)\n': 23,
    'openjdk version "24-ea" 2025-03-18\n': 24,
    # Java 8 and older number themselves 1.x.
    'openjdk version "1.8.0_392"\nOpenJDK Runtime Environment (Temurin)(build 1.8.0_392-b08)\n': 8,
    'java version "11.0.21" 2023-10-17 LTS\n': 11,
}
MACOS_PLACEHOLDER = (
    "The operation couldn’t be completed. Unable to locate a Java Runtime.\n"
    "Please visit http://www.java.com for information on installing Java.\n"
)


@pytest.mark.parametrize("output, major", JAVA_VERSIONS.items())
def test_the_major_version_of_each_vendor(output: str, major: int) -> None:
    assert java_major(output) == major


@pytest.mark.parametrize("output, major", JAVA_VERSIONS.items())
def test_only_java_17_to_21_passes(output: str, major: int) -> None:
    problem = java_version_problem("java", 0, output)
    if 17 <= major <= 21:
        assert problem is None
    else:
        assert problem == (
            f"Spark 3.5 runs on Java 17 to 21, but `java` is Java {major} "
            f"({'Hadoop fails on Java 23 and newer' if major > 21 else 'Spark 3.5 needs Java 17'}): {INSTALL_JAVA}"
        )


def test_the_macos_placeholder_is_not_a_java() -> None:
    assert java_major(MACOS_PLACEHOLDER) is None
    problem = java_version_problem("java", 1, MACOS_PLACEHOLDER)
    assert problem.startswith("`java` is macOS's placeholder, not a Java (The operation couldn’t be completed.")
    assert "brew install openjdk@17" in problem and "brew --prefix openjdk@17" in problem


def test_a_java_that_does_not_run_says_what_it_said() -> None:
    problem = java_version_problem("/opt/jdk/bin/java", 127, "\n/opt/jdk/bin/java: cannot execute binary file\n")
    assert problem.startswith("`/opt/jdk/bin/java -version` does not run (/opt/jdk/bin/java: cannot execute binary")
    assert "\n" not in problem


def test_java_home_comes_first() -> None:
    assert java_command({"JAVA_HOME": "/opt/jdk-17", "PATH": "/usr/bin"}) == os.path.join("/opt/jdk-17", "bin", "java")
    assert java_command({"PATH": "/usr/bin"}) == "java"


def test_a_missing_java_is_named_where_it_was_looked_for() -> None:
    def absent(_command):
        raise FileNotFoundError

    assert "no `java` is on PATH" in java_problem({}, absent)
    assert "JAVA_HOME is /opt/nothing, which has no bin/java" in java_problem({"JAVA_HOME": "/opt/nothing"}, absent)


def test_the_java_that_runs_is_asked() -> None:
    asked = []

    def java_17(command):
        asked.append(command)
        return 0, 'openjdk version "17.0.2" 2022-01-18\n'

    assert java_problem({"JAVA_HOME": "/jdk"}, java_17) is None
    assert asked == [[os.path.join("/jdk", "bin", "java"), "-version"]]


@pytest.mark.parametrize("version", [(3, 10, 12), (3, 9, 6), (2, 7, 18)])
def test_python_before_3_11_is_refused(version: tuple[int, int, int]) -> None:
    problem = python_problem(version, "/usr/bin/python3")
    assert problem.startswith("Python 3.11 or newer is required (numpy 2.4 has no wheels for older ones), ")
    assert f"/usr/bin/python3 is {'.'.join(map(str, version))}" in problem and "PYTHON=" in problem


@pytest.mark.parametrize("version", [(3, 11, 0), (3, 12, 8), (3, 13, 1)])
def test_python_3_11_and_newer_pass(version: tuple[int, int, int]) -> None:
    assert python_problem(version, "python3") is None


def fake_java_home(tmp_path: Path, says: str, exit_code: int) -> Path:
    """A JAVA_HOME whose bin/java prints `says` on stderr and exits with `exit_code`, as `java -version` does."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    (tmp_path / "says.txt").write_text(says)
    java.write_text(f"#!/bin/sh\ncat '{tmp_path / 'says.txt'}' >&2\nexit {exit_code}\n")
    java.chmod(0o755)
    return java.parent.parent


def top_level_make_env(**extra: str) -> dict[str, str]:
    """The environment of a user's own `make`: none of the variables of the `make test` running this suite,
    which would make the inner make a sub-make (its failure line then reads `make[1]: ***`)."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return {**inherited, **extra}


@pytest.mark.parametrize(
    "says, exit_code, expected",
    [
        (MACOS_PLACEHOLDER, 1, "is macOS's placeholder, not a Java"),
        ('openjdk version "23" 2024-09-17\n', 0, "is Java 23 (Hadoop fails on Java 23 and newer)"),
        ('openjdk version "1.8.0_392"\n', 0, "is Java 8 (Spark 3.5 needs Java 17)"),
    ],
)
def test_make_prerequisites_says_it_in_one_line(tmp_path: Path, says: str, exit_code: int, expected: str) -> None:
    if shutil.which("make") is None:
        pytest.skip("needs make")
    java_home = fake_java_home(tmp_path, says, exit_code)
    done = subprocess.run(
        ["make", "--no-print-directory", "prerequisites", f"PYTHON={sys.executable}"],
        cwd=REPO,
        env=top_level_make_env(JAVA_HOME=str(java_home)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make: ***")]
    assert len(ours) == 1 and ours[0].startswith("error: ") and expected in ours[0], done.stderr


def test_make_prerequisites_passes_with_this_machines_java() -> None:
    if shutil.which("make") is None:
        pytest.skip("needs make")
    done = subprocess.run(
        ["make", "--no-print-directory", "prerequisites", f"PYTHON={sys.executable}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_the_job_refuses_an_unfit_java_before_spark_starts(tmp_path: Path) -> None:
    java_home = fake_java_home(tmp_path, 'openjdk version "25" 2025-09-16\n', 0)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--input", str(SAMPLE), "--output", str(tmp_path / "out")],
        cwd=REPO,
        env=dict(os.environ, JAVA_HOME=str(java_home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: Spark 3.5 runs on Java 17 to 21, but `{java_home}/bin/java` is Java 25 "
        f"(Hadoop fails on Java 23 and newer): {INSTALL_JAVA}"
    ]
