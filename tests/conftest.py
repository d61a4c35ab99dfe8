"""Shared fixtures: generated clips (made once per session) and the real-world media
in ../shared/media; the markers tests get from the fixtures they use; CI mode
(STILLFRAME_CI=1, tests/ci_mode.py), where a skip for a missing component fails; and
the README check: its commands started early, and its inner run
(STILLFRAME_README_RUN=1), which collects the suite and runs a few."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stillframe import testsrc

from .ci_mode import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media" / "torchcodec"


def media_root() -> Path:
    """The real-world media: the folder STILLFRAME_TEST_MEDIA names, else
    ../shared/media/torchcodec beside the checkout."""
    named = os.environ.get("STILLFRAME_TEST_MEDIA")
    return Path(named) if named else MEDIA


def media(name: str) -> Path:
    """A file of the shared real-world media; the test is skipped only if that
    folder is absent (point STILLFRAME_TEST_MEDIA at it)."""
    path = media_root() / name
    if not path.exists():
        pytest.skip(f"shared media {path} is not present (set STILLFRAME_TEST_MEDIA to the folder)")
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory):
    """Lazily made generated clips, keyed by name, cached for the session."""
    root = tmp_path_factory.mktemp("clips")
    made: dict[str, Path] = {}

    def get(name: str, **kwargs) -> Path:
        if name not in made:
            made[name] = testsrc.make_video(root / name, **kwargs)
        return made[name]

    return get


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session (tests/pg.py), started on first use; the
    test skips where PostgreSQL is not installed."""
    from . import pg

    if pg.find_bindir() is None:
        pytest.skip(pg.MISSING)
    with pg.running() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The SQLAlchemy URL of a new, empty database on the session's server."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path) -> str:
    """The job store a test runs on: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "jobs.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def tiny(clips) -> str:
    """A 1 s 128x96 clip for job tests."""
    return str(clips("tiny.mp4", frames=30, size=(128, 96), gop=10))


@pytest.fixture(scope="session")
def stream_media(tmp_path_factory: pytest.TempPathFactory):
    """HLS, DASH, fragmented MP4 and cue-less Matroska made from one small clip
    (tests/streams_media.py), each made on first use."""
    from .streams_media import StreamMedia

    return StreamMedia(tmp_path_factory.mktemp("streams"))


@pytest.fixture(scope="session")
def codec_clips(tmp_path_factory: pytest.TempPathFactory):
    """AV1 (SVT-AV1 in MP4, libaom in WebM), H.264, HEVC and VP9 clips by name
    (tests/codec_media.py), each made on first use."""
    from .codec_media import make

    root = tmp_path_factory.mktemp("codecs")
    return lambda name: make(root, name)


# -- markers, the README check ------------------------------------------------------------

# The README check (tests/test_readme_commands.py) runs the README's test command, as
# printed, in a new venv with STILLFRAME_README_RUN=1. That run collects the whole suite
# (an import or collection error fails it) and runs these few, one a layer, rather than
# the whole suite a second time.
README_SMOKE = (  # a test's every parametrisation, or the one named
    "tests/test_public_surface.py::test_all_is_sorted_and_complete",  # the packages and their extras import
    "tests/test_jpeg.py::test_batch_equals_single_calls_and_ignores_thread_count",  # the native core
    "tests/test_snapshot.py::test_interval_snapshot_writes_exact_frames",  # the engine, end to end
    "tests/test_snapshot.py::test_cli_probe_and_snapshot",  # the command line
    "tests/test_jobs.py::test_sync_and_async_jobs[sqlite]",  # the job service
)


def _in_readme_smoke(item: pytest.Item) -> bool:
    return item.nodeid in README_SMOKE or item.nodeid.split("[")[0] in README_SMOKE


README_CHECK = "tests/test_readme_commands.py::test_the_readme_commands_work_verbatim_in_a_new_venv"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)  # so that -m "not postgres" leaves every one out
    # The README check last: its commands run meanwhile (tests/readme_run.py).
    items.sort(key=lambda item: item.nodeid == README_CHECK)
    if os.environ.get("STILLFRAME_README_RUN") == "1":
        kept = [i for i in items if _in_readme_smoke(i)]
        missing = [n for n in README_SMOKE if not any(i.nodeid == n or i.nodeid.startswith(n + "[") for i in kept)]
        if missing:
            raise pytest.UsageError(f"README_SMOKE names tests the suite does not have: {', '.join(missing)}")
        config.hook.pytest_deselected(items=[i for i in items if not _in_readme_smoke(i)])
        items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.config.option.collectonly and any(item.nodeid == README_CHECK for item in session.items):
        from . import readme_run

        readme_run.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from . import readme_run

    readme_run.stop()
