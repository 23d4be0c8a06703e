"""The stack as a whole: region, outputs, IAM wildcards, cdk-nag (AwsSolutions, NIST 800-53 R5), cfn-lint."""

import json
import sys
from pathlib import Path

import cfnlint.api
import pytest
from aws_cdk import CfnElement
from infra_synth import STACK_NAME, build_app, synth_context

from infra.config import EU_REGIONS, REPO_ROOT
from infra.nag import NIST, acknowledge

PACKS = ("AwsSolutions-", f"{NIST}-")

OUTPUTS = {
    "InputBucketName",
    "ResultsBucketName",
    "ArtifactsBucketName",
    "LogsBucketName",
    "ApplicationId",
    "StateMachineArn",
    "StateMachineConsoleUrl",
    "StartRunCommand",
}


IDENTITY_POLICY_TYPES = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"}


def statements(resources: dict[str, dict], types: set[str] | None = None):
    """(resource id, statement) for every policy statement (inline or not) of resources of `types` (all if None)."""
    for name, resource in resources.items():
        if types is not None and resource["Type"] not in types:
            continue
        props = resource.get("Properties", {})
        documents = [props.get("PolicyDocument"), props.get("KeyPolicy")]
        documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in filter(None, documents):
            for statement in document["Statement"]:
                yield name, statement


def template_resources(synthesized, kms_assembly, variant: str) -> dict[str, dict]:
    if variant == "sse-s3":
        return synthesized.resources
    return json.loads((kms_assembly / f"{STACK_NAME}.template.json").read_text())["Resources"]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_stack_is_in_paris_by_default(synthesized) -> None:
    assert synthesized.stack.region == "eu-west-3"


def test_outputs(synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    assert set(outputs) == OUTPUTS
    command = json.dumps(outputs["StartRunCommand"]["Value"])
    assert "aws stepfunctions start-execution" in command and "--state-machine-arn" in command
    url = json.dumps(outputs["StateMachineConsoleUrl"]["Value"])
    assert "console.aws.amazon.com/states/home" in url


VARIANTS = ("sse-s3", "kms")


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_iam_policy_allows_every_action(variant, synthesized, kms_assembly) -> None:
    resources = template_resources(synthesized, kms_assembly, variant)
    for name, statement in statements(resources, IDENTITY_POLICY_TYPES):
        if statement["Effect"] == "Allow":
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), (name, statement)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_only_allow_of_every_action_is_the_key_policys_account_statement(
    variant, synthesized, kms_assembly
) -> None:
    """Bucket policies deny s3:* (TLS only); the one Allow of kms:* is CDK's key policy statement that
    lets the account's IAM policies grant the key (AWS's default key policy), with no condition."""
    resources = template_resources(synthesized, kms_assembly, variant)
    every_action = [
        (name, statement)
        for name, statement in statements(resources)
        if statement["Effect"] == "Allow" and any(a == "*" or a.endswith(":*") for a in as_list(statement["Action"]))
    ]
    keys = [name for name, resource in resources.items() if resource["Type"] == "AWS::KMS::Key"]
    account_root = {"Fn::Join": ["", ["arn:aws:iam::", {"Ref": "AWS::AccountId"}, ":root"]]}
    assert every_action == [
        (key, {"Action": "kms:*", "Effect": "Allow", "Principal": {"AWS": account_root}, "Resource": "*"})
        for key in keys
    ]
    assert len(keys) == (variant == "kms")


def test_every_iam_policy_uses_the_data_key_only_through_a_service(kms_assembly) -> None:
    """kms:ViaService on every identity-policy statement with a KMS action: S3 or EMR Serverless
    may use the key for the role, the role may not call KMS itself."""
    resources = template_resources(None, kms_assembly, "kms")
    with_kms = [
        (name, statement)
        for name, statement in statements(resources, IDENTITY_POLICY_TYPES)
        if any(action.startswith("kms:") for action in as_list(statement["Action"]))
    ]
    assert {name.split("DefaultPolicy")[0] for name, _ in with_kms} == {
        "ComputeJobRole",
        "OrchestrationStateMachineRole",
    }
    for name, statement in with_kms:
        via = as_list(statement["Condition"]["StringEquals"]["kms:ViaService"])
        assert via and all(v.endswith(".eu-west-3.amazonaws.com") for v in via), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_resource_star_only_where_the_service_demands_it(variant, synthesized, kms_assembly) -> None:
    """In identity policies (a key policy's Resource is always `*`: the key itself)."""
    allowed_prefixes = ("logs:", "xray:")
    resources = template_resources(synthesized, kms_assembly, variant)
    for name, statement in statements(resources, IDENTITY_POLICY_TYPES):
        if statement["Effect"] == "Allow" and "*" in as_list(statement.get("Resource", [])):
            assert name.startswith("OrchestrationStateMachineRole"), name
            assert all(a.startswith(allowed_prefixes) for a in as_list(statement["Action"]))


def test_the_template_itself_refuses_regions_outside_the_eu(synthesized) -> None:
    """A CloudFormation rule, so a template deployed by hand elsewhere is refused too."""
    (assertion,) = synthesized.template.to_json()["Rules"]["EuRegionOnly"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [sorted(EU_REGIONS), {"Ref": "AWS::Region"}]}
    assert "eu-west-3" in assertion["AssertDescription"]


def findings(assembly_dir: Path) -> set[tuple[str, str]]:
    """(construct path, rule) of every finding cdk-nag reported, all packs."""
    report = json.loads((assembly_dir / "validation-report.json").read_text())
    return {
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }


def acknowledgments(assembly_dir: Path) -> dict[tuple[str, str], str]:
    """(construct path, rule) -> reason of every acknowledgment in the synthesized app."""
    metadata = json.loads((assembly_dir / f"{STACK_NAME}.metadata.json").read_text())
    return {
        (path.lstrip("/"), finding.removeprefix("Annotation::")): reason
        for path, entries in metadata.items()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for finding, reason in entry["data"].items()
    }


def synth(tmp_path: Path, **context: str) -> tuple[Path, str | None]:
    """The app as app.py builds it, both nag packs included; the assembly and the failure, if any."""
    app, _ = build_app(synth_context(tmp_path, **context), tmp_path / "cdk.out")
    try:
        app.synth()
    except RuntimeError as failure:
        return tmp_path / "cdk.out", str(failure)
    return tmp_path / "cdk.out", None


@pytest.fixture(scope="module")
def kms_assembly(tmp_path_factory) -> Path:
    assembly_dir, error = synth(tmp_path_factory.mktemp("kms"), encryption="kms")
    assert error is None, error
    return assembly_dir


def test_cdk_nag_both_packs_have_no_unacknowledged_finding(synthesized, kms_assembly) -> None:
    assert synthesized.synth_error is None, synthesized.synth_error
    assert findings(synthesized.assembly_dir) == set()
    assert findings(kms_assembly) == set()


def test_kms_variant_names_its_key(kms_assembly) -> None:
    outputs = json.loads((kms_assembly / f"{STACK_NAME}.template.json").read_text())["Outputs"]
    assert set(outputs) == OUTPUTS | {"DataKeyArn"}


def test_every_acknowledgment_names_one_finding_and_a_reason(synthesized) -> None:
    acknowledged = acknowledgments(synthesized.assembly_dir)
    assert {rule.split("-")[0] for _, rule in acknowledged} == {"AwsSolutions", "NIST.800.53.R5"}
    for (path, rule), reason in acknowledged.items():
        assert rule.startswith(PACKS), (path, rule)
        if rule.startswith(("AwsSolutions-IAM4", "AwsSolutions-IAM5")):
            assert rule.endswith("]") and "[" in rule, f"{path}: {rule} must name the finding"
        assert len(reason) >= 60, f"{path}: {rule} needs a specific reason"


@pytest.mark.parametrize("variant", ["sse-s3", "kms"])
def test_cfn_lint_finds_no_error(variant, synthesized, kms_assembly) -> None:
    template = synthesized.template_path if variant == "sse-s3" else kms_assembly / f"{STACK_NAME}.template.json"
    matches = cfnlint.api.lint_file(template, cfnlint.api.ManualArgs(regions=["eu-west-3"]))
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.severity == "error"]
    assert errors == []
    # The only warnings: CDK adds DependsOn next to a GetAtt on its own roles.
    assert {m.rule.id for m in matches} <= {"W3005"}


@pytest.mark.parametrize("context", [{}, {"encryption": "kms"}], ids=["sse-s3", "kms"])
def test_every_acknowledgment_matches_a_real_finding(context, monkeypatch, tmp_path) -> None:
    """Without the acknowledgments, cdk-nag reports exactly the acknowledged findings, at or below each one."""
    acknowledged_dir, error = synth(tmp_path / "acknowledged", **context)
    assert error is None, error
    acknowledged = set(acknowledgments(acknowledged_dir))
    for name, module in list(sys.modules.items()):
        if name.startswith("infra.") and getattr(module, "acknowledge", None) is acknowledge:
            monkeypatch.setattr(module, "acknowledge", lambda *_args: None)
    reported_dir, error = synth(tmp_path / "bare", **context)
    assert error is not None
    reported = findings(reported_dir)

    def covers(acknowledgment: tuple[str, str], finding: tuple[str, str]) -> bool:
        (scope, rule), (path, found) = acknowledgment, finding
        return rule == found and (path == scope or path.startswith(scope + "/"))

    assert [f for f in reported if not any(covers(a, f) for a in acknowledged)] == []
    assert [a for a in acknowledged if not any(covers(a, f) for f in reported)] == []


def test_every_function_logs_to_an_expiring_log_group_deleted_with_the_stack(synthesized) -> None:
    """Including CDK's own handlers, which would otherwise create /aws/lambda/<name> forever."""
    functions = synthesized.template.find_resources("AWS::Lambda::Function")
    assert len(functions) >= 2  # the upload handler and the S3 auto-delete handler
    for name, function in functions.items():
        log_group = synthesized.resources[function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Type"] == "AWS::Logs::LogGroup", name
        assert log_group["Properties"]["RetentionInDays"] == 30, name
        assert log_group["DeletionPolicy"] == "Delete", name


def test_cdk_json_sets_every_flag_the_cli_recommends_for_a_new_app() -> None:
    """`cdk init`'s flags (the pinned CLI carries them): without them `cdk synth` warns that N flags are not
    configured. target-partitions stays `aws` only: the stack deploys to EU regions, never to China."""
    recommended = json.loads(
        (REPO_ROOT / "node_modules/aws-cdk/lib/init-templates/.recommended-feature-flags.json").read_text()
    )
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    assert {**recommended, "@aws-cdk/core:target-partitions": ["aws"]} == context


def acknowledged_on(synthesized, logical_id: str, rule: str) -> str:
    """The reason of the acknowledgment of `rule` on the construct of this resource (or above it)."""
    stack = synthesized.stack
    (path,) = [
        element.node.path
        for element in stack.node.find_all()
        if isinstance(element, CfnElement) and stack.resolve(element.logical_id) == logical_id
    ]
    reasons = {
        scope: reason for (scope, found), reason in acknowledgments(synthesized.assembly_dir).items() if found == rule
    }
    (scope,) = [scope for scope in reasons if path.startswith(scope + "/")]
    return reasons[scope]


def test_replication_acknowledgments_say_which_buckets_are_versioned(synthesized) -> None:
    buckets = synthesized.template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 4
    for name, bucket in buckets.items():
        reason = acknowledged_on(synthesized, name, f"{NIST}-S3BucketReplicationEnabled")
        versioned = bucket["Properties"].get("VersioningConfiguration") == {"Status": "Enabled"}
        assert ("versioning keeps" in reason, "not versioned" in reason) == (versioned, not versioned), name


def test_the_runs_acknowledgment_says_any_job_may_rewrite_every_run(synthesized) -> None:
    """The job role's write grant is one prefix for all runs, not one per run."""
    (policy_name,) = [n for n in synthesized.resources if n.startswith("ComputeJobRoleDefaultPolicy")]
    (write,) = [s for _, s in statements({policy_name: synthesized.resources[policy_name]}) if s["Sid"] == "WriteRuns"]
    assert {"s3:PutObject", "s3:DeleteObject"} <= set(write["Action"]) and "Condition" not in write
    assert write["Resource"]["Fn::Join"][1][-1] == "/runs/*"
    (role_name,) = [n for n in synthesized.template.find_resources("AWS::IAM::Role") if n.startswith("ComputeJobRole")]
    results = next(n for n in synthesized.resources if n.startswith("StorageResultsBucket"))
    reason = acknowledged_on(synthesized, role_name, f"AwsSolutions-IAM5[Resource::<{results}.Arn>/runs/*]")
    assert "any job of this application may read, overwrite and delete every key under runs/" in reason


def test_every_function_may_write_its_own_log_group_only(synthesized) -> None:
    """No AWSLambdaBasicExecutionRole (which allows every log group of the account), no managed policy at all."""
    resources = synthesized.resources
    for name, role in synthesized.template.find_resources("AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], name
    for name, function in synthesized.template.find_resources("AWS::Lambda::Function").items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        policies = {role: resources[role]} | {
            n: r
            for n, r in resources.items()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
        }
        log_statements = [
            s for _, s in statements(policies) if any(a.startswith("logs:") for a in as_list(s["Action"]))
        ]
        assert log_statements, name
        for statement in log_statements:
            assert sorted(as_list(statement["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"], name
            assert statement["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}, name
    assert not [rule for _, rule in acknowledgments(synthesized.assembly_dir) if rule.startswith("AwsSolutions-IAM4")]


def test_the_docs_name_the_one_allow_of_every_action() -> None:
    """The Security table's claim about `*` actions (docs/security.md) must name the key policy's account
    statement, which the KMS template has (the claim used to hold for the SSE-S3 template only)."""
    from tests.docs_text import page, section

    text = section(page("docs/security.md"), "## Security")
    table = text[: text.index("**Encryption.**")]
    rows = [row for row in table.splitlines() if "allows `*`" in row or "on `*` actions" in row]
    assert rows
    for row in rows:
        assert "key policy" in row and "`kms:*` to the account root" in row, row
