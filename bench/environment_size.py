"""Size and unpack time of the EMR Python environment archive, built here by the deploy's own script.

Usage: python bench/environment_size.py [--python-prefix DIR] [--before REV] [--workdir DIR]

Runs infra/docker/python_env/build.sh outside Docker: everything but its first step, compiling
CPython (this machine cannot download it), for which an installed CPython stands in (default:
pyenv's 3.11.7), copied into a fresh prefix the way `make altinstall` leaves one: the interpreter,
libpython, the standard library, and pip + setuptools from ensurepip. With --before REV, the
build.sh and requirements-emr.txt of that commit run the same way, for comparison.

One difference remains and is added, not hidden: the stand-in interpreter is a small launcher
linked to libpython3.11.so, while the real build links CPython statically, so each of the venv's
three interpreter copies (python, python3, python3.11) carries libpython's code. The rows add three
copies of this machine's libpython (debug symbols stripped when the script strips them) to the
measured sizes ("interpreter" columns). Unpacking is timed the way Spark unpacks an archive
(`tar -xzf` into an empty directory), once the archive is in the page cache.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.table import report  # noqa: E402
from infra.compute import EMR_REQUIREMENTS, PYTHON_ENV_ARCHIVE, PYTHON_ENV_DIR  # noqa: E402
from infra.config import PYTHON_VERSION  # noqa: E402

BUILD_SCRIPT = PYTHON_ENV_DIR / "build.sh"
PYENV_311 = Path("/root/.pyenv/versions/3.11.7")
MINOR = PYTHON_VERSION.rsplit(".", 1)[0]
LIBPYTHON = f"libpython{MINOR}.so.1.0"
MB = 1e6


def standin_prefix(source: Path, target: Path) -> Path:
    """A fresh-install-like CPython prefix from an installed one (whose site-packages may hold anything)."""
    if target.exists():
        return target
    (target / "bin").mkdir(parents=True)
    shutil.copy2(source / "bin" / f"python{MINOR}", target / "bin")
    (target / "lib").mkdir()
    for library in (source / "lib").glob(f"libpython{MINOR}*"):
        shutil.copy2(library, target / "lib", follow_symlinks=False)
    shutil.copytree(
        source / "lib" / f"python{MINOR}",
        target / "lib" / f"python{MINOR}",
        ignore=lambda folder, names: ["site-packages"] if Path(folder) == source / "lib" / f"python{MINOR}" else [],
    )
    (target / "lib" / f"python{MINOR}" / "site-packages").mkdir()
    subprocess.run([target / "bin" / f"python{MINOR}", "-m", "ensurepip", "--altinstall", "--upgrade"], check=True)
    return target


def git_show(revision: str, path: str) -> str:
    shown = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=REPO, check=True, capture_output=True, text=True)
    return shown.stdout


def legacy_script(revision: str, prefix: Path, requirements: Path, venv: Path, output: Path) -> str:
    """build.sh of an older commit, minus its CPython compile, with its fixed paths pointed at ours."""
    script = git_show(revision, "infra/docker/python_env/build.sh")
    start, end = script.index("dnf install"), script.index("make altinstall --quiet") + len("make altinstall --quiet")
    script = script[:start] + script[end:]
    for fixed, ours in (
        ("/usr/local", str(prefix)),
        ("/opt/venv", str(venv)),
        ("/asset-output", str(output)),
        ("/requirements-emr.txt", str(requirements)),  # the mounted file, not /tmp/requirements-emr.txt
    ):
        script = re.sub(rf"(?<![\w/]){re.escape(fixed)}", ours, script)
    return script


def measure(label: str, archive: Path, libpython: Path, stripped: bool, workdir: Path) -> dict:
    """Compressed and unpacked size (plus the static interpreter's share) and the unpack time."""
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    unpacked = sum(m.size for m in members if m.isfile())
    pycache = sum(m.size for m in members if m.isfile() and "__pycache__" in m.name)
    interpreter = Path(workdir / "libpython-copy")
    shutil.copy2(libpython, interpreter)
    if stripped:
        subprocess.run(["strip", "--strip-debug", interpreter], check=True)
    interpreter_raw = 3 * interpreter.stat().st_size
    interpreter_gz = 3 * len(gzip.compress(interpreter.read_bytes(), compresslevel=6))
    interpreter.unlink()
    archive.read_bytes()  # into the page cache: time the unpacking, not the disk
    target = Path(tempfile.mkdtemp(dir=workdir))
    started = time.perf_counter()
    subprocess.run(["tar", "-xzf", archive, "-C", target], check=True)
    unpack_s = time.perf_counter() - started
    shutil.rmtree(target)
    return {
        "archive": label,
        "files": len(members),
        "compressed_mb": round((archive.stat().st_size + interpreter_gz) / MB, 1),
        "unpacked_mb": round((unpacked + interpreter_raw) / MB, 1),
        "of_which_interpreter_mb": round(interpreter_raw / MB, 1),
        "of_which_pycache_mb": round(pycache / MB, 1),
        "unpack_s": round(unpack_s, 1),
    }


def build(label: str, script: Path, prefix: Path, requirements: Path, workdir: Path) -> Path:
    out = workdir / f"out-{label}"
    if (out / PYTHON_ENV_ARCHIVE).is_file():
        return out / PYTHON_ENV_ARCHIVE
    env = dict(
        os.environ,
        PYTHON_VERSION=PYTHON_VERSION,
        PYTHON_PREFIX=str(prefix),
        REQUIREMENTS_FILE=str(requirements),
        VENV=str(workdir / f"venv-{label}"),
        OUTPUT_DIR=str(out),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(["bash", script], env=env, check=True)
    return out / PYTHON_ENV_ARCHIVE


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--python-prefix", type=Path, default=PYENV_311, help="installed CPython standing in")
    options.add_argument("--before", metavar="REV", help="also build the archive of this commit (e.g. main)")
    options.add_argument(
        "--workdir",
        type=Path,
        help="keep the builds here and reuse them: a second run only measures (default: a temp folder)",
    )
    args = options.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="environment-size-"))
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = standin_prefix(args.python_prefix, workdir / "cpython")
    libpython = prefix / "lib" / LIBPYTHON
    rows = []
    if args.before:
        requirements = workdir / "requirements-before.txt"
        requirements.write_text(git_show(args.before, "requirements-emr.txt"))
        script = workdir / "build-before.sh"
        out = workdir / "out-before"
        if not (out / PYTHON_ENV_ARCHIVE).is_file():
            out.mkdir(exist_ok=True)
            script.write_text(legacy_script(args.before, prefix, requirements, workdir / "venv-before", out))
            subprocess.run(["bash", script], env=dict(os.environ, PYTHON_VERSION=PYTHON_VERSION), check=True)
        rows.append(measure(f"before ({args.before})", out / PYTHON_ENV_ARCHIVE, libpython, False, workdir))
    archive = build("after", BUILD_SCRIPT, prefix, EMR_REQUIREMENTS, workdir)
    rows.append(measure("after (this tree)", archive, libpython, True, workdir))
    report(rows, {"benchmark": "environment_size", "python_standin": str(args.python_prefix), "workdir": str(workdir)})


if __name__ == "__main__":
    main()
