"""Storage: every bucket locked down and logged; data and its audit trail kept on destroy unless asked."""

import pytest
from aws_cdk.assertions import Match, Template

from infra.storage import Storage

DATA_BUCKETS = ("StorageInputBucket", "StorageResultsBucket")
# Kept with the data by default: the access logs of the data buckets.
KEPT_BUCKETS = (*DATA_BUCKETS, "StorageLogsBucket")
ALL_BUCKETS = (*KEPT_BUCKETS, "StorageArtifactsBucket")


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


def test_logs_and_their_overwritten_versions_expire_after_the_configured_days(synthesized) -> None:
    props = bucket(synthesized.template, "StorageLogsBucket")["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "expire-logs",
        "Status": "Enabled",
        "ExpirationInDays": 30,
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
    }.items() <= rule.items()


def bucket_policy(template: Template, bucket_id: str) -> dict:
    (found,) = [
        p
        for p in template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return found


def auto_deleted(template: Template) -> set[str]:
    return {
        r["Properties"]["BucketName"]["Ref"] for r in template.find_resources("Custom::S3AutoDeleteObjects").values()
    }


def test_data_and_its_access_logs_are_kept_on_destroy_by_default(synthesized) -> None:
    """The audit trail outlives the stack as long as the data it audits, policies included."""
    template = synthesized.template
    for prefix in KEPT_BUCKETS:
        resource = bucket(template, prefix)
        assert resource["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}, prefix
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain", prefix
        # TLS-only and the log delivery grant must not vanish with the stack.
        policy = bucket_policy(template, logical_id(template, prefix))
        assert policy["DeletionPolicy"] == policy["UpdateReplacePolicy"] == "Retain", prefix
    assert auto_deleted(template) == {logical_id(template, "StorageArtifactsBucket")}


def test_artifacts_are_deleted_with_the_stack(synthesized) -> None:
    resource = bucket(synthesized.template, "StorageArtifactsBucket")
    assert resource["DeletionPolicy"] == "Delete"
    assert "VersioningConfiguration" not in resource["Properties"]


@pytest.fixture(scope="module")
def destroy_data_template(variant_stack) -> Template:
    stack, config = variant_stack(destroy_data="true", log_retention_days="7")
    Storage(stack, "Storage", config=config)
    return Template.from_stack(stack)


def test_destroy_data_empties_and_deletes_every_bucket(destroy_data_template) -> None:
    template = destroy_data_template
    for prefix in ALL_BUCKETS:
        assert bucket(template, prefix)["DeletionPolicy"] == "Delete"
        assert "DeletionPolicy" not in bucket_policy(template, logical_id(template, prefix))
    assert auto_deleted(template) == {logical_id(template, prefix) for prefix in ALL_BUCKETS}
    rules = bucket(template, "StorageLogsBucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules[0]["ExpirationInDays"] == 7
    assert rules[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}


def kms_template(variant_stack, **context: str) -> Template:
    stack, config = variant_stack(encryption="kms", **context)
    Storage(stack, "Storage", config=config)
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def kms_kept(variant_stack) -> Template:
    return kms_template(variant_stack)


def test_kms_puts_input_and_results_under_a_rotated_customer_key_with_bucket_keys(kms_kept) -> None:
    ((key_id, key),) = kms_kept.find_resources("AWS::KMS::Key").items()
    assert key["Properties"]["EnableKeyRotation"] is True
    for prefix in DATA_BUCKETS:
        (rule,) = bucket(kms_kept, prefix)["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule == {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
            },
        }, prefix
    # Server access logs are only delivered to SSE-S3 buckets; artifacts hold nothing personal.
    for prefix in ("StorageLogsBucket", "StorageArtifactsBucket"):
        (rule,) = bucket(kms_kept, prefix)["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}, prefix


def test_kms_key_is_kept_with_the_data_and_deleted_with_it(kms_kept, variant_stack) -> None:
    """Deleting the key of kept buckets would make their objects unreadable forever."""
    (key,) = kms_kept.find_resources("AWS::KMS::Key").values()
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    (key,) = kms_template(variant_stack, destroy_data="true").find_resources("AWS::KMS::Key").values()
    assert key["DeletionPolicy"] == "Delete"
