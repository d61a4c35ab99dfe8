"""`stillframe serve` as a person starts it: a port in use is one line before
anything starts, the banner names the preview pages and how requests are signed,
and a browser opening the server's address lands on the pages."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from stillframe.jobs import JobService  # noqa: E402
from stillframe.server.app import serving  # noqa: E402
from stillframe.server.context import ServerContext  # noqa: E402


def serve(tmp_path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stillframe.cli", "serve", "--store", str(tmp_path / "jobs.db"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_port_in_use_is_one_line_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve(tmp_path, "--insecure-local", "--port", str(port))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == ""  # no banner, no "startup complete"
    assert (
        err == f"stillframe: error: cannot listen on 127.0.0.1:{port}: the address is in use (another server "
        "is there; --port picks another)\n"
    )


@pytest.mark.parametrize(
    "args, signing",
    [
        (["--insecure-local"], "unsigned requests accepted: --insecure-local"),
        (["--access-key", "AK:SK"], "1 key pair"),
        (
            ["--access-key", "AK:SK", "--access-key", "AK2:SK2", "--insecure-local"],
            "2 key pairs, unsigned requests accepted too (--insecure-local)",
        ),
    ],
)
def test_the_banner_says_how_requests_are_signed_and_where_the_pages_are(tmp_path, args, signing):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    proc = serve(tmp_path, "--port", str(port), *args)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    base = f"http://127.0.0.1:{port}"
    assert banner == f"stillframe serve: {base} ({signing}; buckets: none); preview pages: {base}/ui/"


def test_port_0_serves_on_a_free_port_and_the_banner_names_it(tmp_path):
    proc = serve(tmp_path, "--port", "0", "--insecure-local")
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline().strip()
        port = int(banner.split("http://127.0.0.1:", 1)[1].split(" ", 1)[0])
        assert port > 0 and banner.endswith(f"preview pages: http://127.0.0.1:{port}/ui/")
        answer = None
        for _ in range(300):  # until uvicorn has started on the socket bound for the banner
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_a_browser_at_the_root_is_sent_to_the_pages_and_api_callers_are_not(tmp_path):
    with (
        JobService(tmp_path / "jobs.db", workers=0) as svc,
        serving(ServerContext(service=svc, keys={"AK": "SK"})) as base,
    ):
        page = httpx.get(base + "/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert page.status_code == 303 and page.headers["location"] == "/ui/"
        # An SDK (no HTML asked for, or a signature, or a query) still gets the API's own answer.
        for kwargs in (
            {},
            {"headers": {"Accept": "text/html", "Authorization": "ACS3-HMAC-SHA256 x"}},
            {"params": {"Action": "GetSnapshotJob"}, "headers": {"Accept": "text/html"}},
        ):
            api = httpx.get(base + "/", **kwargs)
            assert api.status_code in (400, 403) and "Code" in api.json(), kwargs
