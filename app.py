#!/usr/bin/env python3
"""CDK entry point: `cdk synth` / `cdk deploy` / `cdk destroy` (settings: infra/config.py)."""

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

from infra.config import AppConfig, disable_bundling_if_asked
from infra.stack import PipelineStack

app = App()
disable_bundling_if_asked(app)
PipelineStack(app, "FruitsPipeline", config=AppConfig.from_context(app))
Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
app.synth()
