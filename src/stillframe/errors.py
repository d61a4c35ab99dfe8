"""The stillframe error tree.

Every error carries the code the cloud snapshot services use for the same condition
(``error.code``, and ``error.http_status`` for a service built on stillframe), and also
inherits the fitting builtin, so ``except FileNotFoundError`` catches a missing input
as well as ``except stillframe.errors.ResourceNotFound`` does::

    StillframeError                         InternalError (500)
    ├── InvalidParameter, ValueError        InvalidParameter (400)
    │   └── MissingParameter                MissingParameter (400)
    ├── OutputExists, FileExistsError       InvalidParameter.OutputExists (409)
    ├── ResourceNotFound, FileNotFoundError InvalidParameter.ResourceNotFound (404)
    ├── ResourceContentBad, ValueError      InvalidParameter.ResourceContentBad (400)
    ├── PermissionDenied, PermissionError   PermissionDenied.ResourceAccess (403)
    │   └── ObjectOutsideBucket             InvalidObject.Forbidden (403)
    ├── SnapshotTimeOut, TimeoutError       SnapshotTimeOut (504)
    ├── TransientNetworkError, ConnectionError
    │                                       TransientNetWorkError (503)
    ├── HardwareUnavailable, RuntimeError   HardwareUnavailable (400)
    ├── NotFound, LookupError               NotFound (404)
    │   ├── JobNotFound                     JobNotFound (404)
    │   ├── TemplateNotFound                TemplateNotFound (404)
    │   ├── PipelineNotFound                PipelineNotFound (404)
    │   └── StreamNotFound                  StreamNotFound (400)
    ├── Conflict                            Conflict (409)
    │   └── JobAlreadyStarted               JobAlreadyStarted (409)
    ├── JobLimitExceeded                    JobLimitExceeded (400)
    └── InternalError, RuntimeError         InternalError (500)
        └── StoreOutdated                   StoreOutdated (503)

``TransientNetWorkError`` keeps the services' own spelling; the class is named
``TransientNetworkError``. Every class here is also importable from ``stillframe``.
The server adds the errors of its protocols (signatures, request bodies, buckets:
see stillframe.server), each a subclass of one of these; no other exception is
raised to a caller on purpose.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "HardwareUnavailable",
    "InternalError",
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
    "ResourceContentBad",
    "ResourceNotFound",
    "SnapshotTimeOut",
    "StillframeError",
    "StoreOutdated",
    "StreamNotFound",
    "TemplateNotFound",
    "TransientNetworkError",
    "error_for_code",
]


class StillframeError(Exception):
    """Base of every error stillframe raises on purpose."""

    code: str = "InternalError"
    http_status: int = 500

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The services' error shape: ``{"Code": ..., "Message": ...}``."""
        return {"Code": self.code, "Message": self.message}


class InvalidParameter(StillframeError, ValueError):
    """A parameter is malformed or out of its range."""

    code = "InvalidParameter"
    http_status = 400


class MissingParameter(InvalidParameter):
    """A required parameter was not given."""

    code = "MissingParameter"


class OutputExists(StillframeError, FileExistsError):
    """A file the run would write is already there, and replacing it was not asked
    for (`overwrite=True`, `--overwrite`). Jobs replace their outputs, as the
    services do."""

    code = "InvalidParameter.OutputExists"
    http_status = 409


class ResourceNotFound(StillframeError, FileNotFoundError):
    """The input (file, URL, object) does not exist."""

    code = "InvalidParameter.ResourceNotFound"
    http_status = 404


class ResourceContentBad(StillframeError, ValueError):
    """The input exists but is damaged or holds no usable video."""

    code = "InvalidParameter.ResourceContentBad"
    http_status = 400


class PermissionDenied(StillframeError, PermissionError):
    """No access to the input or the output."""

    code = "PermissionDenied.ResourceAccess"
    http_status = 403


class ObjectOutsideBucket(PermissionDenied):
    """A name that leaves its bucket, or resolves (symlinks followed) outside the
    folder or prefix a run is confined to."""

    code = "InvalidObject.Forbidden"


class SnapshotTimeOut(StillframeError, TimeoutError):
    """The snapshot took longer than it was allowed."""

    code = "SnapshotTimeOut"
    http_status = 504


class TransientNetworkError(StillframeError, ConnectionError):
    """A download or upload failed for a passing network reason; retrying may work."""

    code = "TransientNetWorkError"
    http_status = 503


class HardwareUnavailable(StillframeError, RuntimeError):
    """The hardware decoder asked for cannot be used here."""

    code = "HardwareUnavailable"
    http_status = 400


class NotFound(StillframeError, LookupError):
    """A named object of the job service does not exist."""

    code = "NotFound"
    http_status = 404


class JobNotFound(NotFound):
    """No snapshot job (or live snapshot job) has that id."""

    code = "JobNotFound"


class TemplateNotFound(NotFound):
    """No snapshot template (or live snapshot template) has that id."""

    code = "TemplateNotFound"


class PipelineNotFound(NotFound):
    """No pipeline has that id."""

    code = "PipelineNotFound"


class StreamNotFound(NotFound):
    """The live stream is not being published."""

    code = "StreamNotFound"
    http_status = 400


class Conflict(StillframeError):
    """The request conflicts with the object's current state."""

    code = "Conflict"
    http_status = 409


class JobAlreadyStarted(Conflict):
    """The live snapshot job is started (or starting) already."""

    code = "JobAlreadyStarted"


class JobLimitExceeded(StillframeError):
    """Too many jobs are running at once."""

    code = "JobLimitExceeded"
    http_status = 400


class InternalError(StillframeError, RuntimeError):
    """Anything else: a failure inside stillframe or a library it uses."""

    code = "InternalError"
    http_status = 500


class StoreOutdated(InternalError):
    """The job store's schema is older (or newer) than this stillframe's: `stillframe
    jobs migrate` brings an older one up to date."""

    code = "StoreOutdated"
    http_status = 503


def _leaves(cls: type[StillframeError]) -> list[type[StillframeError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_leaves(sub))
    return out


_BY_CODE = {cls.code: cls for cls in _leaves(StillframeError) if cls is not StillframeError}


def error_for_code(code: str, message: str = "") -> StillframeError:
    """The error instance for a service code (unknown codes become ``InternalError``
    carrying that code), for rebuilding errors stored with a failed job."""
    cls = _BY_CODE.get(code, InternalError)
    return cls(message, code=code)
