"""Storage: the four buckets of the product and the rules every one of them follows."""

from __future__ import annotations

from typing import cast

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import AppConfig
from infra.log_groups import confine_function_logs_to, expiring_log_group, send_function_logs_to
from infra.nag import NIST, acknowledge
from pipeline.contract import execution_input

ACCESS_LOGS_PREFIX = "access-logs/"
EMR_LOGS_PREFIX = "emr-serverless/"
# Every run writes `runs/<run-id>/` of the results bucket, and nothing else: the prefix
# the execution input's rules let `output` and `run` name.
RUNS_PREFIX = execution_input.RUNS_PREFIX
# Parts of uploads that never completed are invisible but billed: drop them.
ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7)
# CDK's singleton provider behind `auto_delete_objects` (a plain CfnResource Lambda).
AUTO_DELETE_PROVIDER = "Custom::S3AutoDeleteObjectsCustomResourceProvider"


class Storage(Construct):
    """Input photos, results, job artifacts and logs.

    All buckets: public access blocked, TLS-only policy, abort of incomplete multipart
    uploads; all but the logs bucket send server access logs to it (logging it into
    itself would loop). Input and results are versioned and kept on `cdk destroy`
    unless `destroy_data` is set, and so is the logs bucket, which holds their access
    logs: the audit trail stays as long as the data it audits (each kept bucket keeps
    its policy too, so TLS-only and log delivery go on). The logs bucket is versioned,
    so a job that overwrites another run's logs leaves the original as a version.
    Artifacts are always deleted with the stack (every deploy rebuilds them).
    Encryption: SSE-S3, or with `encryption=kms` a customer-managed key with rotation
    and S3 bucket keys for input and results (`data_key`); the logs bucket must stay
    SSE-S3 to receive server access logs.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        data_removal = RemovalPolicy.DESTROY if config.destroy_data else RemovalPolicy.RETAIN
        self.data_key = self._data_key(data_removal) if config.encryption == "kms" else None
        log_days = Duration.days(config.log_retention_days)
        self.logs_bucket = s3.Bucket(
            self,
            "LogsBucket",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=log_days,
                    # EMR Serverless rewrites a run's log files every 15 s while it runs:
                    # each rewrite leaves a version, kept as long as the logs themselves.
                    noncurrent_version_expiration=log_days,
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
                )
            ],
            **_removal(data_removal),
            **_secure_defaults(None),
        )
        noncurrent = Duration.days(config.noncurrent_version_days)
        self.input_bucket = self._bucket("InputBucket", "input", data_removal, noncurrent, self.data_key)
        self.results_bucket = self._bucket("ResultsBucket", "results", data_removal, noncurrent, self.data_key)
        self.artifacts_bucket = self._bucket("ArtifactsBucket", "artifacts", RemovalPolicy.DESTROY, None, None)
        if data_removal == RemovalPolicy.RETAIN:
            for bucket in (self.logs_bucket, self.input_bucket, self.results_bucket):
                bucket.policy.apply_removal_policy(RemovalPolicy.RETAIN)
        self._log_auto_delete_handler(config.state_machine_log_retention_days)
        self._acknowledge_findings()

    def data_key_statement(self, sid: str, actions: list[str], services: list[str]) -> iam.PolicyStatement:
        """`actions` on the data key, only in requests that `services` (e.g. "s3") make on the
        principal's behalf in this region (`kms:ViaService`), never by calling KMS directly.

        https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
        """
        if self.data_key is None:
            raise ValueError("no data key: encryption is SSE-S3")
        region = Stack.of(self).region
        via = [f"{service}.{region}.amazonaws.com" for service in services]
        return iam.PolicyStatement(
            sid=sid,
            actions=actions,
            resources=[self.data_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": via}},
        )

    def _data_key(self, removal: RemovalPolicy) -> kms.Key:
        """The key of input and results; kept whenever they are, or they could never be read again."""
        return kms.Key(
            self,
            "DataKey",
            description="Default encryption of the input photos and the run results",
            enable_key_rotation=True,
            removal_policy=removal,
        )

    def _bucket(
        self,
        construct_id: str,
        log_name: str,
        removal: RemovalPolicy,
        noncurrent: Duration | None,
        key: kms.IKey | None,
    ) -> s3.Bucket:
        """A bucket logging to the logs bucket, versioned when its data must survive mistakes.

        `noncurrent` is how long overwritten or deleted versions are kept; None means
        the bucket is not versioned (artifacts are rebuilt by every deploy).
        """
        return s3.Bucket(
            self,
            construct_id,
            versioned=noncurrent is not None,
            server_access_logs_bucket=self.logs_bucket,
            server_access_logs_prefix=f"{ACCESS_LOGS_PREFIX}{log_name}/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
                    noncurrent_version_expiration=noncurrent,
                )
            ],
            **_removal(removal),
            **_secure_defaults(key),
        )

    def _log_auto_delete_handler(self, retention_days: int) -> None:
        """Give CDK's auto-delete handler a log group with a retention, deleted with the stack."""
        provider = Stack.of(self).node.try_find_child(AUTO_DELETE_PROVIDER)
        if provider is None:  # no bucket of this stack empties itself on destroy
            return
        handler = cast(CfnResource, provider.node.find_child("Handler"))
        log_group = expiring_log_group(self, "AutoDeleteLogs", retention_days)
        send_function_logs_to(handler, log_group)
        confine_function_logs_to(cast(CfnResource, provider.node.find_child("Role")), log_group)

    def _acknowledge_findings(self) -> None:
        """NIST findings of the buckets, each with why this bucket is right as it is."""
        kept_versions = "versioning keeps overwritten and deleted objects for noncurrent_version_days"
        replication = {
            self.input_bucket: ("the photos are personal data kept in this EU region on purpose", kept_versions),
            self.results_bucket: (
                "the features and file names derive from the photos, kept in this EU region",
                kept_versions,
            ),
            self.logs_bucket: (
                "the access and job logs expire after log_retention_days",
                "versioning keeps overwritten log files as long as the logs",
            ),
            self.artifacts_bucket: (
                "cdk deploy rebuilds job, environment and model from the repository",
                "this bucket is not versioned: everything in it is built from the repository",
            ),
        }
        for bucket, (why, recovery) in replication.items():
            acknowledge(
                bucket,
                f"{NIST}-S3BucketReplicationEnabled",
                f"No replica: {why}; a copy in another bucket or region would double storage "
                f"and outlive this stack's expiry and destroy ({recovery}).",
            )
        acknowledge(
            self.artifacts_bucket,
            f"{NIST}-S3BucketVersioningEnabled",
            "cdk deploy uploads job, environment and model under keys holding their hash "
            "(job/<digest>/, env/<fingerprint>/, model/<hash>/) and never rewrites a key: versions add nothing.",
        )
        acknowledge(
            self.logs_bucket,
            f"{NIST}-S3DefaultEncryptionKMS",
            "S3 server access logs can only be delivered to a bucket whose default encryption is "
            "SSE-S3 (AES256); the logs bucket is encrypted, with keys S3 manages.",
        )
        acknowledge(
            self.artifacts_bucket,
            f"{NIST}-S3DefaultEncryptionKMS",
            "SSE-S3 is enough for the job code, the Python environment and the model: "
            "nothing personal, all rebuilt from the repository by every deploy.",
        )
        if self.data_key is None:
            for bucket in (self.input_bucket, self.results_bucket):
                acknowledge(
                    bucket,
                    f"{NIST}-S3DefaultEncryptionKMS",
                    "SSE-S3 by default; -c encryption=kms puts input and results under a "
                    "customer-managed key, which bills every month even while the stack is idle.",
                )


def _secure_defaults(key: kms.IKey | None) -> dict:
    encryption = (
        {"encryption": s3.BucketEncryption.S3_MANAGED}
        if key is None
        else {"encryption": s3.BucketEncryption.KMS, "encryption_key": key, "bucket_key_enabled": True}
    )
    return {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        **encryption,
    }


def _removal(policy: RemovalPolicy) -> dict:
    """Kept, or deleted with the stack, objects included, so that nothing keeps costing."""
    if policy == RemovalPolicy.RETAIN:
        return {"removal_policy": policy}
    return {"removal_policy": policy, "auto_delete_objects": True}
