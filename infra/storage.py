"""Storage: the four buckets of the product and the rules every one of them follows."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import AppConfig

ACCESS_LOGS_PREFIX = "access-logs/"
EMR_LOGS_PREFIX = "emr-serverless/"
# Parts of uploads that never completed are invisible but billed: drop them.
ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7)


class Storage(Construct):
    """Input photos, results, job artifacts and logs.

    All buckets: public access blocked, TLS-only policy, SSE-S3 encryption, abort of
    incomplete multipart uploads; all but the logs bucket send server access logs to
    it (logging it into itself would loop).
    Input and results are versioned and retained on `cdk destroy` unless
    `destroy_data` is set; artifacts and logs are always deleted with the stack.
    SSE-S3 rather than KMS: the logs bucket must be SSE-S3 to receive server access
    logs, and a customer key would cost money every month while the stack is idle.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        self.logs_bucket = s3.Bucket(
            self,
            "LogsBucket",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=Duration.days(config.log_retention_days),
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
                )
            ],
            **_disposable(),
            **_secure_defaults(),
        )
        data_removal = _disposable() if config.destroy_data else {"removal_policy": RemovalPolicy.RETAIN}
        noncurrent = Duration.days(config.noncurrent_version_days)
        self.input_bucket = self._bucket("InputBucket", "input", data_removal, noncurrent)
        self.results_bucket = self._bucket("ResultsBucket", "results", data_removal, noncurrent)
        self.artifacts_bucket = self._bucket("ArtifactsBucket", "artifacts", _disposable(), None)

    def _bucket(
        self,
        construct_id: str,
        log_name: str,
        removal: dict,
        noncurrent: Duration | None,
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
            **removal,
            **_secure_defaults(),
        )


def _secure_defaults() -> dict:
    return {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        "encryption": s3.BucketEncryption.S3_MANAGED,
    }


def _disposable() -> dict:
    """Deleted with the stack, objects included, so that nothing keeps costing."""
    return {"removal_policy": RemovalPolicy.DESTROY, "auto_delete_objects": True}
