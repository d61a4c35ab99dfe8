"""The GPU against the CPU, in process, on the jobs that decide whether a device pays:
stillframe's `device="cuda"`, `"cpu"` and `"auto"` side by side (median of --reps
runs after one warm-up, so the device's decoders are pooled and "one frame" is
measured with the pool warm), NVDEC's own throughput with frames kept on the device
(1..7 decoders on disjoint GOP ranges), the CPU's curve over decoder counts, how
closely the device's JPEGs agree with the CPU's, and torchcodec's CUDA decoder where
it can be imported.

    python -m benchmarks.gpu --out /tmp/gpu            # the 60 s 1080p30 clip, 3 runs
    python -m benchmarks.gpu --out /tmp/gpu --quick    # a 10 s 720p clip, 1 run (a dry run)

The clip: 1080p30 H.264, GOP 250, 3 B-frames, libx264 veryfast, frames carrying
their index (testsrc), made once (--clip names where; kept). On a machine without a
usable CUDA device the device rows say why and the CPU rows still run. Results go to
--out as gpu.md and gpu.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

import stillframe as sf
from stillframe import _calibration, _gpu, testsrc
from stillframe._native import cpu_count

CACHE = Path(__file__).parent / ".cache"
WIDTH = 480
QUALITY = 85
# The goals, as a share of the CPU's time on the same run.
GOALS = {
    "30 exact, every 2 s": 0.5,
    "120 exact, every 0.5 s": 0.4,
    "1 frame at 31.7 s, full size": 1.2,
    "8 keyframes": 1.0,
}
THROUGHPUT_GOAL = 3000


def jobs(seconds: float) -> dict[str, dict[str, Any]]:
    """The four jobs, scaled to the clip (the figures are for 60 s)."""
    one = min(31.7, seconds * 0.53)
    return {
        "30 exact, every 2 s": {"sampling": sf.Interval(seconds / 30), "width": WIDTH},
        "120 exact, every 0.5 s": {"sampling": sf.Interval(seconds / 120), "width": WIDTH},
        "1 frame at 31.7 s, full size": {"sampling": [one]},
        "8 keyframes": {"sampling": sf.Quantity(8), "frame_type": "intra", "width": WIDTH},
    }


def make_clip(path: Path, seconds: float, size: tuple[int, int]) -> Path:
    if not path.exists():
        print(f"making {path} ({seconds:g} s of {size[0]}x{size[1]} at 30 fps)...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        testsrc.make_video(
            path, frames=int(30 * seconds), size=size, fps=30, gop=250, bframes=3, options={"preset": "veryfast"}
        )
        print(f"  made in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return path


def cuda_missing() -> str | None:
    report = sf.hardware()
    if "cuda" not in report.usable():
        return f"no usable CUDA device: {report.devices['cuda']['reason']}"
    return _gpu.unavailable("cuda")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


# -- stillframe's jobs ---------------------------------------------------------------


def run_job(clip: Path, spec: dict[str, Any], device: str, out: Path, workers: int | None = None) -> sf.SnapshotResult:
    opts = {k: v for k, v in spec.items() if k != "sampling"}
    # Each run replaces the last one's files (warm-up, repeats, worker counts).
    return sf.snapshot(
        clip,
        spec["sampling"],
        out / "{Count}.jpg",
        quality=QUALITY,
        device=device,
        workers=workers,
        overwrite=True,
        **opts,
    )


def job_rows(clip: Path, seconds: float, devices: list[str], reps: int, tmp: Path) -> list[dict[str, Any]]:
    rows = []
    for name, spec in jobs(seconds).items():
        row: dict[str, Any] = {"job": name, "times": {}, "pts": {}, "chose": {}}
        for device in devices:
            folder = tmp / "jobs" / name.split(",")[0].replace(" ", "-") / device
            try:
                run_job(clip, spec, device, folder)  # warm-up: decoders pooled, PyTorch and nvJPEG started
                runs = []
                for _ in range(reps):
                    seconds_taken, result = timed(lambda: run_job(clip, spec, device, folder))  # noqa: B023
                    runs.append(seconds_taken)
                row["times"][device] = statistics.median(runs)
                row["runs_" + device] = runs
                row["pts"][device] = [s.pts for s in result.frames]
                d = result.decoding
                row["chose"][device] = d.get("reason") or (
                    f"cpu ({d['fallback'][:70]})" if d.get("fallback") else d["decoder"]
                )
                row["files_" + device] = str(folder)
            except Exception as exc:
                row["times"][device] = None
                row["chose"][device] = f"failed: {type(exc).__name__}: {exc}"
            print(f"  {name} [{device}]: {row['times'][device]}", file=sys.stderr, flush=True)
        cpu = row["times"].get("cpu")
        for device in devices:
            t = row["times"].get(device)
            row[f"{device}/cpu"] = t / cpu if t and cpu else None
            if device != "cpu" and row["pts"].get(device) is not None:
                row[f"{device} exact"] = row["pts"][device] == row["pts"].get("cpu")
        row["goal"] = GOALS[name]
        rows.append(row)
    return rows


def workers_curve(clip: Path, seconds: float, reps: int, tmp: Path) -> dict[str, Any]:
    """The 30-exact job on the CPU with 1, 2, 4, 8, 16 decoders and the default."""
    spec = jobs(seconds)["30 exact, every 2 s"]
    out: dict[str, Any] = {}
    for workers in (1, 2, 4, 8, 16, None):
        runs = []
        for _ in range(reps):
            t, result = timed(lambda: run_job(clip, spec, "cpu", tmp / "curve", workers))  # noqa: B023
            runs.append(t)
        key = "default" if workers is None else str(workers)
        out[key] = {"seconds": statistics.median(runs), "runs": runs, "decoders": result.stats["workers"]}
        print(f"  cpu workers={key}: {out[key]['seconds']:.3f} s", file=sys.stderr, flush=True)
    best = min(v["seconds"] for k, v in out.items() if k != "default")
    out["default_vs_best"] = out["default"]["seconds"] / best
    return out


# -- NVDEC alone -----------------------------------------------------------------------


def keyframes(clip: Path) -> list[int]:
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        return sorted(p.pts for p in c.demux(s) if p.is_keyframe and p.pts is not None)


def nvdec_throughput(clip: Path, decoders: int, threads: int = 1, seconds: float = 2.5, cuda: bool = True) -> dict:
    """Frames a second from `decoders` decoders side by side, frames kept on the device,
    each on GOPs of its own (decoder k takes GOPs k, k + n, ...: disjoint ranges), each
    decoding its GOPs over and over for `seconds`, so none waits on another's last GOP;
    opening not counted (each decodes its first keyframe before the clock starts).
    `cuda=False`: the same on the CPU's decoders (a dry run of this code)."""
    from stillframe.devices import hwaccel_for

    keys = keyframes(clip)
    n = max(1, min(decoders, len(keys)))
    mine = [[(keys[g], keys[g + 1] if g + 1 < len(keys) else None) for g in range(k, len(keys), n)] for k in range(n)]
    barrier = threading.Barrier(n + 1)
    counts = [0] * n
    errors: list[str] = []
    opened = [0.0] * n
    stop = [0.0]

    def work(k: int) -> None:
        try:
            began = time.perf_counter()
            hw = hwaccel_for("cuda", resident=True) if cuda else None
            with av.open(str(clip), hwaccel=hw) as c:
                s = c.streams.video[0]
                cc = s.codec_context
                if threads > 1:
                    cc.thread_count, cc.thread_type = threads, "FRAME"
                c.seek(mine[k][0][0], stream=s)
                cc.decode(next(p for p in c.demux(s) if p.size))
                cc.decode(None)
                cc.flush_buffers()
                opened[k] = time.perf_counter() - began
                barrier.wait()
                done = 0
                while time.perf_counter() < stop[0]:
                    for start, end in mine[k]:
                        c.seek(start, stream=s)
                        cc.flush_buffers()
                        for p in c.demux(s):
                            if not p.size or (end is not None and p.is_keyframe and p.pts is not None and p.pts >= end):
                                break
                            done += len(cc.decode(p))
                            if time.perf_counter() >= stop[0]:
                                break
                        if time.perf_counter() >= stop[0]:
                            break
                counts[k] = done
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            barrier.abort()

    workers = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for t in workers:
        t.start()
    stop[0] = time.perf_counter() + 3600
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    started = time.perf_counter()
    stop[0] = started + seconds
    for t in workers:
        t.join()
    wall = time.perf_counter() - started
    total = sum(counts)
    return {
        "decoders": n,
        "threads": threads,
        "frames": total,
        "seconds": wall,
        "device": "cuda" if cuda else "cpu",
        "fps": total / wall if wall > 0 else 0.0,
        "open_s": opened,
        "errors": errors,
    }


# -- JPEG agreement --------------------------------------------------------------------


def _rgb(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.float64)


def _agree(a: bytes, b: bytes) -> tuple[float, float]:
    d = _rgb(a) - _rgb(b)
    return float(np.abs(d).mean()), float(10 * np.log10(255**2 / max(float((d**2).mean()), 1e-9)))


def agreement(clip: Path, seconds: float, device: str | None) -> dict[str, Any]:
    """The device's JPEGs against the CPU path's, decoded back, beside the same for
    Pillow's JPEG of the CPU path's own pixels (two encoders, one picture). Without a
    GPU the device pipeline runs on CPU tensors (libjpeg, 4:2:0, instead of nvJPEG)."""
    from PIL import Image

    if device is None and _gpu.torch_missing():
        return {"why": f"not measured: {_gpu.torch_missing()}"}
    times = [seconds * (i + 0.5) / 10 for i in range(10)]
    with sf.open(clip) as v:
        cpu = v.frames_at(times, width=WIDTH)
    if device is not None:
        with sf.open(clip, device=device) as v:
            theirs = [f.to_jpeg(QUALITY) for f in v.frames_at(times, width=WIDTH)]
        where = f"{device} (nvJPEG, 4:4:4)"
    else:
        from stillframe._gpu import pixels

        want = {f.pts for f in cpu}
        raw = {}
        with av.open(str(clip)) as c:
            for frame in c.decode(video=0):
                if frame.pts in want:
                    raw[frame.pts] = frame.reformat(format="nv12")
                if len(raw) == len(want):
                    break
        theirs = pixels.encode_jpegs([pixels.picture(raw[f.pts], f._geometry) for f in cpu], QUALITY)
        where = "CPU tensors (libjpeg, 4:2:0)"
    ours = [_agree(f.to_jpeg(QUALITY), t) for f, t in zip(cpu, theirs)]
    base = []
    for f in cpu:
        out = io.BytesIO()
        Image.fromarray(f.to_ndarray("rgb24")).save(out, "JPEG", quality=QUALITY)
        base.append(_agree(f.to_jpeg(QUALITY), out.getvalue()))
    mad, psnr = np.mean(ours, axis=0)
    bmad, bpsnr = np.mean(base, axis=0)
    return {
        "pipeline": where,
        "frames": len(ours),
        "mad": mad,
        "psnr": psnr,
        "min_psnr": min(p for _, p in ours),
        "two_encoders_mad": bmad,
        "two_encoders_psnr": bpsnr,
    }


# -- torchcodec -----------------------------------------------------------------------


def torchcodec_rows(clip: Path, seconds: float, reps: int) -> dict[str, Any]:
    try:
        import torch
        import torch.nn.functional as F
        from torchcodec.decoders import VideoDecoder
        from torchvision.io import encode_jpeg
    except Exception as exc:  # its wheel needs FFmpeg's shared libraries, which may not be there
        return {"available": False, "why": f"{type(exc).__name__}: {exc}"}
    if not torch.cuda.is_available():
        return {"available": False, "why": "PyTorch sees no CUDA device"}
    out: dict[str, Any] = {"available": True}
    for name, spec in list(jobs(seconds).items())[:2]:
        times = tuple(spec["sampling"].resolve(seconds).times)

        def once(times: tuple[float, ...] = times) -> int:
            dec = VideoDecoder(str(clip), device="cuda", seek_mode="exact")
            batch = dec.get_frames_played_at(list(times)).data
            h = round(batch.shape[2] * WIDTH / batch.shape[3] / 2) * 2
            small = F.interpolate(batch.float(), size=(h, WIDTH), mode="area").round().clamp(0, 255).byte()
            return sum(len(j) for j in encode_jpeg(list(small), quality=QUALITY))

        try:
            once()
            out[name] = statistics.median(timed(once)[0] for _ in range(reps))
        except Exception as exc:
            out[name] = f"failed: {type(exc).__name__}: {exc}"
    return out


# -- the report -------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "cores": cpu_count(),
        "pyav": av.__version__,
        "ffmpeg": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
    }
    try:
        import torch
        import torchvision

        env["torch"], env["torchvision"] = torch.__version__, torchvision.__version__
        if torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
            from stillframe._gpu.engines import nvdec_engines

            env["nvdec_engines"], env["engines_from"] = nvdec_engines(0)
    except Exception as exc:
        env["torch"] = f"not importable: {exc}"
    return env


def fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def markdown(data: dict[str, Any]) -> str:
    env = data["environment"]
    lines = [
        f"# stillframe on {env.get('gpu', 'no GPU')}, {env['cores']} cores",
        "",
        f"Clip: {data['clip']}. PyAV {env['pyav']} (libavcodec {env['ffmpeg']}), torch {env.get('torch')}, "
        f"torchvision {env.get('torchvision', '-')}. NVDEC engines: {env.get('nvdec_engines', '-')} "
        f"({env.get('engines_from', '-')}). Median of {data['reps']} runs after a warm-up, in process, seconds.",
        "",
    ]
    if data.get("cuda_missing"):
        lines += [f"**No device rows**: {data['cuda_missing']}", ""]
    devices = data["devices"]
    head = "| job | " + " | ".join(devices) + " | cuda/cpu (goal) | auto/cpu | cuda exact | auto chose |"
    lines += ["## Jobs", "", head, "|" + " --- |" * (len(devices) + 5)]
    for r in data["jobs"]:
        cells = [fmt(r["times"].get(d)) for d in devices]
        ratio = f"{fmt(r.get('cuda/cpu'), 2)} (<= {r['goal']})"
        lines.append(
            f"| {r['job']} | " + " | ".join(cells) + f" | {ratio} | {fmt(r.get('auto/cpu'), 2)} | "
            f"{fmt(r.get('cuda exact'))} | {r['chose'].get('auto', '-')} |"
        )
    if data.get("nvdec"):
        where = data["nvdec"][0].get("device", "cuda") if data["nvdec"] else "cuda"
        title = "NVDEC throughput, frames on the device" if where == "cuda" else "Decoder throughput (CPU: a dry run)"
        lines += [
            "",
            f"## {title} (goal >= {THROUGHPUT_GOAL} fps)",
            "",
            "| decoders | frame threads | frames | seconds | fps | open (s, each) | errors |",
            "| ---: | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for r in data["nvdec"]:
            opens = ", ".join(f"{x:.2f}" for x in r["open_s"])
            lines.append(
                f"| {r['decoders']} | {r['threads']} | {r['frames']} | {r['seconds']:.3f} | "
                f"{r['fps']:.0f} | {opens} | {'; '.join(r['errors']) or '-'} |"
            )
    curve = data["workers"]
    lines += [
        "",
        "## The CPU's decoders (30 exact, every 2 s)",
        "",
        "| workers | decoders used | seconds |",
        "| --- | ---: | ---: |",
    ]
    for k, v in curve.items():
        if isinstance(v, dict):
            lines.append(f"| {k} | {v['decoders']} | {v['seconds']:.3f} |")
    if curve["default_vs_best"] == curve["default_vs_best"]:  # not NaN: measured
        lines.append(f"\nDefault against the best count: {curve['default_vs_best']:.2f}x (goal <= 1.10).")
    a = data["agreement"]
    if "mad" in a:
        lines += [
            "",
            "## JPEG agreement (decoded back, 480 px, quality 85)",
            "",
            f"Device pipeline on {a['pipeline']} against the CPU path: mean absolute difference "
            f"{a['mad']:.2f}, PSNR {a['psnr']:.1f} dB (lowest {a['min_psnr']:.1f}); Pillow's JPEG of the CPU "
            f"path's own pixels against the CPU path: {a['two_encoders_mad']:.2f}, "
            f"{a['two_encoders_psnr']:.1f} dB ({a['frames']} frames).",
        ]
    else:
        lines += ["", f"## JPEG agreement\n\n{a.get('why')}"]
    tc = data["torchcodec"]
    lines += ["", "## torchcodec (CUDA decoder, same resize and nvJPEG)", ""]
    if tc.get("available"):
        lines += [f"- {k}: {fmt(v)} s" for k, v in tc.items() if k != "available"]
    else:
        lines.append(f"Not measured: {tc['why']}")
    if data.get("auto_costs"):
        lines += ["", "## What auto weighs here", "", "```json", json.dumps(data["auto_costs"], indent=1), "```"]
    return "\n".join(lines) + "\n"


def stage(name: str, data: dict[str, Any], fn: Callable[[], Any]) -> Any:
    """Run one part; a failure is recorded and the rest still runs."""
    print(f"[{time.strftime('%H:%M:%S')}] {name}", file=sys.stderr, flush=True)
    try:
        return fn()
    except Exception as exc:
        data.setdefault("failures", []).append(f"{name}: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        return None


def _save(out: Path, data: dict[str, Any]) -> None:
    """What has been measured so far, so that a run cut off by its time limit still tells."""
    (out / "gpu.json").write_text(json.dumps(data, indent=1, default=str))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="folder for gpu.md and gpu.json (default: a new temporary one)")
    ap.add_argument("--clip", type=Path, help="the clip (made there if missing)")
    ap.add_argument("--reps", type=int, default=3, help="timed runs a cell (median)")
    ap.add_argument("--quick", action="store_true", help="a 10 s 720p clip, one run: a dry run")
    ap.add_argument("--make-clip", action="store_true", help="only make the clip")
    ap.add_argument("--skip", default="", help="parts to leave out, comma separated: jobs,nvdec,workers,agreement")
    args = ap.parse_args(argv)
    seconds, size = (10.0, (1280, 720)) if args.quick else (60.0, (1920, 1080))
    reps = 1 if args.quick else max(1, args.reps)
    CACHE.mkdir(exist_ok=True)
    clip = args.clip or CACHE / f"gpu-{size[1]}p30-gop250-{seconds:g}s.mp4"
    make_clip(clip, seconds, size)
    if args.make_clip:
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="stillframe-gpu-"))
    out.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    missing = cuda_missing()
    devices = ["cpu", "auto"] if missing else ["cpu", "cuda", "auto"]
    data: dict[str, Any] = {
        "clip": f"{clip.name}, {seconds:g} s {size[0]}x{size[1]} 30 fps H.264 GOP 250 3 B-frames",
        "reps": reps,
        "devices": devices,
        "cuda_missing": missing,
        "environment": environment(),
    }
    data["auto_costs"] = stage("what auto weighs", data, _calibration.for_auto)
    _save(out, data)
    with tempfile.TemporaryDirectory(prefix="stillframe-gpu-out-") as tmp:
        if "jobs" not in skip:
            data["jobs"] = stage("jobs", data, lambda: job_rows(clip, seconds, devices, reps, Path(tmp))) or []
            # A cell that failed fails the run too (its row still shows what was measured).
            data.setdefault("failures", []).extend(
                f"jobs: {row['job']} [{device}]: {chose}"
                for row in data["jobs"]
                for device, chose in row["chose"].items()
                if str(chose).startswith("failed:")
            )
            _save(out, data)
        if "nvdec" not in skip and not (missing and not args.quick):
            # Without CUDA (a dry run) the same code runs on the CPU's decoders, briefly.
            plan = [(n, 1) for n in range(1, 8)] + [(7, 2)] if not missing else [(1, 1), (2, 1)]
            span = 1.0 if missing else 2.5
            runs = [
                stage(f"nvdec {n}x{t}", data, lambda n=n, t=t: nvdec_throughput(clip, n, t, span, not missing))
                for n, t in plan
            ]
            data["nvdec"] = [r for r in runs if r]
            _save(out, data)
        if "workers" not in skip:
            data["workers"] = stage("cpu workers", data, lambda: workers_curve(clip, seconds, reps, Path(tmp))) or {
                "default_vs_best": float("nan")
            }
    _save(out, data)
    if "agreement" not in skip:
        data["agreement"] = stage(
            "jpeg agreement", data, lambda: agreement(clip, seconds, None if missing else "cuda")
        ) or {"why": "failed"}
    data["torchcodec"] = stage("torchcodec", data, lambda: torchcodec_rows(clip, seconds, reps)) or {
        "available": False,
        "why": "failed",
    }
    data.setdefault("jobs", [])
    data.setdefault("workers", {"default_vs_best": float("nan")})
    data.setdefault("agreement", {"why": "left out"})
    (out / "gpu.json").write_text(json.dumps(data, indent=1, default=str))
    (out / "gpu.md").write_text(markdown(data))
    print(markdown(data))
    print(f"written to {out}", file=sys.stderr)
    return 1 if data.get("failures") else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
