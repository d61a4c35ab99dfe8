"""`stillframe jobs ...` and `stillframe worker`: the job service from a shell, JSON out."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any


def _service(args: argparse.Namespace, workers: int = 0):
    try:
        from stillframe.jobs import JobService
    except ImportError as exc:
        from stillframe.errors import InternalError

        raise InternalError(f"jobs need the jobs extra: pip install 'stillframe[jobs]' ({exc})") from None

    options = json.loads(args.storage_options) if args.storage_options else None
    return JobService(args.store, workers=workers, storage_options=options, lease_seconds=args.lease)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _config(text: str | None) -> Any:
    if not text:
        return None
    return json.loads(text)


def jobs_command(args: argparse.Namespace) -> int:
    """Run a `stillframe jobs` action with its parsed arguments; returns the exit status."""
    svc = _service(args)
    try:
        act = args.action
        if act == "submit":
            job = svc.submit_snapshot_job(
                args.input, args.output, _config(args.config), template_id=args.template, name=args.name,
                user_data=args.user_data, pipeline_id=args.pipeline,
            )  # fmt: skip
            _print(job.to_dict())
        elif act == "get":
            _print(svc.get_snapshot_job(args.job_id).to_dict())
        elif act == "wait":
            _print(_wait(svc, args).to_dict())
        elif act == "list":
            page = svc.list_snapshot_jobs(
                job_id=args.job_id, status=args.status, start_of_create_time=args.start, end_of_create_time=args.end,
                order_by=args.order_by, page_size=args.page_size, next_page_token=args.token,
            )  # fmt: skip
            _print(page.to_dict())
        elif act == "urls":
            _print(svc.get_snapshot_urls(args.job_id))
        elif act == "templates":
            if args.op == "create":
                _print({"TemplateId": svc.create_snapshot_template(args.name, _config(args.config) or {}, args.type)})
            elif args.op == "get":
                _print(svc.get_snapshot_template(args.id).to_dict())
            elif args.op == "list":
                _print([x.to_dict() for x in svc.list_snapshot_templates()])
            elif args.op == "update":
                _print(svc.update_snapshot_template(args.id, args.name, _config(args.config)).to_dict())
            else:
                svc.delete_snapshot_template(args.id)
                _print({"Deleted": args.id})
        elif act == "pipelines":
            if args.op == "create":
                _print({"PipelineId": svc.create_pipeline(args.name, args.max_concurrency or 10, args.notify_url)})
            elif args.op == "get":
                _print(svc.get_pipeline(args.id).to_dict())
            elif args.op == "list":
                _print([x.to_dict() for x in svc.list_pipelines()])
            elif args.op == "update":
                _print(
                    svc.update_pipeline(args.id, args.name, args.max_concurrency, args.notify_url, args.state).to_dict()
                )
            else:
                svc.delete_pipeline(args.id)
                _print({"Deleted": args.id})
        return 0
    finally:
        svc.close()


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
    svc = _service(args)
    try:
        act = args.action
        if act == "templates":
            if args.op == "create":
                tid = svc.create_live_snapshot_template(args.name, args.interval, args.overwrite_format,
                                                        args.sequence_format)  # fmt: skip
                _print({"TemplateId": tid})
            elif args.op == "get":
                _print(svc.get_live_snapshot_template(args.id).to_dict())
            elif args.op == "list":
                _print(svc.list_live_snapshot_templates(search_keyword=args.name))
            elif args.op == "update":
                tpl = svc.update_live_snapshot_template(args.id, args.name, args.interval, args.overwrite_format,
                                                        args.sequence_format)  # fmt: skip
                _print(tpl.to_dict())
            else:
                svc.delete_live_snapshot_template(args.id)
                _print({"Deleted": args.id})
        elif act == "submit":
            output = {"StorageType": args.storage_type, "Bucket": args.bucket}
            if args.endpoint:
                output["Endpoint"] = args.endpoint
            job = svc.submit_live_snapshot_job(args.name, {"Url": args.url, "Type": args.type}, args.template, output,
                                               args.callback_url)  # fmt: skip
            _print(job.to_dict())
        elif act == "get":
            _print(svc.get_live_snapshot_job(args.job_id).to_dict())
        elif act == "list":
            _print(svc.list_live_snapshot_jobs(args.page, args.page_size, args.sort, args.status, args.keyword,
                                               _when(args.start), _when(args.end)))  # fmt: skip
        elif act == "command":
            _print(svc.send_live_snapshot_job_command(args.job_id, args.command).to_dict())
        elif act == "files":
            _print(svc.list_live_snapshot_files(args.job_id, _when(args.start), _when(args.end), args.limit,
                                                _when(args.next), args.sort))  # fmt: skip
        else:
            _print(svc.delete_live_snapshot_files(args.job_id, args.stamps, delete_file=args.delete_file))
        return 0
    finally:
        svc.close()


def _wait(svc: Any, args: argparse.Namespace) -> Any:
    """svc.wait, saying once on stderr when no worker is there to run the job."""
    from stillframe.jobs.store import HEARTBEAT_STALE, live_workers

    job = svc.get_snapshot_job(args.job_id)
    if job.status == "Init" and live_workers(svc.engine) == 0:
        where = f" --store {args.store}" if args.store else ""
        print(
            f"stillframe: job {job.id} waits for a worker, and none has polled this store in the last "
            f"{HEARTBEAT_STALE:.0f} s: start one with `stillframe worker{where}` (`--drain` runs what is "
            "queued, then stops)",
            file=sys.stderr,
            flush=True,
        )
    return svc.wait(args.job_id, timeout=args.timeout)


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

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--store", default=None, help="path or SQLAlchemy URL (default: STILLFRAME_DB or the user data dir)"
        )
        p.add_argument("--storage-options", default=None, help="JSON for s3fs (endpoint_url, key, secret, ...)")
        p.add_argument("--lease", type=float, default=30.0, help="seconds a claimed job stays claimed without renewal")

    worker = sub.add_parser("worker", help="run queued snapshot jobs from the store")
    common(worker)
    worker.add_argument("--threads", type=int, default=1)
    worker.add_argument("--drain", action="store_true", help="stop when no job is left")
    worker.add_argument("--no-live", dest="live", action="store_false", help="leave live snapshot jobs to others")
    worker.set_defaults(run=worker_command)

    jobs = sub.add_parser("jobs", help="snapshot jobs: submit, get, list, wait, urls, templates, pipelines")
    jsub = jobs.add_subparsers(dest="action", required=True)
    p = jsub.add_parser("submit", help="queue a snapshot job (one snapshot with no Interval/Num runs now)")
    common(p)
    p.add_argument("input", help="a path, URL, s3:// or oss:// object, or a media ID")
    p.add_argument("-o", "--output", required=True, help="where the JPEGs go; {Count} = 00001, ...")
    p.add_argument(
        "--config",
        help="JSON: MPS SnapshotConfig, ICE template config or Huawei thumbnail_para. As MPS documents, an MPS "
        'config takes keyframes unless it says {"FrameType": "normal"} (exact frames); the job result records '
        "the frame_type used. Relative paths are made absolute here, when the job is submitted",
    )
    p.add_argument("--template")
    p.add_argument("--name")
    p.add_argument("--user-data")
    p.add_argument("--pipeline")
    helps = {"get": "a job as JSON", "wait": "wait until a job ends (a worker must be running)",
             "urls": "a finished job's output URLs (ICE GetSnapshotUrls)"}  # fmt: skip
    for name in ("get", "wait", "urls"):
        q = jsub.add_parser(name, help=helps[name])
        common(q)
        q.add_argument("job_id")
        if name == "wait":
            q.add_argument("--timeout", type=float, default=None)
    q = jsub.add_parser("list", help="jobs by status and time, paged by token")
    common(q)
    q.add_argument("--job-id")
    q.add_argument("--status")
    q.add_argument("--start")
    q.add_argument("--end")
    q.add_argument("--order-by", default="CreateTimeDesc")
    q.add_argument("--page-size", type=int, default=20)
    q.add_argument("--token")
    for name in ("templates", "pipelines"):
        q = jsub.add_parser(name, help=f"create, get, list, update or delete snapshot {name}")
        common(q)
        q.add_argument("op", choices=("create", "get", "list", "update", "delete"))
        q.add_argument("--id")
        q.add_argument("--name")
        if name == "templates":
            q.add_argument("--config")
            q.add_argument("--type")
        else:
            q.add_argument("--max-concurrency", type=int)
            q.add_argument("--notify-url")
            q.add_argument("--state")
    jobs.set_defaults(run=jobs_command)

    live = sub.add_parser(
        "live", help="live snapshot jobs: templates, submit, get, list, command, files, delete-files",
        description="Live snapshot jobs. Captures run on `stillframe worker` processes (or a JobService "
        "with workers) sharing the store.",
    )  # fmt: skip
    lsub = live.add_subparsers(dest="action", required=True)
    q = lsub.add_parser("templates")
    common(q)
    q.add_argument("op", choices=("create", "get", "list", "update", "delete"))
    q.add_argument("--id")
    q.add_argument("--name")
    q.add_argument("--interval", type=int, help="seconds between snapshots, 5..3600")
    q.add_argument("--overwrite-format", help="e.g. snapshot/{JobId}.jpg ('' for none)")
    q.add_argument("--sequence-format", help="e.g. snapshot/{JobId}/{UnixTimestamp}.jpg ('' for none)")
    q = lsub.add_parser("submit")
    common(q)
    q.add_argument("--name", required=True)
    q.add_argument("--url", required=True, help="the stream: rtmp://, an HLS .m3u8, http-flv, rtsp://, srt://...")
    q.add_argument("--type", default="rtmp")
    q.add_argument("--template", required=True)
    q.add_argument("--storage-type", default="oss", choices=("oss", "s3", "local"))
    q.add_argument("--endpoint")
    q.add_argument("--bucket", required=True, help="bucket, or a directory for --storage-type local")
    q.add_argument("--callback-url")
    q = lsub.add_parser("get")
    common(q)
    q.add_argument("job_id")
    q = lsub.add_parser("list")
    common(q)
    q.add_argument("--status", choices=("init", "started", "paused"))
    q.add_argument("--keyword")
    q.add_argument("--page", type=int, default=1)
    q.add_argument("--page-size", type=int, default=10)
    q.add_argument("--sort", default="desc", choices=("asc", "desc"))
    q.add_argument("--start", help="ISO 8601 or Unix seconds")
    q.add_argument("--end")
    q = lsub.add_parser("command")
    common(q)
    q.add_argument("job_id")
    q.add_argument("command", choices=("start", "stop", "restart"))
    q = lsub.add_parser("files")
    common(q)
    q.add_argument("job_id")
    q.add_argument("--start", required=True, help="ISO 8601 or Unix seconds")
    q.add_argument("--end", required=True)
    q.add_argument("--limit", type=int, default=10)
    q.add_argument("--next", help="NextStartTime from the previous page")
    q.add_argument("--sort", default="asc", choices=("asc", "desc"))
    q = lsub.add_parser("delete-files")
    common(q)
    q.add_argument("job_id")
    q.add_argument("stamps", type=int, nargs="+", help="CreateTimestamp values (ms)")
    q.add_argument("--delete-file", action="store_true", help="remove the files too")
    live.set_defaults(run=live_command)
