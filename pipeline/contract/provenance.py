"""What a run used: its code, Python environment and model, measured by the job itself.

`cdk deploy` uploads the job under a key holding `source_digest` of the package, the
environment archive under its build inputs' fingerprint and the model under its content
hash; the report records what the running job finds, so that a run says which code,
environment and model made its results whatever was deployed later.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import zipfile
from importlib.metadata import distributions
from pathlib import Path
from typing import Any, Iterable, Iterator

PACKAGE = "pipeline"


def package_files(package_dir: Path) -> Iterator[tuple[str, bytes]]:
    """(path relative to the package, content) of every file but bytecode, in a stable order."""
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path.relative_to(package_dir).as_posix(), path.read_bytes()


def zipped_package_files(archive: Path, package: str = PACKAGE) -> Iterator[tuple[str, bytes]]:
    """The same from `spark.submit.pyFiles`' zip, where the package sits under `<package>/`."""
    with zipfile.ZipFile(archive) as zipped:
        for name in sorted(zipped.namelist()):
            if name.startswith(f"{package}/") and not name.endswith("/"):
                yield name[len(package) + 1 :], zipped.read(name)


def source_digest(files: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over each file's path and content: the same for the folder and the zip made from it."""
    digest = hashlib.sha256()
    for name, content in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()


def running_code() -> dict[str, Any]:
    """The digest of the `pipeline` package this process imported (a folder locally, a zip on EMR)."""
    package_dir = Path(__file__).resolve().parents[1]  # this file is <package>/contract/provenance.py
    archive = package_dir.parent
    files = list(zipped_package_files(archive) if zipfile.is_zipfile(archive) else package_files(package_dir))
    return {"sha256": source_digest(files), "files": len(files), "loaded_from": str(archive)}


def running_environment(archives: str | None) -> dict[str, Any]:
    """The interpreter and packages of the driver, and the archive Spark unpacked for the workers."""
    packages = sorted(f"{d.metadata['Name'].lower()}=={d.version}" for d in distributions())
    return {
        "archive": archives,
        "python": platform.python_version(),
        "packages_sha256": hashlib.sha256("\n".join(packages).encode()).hexdigest(),
        "packages": len(packages),
        "executable": sys.executable,
    }
