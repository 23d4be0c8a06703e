"""A new user's first tries: the system Python, `make demo` offline, `--help`. Each gets one line
that says what happened and what to do, in the form that works for how it was started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from pipeline.cli import parser
from pipeline.job import run as job
from pipeline.job.prerequisites import missing_module_problem, python_command
from pipeline.model.embedder import IMAGENET, WeightsError
from tests.conftest import REPO

SYSTEM_PYTHON = [getattr(sys, "_base_executable", sys.executable), "-S"]
"""The interpreter the venv was made from, without site-packages: a system Python without pyspark."""


def test_the_system_python_is_told_to_use_the_venv_in_one_line(tmp_path) -> None:
    done = subprocess.run(
        [*SYSTEM_PYTHON, "-m", "pipeline", "run", "--input", "data/sample", "--output", "output"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("error: ") and "which the job needs: run it with the project's venv" in lines[0]
    assert "`.venv/bin/python -m pipeline ...`" in lines[0] and "make demo" in lines[0]


def test_a_venv_that_lacks_a_package_is_told_to_reinstall() -> None:
    venv = str(REPO / ".venv")
    line = missing_module_problem("pyspark", os.path.join(venv, "bin", "python"), venv)
    assert line == "the project's .venv has no pyspark: reinstall it with `rm -f .venv/.job && make demo`"


def test_the_usage_line_names_the_interpreter_that_runs_it() -> None:
    assert python_command("/repo/.venv/bin/python", "/repo") == os.path.join(".venv", "bin", "python")
    assert python_command("/usr/bin/python3", "/repo") == "/usr/bin/python3"
    assert parser().format_usage().startswith(f"usage: {python_command()} -m pipeline ")


@pytest.fixture
def offline_imagenet(monkeypatch):
    """Keras's download of the ImageNet weights fails, as it does without internet."""

    def no_download(*_args, **_kwargs):
        raise WeightsError("cannot load weights imagenet: URL fetch failure on https://storage.googleapis.com/...")

    monkeypatch.setattr(job, "load_payload", no_download)
    return job.RunConfig(input="data/sample", output="output", weights=IMAGENET)


def test_offline_the_job_advises_its_own_option(offline_imagenet, monkeypatch) -> None:
    monkeypatch.delenv(job.WEIGHTS_OPTION_ENV, raising=False)
    with pytest.raises(WeightsError, match=r"without internet give a weights file: --weights FILE\)$"):
        job.load_driver_payload(None, offline_imagenet)


def test_offline_make_demo_advises_make_s_variable(offline_imagenet, monkeypatch) -> None:
    """`make demo` takes WEIGHTS=FILE, not --weights: the Makefile tells the job so."""
    if shutil.which("make") is None:
        pytest.skip("needs make")
    recipe = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "--always-make", "demo", "WEIGHTS=imagenet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    setting = next(line for line in recipe.splitlines() if job.WEIGHTS_OPTION_ENV in line)
    option = setting.split("=", 1)[1].strip(' "\\')
    assert option == "make demo WEIGHTS=FILE"
    monkeypatch.setenv(job.WEIGHTS_OPTION_ENV, option)
    with pytest.raises(WeightsError, match=r"without internet give a weights file: make demo WEIGHTS=FILE\)$"):
        job.load_driver_payload(None, offline_imagenet)
