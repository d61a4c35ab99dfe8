"""What jobs refer to by ID: snapshot templates, pipelines and media (a service of
JobService, over the store's Repository).

Each belongs to an account. `account=None` (the library, the CLI) sees every
account's and makes the default account's; a server passes the caller's account,
and another account's object is not found, never forbidden."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stillframe.errors import (
    InvalidParameter,
    MissingParameter,
    PipelineNotFound,
    ResourceNotFound,
    TemplateNotFound,
)
from stillframe.jobs.config import SnapshotConfig, from_ice_config
from stillframe.jobs.model import Found, Pipeline, Template
from stillframe.jobs.repository import Repository, owner
from stillframe.jobs.storage import Storage, normalise_location

__all__ = ["Catalog", "Media"]


@dataclass(frozen=True)
class Media:
    """A registered media: where it is, and the folder it must stay in when read."""

    id: str
    url: str
    root: str | None


class Catalog:
    """Templates, pipelines and media. `ring` wakes this process's idle workers (a
    pipeline resumed or given room may have claimable jobs)."""

    def __init__(self, repo: Repository, storage: Storage, ring: Callable[[], None] = lambda: None) -> None:
        self.repo = repo
        self.storage = storage
        self._ring = ring

    # -- templates ---------------------------------------------------------------------

    def create_snapshot_template(
        self,
        name: str,
        config: Mapping[str, Any] | SnapshotConfig,
        type: str | None = None,
        *,
        account: str | None = None,
    ) -> str:
        """ICE AddTemplate for snapshots: Type Normal / Sprite / WebVtt."""
        if not name:
            raise MissingParameter("Name is required")
        cfg = config if isinstance(config, SnapshotConfig) else from_ice_config(config, type)
        if type is not None and isinstance(config, SnapshotConfig):
            cfg = cfg.with_type(type)
        now = time.time()
        tid = uuid.uuid4().hex
        stored = {"stillframe": cfg.to_dict(), "source": dict(config) if isinstance(config, Mapping) else None}
        self.repo.insert_template(
            dict(
                id=tid,
                account=owner(account),
                name=name,
                type=cfg.type,
                config=stored,
                create_time=now,
                modified_time=now,
            )
        )
        return tid

    def get_snapshot_template(self, template_id: str, *, account: str | None = None) -> Template:
        """The snapshot template with that id; TemplateNotFound when there is none."""
        row = self.repo.template(template_id, account)
        if row is None:
            raise TemplateNotFound(f"template {template_id} does not exist")
        return Template.from_row(row)

    def list_snapshot_templates(self, type: str | None = None, *, account: str | None = None) -> list[Template]:
        """Every snapshot template (of one Type, when given), oldest first."""
        return self.find_snapshot_templates(type, account=account).items

    def find_snapshot_templates(
        self,
        type: str | None = None,
        *,
        ids: Iterable[str] | None = None,
        name: str | None = None,
        newest_first: bool = False,
        offset: int = 0,
        limit: int | None = None,
        account: str | None = None,
    ) -> Found[Template]:
        """Snapshot templates of one Type, among `ids`, whose name holds `name`, oldest
        first (or newest), from `offset` on, at most `limit`; with how many match."""
        total, rows = self.repo.template_page(
            account, type=type, ids=ids, name=name, desc=newest_first, offset=offset, limit=limit
        )
        return Found(total, [Template.from_row(r) for r in rows])

    def update_snapshot_template(
        self,
        template_id: str,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        account: str | None = None,
    ) -> Template:
        """Rename the template or replace its configuration (an ICE template config); returns it as it is now."""
        current = self.get_snapshot_template(template_id, account=account)
        values: dict[str, Any] = {"modified_time": time.time()}
        if name:
            values["name"] = name
        if config is not None:
            cfg = from_ice_config(config, current.type)
            values["config"] = {"stillframe": cfg.to_dict(), "source": dict(config)}
        self.repo.update_template(template_id, values)
        return self.get_snapshot_template(template_id, account=account)

    def delete_snapshot_template(self, template_id: str, *, account: str | None = None) -> None:
        """Delete the snapshot template with that id; TemplateNotFound when there is none."""
        self.get_snapshot_template(template_id, account=account)
        self.repo.delete_template(template_id)

    # -- pipelines -----------------------------------------------------------------------

    def create_pipeline(
        self, name: str, max_concurrency: int = 10, notify_url: str | None = None, *, account: str | None = None
    ) -> str:
        """A named queue: at most `max_concurrency` of its jobs run at once; when a job
        ends, `notify_url` (http/https) receives a JSON POST."""
        if not name:
            raise MissingParameter("Name is required")
        self._check_pipeline(max_concurrency, notify_url)
        now = time.time()
        pid = uuid.uuid4().hex
        self.repo.insert_pipeline(
            dict(
                id=pid,
                account=owner(account),
                name=name,
                max_concurrency=max_concurrency,
                notify_url=notify_url,
                state="Active",
                create_time=now,
                modified_time=now,
            )
        )
        return pid

    @staticmethod
    def _check_pipeline(max_concurrency: int | None, notify_url: str | None) -> None:
        if max_concurrency is not None and (not isinstance(max_concurrency, int) or not 1 <= max_concurrency <= 1000):
            raise InvalidParameter(f"MaxConcurrency must be in 1..1000, not {max_concurrency!r}")
        if notify_url and not notify_url.startswith(("http://", "https://")):
            raise InvalidParameter(f"NotifyUrl must be an http or https URL, not {notify_url!r}")

    def get_pipeline(self, pipeline_id: str, *, account: str | None = None) -> Pipeline:
        """The pipeline with that id; PipelineNotFound when there is none."""
        row = self.repo.pipeline(pipeline_id, account)
        if row is None:
            raise PipelineNotFound(f"pipeline {pipeline_id} does not exist")
        return Pipeline.from_row(row)

    def list_pipelines(self, *, account: str | None = None) -> list[Pipeline]:
        """Every pipeline, oldest first."""
        return self.find_pipelines(account=account).items

    def find_pipelines(
        self,
        *,
        ids: Iterable[str] | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        account: str | None = None,
    ) -> Found[Pipeline]:
        """Pipelines among `ids`, in `state` (Active or Paused), oldest first, from
        `offset` on, at most `limit`; with how many match."""
        total, rows = self.repo.pipeline_page(account, ids=ids, state=state, offset=offset, limit=limit)
        return Found(total, [Pipeline.from_row(r) for r in rows])

    def update_pipeline(
        self,
        pipeline_id: str,
        name: str | None = None,
        max_concurrency: int | None = None,
        notify_url: str | None = None,
        state: str | None = None,
        *,
        account: str | None = None,
    ) -> Pipeline:
        """Change a pipeline's name, concurrency, notify URL or State (Active or Paused); returns it as it is now."""
        self.get_pipeline(pipeline_id, account=account)
        self._check_pipeline(max_concurrency, notify_url)
        if state is not None and state not in ("Active", "Paused"):
            raise InvalidParameter(f"State must be Active or Paused, not {state!r}")
        values: dict[str, Any] = {
            k: v
            for k, v in dict(name=name, max_concurrency=max_concurrency, notify_url=notify_url, state=state).items()
            if v is not None
        }
        values["modified_time"] = time.time()
        self.repo.update_pipeline(pipeline_id, values)  # resumed, or given more room: workers are told
        self._ring()
        return self.get_pipeline(pipeline_id, account=account)

    def delete_pipeline(self, pipeline_id: str, *, account: str | None = None) -> None:
        """Delete the pipeline with that id; PipelineNotFound when there is none."""
        self.get_pipeline(pipeline_id, account=account)
        self.repo.delete_pipeline(pipeline_id)

    # -- media -----------------------------------------------------------------------------

    def register_media(
        self, path_or_url: str | os.PathLike[str], *, root: str | None = None, account: str | None = None
    ) -> str:
        """A media ID for ICE `{Type: Media}` inputs. `root`: a folder the media must
        resolve inside whenever a job reads it (its bucket)."""
        url = normalise_location(path_or_url, "media")
        mid = uuid.uuid4().hex
        self.repo.insert_media(mid, account, url, root)
        return mid

    def get_media(self, media_id: str, *, account: str | None = None) -> Media:
        """A registered media, or ResourceNotFound (InvalidParameter.ResourceNotFound)."""
        row = self.repo.media(media_id, account)
        if row is None:
            raise ResourceNotFound(f"media {media_id} is not registered")
        return Media(row.id, row.url, row.root)

    def object_store_endpoint(self) -> str | None:
        """The endpoint URL object stores are reached at (the storage options'), if set."""
        value = self.storage.options.get("endpoint_url")
        return str(value) if value else None
