"""cdk-nag per construct: each construct carries the acknowledgments of its own findings.

Each construct is synthesized alone (with what it needs) under both packs of app.py,
AwsSolutions and NIST 800-53 rev 5, in each configuration that changes resources
(SSE-S3 or KMS, data kept or destroyed), so an acknowledgment can never live in the
stack only because a sibling added it.
"""

import json
from pathlib import Path

import pytest
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

from infra.artifact_uploads import ArtifactUploads
from infra.compute import Compute
from infra.orchestration import Orchestration
from infra.packaging import Packaging
from infra.storage import Storage


def storage_only(stack, config) -> None:
    Storage(stack, "Storage", config=config)


def with_compute(stack, config) -> dict:
    storage = Storage(stack, "Storage", config=config)
    uploads = ArtifactUploads(stack, "Uploads", bucket=storage.artifacts_bucket, log_retention_days=30)
    compute = Compute(stack, "Compute", config=config, storage=storage, uploads=uploads)
    return {"storage": storage, "uploads": uploads, "compute": compute}


def with_packaging(stack, config) -> None:
    storage = Storage(stack, "Storage", config=config)
    uploads = ArtifactUploads(stack, "Uploads", bucket=storage.artifacts_bucket, log_retention_days=30)
    Packaging(stack, "Packaging", config=config, uploads=uploads)


def with_orchestration(stack, config) -> None:
    parts = with_compute(stack, config)
    packaging = Packaging(stack, "Packaging", config=config, uploads=parts["uploads"])
    Orchestration(
        stack,
        "Orchestration",
        config=config,
        storage=parts["storage"],
        compute=parts["compute"],
        packaging=packaging,
    )


VARIANTS = {"defaults": {}, "kms": {"encryption": "kms"}, "destroy-data": {"destroy_data": "true"}}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("build", [storage_only, with_compute, with_packaging, with_orchestration])
def test_construct_has_no_unacknowledged_finding(build, variant, variant_stack) -> None:
    stack, config = variant_stack(**VARIANTS[variant])
    build(stack, config)
    app = stack.node.root
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
    try:
        assembly = app.synth()
    except RuntimeError as failure:
        pytest.fail(f"cdk-nag findings in {build.__name__}: {failure}")
    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text())
    assert report["pluginReports"] == []
