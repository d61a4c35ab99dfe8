"""The README's two commands, verbatim, in a brand-new venv with the pip it brings,
on a copy of this checkout: what a newcomer types. (The copy's own run of the tests
skips this one.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INNER = "STILLFRAME_README_RUN"


def readme_commands() -> list[str]:
    block = re.search(r"## Two commands.*?```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README has no 'Two commands' block"
    return [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


@pytest.mark.skipif(os.environ.get(INNER) == "1", reason="this is the README's own test run")
@pytest.mark.skipif(shutil.which("git") is None, reason="copies the checkout with git")
def test_the_readme_commands_work_verbatim_in_a_new_venv(tmp_path):
    commands = readme_commands()
    assert len(commands) == 2
    copy = tmp_path / "checkout"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()  # fmt: skip
    for name in files:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(env_dir), INNER: "1"}
    env.pop("PYTHONPATH", None)
    for command in commands:
        r = subprocess.run(command, shell=True, cwd=copy, env=env, capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, f"{command}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert len(list((copy / "out").glob("*.jpg"))) == 10  # command 1: the demo's snapshots
    assert re.search(r"\d+ passed", r.stdout)  # command 2: the tests ran
