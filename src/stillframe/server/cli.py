"""`stillframe serve`: the job service behind the clouds' HTTP APIs.

Imports only the standard library until the command runs, so `stillframe --help`
works without the serve extra."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import os
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stillframe.server.buckets import Buckets

EXAMPLES = """examples:
  stillframe serve --access-key AK:SK --bucket media=/srv/video --bucket out=/srv/stills
  stillframe serve --insecure-local --bucket media=. --bucket out=./out     (loopback only, no keys)
  stillframe serve --host 0.0.0.0 --access-key AK:SK --bucket media=s3://videos \\
      --storage-options '{"endpoint_url": "http://127.0.0.1:9000"}'

Point the SDKs at it: Alibaba Config(endpoint="HOST:PORT", protocol="http", access_key_id=AK,
access_key_secret=SK); Huawei with_endpoints(["http://HOST:PORT"]) with BasicCredentials(AK, SK,
PROJECT_ID). Key pairs may also come from STILLFRAME_ACCESS_KEYS="AK:SK,AK2:SK2:ACCOUNT". Keys of
one account see the same jobs; keys given without an account share one default account.
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `serve` command to the command line's subparsers. (Long for the flags alone.)"""
    from stillframe.cli import add_storage_options, int_arg

    p = sub.add_parser(
        "serve",
        help="serve snapshot jobs over the Alibaba ICE/MPS and Huawei VOD/MPC HTTP APIs",
        description="Serve snapshot jobs over HTTP so that the vendors' SDKs can drive them unchanged.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int_arg(0, 65535), default=8080, help="0 picks a free port (default: %(default)s)")
    p.add_argument(
        "--store",
        default=None,
        help="job store: path or SQLAlchemy URL (default: serve.db in the user data dir, the server's own)",
    )
    p.add_argument(
        "--access-key",
        action="append",
        default=[],
        metavar="AK:SK[:ACCOUNT]",
        help="a key pair, and the account whose jobs it sees (repeatable)",
    )
    p.add_argument(
        "--bucket",
        action="append",
        default=[],
        metavar="NAME=DIR_OR_S3URL",
        help="a bucket the APIs may name, as a local folder or s3:// prefix (repeatable)",
    )
    p.add_argument("--project-id", default="stillframe", help="Huawei project id in paths (default: %(default)s)")
    p.add_argument("--region", default="local", help="region reported as Location (default: %(default)s)")
    p.add_argument(
        "--workers",
        type=int_arg(0),
        default=1,
        metavar="N",
        help="job worker threads; 0 leaves the jobs to `stillframe worker` processes on the same store "
        "(default: %(default)s)",
    )
    add_storage_options(p, "JSON for s3fs (endpoint_url, key, secret, ...)")
    p.add_argument(
        "--max-snapshots",
        type=int,
        default=None,
        metavar="N",
        help="the most snapshots one job may make (default: 20000)",
    )
    p.add_argument(
        "--allow-private-urls",
        nargs="?",
        const="all",
        default=None,
        metavar="CIDRS",
        help="let callback, notification and stream URLs reach loopback or private addresses: all of them, "
        "or those in CIDRS (10.0.0.0/8,127.0.0.1/32); refused by default",
    )
    p.add_argument(
        "--insecure-local",
        action="store_true",
        help="accept unsigned requests; allowed only on a loopback address",
    )
    p.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error"), help="(default: %(default)s)"
    )
    p.set_defaults(run=serve_command, parser=p)
    return p


def _fail(message: str, status: int = 2) -> int:
    print(f"stillframe: error: {message}", file=sys.stderr)
    return status


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket | str:
    """A socket bound to `host:port` (port 0: a free one), or why it cannot be: bound
    before anything starts, so that a taken port is one line, not a started server's
    log, and the banner names the port it got."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            # uvicorn leaves a socket it is handed as it is: without this, a response
            # written as headers then body waits out the client's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "the address is in use (another server is there; --port picks another)"
        return exc.strerror or str(exc)
    return sock


def parse_keys(specs: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """({AK: SK}, {AK: ACCOUNT}) from AK:SK[:ACCOUNT] specs; ValueError for one
    without both halves. A secret may not hold ':' (the account follows it)."""
    keys, accounts = {}, {}
    for spec in specs:
        ak, sep, rest = spec.partition(":")
        sk, _, account = rest.partition(":")
        if not sep or not ak or not sk or (":" in rest and not account):
            raise ValueError(f"--access-key takes AK:SK or AK:SK:ACCOUNT, not {spec!r}")
        keys[ak] = sk
        if account:
            accounts[ak] = account
    return keys, accounts


def _refusal(args: argparse.Namespace, keys: dict[str, str]) -> str | None:
    """What in the flags keeps the server from starting, or None."""
    if args.max_snapshots is not None and args.max_snapshots < 1:
        return "--max-snapshots takes a whole number >= 1"
    if args.insecure_local and not _loopback(args.host):
        return f"--insecure-local serves only a loopback address, not {args.host}"
    if not keys and not args.insecure_local:
        return "no key pair: give --access-key AK:SK (or --insecure-local on a loopback address)"
    return None


def _banner(args: argparse.Namespace, keys: dict[str, str], buckets: Buckets, port: int) -> str:
    """The line that says where the server listens and what it accepts."""
    names = ", ".join(b.name for b in buckets) or "none"
    base = f"http://{args.host}:{port}"
    signing = f"{len(keys)} key pair{'' if len(keys) == 1 else 's'}"
    if args.insecure_local:
        unsigned = "unsigned requests accepted" + (" too" if keys else "")
        signing = f"{signing}, {unsigned} (--insecure-local)" if keys else f"{unsigned}: --insecure-local"
    return f"stillframe serve: {base} ({signing}; buckets: {names}); preview pages: {base}/ui/"


def serve_command(args: argparse.Namespace) -> int:
    """Run `stillframe serve` with its parsed arguments until stopped; returns the exit status."""
    try:
        import sqlalchemy  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        return _fail(f"serve needs the serve extra: pip install 'stillframe[serve]' ({exc})", 1)
    from stillframe.jobs import JobService
    from stillframe.jobs.cli import store_errors
    from stillframe.jobs.service import SNAPSHOT_LIMIT
    from stillframe.jobs.store import data_dir
    from stillframe.server.app import run
    from stillframe.server.buckets import Buckets
    from stillframe.server.context import ServerContext
    from stillframe.server.tenant import PrivateUrls

    env = [s for s in os.environ.get("STILLFRAME_ACCESS_KEYS", "").split(",") if s.strip()]
    try:
        keys, accounts = parse_keys([*env, *args.access_key])
        private = PrivateUrls.parse(args.allow_private_urls)
    except ValueError as exc:
        return _fail(str(exc))
    if refused := _refusal(args, keys):
        return _fail(refused)
    buckets = Buckets.parse(args.bucket)
    for b in buckets:
        if not b.remote and not os.path.isdir(b.root):
            return _fail(f"--bucket {b.name}: {b.root} is not a folder")
    sock = _listen(args.host, args.port)
    if isinstance(sock, str):
        return _fail(f"cannot listen on {args.host}:{args.port}: {sock}", 1)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The server's own store by default: jobs the library or `stillframe jobs` ran on
    # files outside the buckets are not the server's to list or serve.
    store = args.store or str(data_dir() / "serve.db")
    with store_errors(store):
        service = JobService(
            store,
            workers=args.workers,
            storage_options=args.storage_options,
            snapshot_limit=args.max_snapshots or SNAPSHOT_LIMIT,
        )
    service.start()  # its job workers and live capture, in this process
    ctx = ServerContext(
        service,
        keys,
        buckets,
        project_id=args.project_id,
        region=args.region,
        insecure=args.insecure_local,
        accounts=accounts,
        private_urls=private,
    )
    print(_banner(args, keys, buckets, sock.getsockname()[1]), flush=True)
    try:
        run(ctx, args.host, args.port, log_level=args.log_level, sock=sock)
    finally:
        service.close(abandon=True)  # a running job is handed back whole, not finished first
    return 0
