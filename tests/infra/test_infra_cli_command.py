"""The CDK CLI's command, read from the app's ancestors, and the refusal of skip_bundling for a deploy."""

from __future__ import annotations

import os

import pytest
from aws_cdk import App

from infra.cli_command import cli_command, running_cli_command
from infra.config import ConfigError, disable_bundling_if_asked


@pytest.mark.parametrize(
    "argv, command",
    [
        (["node", "/repo/node_modules/.bin/cdk", "deploy", "--no-notices"], "deploy"),
        (["node", "/repo/node_modules/aws-cdk/bin/cdk", "-c", "skip_bundling=true", "synth", "-q"], "synth"),
        (["npm", "exec", "--no-install", "cdk", "--", "deploy", "-c", "region=eu-west-1"], "deploy"),
        (["/usr/local/bin/node", "C:/x/aws-cdk/lib/cdk.js", "watch"], "watch"),
        (["node", "/repo/node_modules/.bin/cdk", "--app", "cdk.out", "publish-assets"], "publish-assets"),
        (["node", "/repo/node_modules/.bin/cdk", "synth", "deploy"], "synth"),  # a stack named "deploy"
        (["python3", "app.py"], None),
        (["node", "/usr/lib/node_modules/npm/bin/npm-cli.js", "ci"], None),
    ],
)
def test_the_command_of_a_cli_command_line(argv: list[str], command: str | None) -> None:
    assert cli_command(argv) == command


PROCESSES = {
    300: (290, ["python3", "app.py"]),
    290: (280, ["/bin/sh", "-c", "python3 app.py"]),
    280: (270, ["node", "/repo/node_modules/.bin/cdk", "deploy", "-c", "skip_bundling=true"]),
    270: (1, ["npm", "exec", "--no-install", "cdk", "deploy"]),
    200: (190, ["python", "-m", "pytest", "tests/infra"]),
    190: (1, ["make", "test"]),
}


def test_the_nearest_cli_ancestor_names_the_command() -> None:
    assert running_cli_command(290, PROCESSES.get) == "deploy"


def test_without_a_cli_ancestor_there_is_no_command() -> None:
    assert running_cli_command(200, PROCESSES.get) is None
    assert running_cli_command(999, PROCESSES.get) is None  # a process that ended meanwhile


def test_this_process_is_not_run_by_the_cli() -> None:
    """The real process table (/proc or ps): pytest is not started by the CDK CLI."""
    assert running_cli_command(os.getpid()) is None


@pytest.mark.parametrize("command", ["deploy", "watch", "import", "publish-assets"])
def test_skip_bundling_is_refused_for_a_command_that_uploads(command: str) -> None:
    app = App(context={"skip_bundling": "true"})
    refused = rf"^-c skip_bundling=true is for `cdk synth` and the tests only: `cdk {command}` would upload"
    with pytest.raises(ConfigError, match=refused):
        disable_bundling_if_asked(app, command)


@pytest.mark.parametrize("command", ["synth", "diff", None])
def test_skip_bundling_still_skips_for_synth_and_the_tests(command: str | None) -> None:
    app = App(context={"skip_bundling": "true"})
    disable_bundling_if_asked(app, command)
    assert app.node.try_get_context("aws:cdk:bundling-stacks") == []


def test_a_deploy_without_skip_bundling_bundles() -> None:
    app = App(context={})
    disable_bundling_if_asked(app, "deploy")
    assert app.node.try_get_context("aws:cdk:bundling-stacks") is None
