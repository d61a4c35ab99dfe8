"""stillframe: exact still frames out of video, fast.

The public facade: everything a caller needs is importable from here.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from stillframe import errors
from stillframe._lazy import lazy_names as _lazy_names
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

if TYPE_CHECKING:  # what the names below are, for the type checker; loaded when first used
    from stillframe._source import RangeSource
    from stillframe.devices import HardwareReport, hardware
    from stillframe.frame import Frame
    from stillframe.jpeg import YUV420Planes, encode_jpeg, encode_jpegs
    from stillframe.options import FrameOptions, VideoOptions
    from stillframe.records import Provenance, Stats
    from stillframe.sampling import Dots, Interval, Quantity, Schedule, Times, sampling_from_dict
    from stillframe.snapshot import Snapshot, SnapshotOptions, SnapshotResult, snapshot
    from stillframe.sprites import Sprite
    from stillframe.video import Decoding, Video, VideoInfo, open, probe

# The engine's names, each loaded from its module when first used, so that a
# program (the command line's probe, say) pays only for the parts it runs.
_WHERE = {
    "RangeSource": "stillframe._source",
    "HardwareReport": "stillframe.devices",
    "hardware": "stillframe.devices",
    "Frame": "stillframe.frame",
    "YUV420Planes": "stillframe.jpeg",
    "encode_jpeg": "stillframe.jpeg",
    "encode_jpegs": "stillframe.jpeg",
    "FrameOptions": "stillframe.options",
    "VideoOptions": "stillframe.options",
    "Provenance": "stillframe.records",
    "Stats": "stillframe.records",
    "Dots": "stillframe.sampling",
    "Interval": "stillframe.sampling",
    "Quantity": "stillframe.sampling",
    "Schedule": "stillframe.sampling",
    "Times": "stillframe.sampling",
    "sampling_from_dict": "stillframe.sampling",
    "Snapshot": "stillframe.snapshot",
    "SnapshotOptions": "stillframe.snapshot",
    "SnapshotResult": "stillframe.snapshot",
    "snapshot": "stillframe.snapshot",
    "Sprite": "stillframe.sprites",
    "Decoding": "stillframe.video",
    "Video": "stillframe.video",
    "VideoInfo": "stillframe.video",
    "open": "stillframe.video",
    "probe": "stillframe.video",
}


__getattr__, __dir__ = _lazy_names(__name__, _WHERE)


class _Facade(types.ModuleType):
    """The package's module: `stillframe.snapshot` stays the function when the
    module of the same name is imported (the import system would otherwise set
    the package's attribute to the module)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "snapshot" and isinstance(value, types.ModuleType):
            value = value.snapshot
        super().__setattr__(name, value)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Pickled by name, as a plain module is (what Dask's client.run sends back).
        return importlib.import_module, (self.__name__,)


sys.modules[__name__].__class__ = _Facade

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
    "SnapshotOptions",
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
    "VideoOptions",
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
