"""A PostgreSQL server of the tests' own: initdb and pg_ctl in a temporary folder,
listening on a free loopback port, thrown away at the end. Durability is off (fsync,
synchronous_commit): the data lives as long as the test session.

The server refuses to run as root, so as root it runs as the `postgres` user (else
`nobody`); as anyone else it runs as that user."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

MISSING = (
    "PostgreSQL's server programs (initdb, pg_ctl) are not installed: apt-get install postgresql "
    "(or point STILLFRAME_PG_BIN at the folder that holds them)"
)


def find_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: STILLFRAME_PG_BIN, PATH, then Debian's
    /usr/lib/postgresql/<version>/bin (newest first)."""
    found = shutil.which("pg_ctl")
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(n) for n in re.findall(r"\d+", p)])
    debian.reverse()
    for folder in [os.environ.get("STILLFRAME_PG_BIN"), found and os.path.dirname(found), *debian]:
        if folder and all((Path(folder) / p).is_file() for p in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, bindir: Path, root: Path, as_user: pwd.struct_passwd | None) -> None:
        self.bindir, self.root, self.as_user = bindir, root, as_user
        self.data, self.log = root / "data", root / "server.log"
        self.port = 0
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        who = (
            {}
            if self.as_user is None
            else {"user": self.as_user.pw_uid, "group": self.as_user.pw_gid, "extra_groups": []}
        )
        subprocess.run(args, check=True, capture_output=True, cwd=self.root, **who)  # type: ignore[call-overload]

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        for _ in range(5):  # the free port may be taken between the probe and the bind
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            )
            try:
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                )
                return
            except subprocess.CalledProcessError:
                continue
        raise RuntimeError(f"PostgreSQL did not start:\n{self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(self.data))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The SQLAlchemy URL of a new, empty database."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running() -> Iterator[Server]:
    """A started server; RuntimeError(MISSING) where PostgreSQL is not installed."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(MISSING)
    as_user = None
    if os.geteuid() == 0:
        try:
            as_user = pwd.getpwnam("postgres")
        except KeyError:
            as_user = pwd.getpwnam("nobody")
    # Not under pytest's tmp_path: that folder is private to us, and the server's
    # user must own its data folder.
    root = Path(tempfile.mkdtemp(prefix="sf-pg-"))
    if as_user is not None:
        os.chown(root, as_user.pw_uid, as_user.pw_gid)
    server = Server(bindir, root, as_user)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
