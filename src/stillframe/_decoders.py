"""The decoder pool of one video: software decoders, and a device's when one is
asked for and works; a group a device fails on is decoded again on the CPU (its
frames then say why), or raises when no fallback is allowed.

    DecoderPool   lanes of decoders in the order they are tried, the device's first
    Decoding      what decodes, as asked and as it turned out

A lane is a Pool of GroupDecoders of one backend. Every decoder has a container of
its own on the source; the CPU lane also lends its decoders for reading (an index
reads a unit's packets on one, then decodes them on whichever lane decodes). A
device-resident backend (frames kept on the GPU) is one more lane whose decoders
return device frames; the fallback walk stays the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import av

from stillframe import devices
from stillframe._index import PacketIndex, Rows, time_base_of, video_stream
from stillframe._native import cpu_count
from stillframe._source import Input
from stillframe._workers import Pool
from stillframe.decode import GroupDecoder, GroupResult, configure
from stillframe.errors import HardwareUnavailable, StillframeError
from stillframe.info import VideoInfo
from stillframe.plan import Group

__all__ = ["DecoderPool", "Decoding"]

# Hardware decoders at once by default: each holds a device context, and the
# device, not the cores, does the decoding.
HW_WORKERS = 4


@dataclass(frozen=True)
class Decoding:
    """How a Video decodes: `device` as asked, `decoder` the backend in use
    ("h264 (cuda)", "h264_qsv", or the software decoder's name), and `fallback`,
    when a device was asked for but the CPU decodes, saying why."""

    device: str
    decoder: str
    hardware: bool
    fallback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values, by name."""
        return asdict(self)


class DecoderPool:
    """Decoders for one video stream, made on demand up to each lane's limit.

    `first` is the decoder on the container the video was opened with (the CPU
    lane's first). `workers` CPU decoders run at once, each with `threads` frame
    threads. With a hardware `device`, a device lane is set up and proven on the
    first keyframe (`first_key`); when it cannot be, the CPU decodes (`decoding`
    says why) unless `fallback` is False and the device was named, which raises
    HardwareUnavailable. Safe to share between threads."""

    def __init__(
        self,
        input: Input,
        first: GroupDecoder,
        *,
        workers: int,
        threads: int,
        device: devices.DeviceSpec,
        fallback: bool,
        info: VideoInfo,
        first_key: av.Packet,
        device_workers: int | None = None,
    ) -> None:
        self.input = input
        self.stream_index = first.stream.index
        self.threads = threads
        self.device = device
        self.may_fall_back = fallback or device.kind == "auto"
        self.info = info
        self.cpu = Pool(lambda: self.open_decoder(None), workers, self._close)
        self.cpu.add(first)
        self.hw: Pool | None = None
        self.decoding = Decoding(str(device), info.decoder, False)
        if device.hardware:
            try:
                self._start_device(first_key, device_workers)
            except BaseException:
                self.close()
                raise

    @property
    def lanes(self) -> int:
        """Decoders at once in the lane that decodes first."""
        return (self.hw or self.cpu).limit

    def borrow(self) -> contextlib.AbstractContextManager[GroupDecoder]:
        """A CPU decoder for the block: its container reads a unit's packets."""
        return self.cpu.borrow()

    def open_decoder(self, backend: devices.Backend | None) -> GroupDecoder:
        """A decoder on a container of its own (hwaccel attaches when it opens)."""
        hwaccel = backend.hwaccel() if backend is not None and backend.method == "hwaccel" else None
        container = self.input.open(hwaccel=hwaccel)
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
        """Close every decoder of every lane."""
        for pool in (self.cpu, self.hw):
            if pool is not None:
                pool.close()

    # -- the device lane ---------------------------------------------------------------

    def _start_device(self, first_key: av.Packet, workers: int | None) -> None:
        """Pick the backend and prove it by decoding the first keyframe on it; on
        failure fall back (recording why) or raise HardwareUnavailable."""
        codec = self.info.codec
        if not self.input.reopenable:
            return self._fall_back("a hardware decoder opens the input again, which a file object cannot do")
        chosen = devices.select(self.device, codec)
        if chosen.backend is None:
            return self._fall_back(chosen.reason or "no device")
        backend = chosen.backend
        try:
            dec = self.open_decoder(backend)
        except (StillframeError, av.error.FFmpegError, RuntimeError, OSError) as exc:
            return self._fall_back(f"{backend.label} could not be set up: {exc}")
        rows = Rows()
        rows.add(first_key)
        trial = dec.run(Group(0, [0], intra=True), lambda f: f, rows.index(time_base_of(dec.stream)), [first_key])
        if trial.missing:
            self._close(dec)
            i = self.info
            return self._fall_back(
                f"{backend.label} opened but did not decode this {codec} stream "
                f"({i.coded_width}x{i.coded_height} {i.pixel_format})"
            )
        limit = max(1, workers if workers is not None else min(HW_WORKERS, cpu_count()))
        self.use_device(Pool(lambda: self.open_decoder(backend), limit, self._close), dec)
        self.decoding = Decoding(str(self.device), backend.label, True)

    def use_device(self, pool: Pool, first: GroupDecoder | None = None) -> None:
        """Decode on `pool` first from now on (`first`: a decoder of it, made already)."""
        if first is not None:
            pool.add(first)
        self.hw = pool

    def _fall_back(self, reason: str) -> None:
        if not self.may_fall_back:
            raise HardwareUnavailable(f"{self.input.name}: device {self.device} cannot decode this video: {reason}")
        self.decoding = Decoding(str(self.device), self.info.decoder, False, reason)

    # -- decoding ------------------------------------------------------------------------

    def decode(
        self,
        group: Group,
        convert: Callable[[av.VideoFrame], av.VideoFrame],
        idx: PacketIndex,
        packets: Sequence[av.Packet] | None,
        deadline: float | None,
    ) -> GroupResult:
        """`group` of `idx` decoded: on the device when there is one; a group it
        fails on is decoded again on the CPU, its result saying why (`fallback`), or
        HardwareUnavailable when no fallback is allowed. The result's stats count
        both tries."""
        fallback = None
        failed = None
        if self.hw is not None:
            result, label = self._run_on(self.hw, group, convert, idx, packets, deadline)
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
    def _run_on(pool: Pool, group, convert, idx, packets, deadline) -> tuple[GroupResult, str]:
        with pool.borrow() as dec:
            dec.deadline = deadline
            return dec.run(group, convert, idx, packets), dec.label

    def decoders(self) -> Iterator[GroupDecoder]:
        """Every decoder made so far, device lane first."""
        for pool in (self.hw, self.cpu):
            if pool is not None:
                yield from pool.all
