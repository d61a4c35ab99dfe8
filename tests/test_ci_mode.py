"""CI mode (STILLFRAME_CI=1, tests/ci_mode.py): a skip for a missing component fails
the run, while the GPU's skips and those CI allows stay skips. Shown on a small suite
of its own, run by pytest in a process of its own with this suite's hooks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[1]

SUITE = {
    "conftest.py": """
from tests.ci_mode import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401
""",
    "test_parts.py": """
import pytest

def test_runs():
    pass

def test_needs_nginx():
    pytest.skip("nginx is not installed (Debian: apt-get install nginx)")

@pytest.fixture
def server():
    pytest.skip("PostgreSQL is not installed")

def test_needs_a_server(server):
    pass

@pytest.mark.gpu
@pytest.mark.skipif(True, reason="needs a CUDA GPU: none here")
def test_needs_a_gpu():
    pass

@pytest.mark.skipif(True, reason="builds and installs the wheel: STILLFRAME_WHEEL_TEST=1")
def test_a_later_step():
    pass

@pytest.mark.xfail(reason="known")
def test_expected_to_fail():
    assert False
""",
    "test_an_extra.py": """
import pytest

pytest.importorskip("no_such_module_here", reason="the extra is not installed")

def test_never_collected():
    pass
""",
}


def outcomes(tmp_path: Path, ci: bool, module: str) -> dict[str, str]:
    """How each test of `module` (with the conftest) ended, by name (a module that did
    not collect: by its own)."""
    for name in ("conftest.py", module):
        (tmp_path / name).write_text(SUITE[name])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("STILLFRAME_CI", None)
    if ci:
        env["STILLFRAME_CI"] = "1"
    report = tmp_path / "report.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            f"--junitxml={report}",
            module,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
    )
    got = {}
    for case in ElementTree.parse(report).iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        got[case.get("name") or ""] = kinds[0] if kinds else "passed"
    return got


@pytest.mark.parametrize("ci", [False, True], ids=["here", "ci"])
def test_in_ci_a_skip_for_a_missing_component_fails(tmp_path, ci):
    missing = "failure" if ci else "skipped"
    assert outcomes(tmp_path, ci, "test_parts.py") == {
        "test_runs": "passed",
        "test_needs_nginx": missing,
        "test_needs_a_server": "error" if ci else "skipped",  # in its fixture: an error at setup
        "test_needs_a_gpu": "skipped",
        "test_a_later_step": "skipped",
        "test_expected_to_fail": "skipped",  # an expected failure is no missing component
    }
    # A module skipped as it is collected: in CI a collection error, which stops the run.
    assert outcomes(tmp_path, ci, "test_an_extra.py") == {"test_an_extra": "error" if ci else "skipped"}
