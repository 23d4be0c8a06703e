"""Packaging: the job as entry point + importable package, the weights with their sidecar."""

import json
import zipfile
from pathlib import Path

import pytest
from aws_cdk import Stack

from infra.artifact_uploads import ArtifactUploads
from infra.packaging import Packaging, _bundle_job, _copy_into
from infra.storage import Storage


def resolved(stack: Stack, value: str) -> str:
    return json.dumps(stack.resolve(value))


def make_package(root: Path) -> Path:
    package = root / "pipeline"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("from pipeline.cli import main\nraise SystemExit(main())\n")
    (package / "cli.py").write_text("def main():\n    return 0\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "report.html").write_text("<html></html>")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"")
    return package


def test_job_bundle_is_an_importable_zip_and_the_entry_point(tmp_path) -> None:
    package = make_package(tmp_path / "src")
    output = tmp_path / "out"
    output.mkdir()
    _bundle_job(package, output)
    assert sorted(p.name for p in output.iterdir()) == ["entrypoint.py", "pipeline.zip"]
    assert (output / "entrypoint.py").read_text() == (package / "__main__.py").read_text()
    with zipfile.ZipFile(output / "pipeline.zip") as archive:
        assert sorted(archive.namelist()) == [
            "pipeline/__init__.py",
            "pipeline/__main__.py",
            "pipeline/cli.py",
            "pipeline/sub/__init__.py",
            "pipeline/sub/report.html",
        ]


def test_weights_file_is_shipped_with_its_sidecar(tmp_path) -> None:
    weights = tmp_path / "m.weights.h5"
    sidecar = tmp_path / "m.json"
    weights.write_bytes(b"h5")
    sidecar.write_text('{"preprocessing": "torch"}')
    output = tmp_path / "out"
    output.mkdir()
    _copy_into(output, weights, sidecar)
    assert sorted(p.name for p in output.iterdir()) == ["m.json", "m.weights.h5"]


def test_job_and_weights_locations(synthesized) -> None:
    packaging = synthesized.stack.packaging
    stack = synthesized.stack
    assert resolved(stack, packaging.entry_point_uri).endswith('/job/entrypoint.py"]]}')
    assert resolved(stack, packaging.py_files_uri).endswith('/job/pipeline.zip"]]}')
    assert resolved(stack, packaging.weights_uri).endswith('/weights/mobilenet_v2_imagenet.weights.h5"]]}')


def packaging_for(variant_stack, **context: str) -> tuple[Stack, Packaging]:
    stack, config = variant_stack(**context)
    storage = Storage(stack, "Storage", config=config)
    uploads = ArtifactUploads(stack, "Uploads", bucket=storage.artifacts_bucket, log_retention_days=30)
    return stack, Packaging(stack, "Packaging", config=config, uploads=uploads)


def test_weights_from_a_file_keep_its_name(tmp_path, variant_stack) -> None:
    weights = tmp_path / "finetuned.weights.h5"
    weights.write_bytes(b"h5")
    (tmp_path / "finetuned.json").write_text('{"preprocessing": "tf"}')
    stack, packaging = packaging_for(variant_stack, weights=str(weights))
    assert resolved(stack, packaging.weights_uri).endswith('/weights/finetuned.weights.h5"]]}')


def test_a_package_without_entry_point_is_refused(tmp_path, variant_stack) -> None:
    (tmp_path / "pipeline").mkdir()
    with pytest.raises(FileNotFoundError, match="__main__.py"):
        packaging_for(variant_stack, job_package_dir=str(tmp_path / "pipeline"))


def test_local_bundling_stages_job_and_weights_for_upload(tmp_path, variant_stack) -> None:
    """Real CDK local bundling (no Docker): what `cdk deploy` would upload from this machine."""
    weights = tmp_path / "finetuned.weights.h5"
    weights.write_bytes(b"h5")
    (tmp_path / "finetuned.json").write_text('{"preprocessing": "tf"}')
    stack, _ = packaging_for(variant_stack, weights=str(weights), skip_bundling="false")
    assembly = stack.node.root.synth()
    staged = {
        path.name
        for asset_dir in Path(assembly.directory).glob("asset.*")
        if asset_dir.is_dir()
        for path in asset_dir.iterdir()
    }
    assert {
        "entrypoint.py",
        "pipeline.zip",
        "finetuned.weights.h5",
        "finetuned.json",
    } <= staged
