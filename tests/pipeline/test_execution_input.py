"""The execution-input contract on its Python side (its ASL side runs in tests/infra)."""

from __future__ import annotations

import re

import pytest

from pipeline.contract.execution_input import (
    FIELD_NAMES,
    IMAGE_SIZE_RANGE,
    MAX_COMMENT,
    MAX_PATH,
    MAX_PREFIXES,
    MAX_RUN_ID,
    ExecutionInputError,
    Places,
    defaults,
    job_arguments,
    markdown_table,
    validate,
)
from pipeline.job.run import RunConfig
from pipeline.job.run import validate as validate_job
from tests.docs_text import page

PLACES = Places("photos", "results")
MODEL = "s3://artifacts/weights/model.weights.h5"


def full_defaults(run_id: str = "run-1") -> dict:
    return {**defaults(PLACES, image_size=224, variance=0.95), "run_id": run_id}


def test_defaults_are_valid_and_make_no_empty_argument() -> None:
    arguments = job_arguments(validate({}, PLACES, full_defaults()), MODEL)
    assert arguments == [
        "run",
        "--input=s3://photos/train/",
        "--output=s3://results/runs/",
        f"--weights={MODEL}",
        "--image-size=224",
        "--variance=0.95",
        "--run-id=run-1",
    ]


def test_apply_adds_one_argument_only_when_given() -> None:
    args = validate({"apply": "s3://photos/val/,s3://photos/test/"}, PLACES, full_defaults())
    assert job_arguments(args, MODEL)[-1] == "--apply=s3://photos/val/,s3://photos/test/"


def test_transform_gets_its_own_arguments() -> None:
    args = validate({"command": "transform", "run": "s3://results/runs/r1/"}, PLACES, full_defaults())
    assert job_arguments(args, MODEL) == [
        "transform",
        "--run=s3://results/runs/r1/",
        "--input=s3://photos/train/",
        "--output=s3://results/runs/",
        "--run-id=run-1",
    ]


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"input": "s3://photos-evil/x/"}, "input: must be under s3://photos/"),
        ({"output": "s3://results/other/"}, "output: must be under s3://results/runs/"),
        ({"run_id": "--components=5"}, "run_id: must not start with '-' or '.' or '_'"),
        ({"run_id": "a..b"}, "run_id: must not contain '..'"),
        ({"image_size": True}, "image_size: must be a number"),
        ({"image_size": 31}, f"image_size: must be at least {IMAGE_SIZE_RANGE[0]} and at most {IMAGE_SIZE_RANGE[1]}"),
        ({"image_size": 64.0}, "image_size: must be a whole number"),
        ({"variance": 1.5}, "variance: must be greater than 0 and at most 1"),
        ({"weights": "x"}, "weights: is no longer accepted"),
        ({"Input": "s3://photos/x/"}, "execution input: a field is not one of"),
        ({"apply": "s3://photos/a/,s3://elsewhere/b/"}, "apply: every prefix must be under s3://photos/"),
        ({"variance": float("nan")}, "variance: must be a finite number"),
        ({"image_size": float("inf")}, "image_size: must be a finite number"),
        ({"Comment": 5}, "Comment: must be a string"),
        ({"Comment": "x", "components": 5}, "execution input: a field is not one of"),
        ({"run_id": "run 1"}, "run_id: must contain only ASCII letters, digits, '-', '_' and '.'"),
        ({"run_id": "r\u202egpj"}, "run_id: must contain only ASCII letters, digits, '-', '_' and '.'"),
        ({"run_id": "\u00e9t\u00e9"}, "run_id: must contain only ASCII letters, digits, '-', '_' and '.'"),
        ({"output": "s3://results/runs/*/"}, "output: must not contain control characters, bidi controls or any of"),
        ({"input": "s3://photos/a\tb/"}, "input: must not contain control characters"),
        ({"apply": "s3://photos/{a,b}/"}, "apply: every prefix must not contain control characters"),
        ({"command": "transform", "run": "s3://results/runs/r[12]/"}, "run: must not contain control characters"),
    ],
)
def test_refusals_name_the_field_and_the_rule(execution_input: dict, message: str) -> None:
    with pytest.raises(ExecutionInputError, match=re.escape(message)):
        validate(execution_input, PLACES, full_defaults())


def test_a_client_without_the_deployed_defaults_checks_what_it_sends() -> None:
    assert validate({"run_id": "r2"}, PLACES)["run_id"] == "r2"
    with pytest.raises(ExecutionInputError, match="image_size"):
        validate({"image_size": 2048}, PLACES)
    with pytest.raises(ExecutionInputError, match="must be a JSON object"):
        validate(["run"], PLACES)  # type: ignore[arg-type]


def test_the_size_range_is_the_jobs() -> None:
    """The state machine's range is the job's own (its second line of defence)."""
    low, high = IMAGE_SIZE_RANGE
    for size in (low, high):
        validate_job(RunConfig(input="in", output="out", image_size=size))
    for size in (low - 1, high + 1):
        with pytest.raises(ValueError, match="image-size"):
            validate_job(RunConfig(input="in", output="out", image_size=size))


def test_the_docs_table_is_the_contract() -> None:
    assert markdown_table() in page("docs/aws-runs.md")
    for name in FIELD_NAMES:
        assert f"| `{name}` |" in markdown_table()


def test_the_consoles_prefilled_comment_is_ignored() -> None:
    args = validate({"Comment": "Insert your JSON here"}, PLACES, full_defaults())
    assert job_arguments(args, MODEL) == job_arguments(validate({}, PLACES, full_defaults()), MODEL)


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"Comment": "c" * (MAX_COMMENT + 1)}, f"Comment: must be at most {MAX_COMMENT} characters"),
        ({"run_id": "r" * (MAX_RUN_ID + 1)}, f"run_id: must be at most {MAX_RUN_ID} characters"),
        ({"input": "s3://photos/" + "p" * MAX_PATH}, f"input: must be at most {MAX_PATH} characters"),
        ({"output": "s3://results/runs/" + "p" * MAX_PATH}, f"output: must be at most {MAX_PATH} characters"),
        (
            {"apply": ",".join(f"s3://photos/{n}/" for n in range(MAX_PREFIXES + 1))},
            f"apply: must name at most {MAX_PREFIXES} prefixes",
        ),
        ({"apply": "s3://photos/" + "p" * MAX_PATH}, f"apply: every prefix must be at most {MAX_PATH} characters"),
    ],
)
def test_the_client_refuses_what_is_over_a_limit_naming_the_field_and_the_limit(execution_input, message) -> None:
    """The state machine cannot measure a string; the client refuses before sending."""
    with pytest.raises(ExecutionInputError) as refused:
        validate(execution_input, PLACES, full_defaults())
    assert str(refused.value) == message


def test_values_at_the_limits_pass() -> None:
    execution_input = {
        "Comment": "c" * MAX_COMMENT,
        "run_id": "r" * MAX_RUN_ID,
        "input": "s3://photos/" + "p" * (MAX_PATH - len("s3://photos/")),
        "apply": ",".join(f"s3://photos/{n}/" for n in range(MAX_PREFIXES)),
    }
    validate(execution_input, PLACES, full_defaults())


@pytest.mark.parametrize("run_id", ["run-1", "mobilenet_160", "v1.2", "20261125-101500", "A9"])
def test_plain_ascii_run_ids_pass(run_id: str) -> None:
    assert validate({"run_id": run_id}, PLACES, full_defaults())["run_id"] == run_id
