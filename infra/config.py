"""Configuration of the CDK app: CDK context values, their defaults, and the EU region guard.

Every setting is read from CDK context (`cdk.json`, `-c key=value`), so a deploy is
reproducible from the command line alone. Defaults live here and only here; the
README lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constructs import Construct

from pipeline.execution_input import IMAGE_SIZE_RANGE
from pipeline.model import sidecar_path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The EMR release is named once, beside the Spark it runs, in pipeline/versions.py.
# EMR 7.x runs Amazon Linux 2023 (default python 3.9); TensorFlow 2.21 needs >= 3.10,
# so the job's environment brings its own interpreter.
PYTHON_VERSION = "3.11.13"

# AWS regions located in EU member states. eu-west-2 (London) and eu-central-2
# (Zurich) are outside the EU and are refused, even though their GDPR adequacy
# decisions exist: the product promises EU residency, not adequacy.
EU_REGIONS = frozenset({"eu-west-1", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2"})
DEFAULT_REGION = "eu-west-3"

ARCHITECTURES = ("X86_64", "ARM64")
IMAGENET = "imagenet"


class ConfigError(ValueError):
    """A context value that would produce a wrong or non-compliant deployment."""


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
    # EMR Serverless application.
    architecture: str = "X86_64"
    max_vcpu: int = 32
    max_memory_gb: int = 128
    max_disk_gb: int = 500
    idle_timeout_minutes: int = 5
    # Spark resources of one run (each worker: 4 vCPU, 16 GB incl. Python overhead).
    executor_cores: int = 4
    executor_memory_gb: int = 10
    executor_memory_overhead_gb: int = 6
    max_executors: int = 6
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
        if self.region not in EU_REGIONS:
            raise ConfigError(
                f"Region {self.region!r} is not in the EU: the photos fall under the GDPR, "
                f"so this app deploys only to {', '.join(sorted(EU_REGIONS))} "
                f"(set -c region=<one of them>; default {DEFAULT_REGION})."
            )
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if not 0 < self.variance <= 1:
            raise ConfigError(f"variance must be in (0, 1], got {self.variance}")
        if not IMAGE_SIZE_RANGE[0] <= self.image_size <= IMAGE_SIZE_RANGE[1]:
            raise ConfigError(
                f"image_size must be between {IMAGE_SIZE_RANGE[0]} and {IMAGE_SIZE_RANGE[1]}, got {self.image_size}"
            )
        if not 1 <= self.idle_timeout_minutes <= 10080:
            raise ConfigError("idle_timeout_minutes must be between 1 and 10080")
        workers = self.max_executors + 1  # the driver is sized like an executor
        worker_memory_gb = self.executor_memory_gb + self.executor_memory_overhead_gb
        if workers * self.executor_cores > self.max_vcpu or workers * worker_memory_gb > self.max_memory_gb:
            raise ConfigError(
                f"{workers} workers of {self.executor_cores} vCPU/{worker_memory_gb} GB do not "
                f"fit in the application's {self.max_vcpu} vCPU/{self.max_memory_gb} GB: "
                "lower max_executors or raise max_vcpu/max_memory_gb"
            )
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


def disable_bundling_if_asked(scope: Construct) -> None:
    """Honour `-c skip_bundling=true` through CDK's own switch for asset bundling.

    CDK bundles only the stacks listed in `aws:cdk:bundling-stacks`; an empty list
    skips every Docker and local bundling step, which synth needs on machines
    without Docker. Must run on the App before any stack is added.
    """
    if _coerce("skip_bundling", scope.node.try_get_context("skip_bundling") or False, bool):
        scope.node.set_context("aws:cdk:bundling-stacks", [])
