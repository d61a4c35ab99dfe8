"""Every command's bad values, and a job store it cannot use, told in one line: the
flag and what it takes, or the store (its password hidden) and why, never a
traceback; and nothing done before the line is said."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

pytest.importorskip("sqlalchemy", reason="the jobs extra: pip install 'stillframe[jobs]'")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stillframe.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, said",
    [
        (
            ["jobs", "submit", "v.mp4", "-o", "o/{Count}.jpg", "--config", '{"Interval": 5'],
            "stillframe jobs submit: error: argument --config: not JSON: ",
        ),
        (
            ["jobs", "templates", "create", "--name", "t", "--config", "[5]"],
            "stillframe jobs templates: error: argument --config: give a JSON object",
        ),
        (
            ["jobs", "list", "--storage-options", "endpoint_url=x"],
            "stillframe jobs list: error: argument --storage-options: not JSON: ",
        ),
        (["worker", "--threads", "0"], "stillframe worker: error: argument --threads: '0' is not a whole number >= 1"),
        (
            ["serve", "--insecure-local", "--port", "99999"],
            "stillframe serve: error: argument --port: '99999' is not a whole number in 0..65535",
        ),
        (
            ["serve", "--insecure-local", "--storage-options", "{'a': 1}"],
            "stillframe serve: error: argument --storage-options: not JSON: ",
        ),
        (["batch", "v.mp4", "--split", "0"], "stillframe batch: error: argument --split: '0' is not a whole number"),
        (["batch", "v.mp4", "--workers", "-2"], "stillframe batch: error: argument --workers: '-2' is not a whole"),
    ],
)
def test_a_bad_value_of_any_command_is_one_line_naming_the_flag(tmp_path, args, said):
    r = cli(*args, *(["--store", str(tmp_path / "jobs.db")] if args[0] in ("jobs", "worker", "serve") else []))
    assert r.returncode == 2 and r.stderr.startswith(said) and r.stderr.count("\n") == 1, r.stderr
    assert not list(tmp_path.iterdir())  # refused before any store was opened


@pytest.mark.parametrize("what", ["templates", "pipelines"])
@pytest.mark.parametrize("op", ["get", "update", "delete"])
def test_an_op_on_one_template_or_pipeline_asks_for_its_id(tmp_path, what, op):
    r = cli("jobs", what, op, "--store", str(tmp_path / "jobs.db"))
    assert (r.returncode, r.stderr) == (1, f"stillframe: error: MissingParameter: {op} needs --id\n")


def test_a_pipeline_concurrency_of_0_is_refused_not_taken_for_the_default(tmp_path):
    store = str(tmp_path / "jobs.db")
    r = cli("jobs", "pipelines", "create", "--name", "p", "--max-concurrency", "0", "--store", store)
    assert (
        r.returncode == 1
        and r.stderr == "stillframe: error: InvalidParameter: MaxConcurrency must be in 1..1000, not 0\n"
    )
    assert cli("jobs", "pipelines", "list", "--store", store).stdout.strip() == "[]"


@pytest.mark.parametrize(
    "store, said",
    [
        (
            "bogus://host/db",
            "InvalidParameter: --store bogus://host/db: not a path or a database URL SQLAlchemy can "
            "use (Can't load plugin: sqlalchemy.dialects:bogus)",
        ),
        (
            "postgresql+psycopg://me:s3cret@127.0.0.1:1/jobs",
            "TransientNetWorkError: job store postgresql+psycopg://me:***@127.0.0.1:1/jobs cannot be reached: ",
        ),
        ("{file}/jobs.db", "InvalidParameter: job store {file}/jobs.db: cannot open it there ("),
    ],
)
@pytest.mark.parametrize("command", [["jobs", "list"], ["worker", "--drain"], ["live", "list"]])
def test_a_store_that_cannot_be_used_is_one_line(tmp_path, store, said, command):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    store, said = store.format(file=a_file), said.format(file=a_file)
    r = cli(*command, "--store", store)
    assert r.returncode == 1 and r.stdout == "", r.stderr
    assert r.stderr.startswith(f"stillframe: error: {said}") and r.stderr.count("\n") == 1, r.stderr
    assert "s3cret" not in r.stderr


def test_serve_refuses_a_store_it_cannot_reach_before_its_banner(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    r = cli("serve", "--insecure-local", "--port", str(port), "--store", "postgresql+psycopg://me:s3cret@127.0.0.1:1/j")
    assert r.returncode == 1 and r.stdout == "", r.stderr  # no banner, no server started
    assert (
        r.stderr.startswith(
            "stillframe: error: TransientNetWorkError: job store postgresql+psycopg://me:***@"
            "127.0.0.1:1/j cannot be reached: "
        )
        and r.stderr.count("\n") == 1
    ), r.stderr


def test_demo_into_a_folder_that_cannot_be_made_is_one_line(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    r = cli("demo", str(a_file / "demo"))
    assert r.returncode == 1 and r.stdout == ""
    assert (
        r.stderr == f"stillframe: error: InvalidParameter: {a_file / 'demo'}: cannot write the demo there "
        "(Not a directory)\n"
    )
    r = cli("demo", str(tmp_path / "d"), "--quality", "101")  # refused before the clip is made
    assert r.returncode == 2 and "argument --quality: '101' is not a whole number in 1..100" in r.stderr
    assert not (tmp_path / "d").exists()
