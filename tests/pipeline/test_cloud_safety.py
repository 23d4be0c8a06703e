"""What the client must never do with what it reads from AWS or is not given: write outside the folder it was
told, take an unchecked execution input for a place to read from, wait in silence for credentials."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from pipeline.cloud import follow, runs
from pipeline.cloud import stack as cloud_stack
from pipeline.cloud.errors import CloudError, Exit
from pipeline.cloud.stack import FIRST_CALL_ATTEMPTS, NO_CREDENTIALS, Stack, connect
from pipeline.contract.deployment import STACK_NAME
from tests.pipeline.cloud_stack import (  # noqa: F401 (moto_endpoint: a fixture)
    REGION,
    cloud,
    deployed_stack,
    moto_endpoint,
    quiet_while_waiting,
)


@pytest.fixture
def deployed(moto_endpoint, synthesized, monkeypatch):  # noqa: F811
    yield from deployed_stack(moto_endpoint, synthesized, monkeypatch)


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize("escape", ["../../{name}", "/{absolute}", "a\\..\\..\\{name}", "a//{name}", "./{name}"])
def test_results_refuse_a_key_that_would_leave_the_target(deployed, tmp_path, escape, capsys) -> None:
    s3, results = deployed.client("s3"), deployed.buckets["ResultsBucketName"]
    target = tmp_path / "box" / "r1"
    outside = tmp_path / "escaped"
    for key in ("_SUCCESS", "report.json", escape.format(name="escaped", absolute=str(outside).lstrip("/"))):
        s3.put_object(Bucket=results, Key=f"runs/r1/{key}", Body=b"{}")
    code, _, err = cloud(capsys, "results", "r1", "--to", str(target))
    assert code == Exit.UNSAFE_KEY and "refused to download" in one_error_line(err)
    assert files_under(tmp_path) == []  # nothing written: not the escape, not the run's other files


def test_the_dashboard_refuses_a_run_folder_that_would_leave_its_folder(deployed, tmp_path, capsys) -> None:
    s3, results = deployed.client("s3"), deployed.buckets["ResultsBucketName"]
    for key in ("_SUCCESS", "report.json", "report.html"):
        s3.put_object(Bucket=results, Key=f"runs/ok/{key}", Body=b"{}")
        s3.put_object(Bucket=results, Key=f"runs/../{key}", Body=b"{}")  # a run folder named '..'
    code, _, err = cloud(capsys, "dashboard", "--out", str(tmp_path / "out" / "board"))
    assert code == Exit.UNSAFE_KEY and "refused to download '..'" in one_error_line(err)
    assert files_under(tmp_path) == []


def test_a_refused_execution_never_names_a_place_to_read(deployed, tmp_path, capsys) -> None:
    """Started from the console with another bucket as its output: the state machine refuses it; the client
    re-checks its input with the same rules, shows it refused, and never reads that bucket."""
    s3 = deployed.client("s3")
    s3.create_bucket(Bucket="someone-elses-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    for key in ("_SUCCESS", "report.json"):
        s3.put_object(Bucket="someone-elses-bucket", Key=f"foreign/{key}", Body=b"{}")
    sfn = deployed.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=deployed.state_machine_arn,
        name="foreign",
        input=json.dumps({"output": "s3://someone-elses-bucket/"}),
    )
    stack = connect(STACK_NAME, REGION)
    execution = follow.wait(stack, sfn.describe_execution(executionArn=started["executionArn"]), 0.05, io.StringIO())
    assert execution["status"] == "FAILED"

    code, _, err = cloud(capsys, "results", "--to", str(tmp_path / "got"))
    assert code == Exit.RUN_FAILED and "run foreign was refused (output: must be under" in one_error_line(err)
    assert not (tmp_path / "got").exists()
    code, out, _ = cloud(capsys, "status")
    assert code == Exit.RUN_FAILED and "refused: output: must be under" in out and "results:" not in out
    code, out, _ = cloud(capsys, "runs")
    assert code == 0 and out.splitlines()[1].split()[:2] == ["foreign", "REFUSED"]


STACK = Stack(
    "S",
    REGION,
    {"InputBucketName": "photos", "ResultsBucketName": "results"},
    session=None,
)


@pytest.mark.parametrize("status", ["RUNNING", "FAILED"])
def test_an_execution_without_checked_arguments_is_checked_again(status) -> None:
    mine = {"name": "r1", "status": status, "input": json.dumps({"apply": "s3://photos/v/"})}
    assert runs.run_folder(runs.execution_args(STACK, mine)) == "s3://results/runs/r1/"
    assert runs.refusal(STACK, mine) is None
    for given in ({"output": "s3://results-evil/runs/"}, {"output": "s3://results/runs/../x/"}, [1], "not json"):
        theirs = {**mine, "input": given if isinstance(given, str) else json.dumps(given)}
        with pytest.raises(CloudError) as refused:
            runs.execution_args(STACK, theirs)
        assert refused.value.code == Exit.RUN_FAILED and runs.refusal(STACK, theirs) in str(refused.value)
    succeeded = {**mine, "status": "SUCCEEDED", "output": json.dumps({"args": {"output": "s3://results/runs/"}})}
    assert runs.execution_args(STACK, succeeded) == {"output": "s3://results/runs/"}


class CountingServer:
    """A TCP port that accepts connections, answers `reply` (nothing: AWS out of reach) and closes them, counted."""

    def __init__(self, reply: bytes = b"", hold: float = 0.0) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.reply, self.hold = reply, hold
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            if self.reply:
                connection.recv(65536)
                connection.sendall(self.reply)
            time.sleep(self.hold)
            connection.close()

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def unreachable(monkeypatch):
    server = CountingServer()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # the test machine may be an EC2 instance
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    quiet_while_waiting(monkeypatch)
    yield server
    server.close()


def test_no_credentials_is_one_line_saying_what_to_set_before_any_call(unreachable, capsys) -> None:
    code, _, err = cloud(capsys, "runs")
    assert code == Exit.AWS_ERROR and one_error_line(err) == f"error: {NO_CREDENTIALS}"
    assert unreachable.connections == 0


def test_aws_out_of_reach_fails_after_a_few_attempts(unreachable, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, _, err = cloud(capsys, "runs")
    assert code == Exit.AWS_ERROR and one_error_line(err).startswith("error: cannot reach AWS")
    assert unreachable.connections == FIRST_CALL_ATTEMPTS


def test_unusable_credentials_are_one_line_before_any_call(unreachable, tmp_path, monkeypatch, capsys) -> None:
    config = tmp_path / "config"
    config.write_text("[profile broken]\ncredential_process = /bin/false\n")  # a helper that fails
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    code, _, err = cloud(capsys, "runs", "--profile", "broken")
    assert code == Exit.AWS_ERROR and one_error_line(err).startswith("error: unusable AWS credentials: ")
    assert "aws sso login" in err and unreachable.connections == 0


def test_an_answer_that_is_not_aws_is_one_line(unreachable, monkeypatch, capsys) -> None:
    """A proxy or captive portal answering in AWS's place: botocore cannot parse it (no traceback)."""
    portal = CountingServer(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", portal.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, _, err = cloud(capsys, "runs")
    portal.close()
    assert code == Exit.AWS_ERROR and "the answer was not AWS's" in one_error_line(err)


def test_a_slow_answer_says_what_it_waits_for(unreachable, monkeypatch, capsys) -> None:
    slow = CountingServer(hold=1.0)  # each attempt takes a second: the notice (after 0 s here) comes first
    monkeypatch.setattr(cloud_stack, "PATIENCE_SECONDS", 0.0)
    monkeypatch.setenv("AWS_ENDPOINT_URL", slow.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, _, err = cloud(capsys, "runs")
    slow.close()
    waiting, error = err.strip().splitlines()
    assert waiting == f"waiting for AWS: credentials, then the outputs of stack FruitsPipeline in {REGION} ..."
    assert code == Exit.AWS_ERROR and error.startswith("error: cannot reach AWS")
