"""What every handler shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stillframe.server.buckets import Buckets
from stillframe.server.replay import ReplayGuard


@dataclass
class ServerContext:
    """What every handler shares: the JobService, the access keys, the buckets, the replay guard, the region."""

    service: Any  # stillframe.jobs.JobService
    keys: dict[str, str]  # access key id -> secret
    buckets: Buckets = field(default_factory=Buckets)
    project_id: str = "stillframe"  # Huawei's {project_id} in paths
    region: str = "local"
    replay: ReplayGuard = field(default_factory=ReplayGuard)
    insecure: bool = False  # --insecure-local: no key pairs, loopback only
    session_secret: bytes = b""  # signs the preview pages' cookies
