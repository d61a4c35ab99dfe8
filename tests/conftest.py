"""Shared fixtures: generated clips (made once per session) and the real-world media
in ../shared/media."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stillframe import testsrc

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


@pytest.fixture(params=["sqlite", "postgres"])
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
