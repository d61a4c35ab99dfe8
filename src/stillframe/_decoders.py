"""The decoder pool of one video: software decoders, and a device's when one is
asked for and works; a group a device fails on is decoded again on the CPU (its
frames then say why), or raises when no fallback is allowed.

    DecoderPool   lanes of decoders in the order they are tried, the device's first
    Decoding      what decodes, as asked and as it turned out

A lane is a Pool of GroupDecoders of one backend. Every decoder has a container of
its own on the source; the CPU lane also lends its decoders for reading (an index
reads a unit's packets on one, then decodes them on whichever lane decodes).

The device lane's codec contexts come from the process's pool (_shared): kept
across requests and Videos of the same codec, size and parameter sets, each fed
the packets its Video demuxes on the CPU. On CUDA, with PyTorch there, frames stay
on the GPU and are worked on there (the lane is `resident`: _gpu).

Each request says what it is (a _cost.Job) before it is decoded: the CPU lane
sizes itself to it (decoders and frame threads), and `auto` chooses the device or
the CPU for it from what this machine was measured to do (_calibration).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from typing import Any, Protocol

import av

from stillframe import _cost, devices
from stillframe._index import PacketIndex, Rows, time_base_of, video_stream
from stillframe._native import cpu_count
from stillframe._shared import SHARED, DecoderKey
from stillframe._source import Input
from stillframe._workers import Pool
from stillframe.decode import GroupDecoder, GroupResult, configure, standalone_context
from stillframe.errors import HardwareUnavailable, StillframeError
from stillframe.info import VideoInfo
from stillframe.plan import Group

__all__ = ["Convert", "DecoderPool", "Decoding"]

# Hardware decoders at once by default where the device does not say how many
# engines it has: each holds a device context, and the device does the decoding.
HW_WORKERS = 4


@dataclass(frozen=True)
class Decoding:
    """How a Video decodes: `device` as asked, `decoder` the backend in use
    ("h264 (cuda)", "h264_qsv", or the software decoder's name), `fallback`, when
    a device was asked for but the CPU decodes, saying why; `reason`, for "auto",
    what it chose for the last request and why (the two estimates); `on_device`,
    whether frames stay on the GPU (converted and encoded there)."""

    device: str
    decoder: str
    hardware: bool
    fallback: str | None = None
    reason: str | None = None
    on_device: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain values, by name."""
        return asdict(self)


class Convert(Protocol):
    """A decoded frame to what a Frame holds: `__call__` on the CPU (swscale),
    `on_device` for a resident lane's frames (the device pipeline)."""

    def __call__(self, frame: av.VideoFrame, sar: Fraction | None = None) -> Any: ...

    def on_device(self, frame: av.VideoFrame, sar: Fraction | None = None) -> Any: ...


class DecoderPool:
    """Decoders for one video stream, made on demand up to each lane's limit.

    `first` is the decoder on the container the video was opened with (the CPU
    lane's first). `workers` CPU decoders run at once, each with `threads` frame
    threads; `workers=None` sizes the lane to each request (cpu_lanes). With a
    hardware `device`, a device lane is set up and proven on the first keyframe
    (`first_key`); when it cannot be, the CPU decodes (`decoding` says why) unless
    `fallback` is False and the device was named, which raises HardwareUnavailable.
    "auto" sets the device up only when a request is cheaper there. Safe to share
    between threads."""

    def __init__(
        self,
        input: Input,
        first: GroupDecoder,
        *,
        workers: int | None,
        threads: int,
        device: devices.DeviceSpec,
        fallback: bool,
        info: VideoInfo,
        first_key: av.Packet,
        device_workers: int | None = None,
    ) -> None:
        self.input = input
        self.stream_index = first.stream.index
        self.cores = cpu_count()
        self.sized = workers is None  # the CPU lane follows each request
        self.threads = threads
        self.device = device
        self.may_fall_back = fallback or device.kind == "auto"
        self.info = info
        self.first_key = first_key
        self.device_workers = device_workers
        cc = first.stream.codec_context
        self.params = (info.codec, cc.width, cc.height, cc.format.name if cc.format else "", bytes(cc.extradata or b""))
        self.cpu = Pool(lambda: self.open_decoder(None), workers or self.cores, self._close)
        self.cpu.add(first)
        self.hw: Pool | None = None
        self.resident = False
        self.key: DecoderKey | None = None
        self.candidate: devices.Backend | None = None  # auto: the backend a request may choose
        self._lock = threading.Lock()
        self.decoding = Decoding(str(device), info.decoder, False)
        try:
            if device.kind == "auto":
                self._find_candidate()
            elif device.hardware:
                self._start_device(None)
        except BaseException:
            self.close()
            raise

    @property
    def lanes(self) -> int:
        """Decoders at once in the lane that decodes first."""
        return (self.hw or self.cpu).limit

    @property
    def most_lanes(self) -> int:
        """Threads a request may keep busy at most: every CPU decoder, or twice the
        device's decoders (half of them reading ahead on the CPU)."""
        device = 2 * self.device_limit(self.candidate) if self.candidate is not None else 0
        return max(self.cpu.limit, self.cores if self.sized else 0, 2 * self.hw.limit if self.hw else 0, device)

    def borrow(self) -> contextlib.AbstractContextManager[GroupDecoder]:
        """A CPU decoder for the block: its container reads a unit's packets."""
        return self.cpu.borrow()

    def open_decoder(self, backend: devices.Backend | None) -> GroupDecoder:
        """A CPU decoder (or one of `backend`, opened with its own context) on a container of its own."""
        container = self.input.open()
        try:
            stream = video_stream(container, self.stream_index)
            dec = GroupDecoder(container, stream, backend=backend)
            configure(dec.cc, self.threads, backend)
            return dec
        except BaseException:
            self.input.close(container)
            raise

    def _close(self, dec: GroupDecoder) -> None:
        self.input.close(dec.container)

    def close(self) -> None:
        """Close every decoder of every lane; pooled device contexts go back to the process's pool."""
        for pool in (self.cpu, self.hw):
            if pool is not None:
                pool.close()

    # -- what a request runs on ------------------------------------------------------

    def prepare(self, job: _cost.Job) -> bool:
        """Size the CPU lane to `job` and, for "auto", choose where it decodes;
        True when it decodes on the device."""
        if self.sized:
            workers, threads = _cost.cpu_lanes(job.groups, self.cores)
            self.cpu.limit, self.cpu.threads, self.threads = workers, threads, threads
        if self.device.kind != "auto":
            return self.hw is not None
        with self._lock:
            return self._choose(job)

    def _choose(self, job: _cost.Job) -> bool:
        backend = self.candidate
        if backend is None:
            return self.hw is not None
        from stillframe import _calibration

        resident = self._resident(backend)
        costs, why = _calibration.costs(backend, resident)
        if costs.device is None:
            self.candidate = None
            self._fall_back(why or f"{backend.label} could not be measured")
            return False
        costs = replace(costs, cores=self.cores, engines=self.device_limit(backend))
        warm = (len(self.hw.all) if self.hw else 0) or SHARED.idle(self._key_for(backend, resident))
        choice = _cost.choose(job, costs, warm)
        if choice.device and self.hw is None:
            self._start_device(backend)
            if self.hw is None:  # it would not open here: the CPU from now on
                self.candidate = None
                return False
        on = choice.device and self.hw is not None
        label = backend.label if on else self.info.decoder
        self.decoding = Decoding(str(self.device), label, on, None, choice.reason, on and self.resident)
        return on

    def _find_candidate(self) -> None:
        """auto: the backend a request may choose (the first usable kind), or why none (cheap: probed once a process)."""
        if not self.input.reopenable:
            return self._fall_back("a hardware decoder opens the input again, which a file object cannot do")
        chosen = devices.select(self.device, self.info.codec)
        if chosen.backend is None:
            return self._fall_back(chosen.reason or "no device")
        self.candidate = chosen.backend
        self.decoding = Decoding(str(self.device), self.info.decoder, False, None, "chosen for each request by cost")

    # -- the device lane ---------------------------------------------------------------

    @staticmethod
    def _resident(backend: devices.Backend) -> bool:
        """Whether frames of `backend` can stay on the device here (CUDA, with PyTorch)."""
        if backend.kind != "cuda":
            return False
        from stillframe import _gpu

        return _gpu.unavailable(f"cuda:{backend.device or 0}") is None

    def device_limit(self, backend: devices.Backend | None) -> int:
        """Device decoders at once: `workers` when given, else one an NVDEC engine on CUDA."""
        if self.device_workers is not None:
            return max(1, self.device_workers)
        if backend is not None and backend.kind == "cuda":
            from stillframe._gpu.engines import nvdec_engines

            return nvdec_engines(int(backend.device or 0))[0]
        return max(1, min(HW_WORKERS, self.cores))

    def _key_for(self, backend: devices.Backend, resident: bool) -> DecoderKey:
        codec, width, height, pix_fmt, extradata = self.params
        return DecoderKey(backend, resident, codec, width, height, pix_fmt, extradata)

    def _open_device_decoder(self, backend: devices.Backend, key: DecoderKey) -> GroupDecoder:
        """A device decoder: the process's pooled context for `key` (opened if none
        is idle) on a container of this video's own."""
        container = self.input.open()
        try:
            stream = video_stream(container, self.stream_index)
            cc, _ = SHARED.take(key, lambda: standalone_context(stream, backend, key.resident))
            return GroupDecoder(container, stream, backend=backend, cc=cc)
        except BaseException:
            self.input.close(container)
            raise

    def _give_back(self, dec: GroupDecoder) -> None:
        self.input.close(dec.container)
        if self.key is not None:
            SHARED.give(self.key, dec.cc)

    def _start_device(self, backend: devices.Backend | None) -> None:
        """Set the device lane up (`backend`, else the one the device spec selects),
        proven on the first keyframe unless a decoder of its key has decoded here
        before; on failure fall back (recording why) or raise HardwareUnavailable."""
        codec = self.info.codec
        if not self.input.reopenable:
            return self._fall_back("a hardware decoder opens the input again, which a file object cannot do")
        if backend is None:
            chosen = devices.select(self.device, codec)
            if chosen.backend is None:
                return self._fall_back(chosen.reason or "no device")
            backend = chosen.backend
        resident = self._resident(backend)
        key = self._key_for(backend, resident)
        try:
            dec = self._open_device_decoder(backend, key)
        except (StillframeError, av.error.FFmpegError, RuntimeError, OSError, NotImplementedError) as exc:
            return self._fall_back(f"{backend.label} could not be set up: {exc}")
        if not SHARED.proven(key):
            rows = Rows()
            rows.add(self.first_key)
            idx = rows.index(time_base_of(dec.stream))
            trial = dec.run(Group(0, [0], intra=True), lambda f, sar=None: f, idx, [self.first_key])
            if trial.missing:
                self.input.close(dec.container)  # the context is not lent again
                i = self.info
                return self._fall_back(
                    f"{backend.label} opened but did not decode this {codec} stream "
                    f"({i.coded_width}x{i.coded_height} {i.pixel_format})"
                )
            SHARED.prove(key)
        self.key = key
        limit = self.device_limit(backend)
        pool = Pool(lambda: self._open_device_decoder(backend, key), limit, self._give_back)
        self.use_device(pool, dec, resident)
        self.decoding = Decoding(str(self.device), backend.label, True, None, self.decoding.reason, resident)

    def use_device(self, pool: Pool, first: GroupDecoder | None = None, resident: bool = False) -> None:
        """Decode on `pool` first from now on (`first`: a decoder of it, made already;
        `resident`: its frames go through the device pipeline)."""
        if first is not None:
            pool.add(first)
        self.hw = pool
        self.resident = resident

    def _fall_back(self, reason: str) -> None:
        if not self.may_fall_back:
            raise HardwareUnavailable(f"{self.input.name}: device {self.device} cannot decode this video: {reason}")
        self.decoding = Decoding(str(self.device), self.info.decoder, False, reason)

    # -- decoding ------------------------------------------------------------------------

    def decode(
        self,
        group: Group,
        convert: Convert,
        idx: PacketIndex,
        packets: Sequence[av.Packet] | None,
        deadline: float | None,
        device: bool = True,
    ) -> GroupResult:
        """`group` of `idx` decoded: on the device when there is one (and `device`);
        a group it fails on is decoded again on the CPU, its result saying why
        (`fallback`), or HardwareUnavailable when no fallback is allowed. The
        result's stats count both tries."""
        fallback = None
        failed = None
        hw = self.hw if device else None
        if hw is not None:
            on_hw = convert.on_device if self.resident else convert
            result, label = self._run_on(hw, group, on_hw, idx, packets, deadline)
            if not result.missing:
                return result
            at = float(idx.seconds(idx.pts[group.key]))
            fallback = f"{label} failed on {len(result.missing)} frame(s) of the group at {at:.3f} s"
            if not self.may_fall_back:
                raise HardwareUnavailable(f"{self.input.name}: {fallback}")
            failed = result.stats
        result, _ = self._run_on(self.cpu, group, convert, idx, packets, deadline)
        result.fallback = fallback
        if failed is not None:
            result.stats.merge(failed)
        return result

    @staticmethod
    def _run_on(
        pool: Pool, group: Group, convert: Callable[..., Any], idx, packets, deadline
    ) -> tuple[GroupResult, str]:
        with pool.borrow() as dec:
            dec.deadline = deadline
            return dec.run(group, convert, idx, packets), dec.label

    def decoders(self) -> Iterator[GroupDecoder]:
        """Every decoder made so far, device lane first."""
        for pool in (self.hw, self.cpu):
            if pool is not None:
                yield from pool.all
