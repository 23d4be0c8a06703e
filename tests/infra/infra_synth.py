"""How the infra tests synthesize the app: like `cdk synth -c skip_bundling=true`.

The feature flags of cdk.json, no Docker or local bundling, the cdk-nag packs
of app.py (AwsSolutions and NIST 800-53 rev 5). (A module of its own, not conftest, so that tests can import it
whatever other conftest.py files the repository has.)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

from aws_cdk import App, Validations
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks

from infra.config import REPO_ROOT, AppConfig, disable_bundling_if_asked
from infra.stack import PipelineStack

STACK_NAME = "FruitsPipeline"
FEATURE_FLAGS = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


@dataclass(frozen=True)
class Synthesized:
    stack: PipelineStack
    template: Template
    template_path: Path
    assembly_dir: Path
    # None when synthesis (and so cdk-nag) passed; the error text otherwise.
    synth_error: str | None

    @property
    def resources(self) -> dict[str, dict]:
        return self.template.to_json()["Resources"]

    def metadata(self) -> dict[str, list[dict]]:
        return json.loads((self.assembly_dir / f"{STACK_NAME}.metadata.json").read_text())


def job_package_context(tmp_dir: Path) -> dict[str, str]:
    """Context pointing at the job package: the real `pipeline/` once it exists in the repo.

    Until the package lands (it is written on another branch), a stand-in with the
    documented entry point lets the app synthesize; only its existence matters here.
    """
    if (REPO_ROOT / "pipeline" / "__main__.py").is_file():
        return {}
    package = tmp_dir / "pipeline"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("from pipeline.cli import main\n\nraise SystemExit(main())\n")
    return {"job_package_dir": str(package)}


def synth_context(tmp_dir: Path, **overrides: str) -> dict[str, object]:
    return {
        **FEATURE_FLAGS,
        "skip_bundling": "true",
        **job_package_context(tmp_dir),
        **overrides,
    }


def build_app(context: dict[str, object], outdir: Path) -> tuple[App, PipelineStack]:
    """The same steps as app.py."""
    app = App(context=context, outdir=str(outdir))
    disable_bundling_if_asked(app)
    stack = PipelineStack(app, STACK_NAME, config=AppConfig.from_context(app))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), NIST80053R5Checks(app))
    return app, stack
