"""The streaming formats' indexes read over HTTP from nginx (Range requests, bytes
counted from its access log) and from an S3 store: the same segments as from the
local files, for a few small reads."""

from __future__ import annotations

import contextlib
import http.server
import threading
from dataclasses import replace

import pytest

from stillframe.errors import ResourceContentBad, ResourceNotFound
from stillframe.streams import (
    FileReader,
    FsspecReader,
    HttpReader,
    read_dash,
    read_fmp4,
    read_hls,
    read_matroska,
    reader_for,
)

from .servers import nginx_files, s3_server, settled_bytes, static_http


@pytest.fixture(scope="module")
def served(stream_media, tmp_path_factory):
    # Make what the tests read before nginx starts (its root is fixed).
    made = {
        "hls": stream_media.hls_master(),
        "fmp4-walk": stream_media.fmp4("walk"),
        "fmp4-mfra": stream_media.fmp4("mfra"),
        "fmp4-sidx": stream_media.fmp4("sidx"),
        "dash-base": stream_media.dash("base"),
        "dash-timeline": stream_media.dash("timeline"),
        "mkv": stream_media.matroska("mkv"),
    }
    with nginx_files(stream_media.root, tmp_path_factory.mktemp("nginx")) as server:
        yield server, {k: (p, f"{server.url}/{p.relative_to(stream_media.root).as_posix()}") for k, p in made.items()}


def moved(segments, url: str) -> tuple:
    """`segments` as they read when their file is at `url`."""
    return tuple(
        replace(s, uri=url, init=replace(s.init, uri=url) if s.init and s.init.uri == s.uri else s.init)
        for s in segments
    )


def same_segments(remote, local, base_url: str, root) -> None:
    assert len(remote.segments) == len(local.segments)
    for r, s in zip(remote.segments, local.segments):
        assert (r.start, r.duration, r.byte_range, r.keyframe, r.discontinuity) == (
            s.start,
            s.duration,
            s.byte_range,
            s.keyframe,
            s.discontinuity,
        )
        assert r.uri.startswith(base_url) and r.uri.endswith(s.uri.rsplit("/", 1)[-1])


@pytest.mark.parametrize("key,reader", [("hls", read_hls), ("dash-timeline", read_dash), ("dash-base", read_dash)])
def test_playlists_and_manifests_over_http(served, stream_media, key, reader):
    server, made = served
    path, url = made[key]
    http = HttpReader()
    before = settled_bytes(server)
    remote = reader(http, url)
    sent = settled_bytes(server) - before
    same_segments(remote, reader(FileReader(), str(path)), server.url, stream_media.root)
    assert sent == http.stats.bytes  # every byte nginx sent was asked for
    if key == "dash-base":  # the MPD, the moov and the sidx, and the first moof's header
        assert http.stats.requests <= 5 and sent < 16_000, http.stats
    else:  # the playlists or the manifest alone
        assert http.stats.requests <= 2 and sent < 4_000, http.stats


@pytest.mark.parametrize(
    "key,how", [("fmp4-walk", "moof walk"), ("fmp4-mfra", "mfra"), ("fmp4-sidx", "sidx"), ("mkv", "cluster walk")]
)
def test_walks_over_http_read_headers_only(served, key, how):
    server, made = served
    path, url = made[key]
    http = HttpReader()
    before = settled_bytes(server)
    index = (read_matroska if key == "mkv" else read_fmp4)(http, url)
    sent = settled_bytes(server) - before
    local = (read_matroska if key == "mkv" else read_fmp4)(FileReader(), str(path))
    assert index.how == how and index.segments == moved(local.segments, url)
    size = path.stat().st_size
    assert sent == http.stats.bytes and sent < size * 0.05, (sent, size, http.stats)
    statuses = {status for status, _, _ in server.requests()}
    assert statuses <= {206}  # Range requests only, never the whole file


def test_http_errors_and_a_server_that_ignores_range(served, stream_media):
    server, made = served
    with pytest.raises(ResourceNotFound):
        read_hls(HttpReader(), f"{server.url}/nothing/here.m3u8")
    # Python's own file server answers 200 with the whole file: the reader keeps
    # what it asked for and hangs up.
    path, _ = made["fmp4-walk"]
    with static_http(path.parent) as base:
        data = HttpReader().read(f"{base}/{path.name}", 100, 50)
    assert data == path.read_bytes()[100:150]


def test_hls_from_an_s3_store(stream_media):
    folder = stream_media.hls("ts").parent
    with s3_server("media") as (endpoint, s3):
        for p in folder.iterdir():
            s3.put_object(Bucket="media", Key=f"vod/{p.name}", Body=p.read_bytes())  # type: ignore[attr-defined]
        options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
        reader = reader_for(**options)
        index = read_hls(reader, "s3://media/vod/index.m3u8")
        local = read_hls(FileReader(), str(folder / "index.m3u8"))
        assert [s.uri for s in index.segments] == [f"s3://media/vod/s{i:03d}.ts" for i in range(6)]
        assert [s.start for s in index.segments] == [s.start for s in local.segments]
        store = FsspecReader(**options)
        assert store.read(index.segments[1].uri, 188, 188) == (folder / "s001.ts").read_bytes()[188:376]
        assert store.size(index.segments[1].uri) == (folder / "s001.ts").stat().st_size


@contextlib.contextmanager
def redirector(target: str):
    """A server that answers every GET with a 302 to the same path on `target`
    (itself when `target` is None: a loop)."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the handler API
            self.send_response(302)
            self.send_header("Location", f"{target or base}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def test_redirects_are_followed_and_bounded(served):
    server, made = served
    path, url = made["hls"]
    direct = read_hls(HttpReader(), url)
    with redirector(server.url) as base:
        via = read_hls(HttpReader(), url.replace(server.url, base))
        assert [s.start for s in via.segments] == [s.start for s in direct.segments]
        assert via.segments[0].uri.startswith(base)  # names stay relative to what was asked for
        path, url = made["fmp4-mfra"]
        redirected = url.replace(server.url, base)
        assert read_fmp4(HttpReader(), redirected).segments == moved(read_fmp4(HttpReader(), url).segments, redirected)
    with redirector(None) as loop, pytest.raises(ResourceContentBad, match="redirects"):
        read_hls(HttpReader(), f"{loop}/index.m3u8")
