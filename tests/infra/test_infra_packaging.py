"""Packaging: the job as entry point + importable package, the model converted at deploy, content-addressed keys."""

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from aws_cdk import Stack

from infra.artifact_uploads import ArtifactUploads
from infra.packaging import Packaging, _bundle_job, _bundle_model, model_stem
from infra.storage import Storage
from pipeline.contract.provenance import package_files, source_digest, zipped_package_files
from pipeline.model.embedder import preprocessing_from_sidecar, tflite_payload
from tests.conftest import REPO

HASH = "[0-9a-f]{64}"


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
    # The digest in the upload's key is the one the job computes from the zip at run time.
    assert source_digest(zipped_package_files(output / "pipeline.zip")) == source_digest(package_files(package))


def test_every_module_of_the_real_package_imports_from_the_job_zip_alone(tmp_path) -> None:
    """What EMR Serverless gets: pipeline.zip made by the deploy's own bundler from the repository's
    package, with nothing else of the repository on the path. A subpackage or data file left out of the
    zip fails here (the log4j2 settings are read beside the session module)."""
    _bundle_job(REPO / "pipeline", tmp_path)
    archive = tmp_path / "pipeline.zip"
    modules = sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in (REPO / "pipeline").rglob("*.py")
        if "__pycache__" not in path.parts
    )
    script = f"""
import importlib, importlib.resources, sys
sys.path.insert(0, {str(archive)!r})
for name in {modules!r}:
    module = importlib.import_module(name)
    assert module.__file__.startswith({str(archive)!r}), (name, module.__file__)
assert importlib.resources.files("pipeline.job").joinpath("log4j2-quiet.properties").read_text()
print(len({modules!r}))
"""
    # -I: neither the current folder nor PYTHONPATH on the path, only the archive and site-packages.
    done = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip().splitlines()[-1]) == len(modules) > 40


def test_the_model_is_converted_with_its_sidecar(weights, tmp_path) -> None:
    """What `cdk deploy` uploads for a weights file: X.tflite of any input size, X.json beside it."""
    _bundle_model(weights, 224, tmp_path / model_stem(weights))
    stem = Path(weights).name.removesuffix(".weights.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.json", f"{stem}.tflite"]
    sidecar = (tmp_path / f"{stem}.json").read_text()
    model = tmp_path / f"{stem}.tflite"
    assert preprocessing_from_sidecar(sidecar, str(model)) == "torch"
    for size in (96, 224):  # the sidecar's digest and any size are accepted
        assert tflite_payload(model.read_bytes(), size, "torch", sidecar, str(model)).image_size == size


def test_job_and_model_locations_are_content_addressed(synthesized) -> None:
    packaging = synthesized.stack.packaging
    stack = synthesized.stack
    digest = packaging.job_digest
    assert re.fullmatch(HASH, digest)
    assert resolved(stack, packaging.entry_point_uri).endswith(f'/job/{digest}/entrypoint.py"]]}}')
    assert resolved(stack, packaging.py_files_uri).endswith(f'/job/{digest}/pipeline.zip"]]}}')
    assert re.search(f'/model/{HASH}/mobilenet_v2_imagenet.tflite"]]}}$', resolved(stack, packaging.model_uri))


def test_uploads_keep_what_a_running_job_reads(synthesized) -> None:
    """A deploy writes new keys; the old ones stay (a run in progress keeps its code, environment and model)."""
    deployments = synthesized.template.find_resources("Custom::CDKBucketDeployment").values()
    prefixes = sorted(d["Properties"]["DestinationBucketKeyPrefix"] for d in deployments)
    assert [re.sub(HASH, "<hash>", p) for p in prefixes] == ["env/<hash>/", "job/<hash>/", "model/<hash>/"]
    assert all(d["Properties"].get("RetainOnDelete", True) is not False for d in deployments)


def packaging_for(variant_stack, **context: str) -> tuple[Stack, Packaging]:
    stack, config = variant_stack(**context)
    storage = Storage(stack, "Storage", config=config)
    uploads = ArtifactUploads(stack, "Uploads", bucket=storage.artifacts_bucket, log_retention_days=30)
    return stack, Packaging(stack, "Packaging", config=config, uploads=uploads)


def test_a_weights_file_is_deployed_under_its_name(tmp_path, variant_stack) -> None:
    weights = tmp_path / "finetuned.weights.h5"
    weights.write_bytes(b"h5")
    (tmp_path / "finetuned.json").write_text('{"preprocessing": "tf"}')
    stack, packaging = packaging_for(variant_stack, weights=str(weights))
    assert re.search(f'/model/{HASH}/finetuned.tflite"]]}}$', resolved(stack, packaging.model_uri))


def test_local_bundling_stages_job_and_converted_model_for_upload(weights, variant_stack) -> None:
    """Real CDK local bundling (no Docker): what `cdk deploy` would upload from this machine."""
    stack, _ = packaging_for(variant_stack, weights=weights, skip_bundling="false")
    assembly = stack.node.root.synth()
    staged = {
        path.name
        for asset_dir in Path(assembly.directory).glob("asset.*")
        if asset_dir.is_dir()
        for path in asset_dir.iterdir()
    }
    stem = model_stem(weights)
    assert {"entrypoint.py", "pipeline.zip", f"{stem}.tflite", f"{stem}.json"} <= staged
