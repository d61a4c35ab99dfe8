"""The README's two commands, verbatim, in a brand-new venv with the pip it brings,
on a copy of this checkout: what a newcomer types (tests/readme_run.py, which starts
them as soon as the suite is collected, so that their installs overlap the other
tests; this test runs last and waits for them).

Command 1 installs the package and runs the demo. Command 2 upgrades pip, installs the
package editable with its test extra and runs `python -m pytest`; in that inner run
STILLFRAME_README_RUN=1, with which tests/conftest.py collects the whole suite (an
import or collection error, or a missing test dependency, fails it) but runs only
README_SMOKE, a few real tests one a layer, and deselects the rest: the suite itself is
what the outer run is running, and running it again inside would only double the time."""

from __future__ import annotations

import re
import shutil

import pytest

from . import readme_run
from .conftest import README_SMOKE


def defined_tests() -> int:
    """How many test functions the suite defines: each is at least one collected test."""
    files = (readme_run.ROOT / "tests").glob("test_*.py")
    return sum(len(re.findall(r"^\s*def test_", p.read_text(), re.M)) for p in files)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="copies the checkout with git")
def test_the_readme_commands_work_verbatim_in_a_new_venv():
    run = readme_run.start()  # started already when the session began with this test in it
    ran = run.wait(timeout=2 * readme_run.TIMEOUT + 600)
    assert [r.command for r in ran] == readme_run.readme_commands() and len(ran) == 2, ran[-1:]
    for r in ran:
        assert r.returncode == 0, f"{r.command}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert len(list((run.copy / "out").glob("*.jpg"))) == 10  # command 1: the demo's snapshots
    # Command 2: the whole suite collected, the smoke tests run and passed, nothing else.
    summary = ran[1].stdout.strip().splitlines()[-1]
    counts = re.search(r"(\d+) passed, (\d+) deselected", summary)
    assert counts and not re.search(r"failed|error|skipped", summary), ran[1].stdout[-3000:]
    passed, deselected = int(counts.group(1)), int(counts.group(2))
    assert passed >= len(README_SMOKE)
    assert passed + deselected >= defined_tests()
