"""What every handler shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stillframe.server.buckets import Buckets
from stillframe.server.limits import Limits, SignInLimiter
from stillframe.server.replay import ReplayGuard
from stillframe.server.tenant import PrivateUrls, Tenant

DEFAULT_ACCOUNT = "default"  # the account of keys given without one (jobs.store.DEFAULT_ACCOUNT)


@dataclass
class ServerContext:
    """What every handler shares: the JobService, the access keys, the buckets, the replay guard, the region."""

    service: Any  # stillframe.jobs.JobService
    keys: dict[str, str]  # access key id -> secret
    buckets: Buckets = field(default_factory=Buckets)
    project_id: str = "stillframe"  # Huawei's {project_id} in paths
    region: str = "local"
    # Nonces seen: by default in the service's store when that is shared by servers on
    # several hosts (PostgreSQL), so a replay to any of them is refused; else here.
    replay: ReplayGuard | None = None
    insecure: bool = False  # --insecure-local: no key pairs, loopback only
    accounts: dict[str, str] = field(default_factory=dict)  # access key id -> account (else the default)
    limits: Limits = field(default_factory=Limits)
    private_urls: PrivateUrls = field(default_factory=PrivateUrls)  # --allow-private-urls
    signins: SignInLimiter = field(default_factory=SignInLimiter)  # failed sign-ins to the preview pages

    def __post_init__(self) -> None:
        if self.replay is None:
            shared = getattr(self.service, "shared_store", False) is True
            self.replay = ReplayGuard(store=self.service if shared else None)

    @property
    def guard(self) -> ReplayGuard:
        """The replay guard every signature check uses (nonces, in the store on PostgreSQL)."""
        assert self.replay is not None
        return self.replay

    def account_of(self, access_key_id: str | None) -> str:
        """The account a key belongs to (the default account for a key given without one)."""
        return self.accounts.get(access_key_id or "", DEFAULT_ACCOUNT)

    def tenant(self, account: str) -> Tenant:
        """The service as `account` may use it."""
        return Tenant(self.service, account, self.private_urls)
