"""Every requirement set resolves to binary wheels where users work and where the job runs.

`uv pip compile` resolves for a target that is not this machine: it evaluates the environment
markers for that target (tensorflow-cpu on Linux x86_64, tensorflow elsewhere), accepts every
manylinux level up to the target's glibc, and lets pyspark (a pure-Python sdist) stay one.
pip's `--platform` does none of the three. The index is PyPI, named explicitly, with uv's own
configuration files and index variables set aside: what a user with a default setup resolves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from uv import find_uv_bin

from infra.config import PYTHON_VERSION

REPO = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/simple"

LAPTOPS = ("aarch64-apple-darwin", "aarch64-manylinux_2_28", "x86_64-manylinux_2_28")
"""Apple-silicon Macs, and Linux on arm64 and x86_64 with glibc 2.28 or newer (Debian 10, RHEL 8, Ubuntu 20.04)."""
LAPTOP_PYTHONS = ("3.11", "3.12")
EMR_WORKERS = ("x86_64-manylinux_2_34", "aarch64-manylinux_2_34")
"""EMR 7.x workers run Amazon Linux 2023, whose glibc is 2.34; the archive's Python is PYTHON_VERSION."""

TARGETS = [
    *(("requirements-dev.txt", platform, python) for platform in LAPTOPS for python in LAPTOP_PYTHONS),
    *(("requirements-emr.txt", platform, PYTHON_VERSION.rpartition(".")[0]) for platform in EMR_WORKERS),
]
"""requirements-dev.txt includes requirements.txt, which includes requirements-emr.txt: the whole set."""

UV_INDEX_VARIABLES = (
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_OFFLINE",
    "UV_CONFIG_FILE",
)


def index_unreachable() -> str | None:
    """Why PyPI cannot be reached from here, or None: the one reason to skip rather than fail."""
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{PYPI}/pyspark/", method="HEAD"), timeout=15):
            return None
    except (urllib.error.URLError, OSError) as error:
        return f"PyPI cannot be reached ({getattr(error, 'reason', error)}): wheel resolution not checked"


def compile_for(uv: str, requirements: str, platform: str, python: str) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if name not in UV_INDEX_VARIABLES}
    command = [uv, "pip", "compile", "--quiet", "--no-config", "--no-header", "--no-annotate"]
    # This interpreter builds pyspark's metadata (pure Python, the same for every target): without it, uv would
    # download a CPython of each target's version (python-build-standalone) to do so.
    command += ["--python", sys.executable, "--no-python-downloads"]
    command += ["--default-index", PYPI, "--python-platform", platform, "--python-version", python]
    command += ["--only-binary", ":all:", "--no-binary", "pyspark", str(REPO / requirements)]
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)


def test_every_target_resolves_to_binary_wheels() -> None:
    unreachable = index_unreachable()
    if unreachable:
        pytest.skip(unreachable)
    uv = find_uv_bin()  # once: sysconfig is not safe to initialize from several threads
    with ThreadPoolExecutor(len(TARGETS)) as pool:
        results = dict(zip(TARGETS, pool.map(lambda target: compile_for(uv, *target), TARGETS)))
    failed = {target: result.stderr.strip() for target, result in results.items() if result.returncode}
    assert not failed, "\n\n".join(f"{' '.join(target)}:\n{error}" for target, error in failed.items())
    for (requirements, platform, _python), result in results.items():
        pins = {line.split("==")[0] for line in result.stdout.splitlines() if "==" in line}
        if requirements == "requirements-dev.txt":
            tensorflow = "tensorflow-cpu" if platform.startswith("x86_64-manylinux") else "tensorflow"
            assert {tensorflow, "pyspark", "aws-cdk-lib"} <= pins, (platform, sorted(pins))
        else:
            assert not {"tensorflow", "tensorflow-cpu", "pyspark"} & pins, (platform, sorted(pins))
