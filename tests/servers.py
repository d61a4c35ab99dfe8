"""Real servers on loopback for the tests: nginx with the RTMP module, a static HTTP
server, a JSON POST receiver, and a publisher thread feeding a live URL."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import livesrc


def wait_for(check: Callable[[], object], timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


@contextlib.contextmanager
def nginx_rtmp(root: Path) -> Iterator[str]:
    """nginx-rtmp on loopback (skips the test where nginx or its RTMP module is not
    installed; .ci/run installs them); yields rtmp://127.0.0.1:PORT/live."""
    try:
        livesrc.find_nginx()
    except livesrc.RtmpUnavailable as exc:
        pytest.skip(str(exc))
    with livesrc.rtmp_server(root) as server:
        yield server.url


@contextlib.contextmanager
def nginx_files(docroot: Path, root: Path) -> Iterator[livesrc.HttpServer]:
    """nginx serving `docroot` on loopback, answering Range requests as a CDN does and
    logging each response's bytes (`server.bytes_sent()`, `server.requests()`); skips
    the test where nginx is not installed (.ci/run installs it)."""
    if livesrc.nginx_binary() is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    with livesrc.http_server(docroot, root) as server:
        yield server


def settled_bytes(server: livesrc.HttpServer) -> int:
    """nginx's byte count once the last response's line is logged."""
    last = -1
    while (now := server.bytes_sent()) != last:
        last = now
        time.sleep(0.05)
    return now


class Publisher:
    """Plays a clip to a live URL in real time (or `speed` times as fast) on a thread;
    stop() hangs up (the stream ends), start() publishes again from the clip's beginning."""

    def __init__(self, clip: Path, url: str, **options) -> None:
        self.clip, self.url, self.options = clip, url, options
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Publisher:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=livesrc.publish,
            args=(self.clip, self.url),
            kwargs={"stop": self._stop, **self.options},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def static_http(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on loopback; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def post_receiver() -> Iterator[tuple[str, list[dict]]]:
    """An HTTP server that keeps every JSON body POSTed to it; yields (url, bodies)."""
    received: list[dict] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the handler API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/callback", received
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def s3_server(*buckets: str) -> Iterator[tuple[str, object]]:
    """moto's S3-compatible server on loopback with `buckets` made; yields (endpoint,
    a boto3 client). Credentials: key "testing", secret "testing"."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        for b in buckets:
            client.create_bucket(Bucket=b)
        yield endpoint, client
    finally:
        server.stop()
