"""Configuration of the CDK app: CDK context values, their defaults, and the EU region guard.

Every setting is read from CDK context (`cdk.json`, `-c key=value`), so a deploy is
reproducible from the command line alone. Defaults live here and only here; the
docs/aws.md lists them.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn

from constructs import Construct

from infra.cli_command import UPLOADING_COMMANDS, running_cli_command
from infra.log_groups import VALID_RETENTION_DAYS

# The EU region rule lives in pipeline/contract/deployment.py, shared with the cloud client;
# EU_REGIONS is imported here for the code and tests that read it from infra.config.
from pipeline.contract.deployment import DEFAULT_REGION, EU_REGIONS, region_refusal  # noqa: F401
from pipeline.contract.execution_input import IMAGE_SIZE_RANGE
from pipeline.model.embedder import sidecar_path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The EMR release is named once, beside the Spark it runs, in pipeline/contract/versions.py.
# The job's pins (numpy 2.4, pandas 3.1) need Python >= 3.11, and EMR Serverless does not
# document which Pythons its 7.x images carry, so the job's environment brings its own.
PYTHON_VERSION = "3.11.13"

ARCHITECTURES = ("X86_64", "ARM64")
# Default encryption of the input and results buckets: SSE-S3, or a customer-managed KMS key.
ENCRYPTIONS = ("s3", "kms")
IMAGENET = "imagenet"

WORKER_MEMORY_GB = {1: (2, 8, 1), 2: (4, 16, 1), 4: (8, 30, 1), 8: (16, 60, 4), 16: (32, 120, 8)}
"""vCPU of an EMR Serverless worker -> its memory (min, max, step in GB), from AWS's "Supported
worker configurations"; memory is spark.*.memory + spark.*.memoryOverhead of the container."""
WORKER_DISK_GB = 20
"""Ephemeral storage of each worker when none is configured (free)."""


SKIP_BUNDLING = "skip_bundling"
"""The one context key of the app that is not an AppConfig field (see disable_bundling_if_asked)."""


class ConfigError(ValueError):
    """A context value that would produce a wrong or non-compliant deployment."""


def refuse(message: str) -> NoReturn:
    """Stop synth with one `error:` line and no traceback (app.py and the Docker check).

    A SystemExit: jsii turns any Exception raised inside a CDK callback (asset bundling) into a
    JavaScript error and a page of stack trace, but lets SystemExit through to the interpreter.
    """
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


@dataclass(frozen=True)
class AppConfig:
    """Every knob of the stack, with the documented default of each."""

    region: str = DEFAULT_REGION
    # Keep input photos and results on `cdk destroy` unless this is true.
    destroy_data: bool = False
    # Days before S3 access logs and EMR job logs expire.
    log_retention_days: int = 30
    # Days before non-current versions of input/results objects expire.
    noncurrent_version_days: int = 30
    # "kms": input and results under a customer-managed key (rotated, S3 bucket keys).
    encryption: str = "s3"
    # EMR Serverless application. The maximum capacity is a hard cost ceiling; a new account
    # may run 16 vCPU at once (service quota), which the defaults below stay within.
    architecture: str = "X86_64"
    max_vcpu: int = 16
    max_memory_gb: int = 64
    max_disk_gb: int = 500
    idle_timeout_minutes: int = 5
    # Spark resources of one run: 2 + 3 x 4 = 14 vCPU. The driver lists, schedules and fits PCA
    # (no model work); each executor runs 4 Python workers with LiteRT, whose memory is the overhead.
    driver_cores: int = 2
    driver_memory_gb: int = 6
    driver_memory_overhead_gb: int = 2
    executor_cores: int = 4
    executor_memory_gb: int = 8
    executor_memory_overhead_gb: int = 4
    max_executors: int = 3
    # Weights: "imagenet" (fetched by Keras on the deploying machine) or a path to a
    # `X.weights.h5` file with its `X.json` sidecar next to it.
    weights: str = IMAGENET
    # Job defaults, overridable per run in the execution input.
    image_size: int = 224
    variance: float = 0.95
    # Orchestration.
    job_timeout_minutes: int = 180
    state_machine_log_retention_days: int = 30
    # Privacy first (photo paths are in both): off unless asked. EMR Serverless's managed
    # copy of the Spark logs (kept by EMR up to 30 days, outside this stack's expiry and
    # destroy; it serves the console's Spark UI), and the execution input, output and
    # state data in the Step Functions log events.
    emr_managed_persistence: bool = False
    log_execution_data: bool = False
    # Directory of the job's Python package (contains __main__.py), relative to the repo.
    job_package_dir: str = "pipeline"

    @property
    def job_package_path(self) -> Path:
        return (REPO_ROOT / self.job_package_dir).resolve()

    @classmethod
    def from_context(cls, scope: Construct) -> AppConfig:
        """Read every field from CDK context, falling back to the defaults above."""
        check_setting_names(scope.node.get_all_context())
        values: dict[str, Any] = {}
        for name, field in cls.__dataclass_fields__.items():
            raw = scope.node.try_get_context(name)
            if raw is None:
                continue
            values[name] = _coerce(name, raw, type(field.default))
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        refusal = region_refusal(self.region, "set -c region=<one of them>")
        if refusal:
            raise ConfigError(refusal)
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.encryption not in ENCRYPTIONS:
            raise ConfigError(f"encryption must be one of {ENCRYPTIONS}, got {self.encryption!r}")
        if not 0 < self.variance <= 1:
            raise ConfigError(f"variance must be in (0, 1], got {self.variance}")
        if not IMAGE_SIZE_RANGE[0] <= self.image_size <= IMAGE_SIZE_RANGE[1]:
            raise ConfigError(
                f"image_size must be between {IMAGE_SIZE_RANGE[0]} and {IMAGE_SIZE_RANGE[1]}, got {self.image_size}"
            )
        if not 1 <= self.idle_timeout_minutes <= 10080:
            raise ConfigError("idle_timeout_minutes must be between 1 and 10080")
        for name in ("log_retention_days", "noncurrent_version_days", "job_timeout_minutes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.state_machine_log_retention_days not in VALID_RETENTION_DAYS:
            raise ConfigError(
                "state_machine_log_retention_days must be one of the retentions CloudWatch Logs accepts "
                f"({', '.join(map(str, sorted(VALID_RETENTION_DAYS)))}), got {self.state_machine_log_retention_days}"
            )
        if not (self.job_package_path / "__main__.py").is_file():
            raise ConfigError(
                f"job_package_dir {self.job_package_dir!r}: {self.job_package_path} has no __main__.py "
                "(the job's entry point)"
            )
        self._validate_workers()
        if self.weights != IMAGENET:
            weights = Path(self.weights)
            if not weights.name.endswith(".weights.h5") or not weights.is_file():
                raise ConfigError(
                    f"weights must be {IMAGENET!r} or an existing '<name>.weights.h5' file, got {self.weights!r}"
                )
            if not weights_sidecar(weights).is_file():
                raise ConfigError(
                    f"weights file {weights} needs its preprocessing sidecar {weights_sidecar(weights)} next to it"
                )

    def _validate_workers(self) -> None:
        """What EMR Serverless would refuse at run time, refused at synth in one line."""
        driver = _worker("driver", self.driver_cores, self.driver_memory_gb, self.driver_memory_overhead_gb)
        executor = _worker("executor", self.executor_cores, self.executor_memory_gb, self.executor_memory_overhead_gb)
        if self.max_executors < 1:
            raise ConfigError(
                f"max_executors must be at least 1 (the executors featurize the photos), got {self.max_executors}"
            )
        capacity = (self.max_vcpu, self.max_memory_gb, self.max_disk_gb)
        smallest = tuple(d + e for d, e in zip(driver, executor))
        if any(have < need for have, need in zip(capacity, smallest)):
            raise ConfigError(
                f"the application's maximum capacity ({_size(capacity)}) is smaller than one driver plus one "
                f"executor ({_size(smallest)}): raise max_vcpu/max_memory_gb/max_disk_gb"
            )
        largest = tuple(d + self.max_executors * e for d, e in zip(driver, executor))
        if any(have < need for have, need in zip(capacity, largest)):
            raise ConfigError(
                f"the driver and {self.max_executors} executors need {_size(largest)}, more than the application's "
                f"maximum capacity ({_size(capacity)}): lower max_executors or raise max_vcpu/max_memory_gb/max_disk_gb"
            )


def _worker(role: str, cores: int, memory_gb: int, overhead_gb: int) -> tuple[int, int, int]:
    """(vCPU, GB, disk GB) of an EMR Serverless worker, if it is one of the sizes EMR Serverless supports."""
    if cores not in WORKER_MEMORY_GB:
        raise ConfigError(
            f"{role}_cores must be one of {', '.join(map(str, WORKER_MEMORY_GB))} (EMR Serverless worker sizes), "
            f"got {cores}"
        )
    low, high, step = WORKER_MEMORY_GB[cores]
    memory = memory_gb + overhead_gb
    if memory_gb < 1 or overhead_gb < 1 or not (low <= memory <= high and (memory - low) % step == 0):
        raise ConfigError(
            f"a {role} of {cores} vCPU and {memory_gb} + {overhead_gb} GB ({role}_memory_gb + "
            f"{role}_memory_overhead_gb, each at least 1) is not an EMR Serverless worker: {cores} vCPU takes "
            f"{low}-{high} GB in steps of {step} GB"
        )
    return cores, memory, WORKER_DISK_GB


def _size(resources: tuple[int, int, int]) -> str:
    vcpu, memory, disk = resources
    return f"{vcpu} vCPU, {memory} GB, {disk} GB disk"


GITHUB_SETTINGS = ("github_repo", "github_environment", "github_branch", "github_oidc_provider_arn")
"""Context keys of the optional GitHub deploy-role stack (infra/github_deploy_role.py), off without github_repo."""
SETTINGS = (*(f.name for f in fields(AppConfig)), SKIP_BUNDLING, *GITHUB_SETTINGS)
"""Every context key of the app's own, in the order of the Configuration table in docs/aws.md."""
_SETTING_STYLE = re.compile(r"[a-z][a-z0-9_]*")
_NEAR_MISS = 0.85
"""difflib ratio from which a key in another style (`skip-bundling`, `maxVcpu`) is taken for a misspelt setting."""


def check_setting_names(context: Mapping[str, Any]) -> None:
    """Refuse a context key meant as one of the app's settings that is none (`-c weigths=...`).

    CDK's own keys pass: feature flags (`@aws-cdk/...`), the keys the CLI injects
    (`aws:cdk:bundling-stacks`, `aws:cdk:version-reporting`...), lookups cached in
    cdk.context.json (`availability-zones:account=...`), and the CLI's kebab-case keys
    (`acknowledged-issue-numbers`, `cli-telemetry`). What is refused: any other key in the
    app's style (lower case and `_`), and a near miss of a setting in another style.
    """
    for key in sorted(context):
        if key in SETTINGS or key.startswith("@") or ":" in key:
            continue
        spelled = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).replace("-", "_").lower()
        if not _SETTING_STYLE.fullmatch(key) and not difflib.get_close_matches(spelled, SETTINGS, 1, _NEAR_MISS):
            continue
        close = difflib.get_close_matches(spelled, SETTINGS, 1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"unknown setting -c {key}{hint}; the settings are: {', '.join(SETTINGS)}")


def weights_sidecar(weights_file: Path) -> Path:
    """The job's convention (`X.weights.h5` is described by `X.json`), from the job itself."""
    return Path(sidecar_path(str(weights_file)))


def _coerce(name: str, raw: Any, target: type) -> Any:
    """Context from `-c key=value` arrives as strings; cdk.json may give real types."""
    if target is bool:
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "1", "yes"):
            return True
        if str(raw).lower() in ("false", "0", "no", ""):
            return False
        raise ConfigError(f"context {name} must be true or false, got {raw!r}")
    try:
        return target(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"context {name} must be a {target.__name__}, got {raw!r}") from error


def disable_bundling_if_asked(scope: Construct, cli_command: str | None = None) -> None:
    """Honour `-c skip_bundling=true` through CDK's own switch for asset bundling, unless deploying.

    CDK bundles only the stacks listed in `aws:cdk:bundling-stacks`; an empty list
    skips every Docker and local bundling step, which synth needs on machines
    without Docker. Must run on the App before any stack is added. A skipped bundling stages
    the assets' source folders in place of what they build (CDK's AssetStaging), so a command
    that uploads them (`cdk deploy`, see infra/cli_command.py) is refused: `cli_command` is the
    CLI's command, found from the app's parent processes unless given.
    """
    if not _coerce(SKIP_BUNDLING, scope.node.try_get_context(SKIP_BUNDLING) or False, bool):
        return
    command = cli_command or running_cli_command()
    if command in UPLOADING_COMMANDS:
        raise ConfigError(
            f"-c {SKIP_BUNDLING}=true is for `cdk synth` and the tests only: `cdk {command}` would upload the job's "
            "Python environment and model unbuilt (their source folders); run it without that setting "
            "(Docker builds the environment)"
        )
    scope.node.set_context("aws:cdk:bundling-stacks", [])
