#!/usr/bin/env python3
"""CDK entry point: `cdk synth` / `cdk deploy` / `cdk destroy` (settings: infra/config.py)."""

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

from infra.config import AppConfig, ConfigError, disable_bundling_if_asked, refuse
from infra.github_deploy_role import add_github_deploy_stack
from infra.stack import PipelineStack
from pipeline.contract.deployment import STACK_NAME

app = App()
try:
    disable_bundling_if_asked(app)
    config = AppConfig.from_context(app)
    PipelineStack(app, STACK_NAME, config=config)
    add_github_deploy_stack(app, pipeline_stack=STACK_NAME, region=config.region)  # -c github_repo=owner/name
except ConfigError as error:  # a wrong setting: one line, not a traceback
    refuse(str(error))
Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
app.synth()
