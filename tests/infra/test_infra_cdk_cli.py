"""`cdk synth` through the pinned CLI, exactly as docs/development.md (Offline verification) documents it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from infra_synth import job_package_context

from infra.config import REPO_ROOT

CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"


def cdk_synth(
    tmp_path: Path, *context: str, env: dict[str, str] | None = None, command: str = "synth"
) -> subprocess.CompletedProcess:
    if not CDK.exists():
        pytest.fail("node_modules/.bin/cdk is missing: run `npm ci` at the repo root")
    extra = [f"{k}={v}" for k, v in job_package_context(tmp_path).items()]
    arguments = [arg for pair in (*context, *extra) for arg in ("-c", pair)]
    env = {
        **os.environ,
        # cdk.json runs `python3 app.py`: the repo's venv python must come first.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        **(env or {}),
    }
    return subprocess.run(
        [
            "npx",
            "--no-install",
            "cdk",
            command,
            "--no-notices",
            *(["--quiet"] if command == "synth" else []),
            "--output",
            str(tmp_path / "cdk.out"),
            *arguments,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_pinned_cli_version() -> None:
    package = json.loads((REPO_ROOT / "package.json").read_text())
    assert package["devDependencies"]["aws-cdk"] == "2.1148.1"
    assert package["devDependencies"]["asl-validator"] == "4.0.0"
    assert int(package["devDependencies"]["node"].split(".")[0]) >= 22  # jsii dropped Node 20 on 2026-10-30


CDK_OWN_LINES = ("Bundling asset ", "python3 app.py: Subprocess exited with error")
"""What the CDK prints around the app's refusal: its progress line before bundling, the CLI's exit note."""


def refusal(result: subprocess.CompletedProcess) -> str:
    """The app's one `error:` line; fails unless synth stopped with that line, CDK's own and nothing else."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("error: ")]
    assert len(ours) == 1, result.stderr[-3000:]
    assert all(line in ours or line.startswith(CDK_OWN_LINES) for line in lines), result.stderr[-3000:]
    return ours[0]


def test_cdk_synth_without_docker(tmp_path) -> None:
    result = cdk_synth(tmp_path, "skip_bundling=true")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "end-of-life" not in result.stderr + result.stdout  # the pinned Node runs it, no jsii banner
    assert "feature flags" not in result.stderr + result.stdout  # cdk.json sets every recommended flag
    template = json.loads((tmp_path / "cdk.out" / "FruitsPipeline.template.json").read_text())
    assert "AWS::EMRServerless::Application" in {r["Type"] for r in template["Resources"].values()}


def test_cdk_synth_refuses_a_non_eu_region(tmp_path) -> None:
    line = refusal(cdk_synth(tmp_path, "skip_bundling=true", "region=us-east-1"))
    assert line.startswith("error: Region 'us-east-1' is not in the EU")
    assert "GDPR" in line


def test_cdk_synth_refuses_a_misspelt_setting(tmp_path) -> None:
    line = refusal(cdk_synth(tmp_path, "skip_bundling=true", "weigths=imagenet"))
    assert line.startswith("error: unknown setting -c weigths (did you mean weights?); the settings are: region, ")


def test_cdk_deploy_refuses_skip_bundling(tmp_path) -> None:
    """The CLI gives the app the same context for deploy as for synth; the app reads the CLI's command line.

    No account is reached: the app stops before the CLI needs one, and no credentials or instance metadata exist here.
    """
    no_aws = {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **{name: "" for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")},
    }
    line = refusal(cdk_synth(tmp_path, "skip_bundling=true", env=no_aws, command="deploy"))
    assert line.startswith("error: -c skip_bundling=true is for `cdk synth` and the tests only: `cdk deploy` would ")
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()  # nothing synthesized, so nothing to upload


DOCKER_WITHOUT_DAEMON = """#!/bin/sh
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
"""


def test_cdk_synth_without_a_docker_daemon_says_so_in_one_line(tmp_path) -> None:
    """The bundling of the job's environment needs Docker: CDK_DOCKER (which CDK runs too) is one without a daemon."""
    docker = tmp_path / "docker"
    docker.write_text(DOCKER_WITHOUT_DAEMON)
    docker.chmod(0o755)
    line = refusal(cdk_synth(tmp_path, env={"CDK_DOCKER": str(docker)}))
    assert line == (
        "error: Docker is needed to build the job's Python environment for `cdk deploy`, but its daemon does not "
        "answer (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?): "
        "start Docker, or add -c skip_bundling=true if you only want to synthesize"
    )


def test_cdk_synth_with_the_real_docker_client_and_no_daemon(tmp_path) -> None:
    """The same with this machine's own `docker`, where it has a client and no daemon (else skipped)."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0:
        pytest.skip("needs a docker client without a running daemon")
    line = refusal(cdk_synth(tmp_path))
    assert "Docker is needed to build the job's Python environment" in line
    assert "-c skip_bundling=true" in line
