"""The comparison suite: stillframe against every peer, on every task, side by side.

    python -m benchmarks.compare               # the full suite (under 30 minutes on 2 cores)
    python -m benchmarks.compare --quick       # small videos, one run: seconds
    python -m benchmarks.compare --out DIR     # where results.md / results.json / results.png go

Videos are generated (and cached in benchmarks/.cache) with PyAV; each frame carries
its index as a barcode, so the suite knows which frame every tool returned. The
real-world clip ../shared/media/torchcodec/nasa_13013.mp4 is matched by pixels
against its own full decode instead. Peers are optional (`pip install '.[bench]'`;
the ffmpeg CLI from the system): a tool that cannot run here is listed as
unavailable, with the reason.
"""
