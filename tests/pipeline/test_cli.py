"""The command line: each option's default in --help, a quiet start unless --verbose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.cli import parser
from tests.conftest import REPO, SAMPLE

SPARK_START_UP = ("Setting default log level", "NativeCodeLoader")


def help_of(command: str) -> str:
    return " ".join(parser()._subparsers._group_actions[0].choices[command].format_help().split())


def test_run_help_shows_each_default() -> None:
    text = help_of("run")
    for shown in ("(default: imagenet)", "(default: 224)", "(default: 0.95)", "tflite (default,"):
        assert shown in text
    assert "(default: a multiple of the cores)" in text and "(default: UTC timestamp)" in text
    assert "default: None" not in text and "default: False" not in text and "default: []" not in text
    assert "--verbose" in text


@pytest.mark.parametrize("command", ["transform", "predict"])
def test_the_other_job_commands_say_their_defaults_and_take_verbose(command: str) -> None:
    text = help_of(command)
    assert "--verbose" in text and "default: None" not in text


def python_m_pipeline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=REPO,
        env=dict(os.environ, PIPELINE_SPARK_MASTER="local[1]"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_local_run_starts_quietly_and_an_s3_output_is_one_line() -> None:
    """Spark's start-up lines are gone; a laptop's missing S3 connector is the only line, with no traceback."""
    done = python_m_pipeline("run", "--input", str(SAMPLE), "--output", "s3://bucket/out")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: s3://bucket/out/") and "this Spark has no S3 connector" in line


def test_verbose_shows_sparks_start_up_lines() -> None:
    done = python_m_pipeline("run", "--input", str(SAMPLE), "--output", "s3://bucket/out", "--verbose")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert all(any(noise in line for line in lines) for noise in SPARK_START_UP), done.stderr
    assert lines[-1].startswith("error: s3://bucket/out/") and "Traceback" not in done.stderr
