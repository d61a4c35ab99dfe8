"""`stillframe serve`: the snapshot services on the wire.

One ASGI app (Starlette on uvicorn) over one JobService:

    app.py          the app: routes, the request id and log line, the last-resort 500
    limits.py       what a caller can make the server hold: one body cap, header and body
                    timeouts, the connection cap, JSON nesting
    auth.py         authentication as middleware: one backend per scheme (ACS, Huawei,
                    the preview pages' sessions); no route runs for an unsigned caller
    answers.py      every error in the caller's SDK's shape, server paths named as objects
    context.py      what every handler shares: the service, keys and accounts, buckets, limits
    tenant.py       the job service as one account may use it; private-address URL policy
    buckets.py      service object names ({Bucket, Location, Object}, oss://b/k) <-> paths / URLs
    replay.py       clock-skew and nonce checks shared by every signature scheme
    _signing.py     what the signature schemes share: percent-encoding, canonical query, HMAC
    acs_sign.py     Alibaba ACS3-HMAC-SHA256 and the older HMAC-SHA1 RPC signature
    alibaba.py      Alibaba RPC on `/`: merge query and form, dispatch the signed action, answer
    alibaba_rpc.py  the action table, parameters as the SDKs send them, bucket name mapping
    alibaba_ice.py  ICE 2020-11-09 snapshot jobs and snapshot templates
    alibaba_live.py ICE 2020-11-09 live snapshot jobs, templates and files
    alibaba_mps.py  MPS 2014-06-18 snapshot jobs and pipelines
    huawei_sign.py  Huawei SDK-HMAC-SHA256
    huawei.py       Huawei VOD and MPC thumbnail endpoints, IAM project lookup
    ui.py           the read-only preview pages under /ui/: sign-in, routes, files
    _ui_pages.py    the preview pages' HTML, CSS and JavaScript
    cli.py          the `stillframe serve` command

The HTTP layer adds transport and authentication only: every route reaches the jobs
through JobService's methods, for the caller's account (tenant.Tenant); semantics,
limits and errors are JobService's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillframe._lazy import lazy_names as _lazy_names

if TYPE_CHECKING:
    from stillframe.server.app import ServerThread, create_app, run, serving
    from stillframe.server.buckets import Bucket, Buckets, parse_bucket
    from stillframe.server.context import ServerContext

# Loaded on first use: `stillframe serve --help` and the command line need none of it.
_WHERE = {
    "ServerThread": "stillframe.server.app",
    "create_app": "stillframe.server.app",
    "run": "stillframe.server.app",
    "serving": "stillframe.server.app",
    "Bucket": "stillframe.server.buckets",
    "Buckets": "stillframe.server.buckets",
    "parse_bucket": "stillframe.server.buckets",
    "ServerContext": "stillframe.server.context",
}

__getattr__, __dir__ = _lazy_names(__name__, _WHERE)


__all__ = ["Bucket", "Buckets", "ServerContext", "ServerThread", "create_app", "parse_bucket", "run", "serving"]
