"""The README's two commands, verbatim, in a brand-new venv with the pip it brings,
on a copy of this checkout: what a newcomer types. Command 1 installs the package and
runs the demo. Command 2 upgrades pip, installs the package editable with its test
extra and runs `python -m pytest`; in that inner run STILLFRAME_README_RUN=1, with
which tests/conftest.py collects the whole suite (an import or collection error, or
a missing test dependency, fails it) but runs only README_SMOKE, a few real tests one
a layer, and deselects the rest: the suite itself is what the outer run is running,
and running it again inside would only double the time."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .conftest import README_SMOKE

ROOT = Path(__file__).resolve().parents[1]
INNER = "STILLFRAME_README_RUN"


def readme_commands() -> list[str]:
    block = re.search(r"## Two commands.*?```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README has no 'Two commands' block"
    return [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


def defined_tests() -> int:
    """How many test functions the suite defines: each is at least one collected test."""
    return sum(len(re.findall(r"^\s*def test_", p.read_text(), re.M)) for p in (ROOT / "tests").glob("test_*.py"))


@pytest.mark.slow
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
    for name in ("PYTHONPATH", "STILLFRAME_CI"):  # a newcomer's shell has neither
        env.pop(name, None)
    for command in commands:
        r = subprocess.run(command, shell=True, cwd=copy, env=env, capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, f"{command}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert len(list((copy / "out").glob("*.jpg"))) == 10  # command 1: the demo's snapshots
    # Command 2: the whole suite collected, the smoke tests run and passed, nothing else.
    summary = r.stdout.strip().splitlines()[-1]
    counts = re.search(r"(\d+) passed, (\d+) deselected", summary)
    assert counts and not re.search(r"failed|error|skipped", summary), r.stdout[-3000:]
    passed, deselected = int(counts.group(1)), int(counts.group(2))
    assert passed >= len(README_SMOKE)
    assert passed + deselected >= defined_tests()
