"""Sources for tests, demos and benchmarks: a local RTMP server (nginx with the
RTMP module), a publisher that plays a file to a live URL in real time, and a
static nginx file server that answers Range requests as CDNs do and logs the
bytes it sends."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av

__all__ = [
    "HttpServer",
    "NginxUnavailable",
    "RtmpServer",
    "RtmpUnavailable",
    "find_nginx",
    "http_server",
    "nginx_binary",
    "publish",
    "rtmp_server",
]

RTMP_MODULES = (
    "/usr/lib/nginx/modules/ngx_rtmp_module.so",
    "/usr/lib64/nginx/modules/ngx_rtmp_module.so",
    "/usr/local/nginx/modules/ngx_rtmp_module.so",
)


class NginxUnavailable(RuntimeError):
    """nginx is not installed here, or did not start."""


class RtmpUnavailable(NginxUnavailable):
    """nginx or its RTMP module is not installed here."""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def find_nginx() -> tuple[str, str | None]:
    """The nginx binary and the RTMP module to load (None when it is built in)."""
    binary = nginx_binary()
    if binary is None:
        raise RtmpUnavailable("nginx is not installed (Debian: apt-get install nginx libnginx-mod-rtmp)")
    module = next((p for p in RTMP_MODULES if os.path.exists(p)), None)
    if module is None:
        built = subprocess.run([binary, "-V"], capture_output=True, text=True).stderr
        if "rtmp" not in built:
            raise RtmpUnavailable("nginx has no RTMP module (Debian: apt-get install libnginx-mod-rtmp)")
    return binary, module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtmpServer:
    def __init__(self, url: str, process: subprocess.Popen[bytes]) -> None:
        self.url = url  # rtmp://127.0.0.1:PORT/live
        self.process = process


@contextlib.contextmanager
def _nginx(
    root: Path, port: int, body: str, module: str | None = None, user: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the foreground with `body` as its configuration, until it listens on
    `port`; with `user` (root only), its worker runs as that user, as a packaged
    nginx serving files does."""
    binary = nginx_binary()
    if binary is None:
        raise NginxUnavailable("nginx is not installed (Debian: apt-get install nginx)")
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(
        (f"load_module {module};\n" if module else "")
        + (f"user {user};\nworker_processes 1;\n" if user else "master_process off;\n")
        + f"daemon off;\nerror_log {root}/error.log warn;\npid {root}/nginx.pid;\n"
        + "events {}\n"
        + body
    )
    proc = subprocess.Popen([binary, "-p", str(root), "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise NginxUnavailable(f"nginx exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise NginxUnavailable("nginx did not start listening within 10 s")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def rtmp_server(root: str | os.PathLike[str]) -> Iterator[RtmpServer]:
    """nginx-rtmp on a free loopback port, its files under `root`; publish to and
    read from `server.url + "/NAME"`. Unpublished streams are refused at once
    (idle_streams off), so "is it live?" is answered without waiting."""
    _, module = find_nginx()
    port = _free_port()
    body = (
        f"rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n"
        "  application live { live on; record off; idle_streams off; } } }\n"
    )
    with _nginx(Path(root), port, body, module) as proc:
        yield RtmpServer(f"rtmp://127.0.0.1:{port}/live", proc)


class HttpServer:
    """A static nginx; `bytes_sent()` adds up the response bytes it has logged."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url  # http://127.0.0.1:PORT (files under the served folder by name)
        self.log = log

    def requests(self) -> list[tuple[int, int, str]]:
        """(status, body bytes sent, Range asked) per request so far."""
        out = []
        for line in self.log.read_text().splitlines() if self.log.exists() else []:
            status, sent, rng = line.split(" ", 2)
            out.append((int(status), int(sent), rng))
        return out

    def bytes_sent(self) -> int:
        return sum(sent for _, sent, _ in self.requests())


@contextlib.contextmanager
def http_server(
    docroot: str | os.PathLike[str], root: str | os.PathLike[str], user: str | None = None, ranges: bool = True
) -> Iterator[HttpServer]:
    """nginx serving the files of `docroot` on a free loopback port, as a CDN or an
    object store does: Range requests answered with 206 and just those bytes, and
    every response's size logged (a client that hangs up early is logged with
    what had been sent). `user` (when run as root): the worker serves files as
    that user, so it reads only what a web server's account may read.
    `ranges=False` answers every request with the whole file, as some servers do."""
    port = _free_port()
    root = Path(root)
    log = root / "access.log"
    body = (
        "http { log_format sizes '$status $body_bytes_sent $http_range';\n"
        f"  access_log {log} sizes; keepalive_requests 100000;{'' if ranges else ' max_ranges 0;'}\n"
        f"  server {{ listen 127.0.0.1:{port} sndbuf=64k; root {Path(docroot).resolve()}; }} }}\n"
    )
    with _nginx(root, port, body, user=user):
        yield HttpServer(f"http://127.0.0.1:{port}", log)


def publish(
    path: str | os.PathLike[str],
    url: str,
    *,
    stop: threading.Event | None = None,
    loop: bool = True,
    format: str | None = None,
    options: dict[str, str] | None = None,
    speed: float = 1.0,
) -> int:
    """Play a video file to a live URL in real time, as an encoder would (RTMP gets
    FLV; a path ending .m3u8 gets live HLS), or `speed` times as fast: the stream's
    own timestamps are unchanged. Packets are copied, not re-encoded, so publishing
    costs next to nothing; with `loop` the file repeats with timestamps carried on.
    Returns the packets sent, when `stop` is set or the file ends."""
    stop = stop or threading.Event()
    if format is None:
        format = "flv" if url.startswith(("rtmp://", "rtmps://")) else "hls" if url.endswith(".m3u8") else None
    sent = 0
    with av.open(os.fspath(path)) as src, av.open(url, "w", format=format, options=options or {}) as out:
        ins = src.streams.video[0]
        outs = out.add_stream_from_template(ins)
        clock = time.monotonic()
        offset = 0  # in ins.time_base, grows by the file's length on each loop
        while not stop.is_set():
            last = 0
            src.seek(0, stream=ins)
            for packet in src.demux(ins):
                if packet.dts is None:
                    continue
                due = clock + float((packet.dts + offset) * ins.time_base) / speed
                if stop.wait(max(0.0, due - time.monotonic())):
                    return sent
                last = max(last, packet.pts + (packet.duration or 0))
                packet.pts += offset
                packet.dts += offset
                packet.stream = outs
                out.mux(packet)
                sent += 1
            if not loop:
                break
            offset += last
    return sent
