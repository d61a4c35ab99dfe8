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
