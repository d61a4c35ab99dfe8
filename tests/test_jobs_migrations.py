"""The job store's schema revisions: a store made by the release before versions were
kept (tests/legacy_store.py) or by the releases with accounts after it
(legacy_store_accounts.py), with jobs in it, is refused in one line, upgraded by
`stillframe jobs migrate` and then read and run with its jobs intact, on SQLite and on
PostgreSQL; the revisions from empty give the tables a new store has."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import insert, inspect, select, text

from stillframe.cli import main
from stillframe.errors import JobNotFound, StoreOutdated
from stillframe.jobs import JobService, schema
from stillframe.jobs import store as t
from stillframe.jobs.config import config_from

from . import legacy_store as old
from . import legacy_store_accounts as accounts


def shape(engine) -> dict:
    """Each table's columns (name, type, nullable; in any order) and indexes, as the database reports them."""
    seen = inspect(engine)
    out = {}
    for table in seen.get_table_names():
        if table == schema.VERSION_TABLE:
            continue
        cols = sorted((c["name"], str(c["type"]), c["nullable"]) for c in seen.get_columns(table))
        idx = sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in seen.get_indexes(table))
        out[table] = (cols, idx)
    return out


def fresh_shape(store: str, tmp_path, request) -> dict:
    """The tables of a new store of the same kind as `store`, made at the newest revision."""
    other = str(tmp_path / "fresh.db") if "://" not in store else request.getfixturevalue("postgres_url")
    fresh = t.connect(other)
    try:
        return shape(fresh)
    finally:
        fresh.dispose()


def _old_config(cfg: dict) -> dict:
    cfg = dict(cfg)
    cfg.pop("tolerance")  # a field added after that release: its jobs do not have it
    return cfg


def fill_legacy(url: str, tiny: str, out: str) -> dict:
    """A store made as the release before versions made it, holding a queued job, a
    finished one, a template, a pipeline, a media, a live template and job with a
    file, and the store's token key; returns their ids."""
    engine = t.connect(url, prepare=False)
    old.make(engine)
    now = time.time()
    ids = {k: uuid.uuid4().hex for k in ("queued", "done", "template", "pipeline", "media", "live_tpl", "live")}
    job = dict(
        name=None,
        type="Normal",
        trigger_source="API",
        output={"Type": "File", "Media": out},
        template_id=None,
        user_data="kept",
        is_async=True,
        create_time=now,
        submit_time=now,
        modified_time=now,
        attempts=0,
        runs=0,
    )
    with engine.begin() as conn:
        conn.execute(insert(old.media).values(id=ids["media"], url=tiny, create_time=now))
        conn.execute(
            insert(old.pipelines).values(
                id=ids["pipeline"],
                name="p",
                max_concurrency=2,
                notify_url=None,
                state="Active",
                create_time=now,
                modified_time=now,
            )
        )
        conn.execute(
            insert(old.jobs).values(
                id=ids["done"],
                **job,
                input={"Type": "File", "Media": tiny},
                status="Success",
                config=_old_config(config_from({"Time": 0}).to_dict()),
                result={"files": [out], "times": [0.0]},
                count=1,
                finish_time=now,
            )
        )
        conn.execute(
            insert(old.jobs).values(
                id=ids["queued"],
                **{**job, "create_time": now + 1},
                input={"Type": "Media", "Media": ids["media"]},
                status="Init",
                pipeline_id=ids["pipeline"],
                config=_old_config(config_from({"Time": 0, "Interval": 0.25, "Num": 3}).to_dict()),
            )
        )
        conn.execute(
            insert(old.templates).values(
                id=ids["template"],
                name="tpl",
                type="Normal",
                config={"stillframe": config_from({"Time": 0}).to_dict()},
                create_time=now,
                modified_time=now,
            )
        )
        conn.execute(
            insert(old.live_templates).values(
                id=ids["live_tpl"],
                name="lt",
                time_interval=5,
                overwrite_format="{JobId}.jpg",
                sequence_format=None,
                create_time=now,
                modified_time=now,
            )
        )
        conn.execute(
            insert(old.live_jobs).values(
                id=ids["live"],
                name="lj",
                template_id=ids["live_tpl"],
                template_name="lt",
                time_interval=5,
                overwrite_format="{JobId}.jpg",
                sequence_format=None,
                stream_input={"Url": "rtmp://h/a/s", "Type": "rtmp"},
                snapshot_output={"StorageType": "local", "Bucket": os.path.dirname(out)},
                callback_url=None,
                status="paused",
                want=False,
                epoch=1,
                reason="stopped by command",
                sequence=7,
                create_time=now,
                modified_time=now,
            )
        )
        conn.execute(
            insert(old.live_files).values(
                job_id=ids["live"],
                create_ms=int(now * 1000),
                object="x.jpg",
                is_overlay=True,
                sequence=7,
                stream_time=1.0,
            )
        )
        conn.execute(insert(old.meta).values(key="token_key", value="ab" * 32))
    engine.dispose()
    return ids


def test_a_store_of_the_release_before_versions_is_refused_then_migrated_with_its_jobs_intact(
    store, tiny, tmp_path, request
):
    ids = fill_legacy(store, tiny, str(tmp_path / "out" / "{Count}.jpg"))
    with pytest.raises(StoreOutdated, match=r"run `stillframe jobs migrate --store "):
        JobService(store, workers=0)
    assert main(["jobs", "migrate", "--store", store]) == 0
    with JobService(store, workers=0) as svc:
        assert shape(svc.engine) == fresh_shape(store, tmp_path, request)
        with svc.engine.connect() as conn:
            assert schema.revision(conn) == schema.head()
            assert conn.execute(select(t.meta.c.value).where(t.meta.c.key == "token_key")).scalar() == "ab" * 32
            limits = dict(conn.execute(select(t.jobs.c.id, t.jobs.c.snapshot_limit)).all())
            inputs = dict(conn.execute(select(t.jobs.c.id, t.jobs.c.input_media)).all())
        assert limits == {ids["queued"]: 20000, ids["done"]: None}  # the queued job gets the default cap
        assert inputs == {ids["queued"]: ids["media"], ids["done"]: tiny}  # filled from each job's input
        assert [j.id for j in svc.find_snapshot_jobs(media=ids["media"]).items] == [ids["queued"]]
        done = svc.get_snapshot_job(ids["done"], account="default")  # the old rows are the default account's
        assert (done.status, done.count, done.user_data, done.result["times"]) == ("Success", 1, "kept", [0.0])
        assert [j.id for j in svc.list_snapshot_jobs(account="default").jobs] == [ids["queued"], ids["done"]]
        assert svc.get_snapshot_template(ids["template"]).name == "tpl"
        assert svc.get_pipeline(ids["pipeline"]).max_concurrency == 2
        assert svc.get_media(ids["media"]).root is None
        live = svc.get_live_snapshot_job(ids["live"])
        assert (live.status, live.sequence, live.reason) == ("paused", 7, "stopped by command")
        # The queued job, with its config as that release wrote it, runs to its end.
        assert svc.runner.run_once()
        ran = svc.get_snapshot_job(ids["queued"])
        assert (ran.status, ran.count, ran.pipeline_id) == ("Success", 3, ids["pipeline"])
        assert sorted(os.listdir(tmp_path / "out")) == ["00001.jpg", "00002.jpg", "00003.jpg"]
    assert main(["jobs", "migrate", "--store", store]) == 0  # at the newest already: nothing to do


def test_a_store_of_the_releases_with_accounts_but_no_version_is_adopted(store, tiny, tmp_path, request):
    engine = t.connect(store, prepare=False)
    accounts.make(engine)  # as the releases from accounts until revisions made a store
    with engine.begin() as conn:
        conn.execute(
            insert(accounts.jobs).values(
                id="a" * 32,
                account="acme",
                type="Normal",
                trigger_source="API",
                input={"Type": "File", "Media": tiny},
                output={"Type": "File", "Media": str(tmp_path / "x.jpg")},
                config=config_from({"Time": 0}).to_dict(),
                is_async=False,
                status="Success",
                create_time=1.0,
                submit_time=1.0,
                modified_time=1.0,
                attempts=1,
                runs=1,
                snapshot_limit=5,
            )
        )
        conn.execute(insert(accounts.nonces).values(key="k", expire_time=2.0))
    with pytest.raises(StoreOutdated, match="kept no schema version"):
        JobService(store, workers=0)
    assert schema.migrate(engine) == (None, schema.head())
    assert shape(engine) == fresh_shape(store, tmp_path, request)
    engine.dispose()
    with JobService(store, workers=0) as svc:
        assert svc.get_snapshot_job("a" * 32, account="acme").status == "Success"
        with pytest.raises(JobNotFound):
            svc.get_snapshot_job("a" * 32, account="default")
        assert [j.id for j in svc.find_snapshot_jobs(media=tiny, account="acme").items] == ["a" * 32]
        with svc.engine.connect() as conn:
            assert conn.execute(select(t.nonces.c.key)).scalars().all() == ["k"]


def test_the_revisions_from_empty_give_the_tables_a_new_store_has(store, tmp_path, request):
    migrated = t.connect(store, prepare=False)
    assert schema.migrate(migrated) == (None, schema.head())
    assert shape(migrated) == fresh_shape(store, tmp_path, request)
    migrated.dispose()


def test_the_baseline_revision_is_the_schema_of_the_release_before_versions(tmp_path):
    from alembic import command

    made = t.connect(tmp_path / "old.db", prepare=False)
    old.make(made)
    baseline = t.connect(tmp_path / "baseline.db", prepare=False)
    with baseline.begin() as conn:
        command.upgrade(schema._config(conn), schema.BASELINE)
    assert shape(baseline) == shape(made)


def test_a_store_of_a_newer_release_is_refused(tmp_path):
    t.connect(tmp_path / "jobs.db").dispose()
    engine = t.connect(tmp_path / "jobs.db", prepare=False)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = 'f00d'"))
    with pytest.raises(StoreOutdated, match=r"revision f00d, which this stillframe does not know .*upgrade stillframe"):
        JobService(tmp_path / "jobs.db", workers=0)
    with pytest.raises(StoreOutdated, match="upgrade stillframe"):
        schema.migrate(engine)
    engine.dispose()


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.mark.parametrize("command", [["worker", "--drain"], ["serve", "--insecure-local", "--port"]])
def test_servers_and_workers_refuse_an_old_store_in_one_line(tmp_path, tiny, command):
    if command[0] == "serve":
        command = [*command, _free_port()]
    db = tmp_path / "jobs.db"
    fill_legacy(str(db), tiny, str(tmp_path / "{Count}.jpg"))
    done = subprocess.run(
        [sys.executable, "-m", "stillframe.cli", *command, "--store", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path)},
    )
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"stillframe: error: StoreOutdated: the job store sqlite:///{db} is made by a release that kept no schema "
        f"version and this stillframe needs revision {schema.head()}: run `stillframe jobs migrate --store "
        f"sqlite:///{db}` (with every server and worker on it stopped)"
    ], done.stderr
    assert "stillframe serve:" not in done.stdout  # refused before it says it serves
