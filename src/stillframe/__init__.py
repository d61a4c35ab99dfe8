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
from stillframe.jpeg import encode_jpeg, encode_jpegs

__all__ = [
    "InternalError",
    "InvalidParameter",
    "MissingParameter",
    "ResourceContentBad",
    "ResourceNotFound",
    "SnapshotTimeOut",
    "StillframeError",
    "TransientNetworkError",
    "__version__",
    "encode_jpeg",
    "encode_jpegs",
    "errors",
]
