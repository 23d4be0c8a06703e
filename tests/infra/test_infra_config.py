"""Context defaults, coercion, the EU region guard and the EMR release pin."""

import re

import pytest
from aws_cdk import App

from infra.config import (
    DEFAULT_REGION,
    EU_REGIONS,
    REPO_ROOT,
    SETTINGS,
    AppConfig,
    ConfigError,
    weights_sidecar,
)
from pipeline.contract.versions import EMR_RELEASE, SPARK_VERSION

# Spark shipped by each EMR release (Amazon EMR release notes). Bumping EMR_RELEASE
# means adding its row here, and the test below then checks requirements.txt.
SPARK_OF_EMR_RELEASE = {"emr-7.10.0": "3.5.5"}


def config_from(**context: object) -> AppConfig:
    return AppConfig.from_context(App(context=context))


def test_emr_release_runs_the_spark_pinned_in_requirements() -> None:
    """pipeline/contract/versions.py names the release and its Spark; pyspark's pin must match."""
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
    assert config.encryption == "s3"


def test_command_line_strings_are_coerced() -> None:
    config = config_from(destroy_data="true", max_vcpu="64", variance="0.9", architecture="ARM64", encryption="kms")
    assert (config.destroy_data, config.max_vcpu, config.variance) == (True, 64, 0.9)
    assert (config.architecture, config.encryption) == ("ARM64", "kms")


@pytest.mark.parametrize(
    "context",
    [
        {"destroy_data": "maybe"},
        {"max_vcpu": "many"},
        {"architecture": "RISCV"},
        {"encryption": "aws:kms"},
        {"variance": "2"},
    ],
)
def test_invalid_values_are_refused(context: dict) -> None:
    with pytest.raises(ConfigError):
        config_from(**context)


def test_defaults_fit_a_new_accounts_16_vcpu() -> None:
    config = AppConfig()
    assert config.driver_cores + config.max_executors * config.executor_cores <= 16
    assert config.max_vcpu <= 16


@pytest.mark.parametrize(
    "context,message",
    [
        ({"executor_cores": "3"}, "executor_cores must be one of 1, 2, 4, 8, 16"),
        ({"driver_cores": "32"}, "driver_cores must be one of"),
        ({"executor_memory_gb": "28"}, "executor of 4 vCPU and 28 \\+ 4 GB .* 4 vCPU takes 8-30 GB in steps of 1 GB"),
        ({"driver_memory_gb": "1"}, "driver of 2 vCPU and 1 \\+ 2 GB .* 2 vCPU takes 4-16 GB"),
        ({"driver_memory_overhead_gb": "0"}, "each at least 1"),
        (  # 8 vCPU workers take memory in steps of 4 GB: 16 + 2 = 18 GB is not one
            {"executor_cores": "8", "executor_memory_gb": "16", "executor_memory_overhead_gb": "2", "max_vcpu": "64"},
            "8 vCPU takes 16-60 GB in steps of 4 GB",
        ),
        ({"max_executors": "0"}, "max_executors must be at least 1"),
        ({"max_vcpu": "4"}, "smaller than one driver plus one executor \\(6 vCPU, 20 GB, 40 GB disk\\)"),
        ({"max_memory_gb": "16"}, "smaller than one driver plus one executor"),
        ({"max_executors": "6"}, "the driver and 6 executors need 26 vCPU.* lower max_executors or raise"),
        ({"state_machine_log_retention_days": "31"}, "state_machine_log_retention_days must be one of .*, got 31"),
        ({"log_retention_days": "0"}, "log_retention_days must be at least 1, got 0"),
        ({"noncurrent_version_days": "-1"}, "noncurrent_version_days must be at least 1"),
        ({"job_timeout_minutes": "0"}, "job_timeout_minutes must be at least 1"),
    ],
)
def test_settings_aws_would_refuse_stop_synth_with_one_line(context: dict, message: str) -> None:
    """Worker sizes EMR Serverless refuses, retentions CloudWatch Logs refuses, and zero or negative durations."""
    with pytest.raises(ConfigError, match=message) as refused:
        config_from(**context)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "context",
    [
        {
            "executor_cores": "8",
            "executor_memory_gb": "16",
            "executor_memory_overhead_gb": "4",
            "max_vcpu": "32",
            "max_memory_gb": "80",
        },
        {"driver_cores": "1", "driver_memory_gb": "1", "driver_memory_overhead_gb": "1"},
        {"driver_cores": "4", "driver_memory_gb": "26", "driver_memory_overhead_gb": "4", "max_memory_gb": "80"},
        {"max_vcpu": "64", "max_memory_gb": "256", "max_executors": "15"},  # after a quota increase
    ],
)
def test_supported_worker_sizes_are_accepted(context: dict) -> None:
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


@pytest.mark.parametrize(
    "key,suggestion",
    [
        ("weigths", "weights"),
        ("max_vcpus", "max_vcpu"),
        ("skip-bundling", "skip_bundling"),  # a near miss in another style
        ("maxVcpu", "max_vcpu"),
        ("Region", "region"),
        ("colour", None),  # in the app's style but near nothing: refused, no suggestion
    ],
)
def test_an_unknown_setting_is_refused_with_the_valid_ones_and_a_close_match(key: str, suggestion: str | None) -> None:
    with pytest.raises(ConfigError) as refused:
        config_from(**{key: "x"})
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"unknown setting -c {key}")
    assert (f"(did you mean {suggestion}?)" in message) if suggestion else "did you mean" not in message
    assert message.endswith(f"the settings are: {', '.join(SETTINGS)}")


@pytest.mark.parametrize(
    "key",
    [
        "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy",  # feature flags
        "@aws-cdk/core:newFlagOfALaterRelease",
        "aws:cdk:bundling-stacks",  # injected by the CLI on every synth (seen in a real `cdk synth`)
        "aws:cdk:version-reporting",
        "aws:cdk:enable-path-metadata",
        "aws:cdk:enable-asset-metadata",
        "acknowledged-issue-numbers",  # written by `cdk acknowledge`
        "cli-telemetry",  # written by `cdk cli-telemetry`
        "availability-zones:account=123456789012:region=eu-west-3",  # a lookup cached in cdk.context.json
    ],
)
def test_cdk_and_cli_keys_pass(key: str) -> None:
    assert config_from(**{key: "x"}) == AppConfig()


def test_the_docs_configuration_table_lists_exactly_the_settings() -> None:
    from tests.docs_text import page, section

    table = section(page("docs/aws.md"), "## Configuration")
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    assert sorted(re.findall(r"`([a-z_]+)`", "".join(first_cells))) == sorted(SETTINGS)


def test_a_job_package_without_entry_point_is_refused(tmp_path) -> None:
    (tmp_path / "pipeline").mkdir()
    with pytest.raises(ConfigError, match="has no __main__.py"):
        config_from(job_package_dir=str(tmp_path / "pipeline"))
