"""The optional GitHub OIDC deploy role (infra/github_deploy_role.py): trust, rights, nag, settings."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from aws_cdk import App, Validations
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks
from infra_synth import STACK_NAME, synth_context
from test_infra_cdk_cli import cdk_synth, refusal

from infra import github_deploy_role
from infra.config import ConfigError, check_setting_names
from infra.github_deploy_role import (
    AUDIENCE,
    DEFAULT_ENVIRONMENT,
    GITHUB_OIDC_HOST,
    GitHubDeployConfig,
    add_github_deploy_stack,
    bucket_name_patterns,
    execution_policy_name,
)

REPO = "acme/fruits"
PROVIDER_ARN = f"arn:aws:iam::123456789012:oidc-provider/{GITHUB_OIDC_HOST}"
DEPLOY_STACK = f"{STACK_NAME}GitHubDeploy"


def app_with(tmp_path: Path, **context: str) -> App:
    return App(context=synth_context(tmp_path, **context), outdir=str(tmp_path / "cdk.out"))


def deploy_stack(tmp_path: Path, **context: str):
    stack = add_github_deploy_stack(
        app_with(tmp_path, github_repo=REPO, **context), pipeline_stack=STACK_NAME, region="eu-west-3"
    )
    assert stack is not None
    return stack


def template(tmp_path: Path, **context: str) -> Template:
    return Template.from_stack(deploy_stack(tmp_path, **context))


def role_of(found: Template) -> dict:
    (role,) = found.find_resources("AWS::IAM::Role").values()
    return role["Properties"]


def statements(found: Template) -> list[dict]:
    (policy,) = found.find_resources("AWS::IAM::Policy").values()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def execution_statements(found: Template) -> list[dict]:
    (policy,) = found.find_resources("AWS::IAM::ManagedPolicy").values()
    assert policy["Properties"]["ManagedPolicyName"] == execution_policy_name(STACK_NAME, "eu-west-3")
    return policy["Properties"]["PolicyDocument"]["Statement"]


def as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def test_off_unless_a_repository_is_given(tmp_path) -> None:
    app = app_with(tmp_path)
    assert add_github_deploy_stack(app, pipeline_stack=STACK_NAME, region="eu-west-3") is None
    assert app.node.children == []


def test_cdk_synth_adds_the_stack_when_a_repository_is_given(tmp_path) -> None:
    """Through app.py and the pinned CLI: both stacks, both packs of cdk-nag passing."""
    result = cdk_synth(tmp_path, "skip_bundling=true", f"github_repo={REPO}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "cdk.out" / f"{STACK_NAME}.template.json").is_file()
    deploy = json.loads((tmp_path / "cdk.out" / f"{DEPLOY_STACK}.template.json").read_text())
    assert {"DeployRoleArn", "ExecutionPolicyArn"} == set(deploy["Outputs"])


def test_cdk_synth_refuses_a_wrong_repository_in_one_line(tmp_path) -> None:
    line = refusal(cdk_synth(tmp_path, "skip_bundling=true", "github_repo=fruits"))
    assert line == "error: github_repo must be owner/name, got 'fruits'"


@pytest.mark.parametrize(
    ("context", "subject"),
    [
        ({}, f"repo:{REPO}:environment:{DEFAULT_ENVIRONMENT}"),
        ({"github_environment": "production"}, f"repo:{REPO}:environment:production"),
        ({"github_branch": "main"}, f"repo:{REPO}:ref:refs/heads/main"),
    ],
    ids=["default environment", "other environment", "branch"],
)
def test_trusted_only_through_the_oidc_provider_for_one_exact_subject(tmp_path, context, subject) -> None:
    (trust,) = role_of(template(tmp_path, **context))["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow"
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(trust["Principal"]) == {"Federated"}
    assert trust["Condition"] == {
        "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": AUDIENCE, f"{GITHUB_OIDC_HOST}:sub": subject}
    }


def test_creates_the_github_oidc_provider_when_the_account_has_none(tmp_path) -> None:
    found = template(tmp_path)
    (logical_id, provider), *others = found.find_resources("AWS::IAM::OIDCProvider").items()
    assert others == []
    assert provider["Properties"] == {"Url": f"https://{GITHUB_OIDC_HOST}", "ClientIdList": [AUDIENCE]}
    assert provider["DeletionPolicy"] == "Retain"  # the account's one provider for the URL: others may trust it
    (trust,) = role_of(found)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"]["Federated"] == {"Ref": logical_id}


def test_uses_the_accounts_existing_provider_when_given(tmp_path) -> None:
    found = template(tmp_path, github_oidc_provider_arn=PROVIDER_ARN)
    assert found.find_resources("AWS::IAM::OIDCProvider") == {}
    (trust,) = role_of(found)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"]["Federated"] == PROVIDER_ARN


def test_may_assume_the_cdk_bootstrap_roles_and_do_what_cloud_smoke_needs_nothing_more(tmp_path) -> None:
    granted = {
        action: statement.get("Condition")
        for statement in statements(template(tmp_path))
        for action in as_list(statement["Action"])
    }
    assert set(granted) == {
        "sts:AssumeRole",
        "cloudformation:DescribeStacks",
        "s3:ListBucket",
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "states:StartExecution",
        "states:ListExecutions",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "emr-serverless:GetApplication",
        "emr-serverless:ListJobRuns",
        "emr-serverless:GetJobRun",
    }
    assert granted["kms:Decrypt"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-3.amazonaws.com"}}


@pytest.mark.parametrize("qualifier", [None, "custom123"])
def test_assumes_exactly_the_bootstrap_roles_of_its_qualifier_account_and_region(tmp_path, qualifier) -> None:
    context = {"@aws-cdk/core:bootstrapQualifier": qualifier} if qualifier else {}
    (assume,) = [s for s in statements(template(tmp_path, **context)) if s["Action"] == "sts:AssumeRole"]
    expected = qualifier or "hnb659fds"
    roles = [
        "".join(part if isinstance(part, str) else "<account>" for part in resource["Fn::Join"][1])
        for resource in assume["Resource"]
    ]
    assert roles == [
        f"arn:aws:iam::<account>:role/cdk-{expected}-{role}-role-<account>-eu-west-3"
        for role in ("deploy", "file-publishing", "lookup")
    ]


def test_writes_only_the_smoke_prefix_of_the_input_bucket(tmp_path) -> None:
    writes = [s for s in statements(template(tmp_path)) if "s3:PutObject" in as_list(s["Action"])]
    assert [s["Resource"] for s in writes] == ["arn:aws:s3:::fruitspipeline-storageinputbucket*/smoke/*"]
    for listing in [s for s in statements(template(tmp_path / "again")) if s["Action"] == "s3:ListBucket"]:
        assert set(listing["Condition"]) == {"StringLike"}, "listing is limited to one prefix"


def test_names_the_pipelines_own_buckets_and_state_machine(synthesized) -> None:
    """The patterns match the names CloudFormation gives the pipeline's buckets, and no other bucket."""
    buckets = synthesized.template.find_resources("AWS::S3::Bucket")
    physical = {logical: f"{STACK_NAME}-{logical}-a1b2c3d4e5f6".lower() for logical in buckets}
    for kind, pattern in bucket_name_patterns(STACK_NAME).items():
        matched = [logical for logical, name in physical.items() if fnmatchcase(name, pattern)]
        assert len(matched) == 1 and matched[0].startswith(f"Storage{kind.capitalize()}Bucket"), (kind, matched)
    (state_machine,) = synthesized.template.find_resources("AWS::StepFunctions::StateMachine").values()
    assert state_machine["Properties"]["StateMachineName"] == f"{STACK_NAME}-run"


def test_the_stack_outputs_the_role_arn_for_the_repository_variable(tmp_path) -> None:
    stack = deploy_stack(tmp_path)
    assert stack.stack_name == DEPLOY_STACK and stack.region == "eu-west-3"
    outputs = Template.from_stack(stack).find_outputs("DeployRoleArn")
    assert "AWS_DEPLOY_ROLE_ARN" in outputs["DeployRoleArn"]["Description"]


def nag_report(tmp_path: Path, **context: str) -> tuple[list, dict]:
    """cdk-nag's violations and the acknowledgments, for the deploy stack synthesized alone."""
    stack = deploy_stack(tmp_path, **context)
    app = stack.node.root
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
    try:
        app.synth()
    except RuntimeError:  # the findings are in the report
        pass
    out = tmp_path / "cdk.out"
    report = json.loads((out / "validation-report.json").read_text())
    violations = [
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]
    metadata = json.loads((out / f"{DEPLOY_STACK}.metadata.json").read_text())
    acknowledged = {
        (path.lstrip("/"), finding.removeprefix("Annotation::")): reason
        for path, entries in metadata.items()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for finding, reason in entry["data"].items()
    }
    return violations, acknowledged


@pytest.mark.parametrize("context", [{}, {"github_oidc_provider_arn": PROVIDER_ARN}], ids=["new provider", "existing"])
def test_cdk_nag_has_no_unacknowledged_finding_and_no_stale_acknowledgment(tmp_path, monkeypatch, context) -> None:
    violations, acknowledged = nag_report(tmp_path / "acknowledged", **context)
    assert violations == []
    for (path, rule), reason in acknowledged.items():
        assert rule.startswith(("AwsSolutions-IAM5[", "NIST.800.53.R5-IAMNoInlinePolicy")), (path, rule)
        assert len(reason) >= 60, f"{path}: {rule} needs a specific reason"
    monkeypatch.setattr(github_deploy_role, "acknowledge", lambda *_args: None)
    monkeypatch.setattr(github_deploy_role, "acknowledge_role_policy", lambda *_args: None)
    bare, _ = nag_report(tmp_path / "bare", **context)

    def covers(acknowledgment: tuple[str, str], finding: tuple[str, str]) -> bool:
        (scope, rule), (path, found) = acknowledgment, finding
        return rule == found and (path == scope or path.startswith(scope + "/"))

    assert bare, "without its acknowledgments the role has findings"
    assert [f for f in bare if not any(covers(a, f) for a in acknowledged)] == []
    assert [a for a in acknowledged if not any(covers(a, f) for f in bare)] == []


@pytest.mark.parametrize(
    ("context", "complaint"),
    [
        ({"github_branch": "main"}, "-c github_branch needs -c github_repo=owner/name"),
        ({"github_repo": "fruits"}, "github_repo must be owner/name"),
        ({"github_repo": "acme/*"}, "github_repo must be owner/name"),
        ({"github_repo": REPO, "github_branch": "release/*"}, "github_branch must be a plain name"),
        ({"github_repo": REPO, "github_environment": "aws", "github_branch": "main"}, "not both"),
        (
            {"github_repo": REPO, "github_oidc_provider_arn": "arn:aws:iam::1:oidc-provider/x"},
            "github_oidc_provider_arn",
        ),
    ],
)
def test_a_wrong_setting_is_refused_in_one_line(tmp_path, context, complaint) -> None:
    with pytest.raises(ConfigError, match=complaint.replace("*", r"\*")) as refused:
        GitHubDeployConfig.from_context(app_with(tmp_path, **context))
    assert "\n" not in str(refused.value)


def test_its_settings_are_settings_of_the_app() -> None:
    check_setting_names(
        {"github_repo": REPO, "github_environment": "aws", "github_branch": "main", "github_oidc_provider_arn": "x"}
    )


SERVICES = {
    "AWS::S3": "s3",
    "AWS::IAM": "iam",
    "AWS::Lambda": "lambda",
    "AWS::Logs": "logs",
    "AWS::StepFunctions": "states",
    "AWS::EMRServerless": "emr-serverless",
    "AWS::KMS": "kms",
}
"""The IAM service prefix of each kind of resource of the pipeline stack."""


def test_the_execution_policy_covers_every_kind_of_resource_of_the_pipeline(synthesized, tmp_path) -> None:
    """Both encryption variants: the KMS key is the one resource only `encryption=kms` adds."""
    granted = {action for s in execution_statements(template(tmp_path)) for action in as_list(s["Action"])}
    kinds = {resource["Type"] for resource in synthesized.resources.values()} | {"AWS::KMS::Key"}
    for kind in kinds - {"AWS::CDK::Metadata"}:
        if kind.startswith("Custom::"):  # CloudFormation invokes the stack's own function
            assert "lambda:InvokeFunction" in granted
            continue
        service = SERVICES[kind.rsplit("::", 1)[0]]
        assert any(action.startswith(f"{service}:") for action in granted), kind
    assert not [action for action in granted if action == "*" or action.endswith(":*")]


def test_the_execution_policy_cannot_touch_the_deploy_role_nor_attach_other_policies(tmp_path) -> None:
    found = template(tmp_path)
    (deploy_role,) = found.find_resources("AWS::IAM::Role")
    deploy_role_name = f"{DEPLOY_STACK}-{deploy_role}-a1b2c3d4e5f6"
    for statement in execution_statements(found):
        for resource in as_list(statement["Resource"]):
            arn = (
                resource
                if isinstance(resource, str)
                else "".join(p for p in resource["Fn::Join"][1] if isinstance(p, str))
            )
            if ":role/" in arn:
                assert not fnmatchcase(deploy_role_name, arn.split(":role/", 1)[1]), arn
        attaching = [a for a in as_list(statement["Action"]) if fnmatchcase("iam:AttachRolePolicy", a)]
        if attaching:
            assert statement["Condition"] == {
                "ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
            }
