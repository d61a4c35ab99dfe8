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

from . import livesrc


@pytest.fixture
def clip(clips) -> str:
    return str(clips("files.mp4", frames=90, size=(256, 144), gop=30, bframes=2))


def _write_everything(clip: str, out: Path) -> sf.SnapshotResult:
    return sf.snapshot(
        clip,
        sf.Interval(0.5),
        out / "{Count}.jpg",
        width=128,
        sprite=sf.Sprite(3, 2),
        webvtt=out / "thumbs.vtt",
        storyboard=out / "storyboard.json",
        cover="auto",
    )


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


# ---- destinations checked before the work, and nothing left behind by a failed run ---------------


def _everything_but(out: Path) -> list[str]:
    return sorted(p.name for p in out.rglob("*") if p.is_file()) if out.exists() else []


def test_a_file_where_a_folder_should_be_is_refused_before_any_work(clip, tmp_path):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "out"
    with pytest.raises(sf.InvalidParameter, match="afile"):
        sf.snapshot(
            clip, sf.Interval(0.5), out / "{Count}.jpg", sprite=sf.Sprite(4, 2), webvtt=tmp_path / "afile/t.vtt"
        )
    assert _everything_but(out) == []
    with pytest.raises(sf.InvalidParameter, match="a file stands where a folder should be"):
        sf.snapshot(clip, [1.0], tmp_path / "afile" / "one.jpg")


def test_a_folder_that_cannot_be_made_is_refused_before_any_work(clip, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(sf.StillframeError, match="/proc/stillframe-test"):
        sf.snapshot(
            clip,
            sf.Interval(0.5),
            out / "{Count}.jpg",
            storyboard="/proc/stillframe-test/s.json",
            sprite=sf.Sprite(4, 2),
        )
    assert _everything_but(out) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder: the /proc test stands in for it")
def test_an_unwritable_folder_is_refused_before_any_work(clip, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(sf.errors.PermissionDenied, match="not writable"):
        sf.snapshot(clip, sf.Interval(0.5), tmp_path / "out/{Count}.jpg", webvtt=locked / "t.vtt")
    assert _everything_but(tmp_path / "out") == []


def test_a_run_that_fails_late_removes_what_it_wrote(clip, tmp_path, monkeypatch):
    from stillframe import outputs

    def refuse(cues):
        raise sf.errors.PermissionDenied("t.vtt: the disk said no")

    monkeypatch.setattr(outputs, "webvtt_text", refuse)  # the track is the last writer to finish
    out = tmp_path / "out"
    with pytest.raises(sf.errors.PermissionDenied, match="the disk said no"):
        sf.snapshot(clip, sf.Interval(0.5), out / "{Count}.jpg", sprite=sf.Sprite(4, 2), webvtt=out / "t.vtt")
    assert _everything_but(out) == []  # the JPEGs and sheets written before are gone


def test_cli_says_one_line_for_a_bad_destination(clip, tmp_path):
    import subprocess
    import sys

    (tmp_path / "afile").write_text("x")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "stillframe.cli",
            "snapshot",
            clip,
            "-o",
            str(tmp_path / "o/{Count}.jpg"),
            "--interval",
            "1",
            "--vtt",
            str(tmp_path / "afile/t.vtt"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("stillframe: error: InvalidParameter")


def test_ctrl_c_is_one_line_exit_130_and_leaves_nothing(clips, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    path = str(clips("sigint.mp4", frames=900, size=(640, 360), gop=300, bframes=3))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stillframe.cli",
            "snapshot",
            path,
            "-o",
            str(out / "{Count}.jpg"),
            "--interval",
            "0.04",
            "--json",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(out.glob("*.jpg")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip() == "stillframe: interrupted"
    assert _everything_but(out) == []  # neither half-written nor whole files of the run
    assert not out.exists()  # nor the folder it made
