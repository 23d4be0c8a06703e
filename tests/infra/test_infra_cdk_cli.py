"""`cdk synth` through the pinned CLI, exactly as infra/README.md documents it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from infra_synth import job_package_context

from infra.config import REPO_ROOT

CDK = REPO_ROOT / "node_modules" / ".bin" / "cdk"


def cdk_synth(tmp_path: Path, *context: str) -> subprocess.CompletedProcess:
    if not CDK.exists():
        pytest.fail("node_modules/.bin/cdk is missing: run `npm ci` at the repo root")
    extra = [f"{k}={v}" for k, v in job_package_context(tmp_path).items()]
    arguments = [arg for pair in (*context, *extra) for arg in ("-c", pair)]
    env = {
        **os.environ,
        # cdk.json runs `python3 app.py`: the repo's venv python must come first.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    return subprocess.run(
        [
            "npx",
            "--no-install",
            "cdk",
            "synth",
            "--no-notices",
            "--quiet",
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


def test_cdk_synth_without_docker(tmp_path) -> None:
    result = cdk_synth(tmp_path, "skip_bundling=true")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "end-of-life" not in result.stderr + result.stdout  # the pinned Node runs it, no jsii banner
    template = json.loads((tmp_path / "cdk.out" / "FruitsPipeline.template.json").read_text())
    assert "AWS::EMRServerless::Application" in {r["Type"] for r in template["Resources"].values()}


def test_cdk_synth_refuses_a_non_eu_region(tmp_path) -> None:
    result = cdk_synth(tmp_path, "skip_bundling=true", "region=us-east-1")
    assert result.returncode != 0
    assert "Region 'us-east-1' is not in the EU" in result.stderr
    assert "GDPR" in result.stderr
