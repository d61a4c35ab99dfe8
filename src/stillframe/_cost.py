"""What a job costs where, and the choices made from it: how many CPU decoders a job
runs and with how many frame threads each, and whether `device="auto"` decodes it
on the device or on the CPU.

    Job          what a request is, read off its plan: keyframe groups, frames to
                 decode, targets, picture sizes
    Costs        what this machine was measured to do (_calibration makes it)
    cpu_lanes    decoders and frame threads for a job on the CPU
    choose       the device or the CPU for a job, with the estimates and why

Pure functions: tested without a decoder, a GPU or a clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["MARGIN", "Choice", "Costs", "Job", "choose", "cpu_lanes", "cpu_seconds", "device_seconds"]

# `auto` takes the device only when it is estimated to take at most this share of
# the CPU's time: the estimates are rough, and a job must never get slower by
# asking for auto.
MARGIN = 0.8


def cpu_lanes(groups: int, cores: int, workers: int | None = None) -> tuple[int, int]:
    """(decoders, frame threads each) for a job of `groups` keyframe groups on
    `cores` cores. `workers` given: that many, the cores shared among them.

    A group is decoded by one decoder from its keyframe on, so decoders beyond the
    groups sit idle while each of the busy ones has only cores / decoders threads
    (16 decoders on 16 cores for 8 groups leave half the machine unused). One
    decoder a group, the cores shared among them as frame threads, keeps every core
    busy: one group gets every core; more groups than cores get one thread each."""
    cores = max(1, cores)
    if workers is not None:
        w = max(1, workers)
    else:
        w = max(1, min(groups, cores))
    return w, max(1, cores // w)


@dataclass(frozen=True)
class Job:
    """What one request is, as far as cost goes: `groups` keyframe groups to decode,
    `frames` decoded in all (an estimate: from each group's keyframe to its last
    target), `largest` in the longest group, `targets` frames asked for, `pixels` a
    decoded frame, `out_pixels` an output picture, `intra` keyframes only."""

    groups: int
    frames: float
    largest: float
    targets: int
    pixels: int
    out_pixels: int
    intra: bool = False

    @classmethod
    def of(
        cls,
        group_frames: Sequence[float],
        targets: int,
        pixels: int,
        out_pixels: int,
        intra: bool = False,
    ) -> Job:
        """A job of groups that decode `group_frames` frames each."""
        frames = [max(1.0, float(f)) for f in group_frames] or [1.0]
        return cls(len(frames), sum(frames), max(frames), max(1, targets), pixels, out_pixels, intra)

    def describe(self) -> str:
        """The job in words, for `decoding`."""
        what = ("keyframe" if self.intra else "frame") + ("s" if self.targets != 1 else "")
        return (
            f"{self.targets} {what} in {self.groups} keyframe group{'s' if self.groups != 1 else ''}, "
            f"about {self.frames:,.0f} frames to decode"
        )


@dataclass(frozen=True)
class Costs:
    """What this machine was measured to do (see _calibration).

    CPU: `cpu_pps` pixels a second one decoder decodes on one thread; t frame
    threads decode t ** `cpu_gain` times as fast; `cpu_seek` seconds to start a
    group; `cpu_picture` seconds a megapixel of output to scale and encode on one
    core. Device (None when there is none): `device` the backend measured,
    `dev_pps` pixels a second on one decoder, n decoders side by side decode
    n ** `dev_gain` times as fast, up to `engines`; `dev_open` seconds to open the
    first decoder of a process, `dev_open_more` each further one; `dev_seek` and
    `dev_picture` as on the CPU (the picture work done on the device)."""

    cores: int
    cpu_pps: float
    cpu_gain: float
    cpu_seek: float
    cpu_picture: float
    device: str | None = None
    dev_pps: float = 0.0
    dev_gain: float = 1.0
    engines: int = 1
    dev_open: float = 0.0
    dev_open_more: float = 0.0
    dev_seek: float = 0.0
    dev_picture: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain values, by name."""
        return asdict(self)


def cpu_seconds(job: Job, c: Costs, workers: int | None = None) -> float:
    """The job's estimated time on the CPU, with the decoders cpu_lanes gives."""
    w, t = cpu_lanes(job.groups, c.cores, workers)
    rate = c.cpu_pps * t**c.cpu_gain / job.pixels  # frames a second, one decoder
    decode = max(job.frames / w, job.largest) / rate
    pictures = job.targets * job.out_pixels / 1e6 * c.cpu_picture / c.cores
    return decode + math.ceil(job.groups / w) * c.cpu_seek + pictures


def device_seconds(job: Job, c: Costs, warm: int = 0) -> float:
    """The job's estimated time on the device, `warm` decoders already open (pooled)."""
    if c.device is None or c.dev_pps <= 0:
        return math.inf
    lanes = max(1, min(job.groups, c.engines))
    opening = 0.0
    if warm < lanes:
        # The first decoder of a process pays for the device context; the rest open
        # side by side on the lanes' threads, each paying the decoder's own setup.
        opening = (c.dev_open if warm == 0 else c.dev_open_more) + (lanes - max(warm, 1)) * c.dev_open_more / lanes
    share = lanes**c.dev_gain / lanes  # what each of n decoders side by side keeps of one alone
    rate = c.dev_pps * share / job.pixels
    decode = max(job.frames / lanes, job.largest) / rate
    pictures = job.targets * job.out_pixels / 1e6 * c.dev_picture
    return opening + decode + math.ceil(job.groups / lanes) * c.dev_seek + pictures


@dataclass(frozen=True)
class Choice:
    """What `auto` chose for a job, the two estimates (seconds) and why."""

    device: bool
    cpu: float
    dev: float
    reason: str


def choose(job: Job, c: Costs, warm: int = 0) -> Choice:
    """The device when it is estimated to take at most MARGIN of the CPU's time,
    else the CPU; the reason names both estimates and the job."""
    cpu, dev = cpu_seconds(job, c), device_seconds(job, c, warm)
    w, t = cpu_lanes(job.groups, c.cores)
    on_device = dev <= MARGIN * cpu
    where = f"{c.device}" if on_device else f"the CPU ({w} decoder{'s' if w != 1 else ''} x {t} threads)"
    other = f"{dev:.2f} s on {c.device}" if c.device is not None else "no device"
    if on_device:
        other = f"{cpu:.2f} s on the CPU"
    mine = dev if on_device else cpu
    pool = f", {warm} decoder{'s' if warm != 1 else ''} open" if c.device is not None and warm else ""
    reason = f"auto chose {where}: {mine:.2f} s estimated against {other}{pool} ({job.describe()})"
    return Choice(on_device, cpu, dev, reason)
