"""Fixtures of the infra tests (the one synthesis of the whole app, `synthesized`, is in tests/conftest.py)."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from infra_synth import synth_context
from moto import mock_aws
from sfn_moto import StepFunctions

from infra.config import AppConfig, disable_bundling_if_asked


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
