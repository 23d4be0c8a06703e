"""Optional: the IAM role that GitHub Actions assumes to deploy, smoke-test and destroy the pipeline.

Off unless `-c github_repo=owner/name`: app.py then adds a stack of its own, which an administrator
deploys once (`.github/workflows/deploy.yml` and `destroy.yml` use its role, never long-lived keys).
The role lives outside the pipeline stack so that deploying or destroying the pipeline never touches
the role doing it. It therefore names the pipeline's resources by what CloudFormation derives from
the pipeline stack's name (bucket names, the state machine's name), not by cross-stack exports,
which would make `cdk destroy` of the pipeline fail while this stack imports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from aws_cdk import CfnOutput, DefaultStackSynthesizer, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import GITHUB_SETTINGS, ConfigError
from infra.nag import acknowledge, acknowledge_role_policy, as_named
from infra.orchestration import STATE_MACHINE_NAME_SUFFIX
from infra.storage import EMR_LOGS_PREFIX, RUNS_PREFIX

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
"""The audience aws-actions/configure-aws-credentials asks GitHub's token for (its default)."""
DEFAULT_ENVIRONMENT = "aws"
"""The GitHub environment of deploy.yml and destroy.yml, trusted unless a branch is chosen."""
SMOKE_PREFIX = "smoke/"
"""Where `python -m pipeline cloud smoke` puts its photos in the input bucket."""
CDK_BOOTSTRAP_ROLES = ("deploy", "file-publishing", "lookup")
"""What `cdk deploy` and `cdk destroy` assume: CloudFormation changes, file assets, the deployed template.
(No `image-publishing`: the app has no container image asset; Docker only bundles files.)"""
MAX_SESSION = Duration.hours(2)
"""A first deploy bundles the Python environment for a long while before its last AWS call."""
_REPO = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+")
_NAME = re.compile(r"[A-Za-z0-9._/-]+")
_PROVIDER_ARN = re.compile(rf"arn:aws:iam::\d{{12}}:oidc-provider/{re.escape(GITHUB_OIDC_HOST)}")


@dataclass(frozen=True)
class GitHubDeployConfig:
    """Who may assume the role: `repo` (owner/name) from its `environment`, or from its `branch` if given."""

    repo: str
    environment: str = DEFAULT_ENVIRONMENT
    # A branch instead of an environment (then take `environment:` out of deploy.yml and destroy.yml:
    # a job in an environment gets that environment's `sub`, whatever its branch).
    branch: str | None = None
    # The account's GitHub OIDC provider, if it has one (an account has at most one per URL); else created.
    oidc_provider_arn: str | None = None
    # The CDK bootstrap qualifier (cdk.json's `@aws-cdk/core:bootstrapQualifier`, if set).
    bootstrap_qualifier: str = DefaultStackSynthesizer.DEFAULT_QUALIFIER

    @classmethod
    def from_context(cls, scope: Construct) -> GitHubDeployConfig | None:
        """None unless `-c github_repo=owner/name` is given."""
        repo = scope.node.try_get_context("github_repo")
        if repo is None:
            orphans = [key for key in GITHUB_SETTINGS if scope.node.try_get_context(key) is not None]
            if orphans:
                raise ConfigError(f"-c {orphans[0]} needs -c github_repo=owner/name (the repository to trust)")
            return None
        environment = scope.node.try_get_context("github_environment")
        branch = scope.node.try_get_context("github_branch")
        if environment is not None and branch is not None:
            raise ConfigError("give github_environment or github_branch, not both: the role trusts one of them")
        config = cls(
            repo=str(repo),
            environment=str(environment or DEFAULT_ENVIRONMENT),
            branch=None if branch is None else str(branch),
            oidc_provider_arn=scope.node.try_get_context("github_oidc_provider_arn"),
            bootstrap_qualifier=scope.node.try_get_context("@aws-cdk/core:bootstrapQualifier")
            or DefaultStackSynthesizer.DEFAULT_QUALIFIER,
        )
        config.validate()
        return config

    def validate(self) -> None:
        if not _REPO.fullmatch(self.repo):
            raise ConfigError(f"github_repo must be owner/name, got {self.repo!r}")
        for name in ("environment", "branch"):
            value = getattr(self, name)
            if value is not None and not _NAME.fullmatch(value):
                raise ConfigError(f"github_{name} must be a plain name (no wildcard, no spaces), got {value!r}")
        if self.oidc_provider_arn is not None and not _PROVIDER_ARN.fullmatch(self.oidc_provider_arn):
            raise ConfigError(
                f"github_oidc_provider_arn must be arn:aws:iam::<account>:oidc-provider/{GITHUB_OIDC_HOST}, "
                f"got {self.oidc_provider_arn!r}"
            )

    @property
    def subject(self) -> str:
        """The `sub` claim of GitHub's token for the trusted environment or branch (GitHub's default format)."""
        if self.branch is not None:
            return f"repo:{self.repo}:ref:refs/heads/{self.branch}"
        return f"repo:{self.repo}:environment:{self.environment}"


@dataclass(frozen=True)
class Place:
    """The region and account of the role's stack, which are the pipeline's."""

    region: str
    account: str


@dataclass(frozen=True)
class Grant:
    """One policy statement and why each wildcard in it is needed (the cdk-nag acknowledgment's reason)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    why: str
    conditions: dict[str, dict[str, str | list[str]]] | None = None

    def statement(self) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid=self.sid, actions=list(self.actions), resources=list(self.resources), conditions=self.conditions
        )

    def wildcards(self) -> list[str]:
        """The AwsSolutions-IAM5 findings of this statement, as cdk-nag names them."""
        return [f"Action::{a}" for a in self.actions if "*" in a] + [
            f"Resource::{r}" for r in self.resources if "*" in r
        ]


Grants = Callable[[str, str, Place], list[Grant]]
"""(pipeline stack name, bootstrap qualifier, place) -> the grants of one policy."""


def attach(policy: iam.Policy | iam.ManagedPolicy, grants: Grants, pipeline_stack: str, qualifier: str) -> None:
    """Add `grants` to `policy` and acknowledge each of their wildcards on it, with the grant's reason.

    The grants are built twice: with the stack's region and account (the statements), and with
    both as cdk-nag writes them in a finding (the acknowledgments), so the two cannot drift apart.
    """
    place = Place(Stack.of(policy).region, Stack.of(policy).account)
    named = Place(as_named(place.region, "Region"), as_named(place.account, "AccountId"))
    for grant in grants(pipeline_stack, qualifier, place):
        policy.add_statements(grant.statement())
    reasons: dict[str, str] = {}
    for grant in grants(pipeline_stack, qualifier, named):
        for finding in grant.wildcards():
            reasons.setdefault(finding, grant.why)
    for finding, reason in reasons.items():
        acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)


class GitHubDeployRole(Construct):
    """The role: GitHub's token for one subject in; the CDK bootstrap roles and `cloud smoke` out.

    Also the managed policy `<pipeline stack>-cfn-execution-<region>`, for a CDK bootstrap narrower than
    AdministratorAccess (`cdk bootstrap --cloudformation-execution-policies`, see docs/ci-cd.md).
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: GitHubDeployConfig, pipeline_stack: str) -> None:
        super().__init__(scope, construct_id)
        self.provider_arn = config.oidc_provider_arn or self._provider()
        self.role = iam.Role(
            self,
            "Role",
            description=f"GitHub Actions of {config.repo} ({config.subject}): deploys and smoke-tests {pipeline_stack}",
            assumed_by=iam.WebIdentityPrincipal(
                self.provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": config.subject,
                    }
                },
            ),
            max_session_duration=MAX_SESSION,
        )
        policy = iam.Policy(self, "Permissions")
        self.role.attach_inline_policy(policy)
        attach(policy, deploy_and_smoke_grants, pipeline_stack, config.bootstrap_qualifier)
        acknowledge_role_policy(policy, "GitHub deploy role")  # the policy is the role's own, beside it
        self.execution_policy = iam.ManagedPolicy(
            self,
            "CloudFormationExecutionPolicy",
            managed_policy_name=execution_policy_name(pipeline_stack, Stack.of(self).region),
            description=f"What CloudFormation needs to deploy and destroy {pipeline_stack} (cdk bootstrap "
            "--cloudformation-execution-policies), instead of AdministratorAccess",
        )
        attach(self.execution_policy, cloudformation_execution_grants, pipeline_stack, config.bootstrap_qualifier)

    def _provider(self) -> str:
        # Kept when this stack is deleted: an account has one provider for the URL, other roles may trust it by then.
        provider = iam.OidcProviderNative(
            self,
            "GitHubOidcProvider",
            url=f"https://{GITHUB_OIDC_HOST}",
            client_ids=[AUDIENCE],
            removal_policy=RemovalPolicy.RETAIN,
        )
        return provider.oidc_provider_arn


def bucket_name_patterns(pipeline_stack: str) -> dict[str, str]:
    """The pipeline's bucket names as CloudFormation makes them: `<stack>-<logical id>-<random>`, lower case."""
    return {
        kind: f"{pipeline_stack}-Storage{kind.capitalize()}Bucket*".lower() for kind in ("input", "results", "logs")
    }


def execution_policy_name(pipeline_stack: str, region: str) -> str:
    """IAM names are global: one policy per region, as the bootstrap and the pipeline stack are."""
    return f"{pipeline_stack}-cfn-execution-{region}"


def deploy_and_smoke_grants(pipeline_stack: str, qualifier: str, place: Place) -> list[Grant]:
    """The CDK bootstrap roles (deploy, destroy), and what `python -m pipeline cloud smoke` calls."""
    buckets = bucket_name_patterns(pipeline_stack)
    state_machine = f"{pipeline_stack}{STATE_MACHINE_NAME_SUFFIX}"
    region_account = f"{place.region}:{place.account}"

    def listing(kind: str, prefix: str, why: str) -> Grant:
        return Grant(
            f"List{kind.capitalize()}",
            ("s3:ListBucket",),
            (f"arn:aws:s3:::{buckets[kind]}",),
            f"The pipeline's {kind} bucket, whose name CloudFormation completes with a random suffix (the role is "
            f"in another stack and must not import it): {why}, listed only under {prefix} (s3:prefix).",
            {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
        )

    return [
        Grant(
            "AssumeCdkBootstrapRoles",
            ("sts:AssumeRole",),
            tuple(
                f"arn:aws:iam::{place.account}:role/cdk-{qualifier}-{role}-role-{place.account}-{place.region}"
                for role in CDK_BOOTSTRAP_ROLES
            ),
            "cdk deploy and cdk destroy act through these bootstrap roles.",
        ),
        Grant(
            "FindThePipelineStack",
            ("cloudformation:DescribeStacks",),
            (f"arn:aws:cloudformation:{region_account}:stack/{pipeline_stack}/*",),
            "The pipeline stack, whose ARN ends in an id CloudFormation gives it: DescribeStacks only (its outputs).",
        ),
        listing("input", SMOKE_PREFIX, "the smoke run's photos"),
        Grant(
            "SmokePhotos",
            ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"),
            (f"arn:aws:s3:::{buckets['input']}/{SMOKE_PREFIX}*",),
            "The smoke run's photos: objects of the input bucket under smoke/ only.",
        ),
        listing("results", RUNS_PREFIX, "the smoke run's results"),
        Grant(
            "ReadResults",
            ("s3:GetObject",),
            (f"arn:aws:s3:::{buckets['results']}/{RUNS_PREFIX}*",),
            "Reads the smoke run's results, whose folder is named at run time: runs/ of the results bucket only.",
        ),
        listing("logs", EMR_LOGS_PREFIX, "a failed smoke run's job logs"),
        Grant(
            "ReadJobLogs",
            ("s3:GetObject",),
            (f"arn:aws:s3:::{buckets['logs']}/{EMR_LOGS_PREFIX}*",),
            "Reads a failed smoke run's job logs: emr-serverless/ of the logs bucket only.",
        ),
        Grant(
            "DataKeyThroughS3",
            ("kms:GenerateDataKey", "kms:Decrypt"),
            (f"arn:aws:kms:{region_account}:key/*",),
            "With -c encryption=kms the data key's id is random: GenerateDataKey and Decrypt only through S3 "
            "(kms:ViaService), i.e. only for the S3 requests above.",
            {"StringEquals": {"kms:ViaService": f"s3.{place.region}.amazonaws.com"}},
        ),
        Grant(
            "StartAndFollowRuns",
            ("states:StartExecution", "states:ListExecutions"),
            (f"arn:aws:states:{region_account}:stateMachine:{state_machine}",),
            "The pipeline's one state machine, by its name.",
        ),
        Grant(
            "ReadExecutions",
            ("states:DescribeExecution", "states:GetExecutionHistory"),
            (f"arn:aws:states:{region_account}:execution:{state_machine}:*",),
            "Executions of the pipeline's one state machine, named at run time.",
        ),
        Grant(
            "ReadApplication",
            ("emr-serverless:GetApplication", "emr-serverless:ListJobRuns"),
            (f"arn:aws:emr-serverless:{region_account}:/applications/*",),
            "EMR Serverless application ids are random and the role must not import the pipeline's: "
            "reading only, in this account and region.",
        ),
        Grant(
            "ReadJobRuns",
            ("emr-serverless:GetJobRun",),
            (f"arn:aws:emr-serverless:{region_account}:/applications/*/jobruns/*",),
            "Job run ids are made by each run: GetJobRun only (read), in this account and region.",
        ),
    ]


def cloudformation_execution_grants(pipeline_stack: str, qualifier: str, place: Place) -> list[Grant]:
    """What CloudFormation does for the pipeline stack: its resources, by the names it gives them.

    CloudFormation names what the template leaves unnamed `<stack name>-<logical id>-<random>`
    (buckets in lower case); the state machine is `<stack name>-run`. Not a sandbox: a role named
    `<stack name>-*` can still be given any inline policy (see docs/ci-cd.md).
    """
    region_account = f"{place.region}:{place.account}"
    named = f"{pipeline_stack}-*"
    return [
        Grant(
            "CdkBootstrapAssetsAndVersion",
            ("s3:GetObject", "ssm:GetParameters"),
            (
                f"arn:aws:s3:::cdk-{qualifier}-assets-{place.account}-{place.region}/*",
                f"arn:aws:ssm:{region_account}:parameter/cdk-bootstrap/{qualifier}/version",
            ),
            "Lambda code and layers come from the CDK assets bucket, under content hashes known at deploy time.",
        ),
        Grant(
            "PipelineBuckets",
            ("s3:CreateBucket", "s3:DeleteBucket*", "s3:Get*", "s3:List*", "s3:PutBucket*", "s3:Put*Configuration"),
            (f"arn:aws:s3:::{named.lower()}",),
            "CloudFormation reads and sets every configuration of the pipeline's buckets (names with a random "
            "suffix); objects are written by the stack's own functions, with their own roles.",
        ),
        Grant(
            "PipelineRoles",
            (
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:UpdateRole*",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:PassRole",
            ),
            (f"arn:aws:iam::{place.account}:role/{named}",),
            "The pipeline's roles, named by CloudFormation after the stack with a random suffix.",
        ),
        Grant(
            "LambdaBasicExecutionOnly",
            ("iam:AttachRolePolicy", "iam:DetachRolePolicy"),
            (f"arn:aws:iam::{place.account}:role/{named}",),
            "CDK's handlers attach AWSLambdaBasicExecutionRole and nothing else (iam:PolicyARN).",
            {"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}},
        ),
        Grant(
            "EmrServerlessServiceLinkedRole",
            ("iam:CreateServiceLinkedRole",),
            (
                f"arn:aws:iam::{place.account}:role/aws-service-role/ops.emr-serverless.amazonaws.com/"
                "AWSServiceRoleForAmazonEMRServerless",
            ),
            "EMR Serverless's service-linked role, created once per account.",
            {"StringEquals": {"iam:AWSServiceName": "ops.emr-serverless.amazonaws.com"}},
        ),
        Grant(
            "PipelineFunctions",
            (
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:GetFunction*",
                "lambda:UpdateFunction*",
                "lambda:InvokeFunction",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:ListTags",
            ),
            (f"arn:aws:lambda:{region_account}:function:{named}",),
            "The stack's handlers (uploads, auto-delete, stop-on-delete), named after the stack by CloudFormation; "
            "CloudFormation invokes them as custom resources.",
        ),
        Grant(
            "PipelineLayers",
            ("lambda:PublishLayerVersion", "lambda:DeleteLayerVersion", "lambda:GetLayerVersion"),
            (f"arn:aws:lambda:{region_account}:layer:*",),
            "The AWS CLI layers of CDK's upload handlers: CloudFormation names them after their logical ids.",
        ),
        Grant(
            "PipelineLogGroups",
            (
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy",
                "logs:TagResource",
                "logs:UntagResource",
                "logs:ListTagsForResource",
            ),
            (f"arn:aws:logs:{region_account}:log-group:{named}",),
            "The stack's log groups, named after the stack by CloudFormation with a random suffix.",
        ),
        Grant(
            "StateMachineLogDelivery",
            (
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            ),
            ("*",),
            "Step Functions log delivery (vended logs) and DescribeLogGroups support no resource-level permissions.",
        ),
        Grant(
            "PipelineStateMachine",
            (
                "states:CreateStateMachine",
                "states:DeleteStateMachine",
                "states:UpdateStateMachine",
                "states:DescribeStateMachine",
                "states:TagResource",
                "states:UntagResource",
                "states:ListTagsForResource",
            ),
            (f"arn:aws:states:{region_account}:stateMachine:{pipeline_stack}{STATE_MACHINE_NAME_SUFFIX}",),
            "The pipeline's one state machine, by its name.",
        ),
        Grant(
            "PipelineApplication",
            (
                "emr-serverless:CreateApplication",
                "emr-serverless:GetApplication",
                "emr-serverless:UpdateApplication",
                "emr-serverless:DeleteApplication",
                "emr-serverless:TagResource",
                "emr-serverless:UntagResource",
                "emr-serverless:ListTagsForResource",
            ),
            (f"arn:aws:emr-serverless:{region_account}:/*",),
            "EMR Serverless gives applications random ids: the account's applications in this region.",
        ),
        Grant(
            "DataKey",
            (
                "kms:CreateKey",
                "kms:DescribeKey",
                "kms:GetKeyPolicy",
                "kms:PutKeyPolicy",
                "kms:EnableKeyRotation",
                "kms:GetKeyRotationStatus",
                "kms:ScheduleKeyDeletion",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:ListResourceTags",
            ),
            (f"arn:aws:kms:{region_account}:key/*",),
            "With -c encryption=kms: KMS gives keys random ids, known only once created.",
        ),
    ]


class GitHubDeployStack(Stack):
    """The deploy role alone, in the pipeline's region: deployed once, by an administrator."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: GitHubDeployConfig, pipeline_stack: str, region: str
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(region=region),
            description=f"GitHub Actions OIDC role that deploys {pipeline_stack} from {config.repo}",
        )
        self.deploy_role = GitHubDeployRole(self, "GitHubDeploy", config=config, pipeline_stack=pipeline_stack)
        CfnOutput(
            self,
            "DeployRoleArn",
            value=self.deploy_role.role.role_arn,
            description="The GitHub repository variable AWS_DEPLOY_ROLE_ARN",
        )
        CfnOutput(
            self,
            "ExecutionPolicyArn",
            value=self.deploy_role.execution_policy.managed_policy_arn,
            description="cdk bootstrap --cloudformation-execution-policies <this>, instead of AdministratorAccess",
        )


def add_github_deploy_stack(app: Construct, *, pipeline_stack: str, region: str) -> GitHubDeployStack | None:
    """The deploy role's stack, `<pipeline stack>GitHubDeploy`, if `-c github_repo=owner/name` asks for it."""
    config = GitHubDeployConfig.from_context(app)
    if config is None:
        return None
    return GitHubDeployStack(
        app, f"{pipeline_stack}GitHubDeploy", config=config, pipeline_stack=pipeline_stack, region=region
    )
