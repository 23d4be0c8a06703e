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

from pipeline.model import sidecar_path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The EMR release is named once, beside the Spark it runs, in pipeline/versions.py.
# The job's pins (numpy 2.4, pandas 3.1) need Python >= 3.11, and EMR Serverless does not
# document which Pythons its 7.x images carry, so the job's environment brings its own.
PYTHON_VERSION = "3.11.13"

# AWS regions located in EU member states. eu-west-2 (London) and eu-central-2
# (Zurich) are outside the EU and are refused, even though their GDPR adequacy
# decisions exist: the product promises EU residency, not adequacy.
EU_REGIONS = frozenset({"eu-west-1", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2"})
DEFAULT_REGION = "eu-west-3"

ARCHITECTURES = ("X86_64", "ARM64")
# Default encryption of the input and results buckets: SSE-S3, or a customer-managed KMS key.
ENCRYPTIONS = ("s3", "kms")
IMAGENET = "imagenet"

WORKER_MEMORY_GB = {1: (2, 8, 1), 2: (4, 16, 1), 4: (8, 30, 1), 8: (16, 60, 4), 16: (32, 120, 8)}
"""vCPU of an EMR Serverless worker -> its memory (min, max, step in GB), from AWS's "Supported
worker configurations"; memory is spark.*.memory + spark.*.memoryOverhead of the container."""
WORKER_DISK_GB = 20
"""Ephemeral storage of each worker when none is configured (free)."""


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
    # Directory of the job's Python package (contains __main__.py), relative to the repo.
    job_package_dir: str = "pipeline"

    @property
    def state_machine_timeout_minutes(self) -> int:
        """Overall budget: the job plus the start and stop of the application."""
        return self.job_timeout_minutes + 30

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
        if self.encryption not in ENCRYPTIONS:
            raise ConfigError(f"encryption must be one of {ENCRYPTIONS}, got {self.encryption!r}")
        if not 0 < self.variance <= 1:
            raise ConfigError(f"variance must be in (0, 1], got {self.variance}")
        if not 1 <= self.idle_timeout_minutes <= 10080:
            raise ConfigError("idle_timeout_minutes must be between 1 and 10080")
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
