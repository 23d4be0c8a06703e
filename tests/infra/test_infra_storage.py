"""Storage: every bucket locked down and logged; data kept on destroy unless asked."""

import pytest
from aws_cdk.assertions import Match, Template

from infra.storage import Storage

DATA_BUCKETS = ("StorageInputBucket", "StorageResultsBucket")
DISPOSABLE_BUCKETS = ("StorageArtifactsBucket", "StorageLogsBucket")


def buckets(template: Template) -> dict[str, dict]:
    return template.find_resources("AWS::S3::Bucket")


def bucket(template: Template, prefix: str) -> dict:
    (found,) = [b for name, b in buckets(template).items() if name.startswith(prefix)]
    return found


def logical_id(template: Template, prefix: str) -> str:
    (found,) = [name for name in buckets(template) if name.startswith(prefix)]
    return found


def test_four_buckets(synthesized) -> None:
    assert len(buckets(synthesized.template)) == 4


def test_every_bucket_is_private_encrypted_and_tls_only(synthesized) -> None:
    template = synthesized.template
    for name, resource in buckets(template).items():
        props = resource["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", name
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": name},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Principal": {"AWS": "*"},
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_every_bucket_aborts_incomplete_uploads(synthesized) -> None:
    for name, resource in buckets(synthesized.template).items():
        rules = resource["Properties"]["LifecycleConfiguration"]["Rules"]
        assert any(rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 7 for rule in rules), (
            name
        )


def test_access_logs_go_to_the_logs_bucket(synthesized) -> None:
    template = synthesized.template
    logs_id = logical_id(template, "StorageLogsBucket")
    for prefix in (*DATA_BUCKETS, "StorageArtifactsBucket"):
        logging = bucket(template, prefix)["Properties"]["LoggingConfiguration"]
        assert logging["DestinationBucketName"] == {"Ref": logs_id}
        assert logging["LogFilePrefix"].startswith("access-logs/")
    assert "LoggingConfiguration" not in bucket(template, "StorageLogsBucket")["Properties"]


def test_logs_expire_after_the_configured_days(synthesized) -> None:
    rules = bucket(synthesized.template, "StorageLogsBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "expire-logs",
        "Status": "Enabled",
        "ExpirationInDays": 30,
    }.items() <= (rules[0].items())


def test_data_is_versioned_and_kept_on_destroy_by_default(synthesized) -> None:
    template = synthesized.template
    for prefix in DATA_BUCKETS:
        resource = bucket(template, prefix)
        assert resource["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    auto_deleted = {
        r["Properties"]["BucketName"]["Ref"] for r in template.find_resources("Custom::S3AutoDeleteObjects").values()
    }
    assert auto_deleted == {logical_id(template, p) for p in DISPOSABLE_BUCKETS}


def test_artifacts_and_logs_are_deleted_with_the_stack(synthesized) -> None:
    for prefix in DISPOSABLE_BUCKETS:
        assert bucket(synthesized.template, prefix)["DeletionPolicy"] == "Delete"
    assert "VersioningConfiguration" not in bucket(synthesized.template, "StorageArtifactsBucket")["Properties"]


@pytest.fixture(scope="module")
def destroy_data_template(variant_stack) -> Template:
    stack, config = variant_stack(destroy_data="true", log_retention_days="7")
    Storage(stack, "Storage", config=config)
    return Template.from_stack(stack)


def test_destroy_data_empties_and_deletes_input_and_results(
    destroy_data_template,
) -> None:
    template = destroy_data_template
    for prefix in (*DATA_BUCKETS, *DISPOSABLE_BUCKETS):
        assert bucket(template, prefix)["DeletionPolicy"] == "Delete"
    assert len(template.find_resources("Custom::S3AutoDeleteObjects")) == 4
    rules = bucket(template, "StorageLogsBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules[0]["ExpirationInDays"] == 7
