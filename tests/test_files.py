"""Outputs look like any other program's files: the umask applies, and a web server
that runs as its own user can serve them."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import tempfile
import urllib.request
from pathlib import Path

import pytest

import stillframe as sf
from stillframe import livesrc


@pytest.fixture
def clip(clips) -> str:
    return str(clips("files.mp4", frames=90, size=(256, 144), gop=30, bframes=2))


def _write_everything(clip: str, out: Path) -> sf.SnapshotResult:
    return sf.snapshot(
        clip, sf.Interval(0.5), out / "{Count}.jpg", width=128, sprite=sf.Sprite(3, 2),
        webvtt=out / "thumbs.vtt", storyboard=out / "storyboard.json", cover="auto",
    )  # fmt: skip


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002], ids=["022", "077", "002"])
def test_outputs_get_the_umask(clip, tmp_path, mask):
    from stillframe.jobs import JobService

    old = os.umask(mask)
    try:
        result = _write_everything(clip, tmp_path / "out")
        with JobService(tmp_path / "j.db", workers=0) as svc:
            job = svc.submit_snapshot_job(clip, str(tmp_path / "job" / "one.jpg"), {"Time": 500})
            assert job.status == "Success", job.message
    finally:
        os.umask(old)
    files = _files(tmp_path / "out") + _files(tmp_path / "job")
    assert len(files) == len(result.files) + len(result.sprites) + 3 + 1  # VTT, storyboard, cover; the job's
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o777 & ~mask
    assert not [p for p in files if p.name.endswith(".part")]


def test_a_web_server_running_as_its_own_user_serves_every_output(clip, tmp_path_factory):
    if livesrc.nginx_binary() is None:  # .ci/run installs it
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    if os.geteuid() != 0:
        pytest.skip("nginx takes another user's identity only when started as root")
    try:
        pwd.getpwnam("nobody")
        group = "nogroup" if _group_exists("nogroup") else "nobody"
        grp.getgrnam(group)
    except KeyError:
        pytest.skip("no 'nobody' account to serve as")
    docroot = Path(tempfile.mkdtemp(prefix="stillframe-www-"))
    docroot.chmod(0o755)  # as a web root is; what is inside is made under the umask
    old = os.umask(0o022)
    try:
        _write_everything(clip, docroot / "out")
    finally:
        os.umask(old)
    files = _files(docroot / "out")
    with livesrc.http_server(docroot, tmp_path_factory.mktemp("nginx"), user=f"nobody {group}") as server:
        for p in files:
            with urllib.request.urlopen(f"{server.url}/{p.relative_to(docroot).as_posix()}") as reply:
                assert reply.status == 200, p
                assert reply.read() == p.read_bytes()
    assert len(files) >= 10


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False
