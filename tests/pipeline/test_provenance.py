"""What a run records about its code and environment, whether the job runs from the folder or the zip."""

import json
import subprocess
import sys

from infra.packaging import _bundle_job
from pipeline.contract.provenance import package_files, running_code, running_environment, source_digest
from tests.conftest import REPO


def test_the_job_run_from_its_zip_finds_the_digest_of_the_key_it_was_uploaded_under(tmp_path):
    _bundle_job(REPO / "pipeline", tmp_path)  # what `cdk deploy` uploads under job/<digest>/
    script = "import json; from pipeline.contract.provenance import running_code; print(json.dumps(running_code()))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "pipeline.zip")},  # as spark.submit.pyFiles puts it
        capture_output=True,
        text=True,
        check=True,
    )
    from_zip = json.loads(done.stdout)
    assert from_zip["loaded_from"] == str(tmp_path / "pipeline.zip")
    assert from_zip["sha256"] == source_digest(package_files(REPO / "pipeline")) == running_code()["sha256"]


def test_the_environment_names_the_archive_spark_unpacked():
    environment = running_environment("s3://artifacts/env/abc/pyspark_env.tar.gz#environment")
    assert environment["archive"].endswith("#environment")
    assert len(environment["packages_sha256"]) == 64 and environment["packages"] > 10
