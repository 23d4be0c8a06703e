"""The one stack: storage, compute, packaging and orchestration, and what a user needs to know."""

from __future__ import annotations

from aws_cdk import Aws, CfnOutput, CfnRule, CfnRuleAssertion, Environment, Fn, Stack
from constructs import Construct

from infra.artifact_uploads import ArtifactUploads
from infra.compute import Compute
from infra.config import EU_REGIONS, AppConfig
from infra.orchestration import Orchestration
from infra.packaging import Packaging
from infra.storage import Storage


class PipelineStack(Stack):
    """Everything needed to run the pipeline on EMR Serverless; only S3 costs when idle."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(region=config.region),
            description="Fruit-photo features (MobileNetV2 + PCA) on EMR Serverless, run by Step Functions",
        )
        self._refuse_regions_outside_the_eu()
        self.storage = Storage(self, "Storage", config=config)
        uploads = ArtifactUploads(
            self,
            "Uploads",
            bucket=self.storage.artifacts_bucket,
            log_retention_days=config.state_machine_log_retention_days,
        )
        self.compute = Compute(self, "Compute", config=config, storage=self.storage, uploads=uploads)
        self.packaging = Packaging(self, "Packaging", config=config, uploads=uploads)
        self.orchestration = Orchestration(
            self,
            "Orchestration",
            config=config,
            storage=self.storage,
            compute=self.compute,
            packaging=self.packaging,
        )
        self._outputs()

    def _refuse_regions_outside_the_eu(self) -> None:
        """The app's region check, kept in the template too: CloudFormation refuses to create or
        update the stack outside the EU, even from a template deployed by hand.

        https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html
        """
        CfnRule(
            self,
            "EuRegionOnly",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_contains(sorted(EU_REGIONS), Aws.REGION),
                    assert_description=(
                        f"The photos are personal data: this stack deploys only to {', '.join(sorted(EU_REGIONS))}."
                    ),
                )
            ],
        )

    def _outputs(self) -> None:
        state_machine_arn = self.orchestration.state_machine.state_machine_arn
        for name, value, description in (
            (
                "InputBucketName",
                self.storage.input_bucket.bucket_name,
                "Upload photos here",
            ),
            (
                "ResultsBucketName",
                self.storage.results_bucket.bucket_name,
                "Run results",
            ),
            (
                "ArtifactsBucketName",
                self.storage.artifacts_bucket.bucket_name,
                "Job, environment and model, under content-addressed keys",
            ),
            (
                "LogsBucketName",
                self.storage.logs_bucket.bucket_name,
                "Access and job logs",
            ),
            (
                "ApplicationId",
                self.compute.application.attr_application_id,
                "EMR Serverless application",
            ),
            ("StateMachineArn", state_machine_arn, "Starts one pipeline run"),
            (
                "StateMachineConsoleUrl",
                Fn.join(
                    "",
                    [
                        (
                            f"https://{self.region}.console.aws.amazon.com/states/home"
                            f"?region={self.region}#/statemachines/view/"
                        ),
                        state_machine_arn,
                    ],
                ),
                "Start a run from the console",
            ),
            (
                "StartRunCommand",
                Fn.join(
                    "",
                    [
                        (f"aws stepfunctions start-execution --region {self.region} --state-machine-arn "),
                        state_machine_arn,
                        " --input '{}'",
                    ],
                ),
                "Start a run with the defaults (see docs/aws-runs.md for the input fields)",
            ),
        ):
            CfnOutput(self, name, value=value, description=description)
        if self.storage.data_key is not None:
            CfnOutput(
                self,
                "DataKeyArn",
                value=self.storage.data_key.key_arn,
                description="KMS key of input and results: uploaders need kms:GenerateDataKey on it",
            )
