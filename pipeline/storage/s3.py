"""S3 from Python, on the driver and in the workers: one way to make the boto3 client.

pip's pyspark has no S3 connector, and Hadoop's copy-based rename is what made the single
CSV slow on S3, so the job talks to S3 through boto3 where it needs to. The client comes
from here so that every user (CSV parts and their assembly, photo reads, the dashboard)
gets the same settings: a connection pool as large as the requests it runs at once
(botocore's default of 10 silently queues the rest), the "standard" retry mode (exponential
backoff with jitter on throttling and 5xx), and region, credentials and endpoint from the
environment (`AWS_REGION`, `AWS_ENDPOINT_URL_S3`, the job role on EMR). The region is passed
explicitly from `AWS_REGION`, which the stack sets for the driver and the executors, because
botocore itself reads only `AWS_DEFAULT_REGION` and the profile, and would otherwise rely on
EMR setting one. boto3 is imported only when a client is made: local runs without S3 never load it.
"""

from __future__ import annotations

import functools
import os
from urllib.parse import urlparse

SCHEMES = ("s3", "s3a", "s3n")
"""URI schemes that name an S3 object (Hadoop's connectors spell it three ways)."""

DEFAULT_CONCURRENCY = 10
"""Requests in flight per client when the caller does not say: botocore's own pool size."""

MAX_ATTEMPTS = 8
"""Attempts per request in standard retry mode (the first one included)."""

_ENVIRONMENT = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE")


def is_s3(uri: str) -> bool:
    return urlparse(uri).scheme in SCHEMES


def split(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> (`bucket`, `some/key`); the key as written (a `#` or `?` in it is part of it)."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme not in SCHEMES or not bucket:
        raise ValueError(f"not an S3 URI: {uri}")
    return bucket, key.lstrip("/")


def client(concurrency: int = DEFAULT_CONCURRENCY):
    """A thread-safe S3 client with a pool for `concurrency` requests at once.

    One client per process and setting (clients are expensive to make, about 50 ms); a changed
    environment (another endpoint in a test) gets a new one.
    """
    return _client(max(1, concurrency), tuple(os.environ.get(name) for name in _ENVIRONMENT))


@functools.lru_cache(maxsize=8)
def _client(concurrency: int, environment: tuple[str | None, ...]):
    import boto3
    from botocore.config import Config

    config = Config(
        max_pool_connections=concurrency,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=10,
        read_timeout=120,
    )
    return boto3.session.Session().client("s3", region_name=region(), config=config)


def region() -> str | None:
    """`AWS_REGION` when set (the stack's region on EMR); None leaves botocore's own lookup
    (`AWS_DEFAULT_REGION`, the profile) to decide."""
    return os.environ.get("AWS_REGION") or None
