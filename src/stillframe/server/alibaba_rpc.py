"""What the Alibaba actions share: the action table, parameters as the SDKs send them
(strings, JSON-valued strings, `Name.1`-style lists), and the mapping between the
services' file names and this server's buckets."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stillframe.errors import InvalidParameter, MissingParameter, ResourceNotFound
from stillframe.server.context import ServerContext
from stillframe.server.limits import Limits, parse_json
from stillframe.server.tenant import Tenant

ICE = "2020-11-09"
MPS = "2014-06-18"
_MEDIA_ID = re.compile(r"^[0-9a-f]{32}$")


class Params:
    """A request's parameters, query and form merged; every value a string."""

    def __init__(self, items: Mapping[str, str], json_depth: int = Limits.json_depth) -> None:
        self._items = dict(items)
        self._depth = json_depth

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def get(self, name: str, required: bool = False) -> str | None:
        """Parameter `name` as sent (None when absent or empty); MissingParameter when `required`."""
        value = self._items.get(name)
        if value is None or value == "":
            if required:
                raise MissingParameter(f"{name} is mandatory for this action.")
            return None
        return value

    def raw(self, name: str) -> str | None:
        """The value as sent, an empty string kept (it can mean "turn this off")."""
        return self._items.get(name)

    def integer(self, name: str, default: int | None = None) -> int | None:
        """Parameter `name` as an integer, or `default`; InvalidParameter for anything else."""
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidParameter(f"{name} must be an integer, not {value!r}") from None

    def flag(self, name: str, default: bool = False) -> bool:
        """Parameter `name` as a boolean (true/false, any case), or `default`."""
        value = self.get(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise InvalidParameter(f"{name} must be true or false, not {value!r}")
        return value.lower() == "true"

    def parsed(self, name: str, required: bool = False) -> Any:
        """Parameter `name` parsed as JSON (the SDKs send objects and arrays so); InvalidParameter when it is not."""
        value = self.get(name, required)
        if value is None:
            return None
        return parse_json(value, name, self._depth)

    def obj(self, name: str, required: bool = False) -> dict[str, Any] | None:
        """Parameter `name` as a JSON object; InvalidParameter for any other JSON."""
        value = self.parsed(name, required)
        if value is not None and not isinstance(value, dict):
            raise InvalidParameter(f"{name} must be a JSON object")
        return value

    def array(self, name: str) -> list[Any] | None:
        """A JSON array, or the `Name.1=a&Name.2=b` form the SDKs flatten lists into."""
        if name in self._items:
            value = self.parsed(name)
            if value is not None and not isinstance(value, list):
                raise InvalidParameter(f"{name} must be a JSON array")
            return value
        prefix = name + "."
        flat = [(k[len(prefix) :], v) for k, v in self._items.items() if k.startswith(prefix)]
        if not flat:
            return None
        try:
            return [v for _, v in sorted(flat, key=lambda kv: int(kv[0]))]
        except ValueError:
            raise InvalidParameter(f"{name} must be a list") from None


@dataclass
class Call:
    """One action call: the shared context, its parameters, the host it was sent to,
    and the job service as the caller's account may use it."""

    ctx: ServerContext
    params: Params
    host: str
    request_id: str
    service: Tenant


Handler = Callable[[Call], dict[str, Any]]
ACTIONS: dict[tuple[str, str], Handler] = {}


def action(version: str, name: str | None = None) -> Callable[[Handler], Handler]:
    """Register a handler for (version, action); the action defaults to the function's name."""

    def register(fn: Handler) -> Handler:
        ACTIONS[(version, name or fn.__name__)] = fn
        return fn

    return register


# -- file names ----------------------------------------------------------------------------


def ice_location(call: Call, spec: Any, what: str, output_name: str = "{Count}.jpg") -> Any:
    """ICE {Type: OSS|Media, Media}: oss://bucket/object (or an http(s) URL whose host
    begins with a served bucket's name), as a location in its bucket; or a media ID
    of the caller's. As an Output, a media ID names a folder beside its media in the
    same bucket (snapshots/{media}/{random}/`output_name`), as VOD keeps an asset's
    thumbnails; a media in no served bucket is refused."""
    ctx = call.ctx
    if not isinstance(spec, Mapping):
        raise InvalidParameter(f"{what} must be {{Type, Media}}")
    media = spec.get("Media")
    if not media or not isinstance(media, str):
        raise MissingParameter(f"{what}.Media is mandatory for this action.")
    kind = spec.get("Type", "OSS")
    if kind == "Media":
        if not _MEDIA_ID.match(media):
            raise InvalidParameter(f"{what}.Media {media!r} is not a media ID")
        if what != "Output":
            return media  # the service finds it, among the caller's own
        named = ctx.buckets.name_of(call.service.get_media(media).url)
        if named is None:
            raise ResourceNotFound(f"media {media} is not in a bucket served here")
        return ctx.buckets.locate(named[0], f"snapshots/{media}/{uuid.uuid4().hex[:16]}/{output_name}")
    if kind != "OSS":
        raise InvalidParameter(f"{what}.Type must be OSS or Media, not {kind!r}")
    if media.startswith(("http://", "https://")):
        parts = urlsplit(media)
        bucket = (parts.hostname or "").split(".", 1)[0]
        return ctx.buckets.locate(bucket, parts.path.lstrip("/"))
    return ctx.buckets.locate_url(media)


def oss_file(ctx: ServerContext, path_or_url: str) -> dict[str, str] | None:
    """{Bucket, Location, Object} for a path or URL a bucket holds, or None."""
    named = ctx.buckets.name_of(path_or_url)
    if named is None:
        return None
    return {"Bucket": named[0], "Location": ctx.region, "Object": named[1]}


def ice_media(ctx: ServerContext, stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A job's stored {Type, Media} as the client named it."""
    if not stored:
        return None
    media = str(stored.get("Media", ""))
    if stored.get("Type") == "Media" and _MEDIA_ID.match(media):
        return {"Type": "Media", "Media": media}
    out: dict[str, Any] = {"Type": "OSS", "Media": ctx.buckets.oss_url(media)}
    named = oss_file(ctx, media)
    if named is not None:
        out["OssFile"] = named
    return out
