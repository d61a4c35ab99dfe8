"""stillframe: exact still frames out of video, fast.

The public facade: everything a caller needs is importable from here.
"""

from __future__ import annotations

__version__ = "0.1.0"

from stillframe import errors
from stillframe._source import RangeSource
from stillframe.devices import HardwareReport, hardware
from stillframe.errors import (
    Conflict,
    HardwareUnavailable,
    InternalError,
    InvalidParameter,
    JobAlreadyStarted,
    JobLimitExceeded,
    JobNotFound,
    MissingParameter,
    NotFound,
    ObjectOutsideBucket,
    OutputExists,
    PermissionDenied,
    PipelineNotFound,
    ResourceContentBad,
    ResourceNotFound,
    SnapshotTimeOut,
    StillframeError,
    StoreOutdated,
    StreamNotFound,
    TemplateNotFound,
    TransientNetworkError,
)
from stillframe.frame import Frame
from stillframe.jpeg import YUV420Planes, encode_jpeg, encode_jpegs
from stillframe.options import FrameOptions
from stillframe.records import Provenance, Stats
from stillframe.sampling import Dots, Interval, Quantity, Schedule, Times, sampling_from_dict
from stillframe.snapshot import Snapshot, SnapshotResult, snapshot
from stillframe.sprites import Sprite
from stillframe.video import Decoding, Video, VideoInfo, open, probe

__all__ = [
    "Conflict",
    "Decoding",
    "Dots",
    "Frame",
    "FrameOptions",
    "HardwareReport",
    "HardwareUnavailable",
    "InternalError",
    "Interval",
    "InvalidParameter",
    "JobAlreadyStarted",
    "JobLimitExceeded",
    "JobNotFound",
    "MissingParameter",
    "NotFound",
    "ObjectOutsideBucket",
    "OutputExists",
    "PermissionDenied",
    "PipelineNotFound",
    "Provenance",
    "Quantity",
    "RangeSource",
    "ResourceContentBad",
    "ResourceNotFound",
    "Schedule",
    "Snapshot",
    "SnapshotResult",
    "SnapshotTimeOut",
    "Sprite",
    "Stats",
    "StillframeError",
    "StoreOutdated",
    "StreamNotFound",
    "TemplateNotFound",
    "Times",
    "TransientNetworkError",
    "Video",
    "VideoInfo",
    "YUV420Planes",
    "__version__",
    "encode_jpeg",
    "encode_jpegs",
    "errors",
    "hardware",
    "open",
    "probe",
    "sampling_from_dict",
    "snapshot",
]
