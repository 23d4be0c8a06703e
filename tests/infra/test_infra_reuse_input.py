"""The synthesized state machine hands `reuse` to the job as the run's folder (moto; see sfn_moto)."""

from __future__ import annotations

import pytest
from infra_asl import model_uri, places

from infra.config import AppConfig
from pipeline.contract.execution_input import defaults, job_arguments, validate


def expected(synthesized, execution_input: dict) -> list[str]:
    where, config = places(synthesized), AppConfig()
    known = {**defaults(where, image_size=config.image_size, variance=config.variance), "run_id": "run-42"}
    return job_arguments(validate(execution_input, where, known), model_uri(synthesized), where)


@pytest.mark.parametrize("with_apply", [False, True])
def test_reuse_becomes_the_runs_folder_with_or_without_apply(with_apply, step_functions, synthesized) -> None:
    where = places(synthesized)
    execution_input = {"reuse": "run-1", **({"apply": where.root("input") + "val/"} if with_apply else {})}
    result = step_functions.run(synthesized, execution_input)
    assert result.execution["status"] == "SUCCEEDED", result.execution
    arguments = result.job_arguments()
    assert arguments == expected(synthesized, execution_input)
    assert arguments[-1] == f"--reuse={where.root('runs')}run-1/"


def test_a_reuse_that_is_a_path_fails_before_anything_starts(step_functions, synthesized) -> None:
    result = step_functions.run(synthesized, {"reuse": "a/b"})
    assert result.execution["status"] == "FAILED"
    assert "reuse: must not contain '/'" in result.execution.get("cause", "") + str(result.execution)
