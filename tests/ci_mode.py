"""CI mode: with STILLFRAME_CI=1 (.ci/run sets it for the README's test command), a test
skipped for a missing component fails instead. Its hooks are registered by
tests/conftest.py; tests/test_ci_mode.py runs them on a small suite of its own."""

from __future__ import annotations

import os

import pytest

# In CI every component a test needs is installed (.ci/run), so there a skip saying one
# is missing (PostgreSQL, nginx-rtmp, Chromium, ffmpeg, network namespaces, an extra...)
# fails the run. These skips stay skips: the `gpu` marker's (CI has no GPU), and those
# whose reason holds one of the following.
SKIPS_CI_ALLOWS = (
    "shared media",  # media(): real-world files from outside the checkout, where someone put them
    "STILLFRAME_WHEEL_TEST=1",  # test_wheel: .ci/run builds the wheel and runs these in a later step
    "root writes into any folder",  # test_files: as root, its /proc test stands in
)


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)


def _fail_in_ci(report: pytest.CollectReport | pytest.TestReport, gpu: bool) -> None:
    if os.environ.get("STILLFRAME_CI") != "1" or not report.skipped or hasattr(report, "wasxfail") or gpu:
        return
    reason = _skip_reason(report)
    if not any(allowed in reason for allowed in SKIPS_CI_ALLOWS):
        report.outcome = "failed"
        report.longrepr = f"STILLFRAME_CI=1: skipped, and CI has every component installed: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    _fail_in_ci(report, gpu=item.get_closest_marker("gpu") is not None)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    _fail_in_ci(report, gpu=False)
    return report
