"""Snapshot jobs with the semantics of the cloud snapshot services (MPS, ICE,
Huawei VOD): submit, get, list with filters and page tokens, templates, pipelines,
media, and workers in this process or in others sharing the store."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from stillframe._lazy import lazy_names as _lazy_names

# The jobs extra is looked for, not loaded: the command line builds its `jobs`
# parsers from this package without paying for SQLAlchemy and Alembic.
for _extra in ("alembic", "sqlalchemy"):  # the store's schema revisions, and the store
    if importlib.util.find_spec(_extra) is None:
        raise ModuleNotFoundError(
            "stillframe.jobs needs the jobs extra (SQLAlchemy, Alembic): pip install 'stillframe[jobs]' "
            "('stillframe[s3]' for s3:// and oss://)",
            name=_extra,
        )

if TYPE_CHECKING:
    from stillframe.jobs.config import SnapshotConfig
    from stillframe.jobs.model import Page, Pipeline, SnapshotJob, Template
    from stillframe.jobs.service import JobService

# Each public name is loaded from its module when first used.
_WHERE = {
    "SnapshotConfig": "stillframe.jobs.config",
    "Page": "stillframe.jobs.model",
    "Pipeline": "stillframe.jobs.model",
    "SnapshotJob": "stillframe.jobs.model",
    "Template": "stillframe.jobs.model",
    "JobService": "stillframe.jobs.service",
}

__getattr__, __dir__ = _lazy_names(__name__, _WHERE)


__all__ = ["JobService", "Page", "Pipeline", "SnapshotConfig", "SnapshotJob", "Template"]
