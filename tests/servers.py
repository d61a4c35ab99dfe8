"""Real servers on loopback for the tests: nginx with the RTMP module, a static HTTP
server, a JSON POST receiver, and a publisher thread feeding a live URL."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stillframe import testsrc

RTMP_MODULES = (
    "/usr/lib/nginx/modules/ngx_rtmp_module.so",
    "/usr/lib64/nginx/modules/ngx_rtmp_module.so",
    "/usr/local/nginx/modules/ngx_rtmp_module.so",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], object], timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def _nginx() -> tuple[str, str | None]:
    """The nginx binary and the RTMP module to load (None when built in); skips the
    test when this machine has neither (.ci/run installs them)."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if binary is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx libnginx-mod-rtmp)")
    module = next((p for p in RTMP_MODULES if os.path.exists(p)), None)
    if module is None:
        built = subprocess.run([binary, "-V"], capture_output=True, text=True).stderr
        if "rtmp" not in built:
            pytest.skip("nginx has no RTMP module (Debian: apt-get install libnginx-mod-rtmp)")
    return binary, module


@contextlib.contextmanager
def nginx_rtmp(root: Path) -> Iterator[str]:
    """nginx-rtmp on a free loopback port; yields the application's base URL
    (rtmp://127.0.0.1:PORT/live). Unpublished streams are refused at once
    (idle_streams off), as a live service answers "not live"."""
    binary, module = _nginx()
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(
        (f"load_module {module};\n" if module else "")
        + f"daemon off;\nmaster_process off;\nerror_log {root}/error.log warn;\npid {root}/nginx.pid;\n"
        "events {}\n"
        f"rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n"
        "  application live { live on; record off; idle_streams off; } } }\n"
    )
    proc = subprocess.Popen([binary, "-p", str(root), "-c", str(conf)], stderr=subprocess.PIPE)
    try:

        def listening() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"nginx exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, 10, "nginx to listen")
        yield f"rtmp://127.0.0.1:{port}/live"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


class Publisher:
    """Plays a clip to a live URL in real time on a thread; stop() hangs up (the
    stream ends), start() publishes again from the clip's beginning."""

    def __init__(self, clip: Path, url: str, **options) -> None:
        self.clip, self.url, self.options = clip, url, options
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Publisher:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=testsrc.publish, args=(self.clip, self.url), kwargs={"stop": self._stop, **self.options},
            daemon=True,
        )  # fmt: skip
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
