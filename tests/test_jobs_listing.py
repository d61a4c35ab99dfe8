"""Listings by number (Huawei's, MPS's pipelines, ICE's templates): every filter, the
order and the page done by the store, on SQLite and PostgreSQL, reading only the page's
rows; and a JobService that runs nothing until it is started."""

from __future__ import annotations

import threading

from sqlalchemy import event

from stillframe.jobs import JobService

from .servers import wait_for

ASYNC_ONE = {"Interval": 1, "Num": 1}


def _job_threads() -> list[str]:
    return [th.name for th in threading.enumerate() if th.name.startswith(("stillframe-job-", "stillframe-live"))]


def test_jobs_by_number_are_filtered_ordered_and_paged_by_the_store(store, tmp_path, tiny):
    with JobService(store, workers=0) as svc:
        media = svc.register_media(tiny)
        pipe = svc.create_pipeline("p")
        ids = [
            svc.submit_snapshot_job(
                media if i % 2 else tiny,
                tmp_path / f"{i}/{{Count}}.jpg",
                ASYNC_ONE,
                pipeline_id=pipe if i < 3 else None,
            ).id
            for i in range(6)
        ]
        svc.cancel_snapshot_job(ids[4])
        newest = list(reversed(ids))
        page = svc.find_snapshot_jobs(offset=1, limit=2)
        assert (page.total, [j.id for j in page.items]) == (6, newest[1:3])
        oldest = svc.find_snapshot_jobs(newest_first=False, offset=4, limit=10)
        assert (oldest.total, [j.id for j in oldest.items]) == (6, ids[4:])
        assert [j.id for j in svc.find_snapshot_jobs(media=media).items] == [ids[5], ids[3], ids[1]]
        assert [j.id for j in svc.find_snapshot_jobs(pipeline_id=pipe).items] == [ids[2], ids[1], ids[0]]
        assert [j.id for j in svc.find_snapshot_jobs(ids=[ids[0], ids[5], "0" * 32]).items] == [ids[5], ids[0]]
        canceled = svc.find_snapshot_jobs(status="Fail", code=JobService.CANCELED)
        assert [j.id for j in canceled.items] == [ids[4]]
        assert svc.find_snapshot_jobs(status="Fail", not_code=JobService.CANCELED).total == 0
        assert svc.find_snapshot_jobs(status="Init", not_code=JobService.CANCELED).total == 5  # no Code yet
        assert svc.find_snapshot_jobs(offset=6).items == [] and svc.find_snapshot_jobs(offset=6).total == 6
        assert svc.find_snapshot_jobs(account="someone-else").total == 0
        # A page of a listing walked by token, narrowed by pipeline, is never short.
        walked = svc.list_snapshot_jobs(page_size=2, pipeline_id=pipe)
        assert [j.id for j in walked.jobs] == [ids[2], ids[1]] and walked.next_page_token
        rest = svc.list_snapshot_jobs(page_size=2, pipeline_id=pipe, next_page_token=walked.next_page_token)
        assert [j.id for j in rest.jobs] == [ids[0]] and rest.next_page_token is None


def test_a_page_reads_its_rows_not_the_table(store, tmp_path, tiny):
    with JobService(store, workers=0) as svc:
        for i in range(30):
            svc.submit_snapshot_job(tiny, tmp_path / f"{i}/{{Count}}.jpg", ASYNC_ONE)
        fetched = []

        def count(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("SELECT"):
                fetched.append(statement)

        event.listen(svc.engine, "after_cursor_execute", count)
        rows = []
        real = svc.repository.job_page

        def spy(*args, **kwargs):
            total, page = real(*args, **kwargs)
            rows.append(len(page))
            return total, page

        svc.repository.job_page = spy  # type: ignore[method-assign]
        found = svc.find_snapshot_jobs(offset=20, limit=5)
        event.remove(svc.engine, "after_cursor_execute", count)
    assert found.total == 30 and rows == [5]
    assert len(fetched) == 2  # the count and the page: two statements, each with its LIMIT or aggregate
    assert "LIMIT" in fetched[1].upper() and "OFFSET" in fetched[1].upper()


def test_templates_and_pipelines_by_number(store):
    with JobService(store, workers=0) as svc:
        tids = [svc.create_snapshot_template(f"shot {i}", {"Type": "Normal", "Count": 1}) for i in range(3)]
        sprite = svc.create_snapshot_template("sprite sheet", {"Type": "Sprite", "Count": 4, "Interval": 1})
        found = svc.find_snapshot_templates(newest_first=True, offset=1, limit=2)
        assert (found.total, [t.id for t in found.items]) == (4, [tids[2], tids[1]])
        assert [t.id for t in svc.find_snapshot_templates("Sprite").items] == [sprite]
        assert [t.id for t in svc.find_snapshot_templates(name="shot 1").items] == [tids[1]]
        assert [t.id for t in svc.find_snapshot_templates(name="%").items] == []  # a literal %, not a wildcard
        assert svc.find_snapshot_templates(ids=[tids[0], sprite]).total == 2
        pids = [svc.create_pipeline(f"p{i}") for i in range(4)]
        svc.update_pipeline(pids[1], state="Paused")
        active = svc.find_pipelines(state="Active", offset=1, limit=1)
        assert (active.total, [p.id for p in active.items]) == (3, [pids[2]])
        assert [p.id for p in svc.find_pipelines(ids=[pids[3], "nope", pids[0]]).items] == [pids[0], pids[3]]
        assert svc.find_pipelines(account="someone-else").total == 0


def test_a_service_runs_nothing_until_it_is_started(tmp_path, tiny):
    before = _job_threads()
    svc = JobService(tmp_path / "jobs.db", workers=2)
    try:
        job = svc.submit_snapshot_job(tiny, tmp_path / "{Count}.jpg", ASYNC_ONE)
        assert _job_threads() == before and svc.live_supervisor is None
        assert svc.get_snapshot_job(job.id).status == "Init"
        assert svc.start() is svc and svc.start() is svc  # a second start starts nothing more
        started = [n for n in _job_threads() if n not in before]
        assert sorted(started) == ["stillframe-job-0", "stillframe-job-1", "stillframe-live"]
        assert svc.live_supervisor is not None
        wait_for(lambda: svc.get_snapshot_job(job.id).status == "Success", 30, "the job run once started")
    finally:
        svc.close()
    assert [n for n in _job_threads() if n not in before] == []


def test_the_urls_command_lists_what_a_job_wrote(tmp_path, tiny, capsys):
    import json

    from stillframe.cli import main

    db = str(tmp_path / "jobs.db")
    with JobService(db, workers=0) as svc:
        job = svc.submit_snapshot_job(tiny, tmp_path / "one.jpg", {"Time": 0})  # synchronous: done on return
    assert main(["jobs", "urls", job.id, "--store", db]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {"Total": 1, "SnapshotUrls": [str(tmp_path / "one.jpg")], "WebVTTUrl": None}
