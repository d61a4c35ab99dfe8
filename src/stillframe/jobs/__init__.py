"""Snapshot jobs with the semantics of the cloud snapshot services (MPS, ICE,
Huawei VOD): submit, get, list with filters and page tokens, templates, pipelines,
media, and workers in this process or in others sharing the store."""

from stillframe.jobs.config import SnapshotConfig
from stillframe.jobs.model import Page, Pipeline, SnapshotJob, Template
from stillframe.jobs.service import JobService

__all__ = ["JobService", "Page", "Pipeline", "SnapshotConfig", "SnapshotJob", "Template"]
