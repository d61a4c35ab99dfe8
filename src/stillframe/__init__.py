"""stillframe: exact still frames out of video, fast.

The public facade: everything a caller needs is importable from here.
"""

from __future__ import annotations

__version__ = "0.1.0"

from stillframe import errors
from stillframe.errors import (
    InternalError,
    InvalidParameter,
    MissingParameter,
    ResourceContentBad,
    ResourceNotFound,
    SnapshotTimeOut,
    StillframeError,
    TransientNetworkError,
)
from stillframe.frame import Frame
from stillframe.jpeg import YUV420Planes, encode_jpeg, encode_jpegs
from stillframe.sampling import Dots, Interval, Quantity, Schedule, sampling_from_dict
from stillframe.snapshot import Snapshot, SnapshotResult, snapshot
from stillframe.sprites import Sprite
from stillframe.video import Video, VideoInfo, open, probe

__all__ = [
    "Dots",
    "Frame",
    "InternalError",
    "Interval",
    "InvalidParameter",
    "MissingParameter",
    "Quantity",
    "ResourceContentBad",
    "ResourceNotFound",
    "Schedule",
    "Snapshot",
    "SnapshotResult",
    "SnapshotTimeOut",
    "Sprite",
    "StillframeError",
    "TransientNetworkError",
    "Video",
    "VideoInfo",
    "YUV420Planes",
    "__version__",
    "encode_jpeg",
    "encode_jpegs",
    "errors",
    "open",
    "probe",
    "sampling_from_dict",
    "snapshot",
]
