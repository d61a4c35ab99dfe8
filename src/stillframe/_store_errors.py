"""What an object store's failures mean, for its readers (RangeSource) and its
writers (_objects) alike: whether trying again may help, and the error of the tree
for one it would not mend. The libraries behind the stores (botocore, aiohttp...)
are optional: their exceptions are told by their module and name."""

from __future__ import annotations

import errno

from stillframe.errors import InvalidParameter, PermissionDenied, StillframeError

__all__ = ["OBJECT_STORES", "say", "store_error", "transient"]

_TRANSIENT_ERRNOS = {
    errno.EBUSY,
    errno.EIO,
    errno.EAGAIN,
    errno.ETIMEDOUT,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ECONNREFUSED,
    errno.EPIPE,
    getattr(errno, "EREMOTEIO", errno.EIO),
}
# Libraries whose own exceptions (not OSError) mean the connection or the server failed.
_NETWORK_MODULES = {"botocore", "aiobotocore", "aiohttp", "urllib3", "requests", "http", "ssl", "google", "azure"}

# Inputs read by byte range through fsspec (RangeSource); anything else with :// is FFmpeg's.
OBJECT_STORES = ("s3://", "oss://", "gs://", "gcs://", "az://", "abfs://", "abfss://")


def _no_credentials(exc: BaseException) -> bool:
    """botocore's NoCredentialsError, PartialCredentialsError and the like, told by
    name (botocore is optional): no answer from the store, and none to wait for."""
    return type(exc).__module__.split(".")[0] in _NETWORK_MODULES and "Credential" in type(exc).__name__


def transient(exc: BaseException) -> bool:
    """Whether trying again may succeed: the store was busy or the connection
    failed, not a missing bucket, a refusal, missing credentials or a bad request."""
    if isinstance(exc, (FileNotFoundError, PermissionError, FileExistsError, IsADirectoryError, NotADirectoryError)):
        return False
    if _no_credentials(exc):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, OSError):
        return exc.errno is None or exc.errno in _TRANSIENT_ERRNOS
    if type(exc).__module__.split(".")[0] in _NETWORK_MODULES:
        status = getattr(exc, "response", None) or {}
        code = status.get("ResponseMetadata", {}).get("HTTPStatusCode") if isinstance(status, dict) else None
        return code is None or code >= 500 or code in (408, 429)
    return False


def say(exc: BaseException) -> str:
    """The failure in a line of at most 300 characters."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."


def store_error(exc: BaseException, url: str, doing: str) -> StillframeError:
    """The error of the tree for a failure of the store that trying again would not
    mend; `doing` says what was asked ("write there")."""
    if isinstance(exc, StillframeError):
        return exc
    if _no_credentials(exc):
        return PermissionDenied(
            f"{url}: cannot {doing}: no credentials for the store ({say(exc)}); give key and "
            "secret in storage_options (--storage-options) or the store's environment "
            "variables (AWS_ACCESS_KEY_ID, ...)"
        )
    if isinstance(exc, FileNotFoundError):
        bucket = url.split("://", 1)[-1].split("/", 1)[0]
        return InvalidParameter(f"{url}: cannot {doing}: the bucket {bucket} does not exist ({say(exc)})")
    if isinstance(exc, PermissionError):
        return PermissionDenied(f"{url}: cannot {doing}: access refused ({say(exc)})")
    return InvalidParameter(f"{url}: cannot {doing}: {say(exc)}")
