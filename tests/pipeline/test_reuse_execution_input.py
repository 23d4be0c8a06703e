"""The execution input's `reuse`: a run id under the stack's runs/, handed to the job as that run's folder."""

from __future__ import annotations

import pytest

from pipeline.contract.execution_input import ExecutionInputError, Places, defaults, job_arguments, validate

PLACES = Places("photos", "results")
MODEL = "s3://artifacts/weights/model.weights.h5"
DEFAULTS = {**defaults(PLACES, image_size=224, variance=0.95), "run_id": "run-2"}


def test_reuse_is_the_folder_of_a_run_under_runs() -> None:
    arguments = job_arguments(validate({"reuse": "run-1"}, PLACES, DEFAULTS), MODEL, PLACES)
    assert arguments[-1] == "--reuse=s3://results/runs/run-1/"
    both = job_arguments(validate({"reuse": "run-1", "apply": "s3://photos/v/"}, PLACES, DEFAULTS), MODEL, PLACES)
    assert both[-2:] == ["--apply=s3://photos/v/", "--reuse=s3://results/runs/run-1/"]


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"reuse": "s3://results/runs/run-1/"}, "reuse: must not contain '/'"),
        ({"reuse": "../other"}, "reuse: must not start with '-' or '.' or '_'"),
        ({"reuse": ""}, "reuse: must not be empty"),
        ({"reuse": 7}, "reuse: must be a string"),
        ({"reuse": "run-1", "command": "transform", "run": "s3://results/runs/r/"}, "reuse: only with command run"),
    ],
)
def test_a_reuse_that_is_no_run_id_is_refused(execution_input: dict, message: str) -> None:
    with pytest.raises(ExecutionInputError, match=message.replace(".", r"\.")):
        validate(execution_input, PLACES, DEFAULTS)
