"""Hardware decoding: which devices this machine and this PyAV build can use, and
the backend a video decodes on.

A device is named "cpu", "auto", or a kind with an optional device after a colon:
"cuda", "cuda:1", "vaapi:/dev/dri/renderD129", "qsv", "videotoolbox", "d3d11va".
A kind decodes a codec through FFmpeg's hwaccel for it (NVDEC for cuda) or,
failing that, through a dedicated decoder ("h264_qsv", "h264_cuvid"). Probing a
device opens it once per process; the answer, with FFmpeg's own words when it
fails, is cached.
"""

from __future__ import annotations

import functools
import platform
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import av
import av.logging
from av.codec.hwaccel import HWAccel, hwdevices_available

from stillframe.errors import InvalidParameter

__all__ = ["KINDS", "Backend", "DeviceSpec", "HardwareReport", "forget", "hardware", "parse_device", "select"]

KINDS = ("cuda", "vaapi", "qsv", "videotoolbox", "d3d11va")
# Codecs the report covers (FFmpeg decoder names).
CODECS = ("h264", "hevc", "av1", "vp9", "vp8", "mpeg2video", "mpeg4", "vc1", "mjpeg")
# Dedicated decoders: <base>_<suffix>, with FFmpeg's base names where they differ.
_SUFFIX = {"cuda": "cuvid", "qsv": "qsv"}
_BASE = {"mpeg2video": "mpeg2", "mpeg1video": "mpeg1"}


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device: `kind` is "cpu", "auto" or one of KINDS; `device` the part
    after the colon (a CUDA index, a DRI render node), if any."""

    kind: str = "cpu"
    device: str | None = None

    def __str__(self) -> str:
        return self.kind if self.device is None else f"{self.kind}:{self.device}"

    @property
    def hardware(self) -> bool:
        """Whether a device other than the CPU is asked for ("auto" included)."""
        return self.kind != "cpu"


def parse_device(device: str | DeviceSpec | None) -> DeviceSpec:
    """`None`/"cpu", "auto", "cuda", "cuda:1", "vaapi:/dev/dri/renderD128", ...;
    InvalidParameter for anything else."""
    if device is None:
        return DeviceSpec()
    if isinstance(device, DeviceSpec):
        return device
    if not isinstance(device, str):
        raise InvalidParameter(f"device must be a string such as 'cpu', 'auto' or 'cuda:0', not {device!r}")
    text = device.strip().lower()
    kind, sep, rest = text.partition(":")
    choices = ("cpu", "auto", *KINDS)
    if kind not in choices:
        raise InvalidParameter(f"device {device!r}: the kind must be one of {', '.join(choices)}")
    if not sep:
        return DeviceSpec(kind)
    rest = device.strip()[len(kind) + 1 :]
    if kind in ("cpu", "auto") or not rest:
        raise InvalidParameter(f"device {device!r}: only a hardware kind takes a device after ':'")
    if kind == "cuda" and not (rest.isdigit() and len(rest) < 4):
        raise InvalidParameter(f"device {device!r}: a CUDA device is a GPU index, such as cuda:1")
    return DeviceSpec(kind, rest)


def auto_order() -> tuple[str, ...]:
    """The kinds "auto" tries, in order, on this platform."""
    system = platform.system()
    if system == "Darwin":
        return ("videotoolbox",)
    if system == "Windows":
        return ("cuda", "d3d11va", "qsv")
    return ("cuda", "vaapi", "qsv")


@dataclass(frozen=True)
class Backend:
    """How a stream decodes: `method` "hwaccel" (FFmpeg's decoder with the device
    attached; skip_frame honoured) or "decoder" (a dedicated decoder such as
    h264_qsv; decodes every packet it is given)."""

    kind: str
    method: str
    decoder: str  # FFmpeg decoder name
    device: str | None = None

    @property
    def label(self) -> str:
        """What a frame's `decoder` says when this backend produced it."""
        return f"{self.decoder} ({self.kind})" if self.method == "hwaccel" else self.decoder

    def hwaccel(self, resident: bool = False) -> HWAccel:
        """A PyAV HWAccel for this backend's device, with FFmpeg's own software fallback off: a frame the device
        cannot decode fails where it is seen, so the fallback is ours and recorded. `resident`: frames stay on
        the device (CUDA only), for the pixel work there."""
        return hwaccel_for(self.kind, self.device, resident)


def hwaccel_for(kind: str, device: str | None = None, resident: bool = False) -> HWAccel:
    """The HWAccel every decoder of `kind` opens with. CUDA decoders share the device's
    primary context (the one PyTorch uses too), so a process holds one context however
    many decoders it opens, and a frame kept on the device is readable by PyTorch."""
    options: dict[str, object] | None = {"primary_ctx": "1"} if kind == "cuda" else None
    return HWAccel(
        kind, device=device, allow_software_fallback=False, options=options, is_hw_owned=resident and kind == "cuda"
    )


_log_lock = threading.Lock()  # FFmpeg's log level is process-wide; guards the probes too


@functools.cache
def built_kinds() -> tuple[str, ...]:
    """Device types the FFmpeg under PyAV was built with."""
    return tuple(hwdevices_available())


def dedicated_decoder(kind: str, codec: str) -> str | None:
    suffix = _SUFFIX.get(kind)
    if suffix is None:
        return None
    name = f"{_BASE.get(codec, codec)}_{suffix}"
    return name if name in av.codecs_available else None


def has_hwaccel(kind: str, codec: str) -> bool:
    try:
        configs = av.codec.Codec(codec, "r").hardware_configs
    except Exception:
        return False
    return any(c.device_type.name == kind and c.is_supported for c in configs)


def backend_for(kind: str, codec: str, device: str | None = None) -> Backend | None:
    """The backend `kind` would decode `codec` with (hwaccel preferred), or None."""
    if has_hwaccel(kind, codec):
        return Backend(kind, "hwaccel", codec, device)
    name = dedicated_decoder(kind, codec)
    return Backend(kind, "decoder", name, device) if name else None


def _ffmpeg_words(exc: BaseException, lines: list[Any]) -> str:
    said = [str(line[2]).strip() for line in lines if len(line) > 2 and str(line[2]).strip()]
    text = "; ".join(dict.fromkeys(said))
    base = getattr(exc, "strerror", None) or str(exc)
    return f"{base} ({text})" if text else base


_probed: dict[tuple[str, str | None], str | None] = {}
# Device contexts that opened, held for the life of the process: a CUDA primary
# context released by its last holder would be made again (0.1-0.3 s) by the next.
_held: dict[tuple[str, str | None], HWAccel] = {}


def open_device(kind: str, device: str | None = None) -> str | None:
    """None when a `kind` device opens here, else why not (FFmpeg's words). Probed
    once a process for each (kind, device): the report and every later error give
    the same reason, with the words FFmpeg logged the one time it was asked."""
    key = (kind, device)
    with _log_lock:
        if key not in _probed:
            _probed[key] = _probe(kind, device)
        return _probed[key]


def forget() -> None:
    """Probe every device again when next asked (a device plugged in, tests)."""
    with _log_lock:
        _probed.clear()
        _held.clear()


def _probe(kind: str, device: str | None) -> str | None:
    """Open a `kind` device once (called under _log_lock); None, or why not."""
    if kind not in built_kinds():
        return f"the FFmpeg in this PyAV build has no {kind} support (it has: {', '.join(built_kinds()) or 'none'})"
    codec = next((c for c in CODECS if has_hwaccel(kind, c)), None)
    name = codec or next((d for c in CODECS if (d := dedicated_decoder(kind, c))), None)
    if name is None:
        return f"no decoder in this PyAV build uses {kind}"
    # FFmpeg says why a device fails only through its log, which PyAV keeps off; and
    # PyAV holds back a line that repeats the one before, so every line is let through.
    previous, repeats = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)
    av.logging.set_skip_repeated(False)
    try:
        with av.logging.Capture(True) as lines:
            try:
                _held[(kind, device)] = hwaccel_for(kind, device).create(av.codec.Codec(name, "r"))
            except Exception as exc:  # PyAV raises OSError subclasses or NotImplementedError
                return f"no {kind} device could be opened: {_ffmpeg_words(exc, lines)}"
    finally:
        av.logging.set_skip_repeated(repeats)
        av.logging.set_level(previous)
    return None


@dataclass(frozen=True)
class Selection:
    """The backend chosen for a codec on a device spec, or None with the reason."""

    backend: Backend | None
    reason: str | None = None


def select(spec: DeviceSpec, codec: str) -> Selection:
    """The hardware backend for `codec` on `spec`: the first usable kind for "auto",
    the named one otherwise. Never raises for an unusable device: says why."""
    if not spec.hardware:
        return Selection(None, "the CPU was asked for")
    kinds = auto_order() if spec.kind == "auto" else (spec.kind,)
    reasons = []
    for kind in kinds:
        if kind not in built_kinds():
            reasons.append(f"{kind}: {open_device(kind)}")
            continue
        backend = backend_for(kind, codec, spec.device if spec.kind != "auto" else None)
        if backend is None:
            reasons.append(f"{kind}: this PyAV build cannot decode {codec} on {kind}")
            continue
        why = open_device(kind, backend.device)
        if why is not None:
            reasons.append(f"{kind}: {why}")
            continue
        return Selection(backend)
    return Selection(None, "; ".join(reasons))


@dataclass
class HardwareReport:
    """What this machine and this PyAV build can decode on. `devices[kind]` has
    `built` (in FFmpeg), `usable` (a device opened) and `reason` when not;
    `codecs[codec][kind]` names the backend (hwaccel or dedicated decoder) and
    whether it can run here; `auto` is the kind "auto" picks for H.264, if any."""

    pyav: str
    ffmpeg: str  # FFmpeg's own version ("7.1.1"), as `ffmpeg -version` says it
    libavcodec: str  # the decoders' library version ("61.19.101")
    built: list[str]
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    codecs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    auto: str | None = None
    auto_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values, by name."""
        return asdict(self)

    def usable(self) -> list[str]:
        """The device kinds that opened here."""
        return [k for k, d in self.devices.items() if d["usable"]]


def hardware() -> HardwareReport:
    """Probe every device kind (opening each once) and every common codec."""
    report = HardwareReport(
        pyav=av.__version__,
        ffmpeg=str(getattr(av, "ffmpeg_version_info", "") or "unknown"),
        libavcodec=".".join(str(x) for x in av.library_versions.get("libavcodec", ())),
        built=list(built_kinds()),
    )
    for kind in KINDS:
        why = open_device(kind)
        report.devices[kind] = {"built": kind in built_kinds(), "usable": why is None, "reason": why}
    for codec in CODECS:
        row: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            backend = backend_for(kind, codec)
            if backend is None:
                continue
            usable = report.devices[kind]["usable"]
            row[kind] = {
                "method": backend.method,
                "decoder": backend.decoder,
                "usable": usable,
                "reason": None if usable else report.devices[kind]["reason"],
            }
        report.codecs[codec] = row
    chosen = select(DeviceSpec("auto"), "h264")
    report.auto = chosen.backend.kind if chosen.backend else None
    report.auto_reason = chosen.reason
    return report
