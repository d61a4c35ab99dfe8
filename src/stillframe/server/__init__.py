"""`stillframe serve`: the snapshot services on the wire.

One ASGI app (Starlette on uvicorn) over one JobService:

    app.py          the app: routing, request ids and logs, errors as the services write them
    context.py      what every handler shares: the service, key pairs, buckets, replay guard
    buckets.py      service object names ({Bucket, Location, Object}, oss://b/k) <-> paths / URLs
    replay.py       clock-skew and nonce checks shared by every signature scheme
    _signing.py     what the signature schemes share: percent-encoding, canonical query, HMAC
    acs_sign.py     Alibaba ACS3-HMAC-SHA256 and the older HMAC-SHA1 RPC signature
    alibaba.py      Alibaba RPC on `/`: authenticate, merge query and form, dispatch, answer
    alibaba_rpc.py  the action table, parameters as the SDKs send them, bucket name mapping
    alibaba_ice.py  ICE 2020-11-09 snapshot jobs and snapshot templates
    alibaba_live.py ICE 2020-11-09 live snapshot jobs, templates and files
    alibaba_mps.py  MPS 2014-06-18 snapshot jobs and pipelines
    huawei_sign.py  Huawei SDK-HMAC-SHA256
    huawei.py       Huawei VOD and MPC thumbnail endpoints, IAM project lookup
    ui.py           the read-only preview pages under /ui/: sessions, routes, files
    _ui_pages.py    the preview pages' HTML, CSS and JavaScript
    cli.py          the `stillframe serve` command

The HTTP layer adds transport and authentication only: semantics, limits and
errors are JobService's.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stillframe.server.app import ServerThread, create_app, run, serving
    from stillframe.server.buckets import Bucket, Buckets, parse_bucket
    from stillframe.server.context import ServerContext

# Loaded on first use: `stillframe serve --help` and the command line need none of it.
_LAZY = {
    "ServerThread": "stillframe.server.app",
    "create_app": "stillframe.server.app",
    "run": "stillframe.server.app",
    "serving": "stillframe.server.app",
    "Bucket": "stillframe.server.buckets",
    "Buckets": "stillframe.server.buckets",
    "parse_bucket": "stillframe.server.buckets",
    "ServerContext": "stillframe.server.context",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stillframe.server' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["Bucket", "Buckets", "ServerContext", "ServerThread", "create_app", "parse_bucket", "run", "serving"]
