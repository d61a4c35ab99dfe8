"""`stillframe jobs ...` and `stillframe worker`: the job service from a shell, JSON out."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stillframe.errors import InternalError, InvalidParameter, MissingParameter, TransientNetworkError


@contextmanager
def store_errors(store: str | None) -> Iterator[None]:
    """A job store that cannot be opened or reached (around opening it) told in one
    line of the error tree, its URL without the password, not as the database
    driver's traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from stillframe.jobs.faults import first_line, unavailable
    from stillframe.jobs.store import default_url

    try:
        yield
    except (SQLAlchemyError, OSError, ImportError) as exc:
        name = store or default_url()
        try:
            name = make_url(name).render_as_string(hide_password=True) if "://" in name else name
        except ArgumentError:
            pass
        if isinstance(exc, ArgumentError):  # a malformed URL, or a dialect SQLAlchemy does not know
            raise InvalidParameter(
                f"--store {name}: not a path or a database URL SQLAlchemy can use ({first_line(exc)})"
            ) from None
        if isinstance(exc, OSError):  # its folder cannot be made
            raise InvalidParameter(f"job store {name}: cannot open it there ({exc.strerror or exc})") from None
        if isinstance(exc, ImportError):  # the URL's driver (psycopg, say) is not installed
            raise InternalError(f"job store {name}: its database driver is not installed ({exc})") from None
        if unavailable(exc):
            raise TransientNetworkError(f"job store {name} cannot be reached: {first_line(exc)}") from None
        raise InternalError(f"job store {name}: {first_line(exc)}") from None


def _jobs() -> Any:
    """The stillframe.jobs package; one line naming the extra where it is not installed."""
    try:
        import stillframe.jobs
    except ImportError as exc:
        raise InternalError(f"jobs need the jobs extra: pip install 'stillframe[jobs]' ({exc})") from None
    return stillframe.jobs


def _service(args: argparse.Namespace, workers: int = 0):
    JobService = _jobs().JobService
    with store_errors(args.store):
        return JobService(args.store, workers=workers, storage_options=args.storage_options, lease_seconds=args.lease)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _needs_id(args: argparse.Namespace) -> None:
    """--id for the ops that name one template or pipeline, asked for before the store is opened."""
    if args.op in ("get", "update", "delete") and not args.id:
        raise MissingParameter(f"{args.op} needs --id")


def migrate_command(args: argparse.Namespace) -> int:
    """`stillframe jobs migrate`: bring the store's schema to this stillframe's revision."""
    _jobs()
    from stillframe.jobs import schema, store

    with store_errors(args.store):
        engine = store.connect(args.store, prepare=False)
        try:
            was, now = schema.migrate(engine)
        finally:
            engine.dispose()
    _print({"Store": engine.url.render_as_string(hide_password=True), "From": was, "To": now})
    return 0


def jobs_command(args: argparse.Namespace) -> int:
    """Run a `stillframe jobs` action with its parsed arguments; returns the exit status."""
    if args.action == "migrate":
        return migrate_command(args)
    if args.action in ("templates", "pipelines"):
        _needs_id(args)
    svc = _service(args)
    try:
        act = args.action
        if act == "submit":
            job = svc.submit_snapshot_job(
                args.input,
                args.output,
                args.config,
                template_id=args.template,
                name=args.name,
                user_data=args.user_data,
                pipeline_id=args.pipeline,
            )
            _print(job.to_dict())
        elif act == "get":
            _print(svc.get_snapshot_job(args.job_id).to_dict())
        elif act == "wait":
            _print(_wait(svc, args).to_dict())
        elif act == "list":
            page = svc.list_snapshot_jobs(
                job_id=args.job_id,
                status=args.status,
                start_of_create_time=args.start,
                end_of_create_time=args.end,
                order_by=args.order_by,
                page_size=args.page_size,
                next_page_token=args.token,
            )
            _print(page.to_dict())
        elif act == "urls":
            job = svc.get_snapshot_job(args.job_id)
            urls = job.outputs()
            _print({"Total": len(urls), "SnapshotUrls": urls, "WebVTTUrl": (job.result or {}).get("webvtt")})
        elif act == "templates":
            _templates(svc, args)
        elif act == "pipelines":
            _pipelines(svc, args)
        return 0
    finally:
        svc.close()


def _templates(svc: Any, args: argparse.Namespace) -> None:
    """`stillframe jobs templates OP`."""
    if args.op == "create":
        _print({"TemplateId": svc.create_snapshot_template(args.name, args.config or {}, args.type)})
    elif args.op == "get":
        _print(svc.get_snapshot_template(args.id).to_dict())
    elif args.op == "list":
        _print([x.to_dict() for x in svc.list_snapshot_templates()])
    elif args.op == "update":
        _print(svc.update_snapshot_template(args.id, args.name, args.config).to_dict())
    else:
        svc.delete_snapshot_template(args.id)
        _print({"Deleted": args.id})


def _pipelines(svc: Any, args: argparse.Namespace) -> None:
    """`stillframe jobs pipelines OP`."""
    if args.op == "create":
        concurrency = 10 if args.max_concurrency is None else args.max_concurrency
        _print({"PipelineId": svc.create_pipeline(args.name, concurrency, args.notify_url)})
    elif args.op == "get":
        _print(svc.get_pipeline(args.id).to_dict())
    elif args.op == "list":
        _print([x.to_dict() for x in svc.list_pipelines()])
    elif args.op == "update":
        _print(svc.update_pipeline(args.id, args.name, args.max_concurrency, args.notify_url, args.state).to_dict())
    else:
        svc.delete_pipeline(args.id)
        _print({"Deleted": args.id})


def _when(text: str | None) -> str | float | None:
    """ISO 8601 or Unix seconds."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def live_command(args: argparse.Namespace) -> int:
    """Run a `stillframe live` action with its parsed arguments; returns the exit status."""
    if args.action == "templates":
        _needs_id(args)
    svc = _service(args)
    try:
        act = args.action
        if act == "templates":
            if args.op == "create":
                tid = svc.create_live_snapshot_template(
                    args.name, args.interval, args.overwrite_format, args.sequence_format
                )
                _print({"TemplateId": tid})
            elif args.op == "get":
                _print(svc.get_live_snapshot_template(args.id).to_dict())
            elif args.op == "list":
                _print(svc.list_live_snapshot_templates(search_keyword=args.name))
            elif args.op == "update":
                tpl = svc.update_live_snapshot_template(
                    args.id, args.name, args.interval, args.overwrite_format, args.sequence_format
                )
                _print(tpl.to_dict())
            else:
                svc.delete_live_snapshot_template(args.id)
                _print({"Deleted": args.id})
        elif act == "submit":
            output = {"StorageType": args.storage_type, "Bucket": args.bucket}
            if args.endpoint:
                output["Endpoint"] = args.endpoint
            job = svc.submit_live_snapshot_job(
                args.name, {"Url": args.url, "Type": args.type}, args.template, output, args.callback_url
            )
            _print(job.to_dict())
        elif act == "get":
            _print(svc.get_live_snapshot_job(args.job_id).to_dict())
        elif act == "list":
            _print(
                svc.list_live_snapshot_jobs(
                    args.page, args.page_size, args.sort, args.status, args.keyword, _when(args.start), _when(args.end)
                )
            )
        elif act == "command":
            _print(svc.send_live_snapshot_job_command(args.job_id, args.command).to_dict())
        elif act == "files":
            _print(
                svc.list_live_snapshot_files(
                    args.job_id, _when(args.start), _when(args.end), args.limit, _when(args.next), args.sort
                )
            )
        else:
            _print(svc.delete_live_snapshot_files(args.job_id, args.stamps, delete_file=args.delete_file))
        return 0
    finally:
        svc.close()


def _wait(svc: Any, args: argparse.Namespace) -> Any:
    """svc.wait, looking for a live worker while it waits (every HEARTBEAT_EVERY s):
    each time the job is left with none to run it, stderr says so, and how to start
    one. SnapshotTimeOut after --timeout; the job itself goes on."""
    from stillframe.errors import SnapshotTimeOut
    from stillframe.jobs.store import HEARTBEAT_EVERY, HEARTBEAT_STALE, live_workers

    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    alone = False
    while True:
        job = svc.get_snapshot_job(args.job_id)
        if job.finished:
            return job
        was, alone = alone, job.status in ("Init", "Processing") and live_workers(svc.engine) == 0
        if alone and not was:
            where = f" --store {args.store}" if args.store else ""
            doing = "waits for a worker" if job.status == "Init" else "was claimed by a worker that has stopped"
            print(
                f"stillframe: job {job.id} {doing}, and none has polled this store in the last "
                f"{HEARTBEAT_STALE:.0f} s: start one with `stillframe worker{where}` (`--drain` runs what is "
                "queued, then stops)",
                file=sys.stderr,
                flush=True,
            )
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise SnapshotTimeOut(f"job {job.id} is still {job.status} after {args.timeout:g} s (it goes on)")
        try:
            return svc.wait(args.job_id, timeout=HEARTBEAT_EVERY if left is None else min(HEARTBEAT_EVERY, left))
        except SnapshotTimeOut:
            continue


def worker_command(args: argparse.Namespace) -> int:
    """Run jobs from the store until SIGINT/SIGTERM (or until the queue is empty, with
    --drain), and capture the live jobs that should be capturing (unless --no-live)."""
    svc = _service(args, workers=0)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps({"worker": svc.runner.ident}), flush=True)
    try:
        if args.drain:
            while not stop.is_set() and svc.runner.run_once():
                pass
            return 0
        threads = [
            threading.Thread(target=svc.runner.run_forever, args=(stop,), daemon=True) for _ in range(args.threads)
        ]
        if args.live:
            threads.append(threading.Thread(target=svc.live_worker().run_forever, args=(stop,), daemon=True))
        for th in threads:
            th.start()
        while not stop.wait(0.5):
            pass
        for th in threads:
            th.join()
        return 0
    finally:
        svc.close()


def add_parsers(sub: Any) -> None:
    """Add the `jobs`, `worker` and `live` commands to the command line's subparsers."""
    _add_worker(sub)
    _add_jobs(sub)
    _add_live(sub)


def _store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None, help="path or SQLAlchemy URL (default: STILLFRAME_DB or the user data dir)")


def _common(p: argparse.ArgumentParser) -> None:
    """The store options every jobs, worker and live command takes."""
    from stillframe.cli import add_storage_options, seconds_arg

    _store(p)
    add_storage_options(p, "JSON for s3fs (endpoint_url, key, secret, ...)")
    p.add_argument(
        "--lease",
        type=seconds_arg,
        default=30.0,
        metavar="TIME",
        help="how long a claimed job stays claimed without renewal (default: %(default)g s)",
    )


def _add_worker(sub: Any) -> None:
    from stillframe.cli import int_arg

    worker = sub.add_parser("worker", help="run queued snapshot jobs from the store")
    _common(worker)
    worker.add_argument(
        "--threads", type=int_arg(1), default=1, metavar="N", help="jobs run at once (default: %(default)s)"
    )
    worker.add_argument("--drain", action="store_true", help="stop when no job is left")
    worker.add_argument("--no-live", dest="live", action="store_false", help="leave live snapshot jobs to others")
    worker.set_defaults(run=worker_command)


def _add_jobs(sub: Any) -> None:
    """`stillframe jobs`: one subcommand per action, as the services name them.
    (Long for the flags alone.)"""
    from stillframe.cli import json_object_arg, seconds_arg

    jobs = sub.add_parser("jobs", help="snapshot jobs: submit, get, list, wait, urls, templates, pipelines, migrate")
    jsub = jobs.add_subparsers(dest="action", required=True)
    p = jsub.add_parser("submit", help="queue a snapshot job (one snapshot with no Interval/Num runs now)")
    _common(p)
    p.add_argument("input", help="a path, URL, s3:// or oss:// object, or a media ID")
    p.add_argument("-o", "--output", required=True, help="where the JPEGs go; {Count} = 00001, ...")
    p.add_argument(
        "--config",
        type=json_object_arg,
        metavar="JSON",
        help="JSON: MPS SnapshotConfig, ICE template config or Huawei thumbnail_para. As MPS documents, an MPS "
        'config takes keyframes unless it says {"FrameType": "normal"} (exact frames); the job result records '
        'the frame_type used. Times may be strings in FFmpeg\'s syntax ("Time": "00:01:30"). Relative paths '
        "are made absolute here, when the job is submitted. A job replaces files already at its outputs",
    )
    p.add_argument("--template", help="a snapshot template's id (its config, overridden by --config)")
    p.add_argument("--name", help="the job's name")
    p.add_argument("--user-data", help="up to 1,024 bytes kept with the job and sent with its notification")
    p.add_argument("--pipeline", help="a pipeline's id (its concurrency limit and notification URL)")
    helps = {
        "get": "a job as JSON",
        "wait": "wait until a job ends (a worker must be running)",
        "urls": "a finished job's output URLs (ICE GetSnapshotUrls)",
    }
    for name in ("get", "wait", "urls"):
        q = jsub.add_parser(name, help=helps[name])
        _common(q)
        q.add_argument("job_id", help="the JobId")
        if name == "wait":
            q.add_argument(
                "--timeout",
                type=seconds_arg,
                default=None,
                metavar="TIME",
                help="stop waiting after this long: exit 1 with SnapshotTimeOut (default: no limit)",
            )
    q = jsub.add_parser("list", help="jobs by status and time, paged by token")
    _common(q)
    q.add_argument("--job-id", help="only this job")
    q.add_argument("--status", help="Init, Processing, Success or Fail")
    q.add_argument("--start", help="created at or after (ISO 8601)")
    q.add_argument("--end", help="created before (ISO 8601)")
    q.add_argument(
        "--order-by",
        default="CreateTimeDesc",
        choices=("CreateTimeDesc", "CreateTimeAsc"),
        help="(default: %(default)s)",
    )
    q.add_argument("--page-size", type=int, default=20, help="1..100 (default: %(default)s)")
    q.add_argument("--token", help="NextPageToken from the previous page")
    q = jsub.add_parser(
        "migrate",
        help="bring the store's tables to this release's schema (servers and workers refuse an older one)",
        description="Upgrade the store to this release's schema revision, adopting a store made before revisions "
        "were kept. Stop every server and worker on the store first, and keep a backup: revisions go forward only.",
    )
    _store(q)
    _add_catalog(jsub)
    jobs.set_defaults(run=jobs_command)


def _add_catalog(jsub: Any) -> None:
    """`stillframe jobs templates|pipelines OP`: the catalog's create, get, list, update, delete."""
    from stillframe.cli import json_object_arg

    for name in ("templates", "pipelines"):
        q = jsub.add_parser(name, help=f"create, get, list, update or delete snapshot {name}")
        _common(q)
        q.add_argument("op", choices=("create", "get", "list", "update", "delete"), help="what to do")
        q.add_argument("--id", help=f"the {name[:-1]}'s id (get, update, delete)")
        q.add_argument("--name", help=f"the {name[:-1]}'s name")
        if name == "templates":
            q.add_argument(
                "--config",
                type=json_object_arg,
                metavar="JSON",
                help="JSON: an ICE template config (Type, Count, Interval, ...)",
            )
            q.add_argument("--type", help="Normal, Sprite or WebVtt (default: the config's Type, else Normal)")
        else:
            q.add_argument("--max-concurrency", type=int, help="jobs of the pipeline run at once (default: 10)")
            q.add_argument("--notify-url", help="where each finished job's message is POSTed")
            q.add_argument("--state", help="Active or Paused")


def _add_live(sub: Any) -> None:
    """`stillframe live`: templates, submit, get, list, command, files, delete-files."""
    live = sub.add_parser(
        "live",
        help="live snapshot jobs: templates, submit, get, list, command, files, delete-files",
        description="Live snapshot jobs. Captures run on `stillframe worker` processes (or a JobService "
        "with workers) sharing the store.",
    )
    lsub = live.add_subparsers(dest="action", required=True)
    q = lsub.add_parser("templates", help="create, get, list, update or delete live snapshot templates")
    _common(q)
    q.add_argument("op", choices=("create", "get", "list", "update", "delete"), help="what to do")
    q.add_argument("--id", help="the template's id (get, update, delete)")
    q.add_argument("--name", help="the template's name (list: a search keyword)")
    q.add_argument(
        "--interval", type=_whole_seconds, metavar="TIME", help="time between snapshots, 5..3600 s (5, 30s, 01:00)"
    )
    q.add_argument("--overwrite-format", help="e.g. snapshot/{JobId}.jpg ('' for none)")
    q.add_argument("--sequence-format", help="e.g. snapshot/{JobId}/{UnixTimestamp}.jpg ('' for none)")
    q = lsub.add_parser("submit", help="start a live snapshot job")
    _common(q)
    q.add_argument("--name", required=True, help="the job's name")
    q.add_argument("--url", required=True, help="the stream: rtmp://, an HLS .m3u8, http-flv, rtsp://, srt://...")
    q.add_argument("--type", default="rtmp", help="the stream's type, as ICE names it (default: %(default)s)")
    q.add_argument("--template", required=True, help="a live snapshot template's id")
    q.add_argument("--storage-type", default="oss", choices=("oss", "s3", "local"), help="(default: %(default)s)")
    q.add_argument("--endpoint", help="the object store's endpoint")
    q.add_argument("--bucket", required=True, help="bucket, or a directory for --storage-type local")
    q.add_argument("--callback-url", help="where each snapshot's message is POSTed")
    q = lsub.add_parser("get", help="a live job as JSON")
    _common(q)
    q.add_argument("job_id", help="the JobId")
    q = lsub.add_parser("list", help="live jobs by status and keyword, paged")
    _common(q)
    q.add_argument("--status", choices=("init", "started", "paused"), help="only jobs in this state")
    q.add_argument("--keyword", help="part of the job's name, whatever its case")
    q.add_argument("--page", type=int, default=1, help="(default: %(default)s)")
    q.add_argument("--page-size", type=int, default=10, help="(default: %(default)s)")
    q.add_argument("--sort", default="desc", choices=("asc", "desc"), help="by creation (default: %(default)s)")
    q.add_argument("--start", help="created at or after: ISO 8601 or Unix seconds (default: 7 days ago)")
    q.add_argument("--end", help="created before: ISO 8601 or Unix seconds (default: now)")
    q = lsub.add_parser("command", help="start, stop or restart a live job")
    _common(q)
    q.add_argument("job_id", help="the JobId")
    q.add_argument("command", choices=("start", "stop", "restart"), help="what to do")
    q = lsub.add_parser("files", help="a live job's snapshot files over a window of at most a day")
    _common(q)
    q.add_argument("job_id", help="the JobId")
    q.add_argument("--start", required=True, help="ISO 8601 or Unix seconds")
    q.add_argument("--end", required=True, help="ISO 8601 or Unix seconds")
    q.add_argument("--limit", type=int, default=10, help="files a page (default: %(default)s)")
    q.add_argument("--next", help="NextStartTime from the previous page")
    q.add_argument("--sort", default="asc", choices=("asc", "desc"), help="by time (default: %(default)s)")
    q = lsub.add_parser("delete-files", help="forget a live job's snapshot files (and remove them)")
    _common(q)
    q.add_argument("job_id", help="the JobId")
    q.add_argument("stamps", type=int, nargs="+", help="CreateTimestamp values (ms)")
    q.add_argument("--delete-file", action="store_true", help="remove the files too")
    live.set_defaults(run=live_command)


def _whole_seconds(text: str) -> int:
    """argparse type: a time in FFmpeg's syntax that is a whole number of seconds."""
    from stillframe.cli import seconds_arg

    value = seconds_arg(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds")
    return int(value)
