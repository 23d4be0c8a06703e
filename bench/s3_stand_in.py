"""An object store with latency, on this machine: moto's S3 server behind a proxy that delays each request.

A sleep inside the job's own reader would prove nothing about the real client; here boto3 talks
HTTP to 127.0.0.1 as it talks to S3, so its connection pool, its concurrency and its retries are
what is measured. The proxy forwards TCP both ways and holds every request `delay_s` before it
reaches moto (a GET's time to first byte); it counts requests and the most it held at once (the
reads in flight), and can answer every n-th GET itself with S3's `503 SlowDown` (first attempts
only), which botocore's retry mode must absorb. Used by the read-path tests and by bench/read_latency.py.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

METHODS = (b"GET ", b"PUT ", b"HEAD ", b"POST ", b"DELETE ")
_SLOW_DOWN_BODY = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code><Message>Reduce rate</Message></Error>"
)
SLOW_DOWN = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n" % len(_SLOW_DOWN_BODY)
    + _SLOW_DOWN_BODY
)
"""S3's answer when asked to slow down; botocore retries it."""


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that delays every HTTP request by `delay_s` (settable while it runs)."""

    def __init__(self, upstream: tuple[str, int], delay_s: float = 0.0, fail_every: int = 0, port: int = 0) -> None:
        self.upstream = upstream
        self.delay_s = delay_s
        self.fail_every = fail_every  # answer every n-th GET with 503 SlowDown (0: never)
        self.requests = self.gets = self.refused = 0  # all requests, GetObject requests, 503s answered
        self.held = self.most_held = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", port))
        self.port = self._server.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._running = True
        threading.Thread(target=self._accept, daemon=True, name="delay-proxy").start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = self.gets = self.refused = self.most_held = 0

    def close(self) -> None:
        self._running = False
        self._server.close()
        for connection in list(self._open):
            connection.close()

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream = socket.create_connection(self.upstream)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._open |= {client, upstream}
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to server: each chunk that starts a request waits first; every n-th GET may be refused."""
        try:
            while chunk := client.recv(1 << 16):
                if chunk.startswith(METHODS):
                    line = chunk.split(b"\r\n", 1)[0]
                    get = line.startswith(b"GET ") and b"list-type=" not in line  # an object, not a listing
                    if self._hold(get, b"attempt=1;" in chunk):
                        client.sendall(SLOW_DOWN)
                        continue
                upstream.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(client, upstream)

    def _hold(self, get: bool, first_attempt: bool) -> bool:  # get: a GetObject
        """Wait the delay, counting the requests held at once; True to refuse this one (never a retry,
        which botocore marks in its `amz-sdk-request` header)."""
        with self._lock:
            self.requests += 1
            self.gets += get
            refuse = get and first_attempt and self.fail_every > 0 and self.gets % self.fail_every == 0
            self.refused += refuse
            self.held += 1
            self.most_held = max(self.most_held, self.held)
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        with self._lock:
            self.held -= 1
        return refuse

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(1 << 16):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(source, target)

    def _close(self, *connections: socket.socket) -> None:
        for connection in connections:
            self._open.discard(connection)
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()


@contextmanager
def moto_server() -> Iterator[tuple[str, int]]:
    """moto's S3 server on 127.0.0.1, a free port: (host, port)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server.get_host_and_port()
    finally:
        server.stop()


@contextmanager
def delayed_s3(delay_s: float = 0.0, fail_every: int = 0, port: int = 0) -> Iterator[DelayProxy]:
    """moto's S3 behind a DelayProxy (on `port`, or a free one); point clients at `proxy.endpoint`
    (e.g. AWS_ENDPOINT_URL_S3)."""
    with moto_server() as address:
        proxy = DelayProxy(address, delay_s, fail_every, port)
        try:
            yield proxy
        finally:
            proxy.close()
