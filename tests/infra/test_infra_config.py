"""Context defaults, coercion, the EU region guard and the EMR release pin."""

import re

import pytest
from aws_cdk import App

from infra.config import (
    DEFAULT_REGION,
    EU_REGIONS,
    REPO_ROOT,
    AppConfig,
    ConfigError,
    weights_sidecar,
)
from pipeline.versions import EMR_RELEASE, SPARK_VERSION

# Spark shipped by each EMR release (Amazon EMR release notes). Bumping EMR_RELEASE
# means adding its row here, and the test below then checks requirements.txt.
SPARK_OF_EMR_RELEASE = {"emr-7.10.0": "3.5.5"}


def config_from(**context: object) -> AppConfig:
    return AppConfig.from_context(App(context=context))


def test_emr_release_runs_the_spark_pinned_in_requirements() -> None:
    """pipeline/versions.py names the release and its Spark; pyspark's pin must match."""
    pins = dict(
        re.findall(
            r"^([A-Za-z0-9_.-]+)==(\S+)",
            (REPO_ROOT / "requirements.txt").read_text(),
            re.MULTILINE,
        )
    )
    assert EMR_RELEASE.startswith("emr-7."), "EMR 7.x: Amazon Linux 2023 workers"
    assert SPARK_OF_EMR_RELEASE[EMR_RELEASE] == SPARK_VERSION == pins["pyspark"]


def test_defaults_apply_without_context() -> None:
    config = config_from()
    assert config == AppConfig()
    assert config.region == DEFAULT_REGION == "eu-west-3"
    assert config.destroy_data is False
    assert config.architecture == "X86_64"


def test_command_line_strings_are_coerced() -> None:
    config = config_from(destroy_data="true", max_vcpu="64", variance="0.9", architecture="ARM64")
    assert (config.destroy_data, config.max_vcpu, config.variance) == (True, 64, 0.9)
    assert config.architecture == "ARM64"


@pytest.mark.parametrize(
    "context",
    [
        {"destroy_data": "maybe"},
        {"max_vcpu": "many"},
        {"architecture": "RISCV"},
        {"variance": "2"},
        {"max_vcpu": "16"},  # 7 workers of 4 vCPU do not fit
        {"max_executors": "20"},
    ],
)
def test_invalid_values_are_refused(context: dict) -> None:
    with pytest.raises(ConfigError):
        config_from(**context)


@pytest.mark.parametrize("region", sorted(EU_REGIONS))
def test_eu_regions_are_accepted(region: str) -> None:
    assert config_from(region=region).region == region


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2", "eu-central-2", "ap-south-1"])
def test_non_eu_region_is_refused_with_one_clear_message(region: str) -> None:
    with pytest.raises(ConfigError, match=f"Region '{region}' is not in the EU.*GDPR"):
        config_from(region=region)


def test_weights_file_needs_its_sidecar(tmp_path) -> None:
    weights = tmp_path / "model.weights.h5"
    weights.write_bytes(b"h5")
    with pytest.raises(ConfigError, match="sidecar"):
        config_from(weights=str(weights))
    weights_sidecar(weights).write_text('{"preprocessing": "torch"}')
    assert config_from(weights=str(weights)).weights == str(weights)
    assert weights_sidecar(weights).name == "model.json"


def test_weights_must_be_imagenet_or_a_keras_weights_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="weights.h5"):
        config_from(weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ConfigError, match="weights.h5"):
        config_from(weights="resnet")


def test_privacy_settings_are_off_by_default_and_can_be_turned_on() -> None:
    assert (config_from().emr_managed_persistence, config_from().log_execution_data) == (False, False)
    config = config_from(emr_managed_persistence="true", log_execution_data="true")
    assert (config.emr_managed_persistence, config.log_execution_data) == (True, True)


@pytest.mark.parametrize("size", ["31", "1025"])
def test_default_image_size_outside_the_jobs_range_is_refused(size: str) -> None:
    with pytest.raises(ConfigError, match="image_size"):
        config_from(image_size=size)
