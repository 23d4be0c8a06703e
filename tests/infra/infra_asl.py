"""The synthesized state machine definition, rendered with stand-in values for offline checks."""

from __future__ import annotations

import json
import re

from infra_synth import Synthesized

from pipeline.contract.execution_input import Places

ACCOUNT = "123456789012"
REGION = "eu-west-3"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def state_machine(synthesized: Synthesized) -> dict:
    (resource,) = synthesized.template.find_resources("AWS::StepFunctions::StateMachine").values()
    return resource["Properties"]


def resolve(value: object, names: dict[str, str]) -> str:
    """Resolve the intrinsics CloudFormation would, with `names` standing for physical ids."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return names.get(value["Ref"], value["Ref"].lower())
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return names[f"{logical_id}.{attribute}"]
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(part, names) for part in parts)
    raise ValueError(f"unexpected intrinsic {value}")


def render(synthesized: Synthesized, names: dict[str, str], definition: str | None = None) -> dict:
    """The definition as Step Functions would receive it after CloudFormation's substitutions.

    `definition`: the same app's definition rendered with other settings (test values
    that shorten the polling); by default the synthesized one.
    """
    props = state_machine(synthesized)
    values = {key: resolve(value, names) for key, value in props["DefinitionSubstitutions"].items()}
    return json.loads(PLACEHOLDER.sub(lambda m: values[m.group(1)], definition or props["DefinitionString"]))


def logical_id(synthesized: Synthesized, resource_type: str, prefix: str) -> str:
    (found,) = [name for name in synthesized.template.find_resources(resource_type) if name.startswith(prefix)]
    return found


def stand_in_names(synthesized: Synthesized, application_id: str, job_role_arn: str) -> dict:
    return {
        f"{logical_id(synthesized, 'AWS::EMRServerless::Application', 'Compute')}.ApplicationId": application_id,
        f"{logical_id(synthesized, 'AWS::IAM::Role', 'ComputeJobRole')}.Arn": job_role_arn,
    }


def bucket_name(synthesized: Synthesized, prefix: str) -> str:
    """The stand-in name `resolve` gives a bucket of the stack (its logical id, lower case)."""
    return logical_id(synthesized, "AWS::S3::Bucket", prefix).lower()


def places(synthesized: Synthesized) -> Places:
    return Places(bucket_name(synthesized, "StorageInputBucket"), bucket_name(synthesized, "StorageResultsBucket"))


def model_uri(synthesized: Synthesized) -> str:
    """The deployed model's URI the state machine passes to every run (stand-in bucket name)."""
    return resolve(state_machine(synthesized)["DefinitionSubstitutions"]["WeightsUri"], {})
