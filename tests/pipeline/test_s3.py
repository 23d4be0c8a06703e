"""The S3 client factory: pool, retries and endpoint as documented, one client per setting."""

from __future__ import annotations

import pytest

from pipeline.storage import s3


def test_uris_split_into_bucket_and_key():
    assert s3.split("s3://bucket/a/b.csv") == ("bucket", "a/b.csv")
    assert s3.split("s3a://bucket/") == ("bucket", "")
    assert s3.is_s3("s3n://b/k") and not s3.is_s3("file:/tmp/x") and not s3.is_s3("/tmp/x")
    with pytest.raises(ValueError, match="not an S3 URI"):
        s3.split("file:/tmp/x")


def test_client_has_the_pool_retries_and_endpoint_asked_for(moto_s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    client = s3.client(concurrency=32)
    assert client.meta.endpoint_url == moto_s3 and client.meta.region_name == "eu-west-3"
    assert client.meta.config.max_pool_connections == 32
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": s3.MAX_ATTEMPTS}
    assert s3.client(concurrency=32) is client  # one per process and setting
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
    assert s3.client(concurrency=32).meta.endpoint_url == "http://127.0.0.1:1"  # another environment, another client


def test_a_key_keeps_its_hash_and_question_mark():
    assert s3.split("s3://bucket/Kiwi #1/a?.jpg") == ("bucket", "Kiwi #1/a?.jpg")


def test_the_region_comes_from_aws_region_when_set(monkeypatch):
    """On EMR the stack sets AWS_REGION for driver and executors; botocore alone reads only AWS_DEFAULT_REGION."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert s3.region() == "eu-west-3"
    assert s3.client().meta.region_name == "eu-west-3"
    monkeypatch.delenv("AWS_REGION")
    assert s3.region() is None
    assert s3.client().meta.region_name == "eu-central-1"  # botocore's own lookup, as before
