"""`stillframe jobs wait` keeps looking for a worker while it waits, says when the
job is left with none, and gives up after --timeout."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

pytest.importorskip("sqlalchemy", reason="the jobs extra: pip install 'stillframe[jobs]'")

from stillframe.jobs import JobService  # noqa: E402
from stillframe.jobs.store import HEARTBEAT_STALE, meta  # noqa: E402


def test_a_worker_that_goes_away_while_waiting_is_noticed(tiny, tmp_path):
    store = str(tmp_path / "jobs.db")
    with JobService(store, workers=0) as svc:
        job = svc.submit_snapshot_job(tiny, str(tmp_path / "out/{Count}.jpg"), {"Interval": 0.5, "Num": 2})
        assert job.status == "Init"
        # Another process's worker polled this store a moment ago, and has since stopped.
        with svc.engine.begin() as conn:
            conn.execute(meta.insert().values(key="worker:gone", value=f"{time.time() - HEARTBEAT_STALE + 1:.3f}"))
        r = subprocess.run(
            [sys.executable, "-m", "stillframe.cli", "jobs", "wait", job.id, "--store", store, "--timeout", "00:04"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1, r.stderr
        assert len(lines) == 2, r.stderr  # said once, then the time-out
        assert lines[0].startswith(f"stillframe: job {job.id} waits for a worker, and none has polled")
        assert f"stillframe worker --store {store}" in lines[0]
        assert lines[1] == f"stillframe: error: SnapshotTimeOut: job {job.id} is still Init after 4 s (it goes on)"
        # Once a worker has run it, waiting returns the finished job.
        assert svc.runner.run_once()
    r = subprocess.run(
        [sys.executable, "-m", "stillframe.cli", "jobs", "wait", job.id, "--store", store],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and r.stderr == "" and json.loads(r.stdout)["Status"] == "Success"
