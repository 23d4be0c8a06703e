"""Deploy-time uploads into the artifacts bucket, shared by compute and packaging."""

from __future__ import annotations

from typing import Any

from aws_cdk import Size, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.log_groups import confine_role_logs_to, expiring_log_group
from infra.nag import acknowledge, acknowledge_deploy_time_function, as_named

# The Python environment archive is downloaded, unzipped and synced by the upload
# function: it needs room in /tmp and memory for the sync.
UPLOAD_MEMORY_MB = 2048
UPLOAD_TMP_STORAGE = Size.gibibytes(4)


class ArtifactUploads(Construct):
    """Copies CDK assets to content-addressed keys of the artifacts bucket on `cdk deploy`.

    Each artifact lands under `<prefix><hash>/`: a deploy that changes it writes new keys
    and leaves the old ones (BucketDeployment retains them), so a run in progress keeps
    reading what it started with, and the state machine is pointed at the new keys.
    All uploads share one handler (same memory and storage) and one log group with a
    retention, which is deleted with the stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = bucket
        self.deployments: list[s3deploy.BucketDeployment] = []
        self._log_group = expiring_log_group(self, "Logs", log_retention_days)

    def add(self, construct_id: str, prefix: str, path: str, *, key_hash: str | None = None, **asset: Any) -> str:
        """Upload the directory asset at `path` (`asset`: its bundling, exclude... options) under
        `<prefix><hash>/`; returns that s3:// URI prefix.

        `<hash>` is `key_hash` (a digest of the content, or of the build's inputs, that the caller
        can state) or else the asset's own hash (of the bundled output with AssetHashType.OUTPUT).
        """
        staged = s3_assets.Asset(self, f"{construct_id}Asset", path=path, **asset)
        key_prefix = f"{prefix}{key_hash or staged.asset_hash}/"
        deployment = s3deploy.BucketDeployment(
            self,
            construct_id,
            sources=[s3deploy.Source.bucket(staged.bucket, staged.s3_object_key)],
            destination_bucket=self.bucket,
            destination_key_prefix=key_prefix,
            memory_limit=UPLOAD_MEMORY_MB,
            ephemeral_storage_size=UPLOAD_TMP_STORAGE,
            log_group=self._log_group,
        )
        if not self.deployments:
            confine_role_logs_to(deployment.handler_role, self._log_group)
            self._acknowledge_handler_findings(deployment)
        self.deployments.append(deployment)
        return self.bucket.s3_url_for_object(key_prefix)

    def _acknowledge_handler_findings(self, deployment: s3deploy.BucketDeployment) -> None:
        """The upload handler is CDK's own singleton Lambda function; its policy is CDK's."""
        stack = Stack.of(self)
        bucket_id = stack.get_logical_id(self.bucket.node.default_child)
        role = deployment.handler_role
        reasons = {
            "AwsSolutions-IAM5[Action::s3:GetBucket*]": "CDK's grantRead for the handler, "
            "limited to the CDK asset bucket and the artifacts bucket.",
            "AwsSolutions-IAM5[Action::s3:GetObject*]": "CDK's grantRead for the handler: it "
            "downloads the asset zip and lists the destination.",
            "AwsSolutions-IAM5[Action::s3:List*]": "CDK's grantRead for the handler: it lists "
            "the destination prefix to prune stale files.",
            "AwsSolutions-IAM5[Action::s3:Abort*]": "CDK's grantWrite for the handler: it "
            "aborts its own failed multipart uploads to the artifacts bucket.",
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "CDK's grantWrite for the handler: "
            "it prunes stale files under its prefix of the artifacts bucket.",
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/*]": "The handler writes the "
            "uploaded files, whose keys come from the assets, into the artifacts bucket only.",
            f"AwsSolutions-IAM5[Resource::arn:{as_named(stack.partition, 'Partition')}:s3:::cdk-hnb659fds-assets-"
            f"<AWS::AccountId>-{as_named(stack.region, 'Region')}/*]": "The handler reads the asset zips "
            "from the CDK bootstrap bucket, whose object keys are content hashes.",
        }
        for finding, reason in reasons.items():
            acknowledge(role, finding, reason)
        handler = role.node.scope
        acknowledge(
            handler,
            "AwsSolutions-L1",
            "The runtime of CDK's BucketDeployment handler is chosen and updated by "
            "aws-cdk-lib itself, not by this app.",
        )
        acknowledge_deploy_time_function(
            handler, role, "CDK's BucketDeployment handler (job, environment and weights uploads)"
        )
