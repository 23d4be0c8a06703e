"""The stack as a whole: region, outputs, IAM wildcards, cdk-nag, cfn-lint."""

import json
import re
import sys

import cfnlint.api
import pytest
from infra_synth import build_app, synth_context

from infra.nag import acknowledge

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


def statements(synthesized):
    """(resource id, statement) for every IAM statement, inline or not."""
    for name, resource in synthesized.resources.items():
        props = resource.get("Properties", {})
        documents = [props.get("PolicyDocument")] + [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in filter(None, documents):
            for statement in document["Statement"]:
                yield name, statement


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


def test_no_iam_statement_allows_every_action(synthesized) -> None:
    for name, statement in statements(synthesized):
        if statement["Effect"] == "Deny":  # e.g. the TLS-only bucket policies deny s3:*
            continue
        for action in as_list(statement.get("Action", [])):
            assert action != "*" and not action.endswith(":*"), (name, statement)


def test_resource_star_only_where_the_service_demands_it(synthesized) -> None:
    allowed_prefixes = ("logs:", "xray:")
    for name, statement in statements(synthesized):
        if statement["Effect"] == "Allow" and "*" in as_list(statement.get("Resource", [])):
            assert name.startswith("OrchestrationStateMachineRole"), name
            assert all(a.startswith(allowed_prefixes) for a in as_list(statement["Action"]))


def test_cdk_nag_aws_solutions_has_no_unacknowledged_finding(synthesized) -> None:
    assert synthesized.synth_error is None, synthesized.synth_error
    report = json.loads((synthesized.assembly_dir / "validation-report.json").read_text())
    assert report["pluginReports"] == []


def test_every_acknowledgment_names_one_finding_and_a_reason(synthesized) -> None:
    acknowledged = {
        (path, finding): reason
        for path, entries in synthesized.metadata().items()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for finding, reason in entry["data"].items()
    }
    assert acknowledged
    for (path, finding), reason in acknowledged.items():
        rule = finding.removeprefix("Annotation::")
        assert rule.startswith("AwsSolutions-"), (path, finding)
        if rule.startswith(("AwsSolutions-IAM4", "AwsSolutions-IAM5")):
            assert rule.endswith("]") and "[" in rule, f"{path}: {rule} must name the finding"
        assert len(reason) >= 60, f"{path}: {rule} needs a specific reason"


def test_cfn_lint_finds_no_error(synthesized) -> None:
    matches = cfnlint.api.lint_file(synthesized.template_path, cfnlint.api.ManualArgs(regions=["eu-west-3"]))
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.severity == "error"]
    assert errors == []
    # The only warnings: CDK adds DependsOn next to a GetAtt on its own roles.
    assert {m.rule.id for m in matches} <= {"W3005"}


def test_every_acknowledgment_matches_a_real_finding(synthesized, monkeypatch, tmp_path) -> None:
    """Without the acknowledgments, cdk-nag reports exactly the acknowledged findings."""
    for name, module in list(sys.modules.items()):
        if name.startswith("infra.") and getattr(module, "acknowledge", None) is acknowledge:
            monkeypatch.setattr(module, "acknowledge", lambda *_args: None)
    app, _ = build_app(synth_context(tmp_path), tmp_path / "cdk.out")
    with pytest.raises(RuntimeError) as failure:
        app.synth()
    reported = set(re.findall(r"Acknowledge with 'AwsSolutions::([^']+)'", str(failure.value)))
    acknowledged = {
        finding.removeprefix("Annotation::")
        for entries in synthesized.metadata().values()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for finding in entry["data"]
    }
    assert reported == acknowledged
