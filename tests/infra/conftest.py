"""Fixtures of the infra tests: one synthesis of the whole app per session (jsii is slow)."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from infra_synth import STACK_NAME, Synthesized, build_app, synth_context
from moto import mock_aws
from sfn_moto import StepFunctions

from infra.config import AppConfig, disable_bundling_if_asked


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    tmp = tmp_path_factory.mktemp("synth")
    app, stack = build_app(synth_context(tmp), tmp / "cdk.out")
    try:
        app.synth()
        error = None
    except RuntimeError as failure:  # cdk-nag findings make synthesis fail
        error = str(failure)
    template_path = tmp / "cdk.out" / f"{STACK_NAME}.template.json"
    return Synthesized(
        stack=stack,
        template=Template.from_json(json.loads(template_path.read_text())),
        template_path=template_path,
        assembly_dir=tmp / "cdk.out",
        synth_error=error,
    )


@pytest.fixture(scope="session")
def variant_stack(tmp_path_factory: pytest.TempPathFactory):
    """An empty stack (and its config) in the test context plus `context` overrides.

    For variants of the configuration (destroy_data, ARM64, weights file...) that only
    need a few constructs, not another full synthesis.
    """

    def build(**context: str) -> tuple[Stack, AppConfig]:
        app = App(context=synth_context(tmp_path_factory.mktemp("variant"), **context))
        disable_bundling_if_asked(app)
        return Stack(app, "Variant", env={"region": "eu-west-3"}), AppConfig.from_context(app)

    return build


@pytest.fixture
def step_functions(monkeypatch) -> StepFunctions:
    """A fresh moto account that executes state machines (see sfn_moto)."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield StepFunctions(monkeypatch)
