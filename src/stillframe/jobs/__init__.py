"""Snapshot jobs with the semantics of the cloud snapshot services (MPS, ICE,
Huawei VOD): submit, get, list with filters and page tokens, templates, pipelines,
media, and workers in this process or in others sharing the store."""

try:
    import alembic  # noqa: F401 - the jobs extra: the store's schema revisions
    import sqlalchemy  # noqa: F401
except ImportError as exc:
    raise ModuleNotFoundError(
        "stillframe.jobs needs the jobs extra (SQLAlchemy, Alembic): pip install 'stillframe[jobs]' "
        "('stillframe[s3]' for s3:// and oss://)",
        name=exc.name,
    ) from exc

from stillframe.jobs.config import SnapshotConfig  # noqa: E402
from stillframe.jobs.model import Page, Pipeline, SnapshotJob, Template  # noqa: E402
from stillframe.jobs.service import JobService  # noqa: E402

__all__ = ["JobService", "Page", "Pipeline", "SnapshotConfig", "SnapshotJob", "Template"]
