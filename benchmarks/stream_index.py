"""What reading a streaming format's own index costs: requests, bytes and time for
the HLS playlist, the DASH manifest and a fragmented MP4's mfra and moof walk, of
the long file packaged as `benchmarks.longfile --forms` packages it, from disk and
from nginx on loopback (bytes from its access log).

    python -m benchmarks.stream_index            # the 1-hour 1080p file (2.4 GB; made if absent)
    python -m benchmarks.stream_index --quick    # 10 minutes of the small clip: CI's form
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.longfile import CACHE, _settled, base_clip, long_file, stream_form
from stillframe import livesrc
from stillframe.streams import FileReader, HttpReader, RangeReader, read_dash, read_fmp4, read_hls
from stillframe.streams import fmp4 as fmp4_module


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
    lines = [f"Index of {long.name} ({long.stat().st_size / 1e9:.2f} GB as MP4)", "",
             "| index | where | segments | requests | bytes read | time |", "| --- | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
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
                lines.append(f"| {name} | {where} | {len(segments)} | {reader.stats.requests} | {sent / 1e3:.1f} kB "
                             f"| {wall * 1000:.1f} ms |")  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
