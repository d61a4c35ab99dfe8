"""What reading a streaming format's own index costs: requests, bytes and time for
the HLS playlist, the DASH manifest and a fragmented MP4's mfra and moof walk, of
the long file packaged as `benchmarks.longfile --forms` packages it, from disk and
from nginx on loopback (bytes from its access log). Then what one frame at 51.7 %
costs through the index over HTTP: the playlist or manifest, the first segment's
head (HLS: where the stream's clock starts), and the one segment holding the frame,
read lazily by `SegmentStream` and decoded with PyAV up to the frame.

    python -m benchmarks.stream_index            # the 1-hour 1080p file (2.4 GB; made if absent)
    python -m benchmarks.stream_index --quick    # 10 minutes of the small clip: CI's form
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av

from benchmarks.longfile import CACHE, _settled, base_clip, long_file, stream_form
from stillframe.streams import (
    FileReader,
    HttpReader,
    RangeReader,
    SegmentStream,
    first_timestamp,
    read_dash,
    read_fmp4,
    read_hls,
)
from stillframe.streams import fmp4 as fmp4_module
from tests import livesrc


def moof_walk(reader: RangeReader, uri: str) -> tuple:
    """The walk read_fmp4 falls back to when a file has neither sidx nor mfra."""
    src = fmp4_module._Bytes(reader, uri)
    track, first, _ = fmp4_module._head(src)
    return fmp4_module._walk(src, track, first)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 minutes of the small clip")
    args = ap.parse_args()
    base = base_clip(args.quick)
    long = long_file(base, 60 if args.quick else 12)
    cases: list[tuple[str, Callable, Path]] = [
        ("HLS playlist", read_hls, stream_form(long, "hls")),
        ("DASH manifest", read_dash, stream_form(long, "dash")),
        ("fragmented MP4, mfra", read_fmp4, stream_form(long, "fmp4")),
        ("fragmented MP4, moof walk", moof_walk, stream_form(long, "fmp4")),
    ]
    lines = [
        f"Index of {long.name} ({long.stat().st_size / 1e9:.2f} GB as MP4)",
        "",
        "| index | where | segments | requests | bytes read | time |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as logs, livesrc.http_server(CACHE, logs) as server:
        for name, read, path in cases:
            for where in ("local", "HTTP"):
                reader: RangeReader = FileReader() if where == "local" else HttpReader()
                uri = str(path) if where == "local" else f"{server.url}/{path.relative_to(CACHE).as_posix()}"
                before = _settled(server)
                started = time.perf_counter()
                found = read(reader, uri)
                wall = time.perf_counter() - started
                segments = found if isinstance(found, tuple) else found.segments
                sent = _settled(server) - before if where == "HTTP" else reader.stats.bytes
                lines.append(
                    f"| {name} | {where} | {len(segments)} | {reader.stats.requests} | {sent / 1e3:.1f} kB "
                    f"| {wall * 1000:.1f} ms |"
                )
        lines += [
            "",
            "| one frame at 51.7 % over HTTP | segment | requests | bytes read | time (in process) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        target = round(long_duration(long) * 0.517, 3)
        for name, read, path in cases[:2]:
            url = f"{server.url}/{path.relative_to(CACHE).as_posix()}"
            before = _settled(server)
            started = time.perf_counter()
            http = HttpReader()
            k, shown = one_frame(http, read(http, url), target)
            wall = time.perf_counter() - started
            lines.append(
                f"| {name.split()[0]}: frame at {shown:.3f} s | {k} | {http.stats.requests} "
                f"| {(_settled(server) - before) / 1e6:.2f} MB | {wall:.2f} s |"
            )
    print("\n".join(lines))


def long_duration(path: Path) -> float:
    with av.open(str(path)) as c:
        return float(c.duration or 0) / av.time_base


def one_frame(reader: RangeReader, index, t: float) -> tuple[int, float]:
    """(the segment read, the time of the first frame at or after `t`), decoding only
    that segment (its keyframe to the frame)."""
    origin = first_timestamp(reader, index.segments[0]) if index.kind == "hls" else 0.0
    k = index.segment_at(t)
    with av.open(SegmentStream(reader, [index.segments[k]], block=256 << 10)) as c:
        for frame in c.decode(c.streams.video[0]):
            if frame.time is not None and frame.time >= (origin or 0.0) + t - 1e-6:
                return k, frame.time - (origin or 0.0)
    raise RuntimeError(f"no frame at {t} s in segment {k}")


if __name__ == "__main__":
    main()
