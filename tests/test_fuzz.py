"""Damaged files end in a clear error from the error tree, never a stray exception,
a crash, a hang or a half-written file. Mutated copies (bit flips, truncations,
zeroed and duplicated ranges, one timestamp made wild) of small clips in every container the engine reads,
each probed, sampled and made into a sprite under a time limit, in processes apart
from the test's (each runs files in turn; one that crashes or hangs it is recorded and
the rest go on in a new process). Seeded: by default SMALL files,
STILLFRAME_FUZZ=full (as CI runs it) FULL, STILLFRAME_FUZZ=N any N;
STILLFRAME_FUZZ_SEED another seed."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import stillframe as sf
from stillframe import testsrc

from . import fuzz_target
from .timestamp_damage import wild

TARGET = Path(__file__).with_name("fuzz_target.py")
X265 = "keyint=30:min-keyint=30:scenecut=0:open-gop=1:bframes=4:log-level=error"
CLUSTERS = {"cluster_time_limit": "500"}
SMALL, FULL = 60, 300  # files: every run, and CI's (STILLFRAME_FUZZ=full)


def fuzz_count() -> int:
    named = os.environ.get("STILLFRAME_FUZZ", "")
    return FULL if named == "full" else int(named) if named else SMALL


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("fuzz-src")
    small = {"size": (128, 72)}
    return [
        testsrc.make_video(root / "h264.mp4", frames=90, gop=30, bframes=2, **small),
        testsrc.make_video(
            root / "hevc.mkv",
            frames=90,
            codec="libx265",
            options={"x265-params": X265},
            container_options=CLUSTERS,
            **small,
        ),
        testsrc.make_video(
            root / "vp9.webm",
            frames=60,
            codec="libvpx-vp9",
            gop=20,
            options={"deadline": "realtime", "cpu-used": "8"},
            container_options=CLUSTERS,
            **small,
        ),
        testsrc.make_video(root / "h264.ts", frames=60, gop=20, bframes=2, start=10.0, **small),
        testsrc.make_video(
            root / "hevc10.mp4",
            frames=60,
            codec="libx265",
            pix_fmt="yuv420p10le",
            options={"x265-params": X265},
            **small,
        ),
    ]


def mutate(data: bytes, rng: random.Random, suffix: str = "") -> tuple[str, bytes]:
    kind = rng.choice(["flip", "truncate", "zero", "duplicate", "wild"])
    if kind == "wild":  # one timestamp far off: the duration must still be the stream's
        damaged, what = wild(data, suffix, rng)
        if what is not None:
            return kind, damaged
        kind = "flip"
    out = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 50)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del out[rng.randrange(len(out)) :]
    else:
        i, n = rng.randrange(len(out)), rng.randint(1, 4096)
        if kind == "zero":
            out[i : i + n] = bytes(len(out[i : i + n]))
        else:
            j = rng.randrange(len(out))
            out[j:j] = out[i : i + n]
    return kind, bytes(out)


Case = tuple[str, Path, Path]  # a name to report, the damaged file, its output folder


def run_cases(cases: list[Case]) -> list[tuple[str, dict]]:
    """How each case ended: "ok", "error" (from the error tree), "stray" (any other
    exception), "crash" or "hang" (the process died on it, or its time limit did)."""
    ended: dict[str, dict] = {}
    todo = list(cases)
    while todo:
        args = [str(p) for _, path, out in todo for p in (path, out)]
        r = subprocess.run(
            [sys.executable, str(TARGET), *args],
            capture_output=True,
            text=True,
            timeout=len(todo) * fuzz_target.TIME_LIMIT + 60,
        )
        for line in r.stdout.splitlines():
            result = json.loads(line)
            ended[result.pop("path")] = result
        rest = [case for case in todo if str(case[1]) not in ended]
        if r.returncode != 0:
            # The files before it printed their line: the first without one was running.
            culprit = rest.pop(0) if rest else todo[-1]
            how = "hang" if r.returncode == -signal.SIGALRM else "crash"
            ended[str(culprit[1])] = {"ended": how, "code": r.returncode, "stderr": r.stderr[-500:]}
        todo = rest
    return [(name, ended[str(path)]) for name, path, _ in cases]


def test_damaged_files_end_in_clear_errors(originals, tmp_path):
    count = fuzz_count()
    rng = random.Random(int(os.environ.get("STILLFRAME_FUZZ_SEED", "20261201")))
    cases: list[Case] = []
    wild_cases: dict[str, float] = {}
    durations = {src: sf.probe(src).duration for src in originals}
    for k in range(count):
        src = rng.choice(originals)
        kind, data = mutate(src.read_bytes(), rng, src.suffix)
        case = tmp_path / f"{k:05d}"
        case.mkdir()
        path = case / f"damaged{src.suffix}"
        path.write_bytes(data)
        cases.append((f"{src.name} {kind} #{k}", path, case / "out"))
        if kind == "wild":
            wild_cases[f"{src.name} {kind} #{k}"] = durations[src]

    # A few processes a core: each pays for Python and PyAV's start-up once.
    workers = os.cpu_count() or 2
    size = max(1, math.ceil(count / (3 * workers)))
    with ThreadPoolExecutor(workers) as pool:
        results = [
            r for part in pool.map(run_cases, [cases[i : i + size] for i in range(0, count, size)]) for r in part
        ]
    bad = [(name, r) for name, r in results if r["ended"] not in ("ok", "error")]
    assert not bad, "\n".join(f"{name}: {r}" for name, r in bad[:5])
    half_written = [p for _, _, out in cases for p in out.rglob("*.part")] if cases else []
    assert not half_written
    # A wild timestamp is damage, not time: a file that still opens says the duration it had.
    off = [
        (name, r["duration"], wild_cases[name])
        for name, r in results
        if name in wild_cases and r.get("duration") is not None and abs(r["duration"] - wild_cases[name]) > 0.5
    ]
    assert not off, "\n".join(f"{name}: {got:.3f} s, not {want:.3f} s" for name, got, want in off[:5])
    assert wild_cases, "no case had a wild timestamp"
    ended = [r["ended"] for _, r in results]
    # The mutations must bite: some files still work, many fail cleanly.
    assert ended.count("error") > count // 10 and ended.count("ok") > 0
