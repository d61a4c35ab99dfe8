"""Huawei Cloud's SDK-HMAC-SHA256 request signature, as huaweicloudsdkcore's Signer
writes it, and its verification (the same steps, then a comparison)::

    canonical request = METHOD \\n URI \\n query \\n headers \\n signed headers \\n payload hash
    string to sign    = SDK-HMAC-SHA256 \\n X-Sdk-Date \\n hex(sha256(canonical request))
    signature         = hex(hmac_sha256(SK, string to sign))
    Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b;c, Signature=HEX

URI: each path segment decoded then `quote(safe="~")`, always ending in `/`. Query:
the (name, value) pairs sorted, each side `quote(safe="~")`. Payload hash: of "" for
no body, else the X-Sdk-Content-Sha256 header when sent (`UNSIGNED-PAYLOAD`), else
hex SHA-256 of the body.

Replay: the SDK sends no nonce, only X-Sdk-Date to the second, so two honest
identical requests in one second carry one signature. Reads (GET, HEAD) are
therefore only held to the date window; a request that changes state is refused
when its signature was already seen within that window (ReplayGuard remembers it
for as long); so two identical creating requests sent within one second are one
request here, as nothing in them tells them apart. What the SDK always signs must be
signed (Host and X-Sdk-Date): a proxy in front must pass Host unchanged. Failures
answer as API Gateway does: 401 `APIGW.0301`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from stillframe.errors import StillframeError
from stillframe.server._signing import authorization_fields, canonical_query, hmac_sha256_hex, percent, same, sha256_hex
from stillframe.server.replay import NonceUsed, ReplayGuard, Stale

__all__ = ["HuaweiAuthError", "SdkHmacSha256", "SignedRequest"]

EMPTY_HASH = sha256_hex(b"")
READS = ("GET", "HEAD")


class HuaweiAuthError(StillframeError, PermissionError):
    """The request's AK/SK signature is missing, wrong, stale or replayed."""

    code = "APIGW.0301"
    http_status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(f"Incorrect IAM authentication information: {reason}")


@dataclass(frozen=True)
class SignedRequest:
    """What a signature covers. `path` is decoded (the SDK's resource_path);
    `headers` have lower-case names."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes = b""


class SdkHmacSha256:
    """Huawei's SDK-HMAC-SHA256 signature (the VOD and MPC SDKs'): a canonical request signed with the secret, the
    date in X-Sdk-Date; verify() is signing's mirror image, with the date and nonce checked against replays."""

    algorithm = "SDK-HMAC-SHA256"
    date_format = "%Y%m%dT%H%M%SZ"
    date_header = "x-sdk-date"
    content_header = "x-sdk-content-sha256"
    # What the SDK always signs; unsigned, a replayer could change them.
    required_headers = ("host", "x-sdk-date")

    @staticmethod
    def canonical_uri(path: str) -> str:
        """The path percent-encoded segment by segment, with a trailing slash (as the SDK signs it)."""
        uri = "/".join(percent(seg) for seg in path.split("/"))
        return uri if uri.endswith("/") else uri + "/"

    @staticmethod
    def canonical_query(pairs: Sequence[tuple[str, str]]) -> str:
        """The query as the scheme signs it: pairs sorted, percent-encoded."""
        return canonical_query(pairs)

    def payload_hash(self, req: SignedRequest) -> str:
        """The body's SHA-256, hex (X-Sdk-Content-Sha256 when sent; the empty body's hash for none)."""
        if not req.body:
            return EMPTY_HASH
        return req.headers.get(self.content_header) or sha256_hex(req.body)

    def canonical_request(self, req: SignedRequest, signed_headers: Sequence[str]) -> str:
        """The canonical request: method, path, query, headers, signed header names and the payload's hash, a line
        each."""
        headers = "".join(f"{h}:{req.headers.get(h, '').strip()}\n" for h in signed_headers)
        return "\n".join(
            [
                req.method.upper(),
                self.canonical_uri(req.path),
                self.canonical_query(req.query),
                headers,
                ";".join(signed_headers),
                self.payload_hash(req),
            ]
        )

    def string_to_sign(self, canonical_request: str, date: str) -> str:
        """The algorithm, the request's date and the canonical request's SHA-256, a line each."""
        return f"{self.algorithm}\n{date}\n{sha256_hex(canonical_request.encode())}"

    def signature(self, secret: str, string_to_sign: str) -> str:
        """HMAC-SHA256 of the string to sign under `secret`, hex."""
        return hmac_sha256_hex(secret, string_to_sign)

    # -- signing ------------------------------------------------------------------------

    def sign(self, req: SignedRequest, access: str, secret: str, when: datetime | None = None) -> dict[str, str]:
        """The request's headers plus X-Sdk-Date (from `when`, default now, unless
        already there) and Authorization. As the SDK does, every header whose name
        holds no `_` is signed; `req.headers` must hold `host`."""
        headers = {k.lower(): v for k, v in req.headers.items()}
        if self.date_header not in headers:
            headers[self.date_header] = (when or datetime.now(timezone.utc)).strftime(self.date_format)
        signed = sorted(h for h in headers if "_" not in h)
        full = SignedRequest(req.method, req.path, req.query, headers, req.body)
        sts = self.string_to_sign(self.canonical_request(full, signed), headers[self.date_header])
        headers["authorization"] = (
            f"{self.algorithm} Access={access}, SignedHeaders={';'.join(signed)}, "
            f"Signature={self.signature(secret, sts)}"
        )
        return headers

    # -- verifying ----------------------------------------------------------------------

    def parse_authorization(self, value: str) -> tuple[str, list[str], str]:
        """(access key, signed header names, signature) of an Authorization header."""
        scheme, raw = authorization_fields(value)
        if scheme != self.algorithm:
            raise HuaweiAuthError(f"the Authorization scheme must be {self.algorithm}, not {scheme!r}")
        fields = {name: val.strip() for name, val in raw.items()}
        try:
            return fields["Access"], [h for h in fields["SignedHeaders"].lower().split(";") if h], fields["Signature"]
        except KeyError as missing:
            raise HuaweiAuthError(f"the Authorization header has no {missing.args[0]}") from None

    def request_date(self, req: SignedRequest) -> tuple[str, datetime]:
        """The X-Sdk-Date header and the time it says; HuaweiAuthError when it is missing or malformed."""
        raw = req.headers.get(self.date_header)
        if not raw:
            raise HuaweiAuthError("the X-Sdk-Date header is missing")
        try:
            return raw, datetime.strptime(raw, self.date_format).replace(tzinfo=timezone.utc)
        except ValueError:
            raise HuaweiAuthError(f"X-Sdk-Date {raw!r} is not {self.date_format}") from None

    def verify(self, req: SignedRequest, keys: Mapping[str, str], guard: ReplayGuard) -> str:
        """The access key that signed `req`, or HuaweiAuthError."""
        value = req.headers.get("authorization")
        if not value:
            raise HuaweiAuthError("the request is not signed (no Authorization header)")
        access, signed, given = self.parse_authorization(value)
        unsigned = [h for h in self.required_headers if h not in signed]
        if unsigned:
            raise HuaweiAuthError(f"SignedHeaders must include {', '.join(unsigned)}")
        secret = keys.get(access)
        if secret is None:
            raise HuaweiAuthError(f"Get secretKey failed,ak:{access},err:ak not exist")
        missing = [h for h in signed if h not in req.headers]
        if missing:
            raise HuaweiAuthError(f"signed headers {missing} are not in the request")
        date, when = self.request_date(req)
        body_hash = req.headers.get(self.content_header)
        if req.body and body_hash and body_hash != "UNSIGNED-PAYLOAD":
            if not same(sha256_hex(req.body), body_hash):
                raise HuaweiAuthError("X-Sdk-Content-Sha256 does not match the body")
        expected = self.signature(secret, self.string_to_sign(self.canonical_request(req, signed), date))
        if not same(expected, given.lower()):
            raise HuaweiAuthError("verify aksk signature fail")
        try:
            guard.check_date(when)
            if req.method.upper() not in READS:
                guard.check_nonce(access, expected, when)
        except Stale as exc:
            raise HuaweiAuthError(f"the request has expired: {exc}") from None
        except NonceUsed:
            raise HuaweiAuthError(
                "the request was replayed: its signature was used within the last 15 minutes"
            ) from None
        return access
