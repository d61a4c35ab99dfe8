"""Without an extra installed, what needs it says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Python refuses an import whose sys.modules entry is None: the extra is "not installed".
WITHOUT_JOBS = "import sys; sys.modules['sqlalchemy'] = None\n"


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_JOBS + code, *args], capture_output=True, text=True)


def test_importing_jobs_names_the_extra():
    r = _run("from stillframe.jobs import JobService")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: stillframe.jobs needs the jobs extra")
    assert "pip install 'stillframe[jobs]'" in last


@pytest.mark.parametrize("args", [["jobs", "list"], ["jobs", "migrate"], ["worker", "--drain"], ["live", "get", "x"]])
def test_job_commands_name_the_extra_in_one_line(args):
    r = _run("from stillframe import cli; sys.exit(cli.main(sys.argv[1:]))", *args)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "pip install 'stillframe[jobs]'" in r.stderr


def test_importing_jobs_without_alembic_names_the_extra():
    code = "import sys; sys.modules['alembic'] = None\nfrom stillframe.jobs import JobService"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 1
    assert "pip install 'stillframe[jobs]'" in r.stderr.strip().splitlines()[-1]


def test_help_lists_the_job_commands_as_not_installed():
    r = _run("from stillframe import cli; sys.exit(cli.main(['--help']))")
    assert r.returncode == 0
    assert "not installed" in r.stdout and "jobs" in r.stdout
    assert _run("from stillframe import cli; sys.exit(cli.main(['probe', '--help']))").returncode == 0


def test_real_media_folder_can_be_named(monkeypatch, tmp_path):
    from .conftest import MEDIA, media

    (tmp_path / "clip.mp4").write_bytes(b"x")
    monkeypatch.setenv("STILLFRAME_TEST_MEDIA", str(tmp_path))
    assert media("clip.mp4") == tmp_path / "clip.mp4"
    monkeypatch.delenv("STILLFRAME_TEST_MEDIA")
    with pytest.raises(pytest.skip.Exception, match="STILLFRAME_TEST_MEDIA"):
        media("no-such-clip.mp4")
    assert MEDIA.name == "torchcodec"
