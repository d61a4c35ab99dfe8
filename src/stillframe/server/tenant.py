"""The job service as one caller may use it: every call is made for the caller's
account (another account's objects are not found), and URLs that make the server
connect somewhere (callbacks, notification targets, live streams) may not point at
loopback, private or other non-public addresses unless the server was told to allow
them (`--allow-private-urls`)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from stillframe.errors import InvalidParameter

__all__ = ["PrivateUrls", "Tenant"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class PrivateUrls:
    """Which non-public addresses outgoing URLs may reach: none by default."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, spec: str | None) -> PrivateUrls:
        """`--allow-private-urls`: "all", or CIDRs separated by commas (127.0.0.1/32,10.0.0.0/8)."""
        if not spec:
            return cls()
        if spec.strip().lower() == "all":
            return cls((ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")))
        try:
            return cls(
                tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())
            )
        except ValueError as exc:
            raise ValueError(f"--allow-private-urls takes 'all' or CIDRs such as 10.0.0.0/8: {exc}") from None

    def _addresses(self, host: str, what: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            return [ipaddress.ip_address(host.strip("[]").split("%", 1)[0])]
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None)
        except (OSError, UnicodeError):
            raise InvalidParameter(f"{what}: the host {host!r} does not resolve") from None
        return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]

    def check(self, url: str | None, what: str) -> None:
        """InvalidParameter when `url`'s host is (or resolves to) an address that is
        not public and not allowed."""
        if not url:
            return
        try:
            host = urlsplit(url).hostname
        except ValueError:
            raise InvalidParameter(f"{what} is not a URL: {url!r}") from None
        if not host:
            raise InvalidParameter(f"{what} names no host: {url!r}")
        for ip in self._addresses(host, what):
            if ip.is_global and not ip.is_multicast:
                continue
            if any(ip.version == net.version and ip in net for net in self.allowed):
                continue
            raise InvalidParameter(
                f"{what} points at {ip}, a loopback or private address; the server connects there only when "
                "started with --allow-private-urls"
            )


class Tenant:
    """JobService's calls as made for `account`. A name not listed in SCOPED is not a
    call a request may make (AttributeError), so no route can reach the store but
    through the service's own methods for its caller's account."""

    SCOPED = frozenset(
        {
            "submit_snapshot_job",
            "get_snapshot_job",
            "cancel_snapshot_job",
            "list_snapshot_jobs",
            "find_snapshot_jobs",
            "create_snapshot_template",
            "get_snapshot_template",
            "list_snapshot_templates",
            "find_snapshot_templates",
            "update_snapshot_template",
            "delete_snapshot_template",
            "get_pipeline",
            "list_pipelines",
            "find_pipelines",
            "delete_pipeline",
            "register_media",
            "get_media",
            "create_live_snapshot_template",
            "get_live_snapshot_template",
            "list_live_snapshot_templates",
            "update_live_snapshot_template",
            "delete_live_snapshot_template",
            "get_live_snapshot_job",
            "list_live_snapshot_jobs",
            "send_live_snapshot_job_command",
            "list_live_snapshot_files",
            "delete_live_snapshot_files",
        }
    )
    UNSCOPED = frozenset({"object_store_endpoint"})

    def __init__(self, service: Any, account: str, urls: PrivateUrls) -> None:
        self._service = service
        self.account = account
        self._urls = urls

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name in self.UNSCOPED:
            return getattr(self._service, name)  # type: ignore[no-any-return]
        if name not in self.SCOPED:
            raise AttributeError(f"{name!r} is not a call a request may make")
        method = getattr(self._service, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, account=self.account, **kwargs)

        return call

    # The calls that take URLs the server will connect to.

    def create_pipeline(self, name: Any, max_concurrency: int = 10, notify_url: str | None = None) -> str:
        """JobService.create_pipeline for this account; the notify URL checked against private addresses."""
        self._urls.check(notify_url, "NotifyConfig")
        return self._service.create_pipeline(name, max_concurrency, notify_url, account=self.account)  # type: ignore[no-any-return]

    def update_pipeline(
        self,
        pipeline_id: Any,
        name: str | None = None,
        max_concurrency: int | None = None,
        notify_url: str | None = None,
        state: str | None = None,
    ) -> Any:
        """JobService.update_pipeline for this account; the notify URL checked against private addresses."""
        self._urls.check(notify_url, "NotifyConfig")
        return self._service.update_pipeline(
            pipeline_id, name, max_concurrency, notify_url, state, account=self.account
        )

    def submit_live_snapshot_job(
        self,
        job_name: Any,
        stream_input: Any,
        template_id: Any,
        snapshot_output: dict[str, str],
        callback_url: str | None = None,
    ) -> Any:
        """JobService.submit_live_snapshot_job for this account; the stream and callback URLs checked
        against private addresses."""
        if isinstance(stream_input, dict):
            self._urls.check(str(stream_input.get("Url") or ""), "StreamInput.Url")
        self._urls.check(callback_url, "CallbackUrl")
        return self._service.submit_live_snapshot_job(
            job_name, stream_input, template_id, snapshot_output, callback_url, account=self.account
        )
