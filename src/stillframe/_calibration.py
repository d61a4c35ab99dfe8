"""What this machine does, measured the first time `auto` has a device to weigh and
kept on disk: the CPU's decoding rate (one thread, and every core on one decoder),
its cost of starting a group and of a picture; the device's cost of opening a
decoder (the first in a process, then each further one), its rate alone and two
side by side, its cost of starting a group and of a picture. `auto` weighs each
request with them (_cost.choose).

Measured on a small generated clip (48 frames of 720p H.264, two GOPs, about two
seconds in all), and cached as JSON in the user's cache folder (STILLFRAME_CACHE_DIR,
else XDG_CACHE_HOME or ~/.cache, under stillframe/), one file for each machine,
device, driver and PyAV build: a new driver or GPU is measured again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import av

from stillframe import __version__
from stillframe._cost import Costs
from stillframe._native import cpu_count
from stillframe.decode import standalone_context
from stillframe.devices import Backend

__all__ = ["cache_dir", "costs", "for_auto", "forget", "measure"]

CLIP = {"frames": 48, "size": (1280, 720), "gop": 24, "bframes": 2}
OUT_WIDTH = 480  # the pictures measured: 480 px wide JPEGs, as most snapshots are
PICTURES = 6

_lock = threading.Lock()
_known: dict[str, tuple[Costs, str | None]] = {}


def cache_dir() -> Path:
    """Where measurements are kept: STILLFRAME_CACHE_DIR, else the platform's user cache folder."""
    named = os.environ.get("STILLFRAME_CACHE_DIR")
    if named:
        return Path(named)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "stillframe"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "stillframe" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stillframe"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _device_name(backend: Backend) -> str:
    """The GPU and its driver, where they can be read (NVML, then PyTorch)."""
    if backend.kind == "cuda":
        with contextlib.suppress(Exception):
            import pynvml

            pynvml.nvmlInit()
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(int(backend.device or 0))
                name, driver = pynvml.nvmlDeviceGetName(handle), pynvml.nvmlSystemGetDriverVersion()
                return f"{name!s} (driver {driver!s})"
            finally:
                pynvml.nvmlShutdown()
        with contextlib.suppress(Exception):
            import torch

            return f"{torch.cuda.get_device_name(int(backend.device or 0))} (CUDA {torch.version.cuda})"
    return backend.label


def machine(backend: Backend, resident: bool) -> dict[str, Any]:
    """What a measurement holds for: this machine, the device and its driver, the builds."""
    return {
        "cpu": _cpu_model(),
        "cores": cpu_count(),
        "system": platform.platform(),
        "device": _device_name(backend),
        "backend": backend.label,
        "at": backend.device,
        "resident": resident,
        "pyav": av.__version__,
        "ffmpeg": ".".join(str(x) for x in av.library_versions.get("libavcodec", ())),
        "stillframe": __version__,
    }


def _path(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"costs-{digest}.json"


def _load(path: Path, key: dict[str, Any]) -> Costs | None:
    try:
        data = json.loads(path.read_text())
        if data.get("machine") != key:
            return None
        names = {f.name for f in fields(Costs)}
        return Costs(**{k: v for k, v in data["costs"].items() if k in names})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _save(path: Path, key: dict[str, Any], costs: Costs) -> None:
    """Written whole or not at all (a temporary, then a rename); a folder that cannot
    be written leaves the measurement in this process only."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".costs-", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump({"machine": key, "costs": costs.to_dict(), "measured": time.time()}, fh, indent=1)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def costs(backend: Backend, resident: bool) -> tuple[Costs, str | None]:
    """This machine's Costs with `backend` as the device: from this process, from
    the cache folder, else measured now (once; kept). When the device fails to be
    measured, Costs with no device and why."""
    key = machine(backend, resident)
    name = json.dumps(key, sort_keys=True)
    with _lock:
        if name in _known:
            return _known[name]
        path = _path(key)
        found = _load(path, key)
        if found is not None:
            _known[name] = (found, None)
            return _known[name]
        got, why = measure(backend, resident)
        if why is None:
            _save(path, key, got)
        _known[name] = (got, why)
        return _known[name]


def forget() -> None:
    """Forget this process's measurements (the cache folder is left as it is)."""
    with _lock:
        _known.clear()


# -- measuring -----------------------------------------------------------------------


def _decode_all(cc: Any, packets: list[av.Packet]) -> int:
    n = 0
    for p in packets:
        n += len(cc.decode(p))
    n += len(cc.decode(None))
    cc.flush_buffers()
    return n


def _rate(cc: Any, packets: list[av.Packet], pixels: int) -> float:
    """Pixels a second `cc` decodes, over every packet."""
    started = time.perf_counter()
    n = _decode_all(cc, packets)
    return n * pixels / max(time.perf_counter() - started, 1e-6)


def _gain(one: float, many: float, n: int) -> float:
    """The exponent g with many = one * n ** g (clamped to 0.2..1)."""
    if n <= 1 or one <= 0 or many <= 0:
        return 1.0
    return min(1.0, max(0.2, math.log(many / one) / math.log(n)))


def _cpu(path: Path, packets: list[av.Packet], stream: Any, pixels: int, cores: int) -> dict[str, Any]:
    cpu = Backend("cpu", "decoder", stream.codec_context.name)
    one = standalone_context(stream, cpu)
    one_rate = _rate(one, packets, pixels)
    every = av.codec.CodecContext.create(stream.codec_context.name, "r")
    every.extradata = stream.codec_context.extradata
    every.thread_count, every.thread_type = cores, "AUTO"
    all_rate = _rate(every, packets, pixels)
    seek = _seek_cost(one, packets)
    with av.open(str(path)) as container:
        frames = [f for _, f in zip(range(PICTURES), container.decode(video=0))]
    started = time.perf_counter()
    from stillframe.jpeg import encode_jpegs

    height = round(frames[0].height * OUT_WIDTH / frames[0].width / 2) * 2
    small = [f.reformat(width=OUT_WIDTH, height=height, format="yuv420p", interpolation="AREA") for f in frames]
    encode_jpegs(small, threads=1)
    picture = (time.perf_counter() - started) / len(frames) / (OUT_WIDTH * height / 1e6)
    return {"cpu_pps": one_rate, "cpu_gain": _gain(one_rate, all_rate, cores), "cpu_seek": seek, "cpu_picture": picture}


def _seek_cost(cc: Any, packets: list[av.Packet]) -> float:
    """Seconds to start a group: a flush and a keyframe decoded, less a frame's share."""
    keys = [p for p in packets if p.is_keyframe] or packets[:1]
    started = time.perf_counter()
    for p in keys * 2:
        cc.flush_buffers()
        cc.decode(p)
        cc.decode(None)
    cc.flush_buffers()
    return (time.perf_counter() - started) / (2 * len(keys))


def _device(stream: Any, packets: list[av.Packet], pixels: int, backend: Backend, resident: bool) -> dict[str, Any]:
    started = time.perf_counter()
    first = standalone_context(stream, backend, resident)
    if not first.decode(packets[0]) and not first.decode(None):
        raise RuntimeError(f"{backend.label} opened but gave no frame")
    first.flush_buffers()
    opened = time.perf_counter() - started
    started = time.perf_counter()
    second = standalone_context(stream, backend, resident)
    second.decode(packets[0])
    second.decode(None)
    second.flush_buffers()
    more = time.perf_counter() - started
    one_rate = _rate(first, packets, pixels)
    with ThreadPoolExecutor(2) as pool:
        begun = time.perf_counter()
        counts = list(pool.map(lambda cc: _decode_all(cc, packets), (first, second)))
        two_rate = sum(counts) * pixels / max(time.perf_counter() - begun, 1e-6)
    seek = _seek_cost(first, packets)
    picture = _device_pictures(first, packets, stream, resident)
    return {
        "dev_pps": one_rate,
        "dev_gain": _gain(one_rate, two_rate, 2),
        "dev_open": opened,
        "dev_open_more": more,
        "dev_seek": seek,
        "dev_picture": picture,
    }


def _device_pictures(cc: Any, packets: list[av.Packet], stream: Any, resident: bool) -> float:
    """Seconds a megapixel of output: frames made pictures and JPEGs where they are."""
    frames = []
    for p in packets:
        frames += cc.decode(p)
        if len(frames) >= PICTURES:
            break
    cc.flush_buffers()
    from stillframe.geometry import plan_geometry

    geo = plan_geometry(frames[0].width, frames[0].height, 0, width=OUT_WIDTH)
    started = time.perf_counter()
    if resident:
        from stillframe._gpu.pixels import encode_jpegs as device_jpegs
        from stillframe._gpu.pixels import picture

        device_jpegs([picture(f, geo) for f in frames], 85)
    else:
        from stillframe.geometry import scale
        from stillframe.jpeg import encode_jpegs

        encode_jpegs([scale(f, geo) for f in frames], threads=1)
    return (time.perf_counter() - started) / len(frames) / (geo.width * geo.height / 1e6)


def measure(backend: Backend, resident: bool) -> tuple[Costs, str | None]:
    """Measure this machine now (see the module): Costs, and why the device could
    not be measured (None when it was)."""
    from stillframe import testsrc

    cores = cpu_count()
    with tempfile.TemporaryDirectory(prefix="stillframe-calibration-") as tmp:
        path = testsrc.make_video(Path(tmp) / "clip.mp4", options={"preset": "veryfast"}, **CLIP)  # type: ignore[arg-type]
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            packets = [p for p in container.demux(stream) if p.size]
            pixels = stream.codec_context.width * stream.codec_context.height
            cpu = _cpu(path, packets, stream, pixels, cores)
            try:
                dev = _device(stream, packets, pixels, backend, resident)
            except Exception as exc:  # the device opened when probed but cannot decode here
                return Costs(cores, **cpu), f"{backend.label} could not be set up: {exc}"
    return Costs(cores, device=backend.label, **cpu, **dev), None


def for_auto() -> dict[str, Any]:
    """What auto weighs here, measured now if not known yet (`stillframe hw --measure`):
    the device it would use, this machine's Costs, where they are kept, or why there is no device."""
    from stillframe._decoders import DecoderPool
    from stillframe.devices import DeviceSpec, select

    chosen = select(DeviceSpec("auto"), "h264")
    if chosen.backend is None:
        return {"device": None, "why": chosen.reason}
    backend = chosen.backend
    resident = DecoderPool._resident(backend)
    got, why = costs(backend, resident)
    out: dict[str, Any] = {"device": backend.label, "frames_on_device": resident, "why": why, "costs": got.to_dict()}
    if backend.kind == "cuda":
        from stillframe._gpu.engines import nvdec_engines

        out["nvdec_engines"], out["engines_from"] = nvdec_engines(int(backend.device or 0))
    out["kept_in"] = str(_path(machine(backend, resident)))
    return out
