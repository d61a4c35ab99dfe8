"""What a batch says when it cannot start: a script without its `__main__` guard, a
Dask scheduler that is not there."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = """
import stillframe as sf
from stillframe.distributed import snapshot_many

def run():
    items = snapshot_many([{clip!r}], sf.Interval(0.5), {out!r})
    print("ok" if all(item.ok for item in items) else [item.error for item in items])

{call}
"""


@pytest.fixture(scope="module")
def clip(clips) -> str:
    return str(clips("batch-errors.mp4", frames=30, size=(128, 96), gop=10))


def _script(tmp_path, clip: str, call: str) -> subprocess.CompletedProcess[str]:
    out = str(tmp_path / "out/{Name}/{Count}.jpg")
    path = tmp_path / "make_thumbs.py"
    path.write_text(SCRIPT.format(clip=clip, out=out, call=textwrap.dedent(call)))
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_a_script_without_its_main_guard_is_told_what_to_add(clip, tmp_path):
    r = _script(tmp_path, clip, "run()")
    assert r.returncode == 1 and r.stdout == ""
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("stillframe.errors.InvalidParameter: snapshot_many runs the videos in worker processes")
    assert 'if __name__ == "__main__":' in last and "make_thumbs.py again: line 9" in last
    assert "BrokenProcessPool" not in r.stderr and "bootstrapping" not in r.stderr
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_the_guarded_script_runs(clip, tmp_path):
    r = _script(tmp_path, clip, 'if __name__ == "__main__":\n    run()')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok" and len(list((tmp_path / "out/batch-errors").glob("*.jpg"))) == 2


def test_an_unreachable_scheduler_is_one_line_after_the_connect_timeout(clip, tmp_path):
    pytest.importorskip("distributed", reason="the dask extra: pip install 'stillframe[dask]'")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "stillframe.cli",
            "batch",
            clip,
            "-o",
            str(tmp_path / "{Name}/{Count}.jpg"),
            "--scheduler",
            "tcp://127.0.0.1:1",
            "--connect-timeout",
            "1s",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("stillframe: error: cannot reach the Dask scheduler at tcp://127.0.0.1:1: ")
    assert "after 1 s" in r.stderr  # the flag's time, not Dask's own 30 s
