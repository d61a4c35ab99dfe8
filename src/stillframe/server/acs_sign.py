"""Alibaba Cloud request signatures: ACS3-HMAC-SHA256 (the SDKs' default) and the
older RPC signature (HMAC-SHA1 in the query, SignatureVersion 1.0).

One class a scheme, each with the steps as small methods; `sign` is what the SDKs do
and `verify` recomputes the same steps from the request received, so the two can
never drift apart. Verification also checks the key, the date (15 minutes either
way) and that the nonce is new, and answers with Alibaba's error codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote_plus

from stillframe.errors import StillframeError
from stillframe.server._signing import authorization_fields, canonical_query, hmac_sha256_hex, same, sha256_hex
from stillframe.server.replay import NonceUsed, ReplayGuard, Stale

__all__ = [
    "AcsRequest",
    "Acs3HmacSha256",
    "AuthError",
    "Identity",
    "RpcHmacSha1",
    "scheme_for",
]

DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class AuthError(StillframeError):
    """A request that is not signed, or not signed right: `code` and `http_status`
    are what Alibaba answers."""

    def __init__(self, code: str, message: str, http_status: int = 400) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status


def _unknown_key(ak: str) -> AuthError:
    return AuthError("InvalidAccessKeyId.NotFound", f"Specified access key is not found: {ak}", 404)


def _mismatch(string_to_sign: str) -> AuthError:
    # Alibaba tells the caller its string to sign so that a client bug can be found.
    return AuthError(
        "SignatureDoesNotMatch",
        f"Specified signature does not match our calculation. server string to sign is:{string_to_sign}",
    )


def _check_time(text: str | None, replay: ReplayGuard, what: str) -> datetime:
    if not text:
        raise AuthError("MissingParameter", f"{what} is mandatory for this action.")
    try:
        when = datetime.strptime(text, DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise AuthError(
            "InvalidTimeStamp.Format", f"Specified time stamp or date value is not well formatted: {text}"
        ) from None
    try:
        replay.check_date(when)
    except Stale as exc:
        raise AuthError("InvalidTimeStamp.Expired", f"Specified time stamp or date value is expired: {exc}") from None
    return when


def _check_nonce(scope: str, nonce: str | None, replay: ReplayGuard, what: str, when: datetime) -> None:
    if not nonce:
        raise AuthError("MissingParameter", f"{what} is mandatory for this action.")
    try:
        replay.check_nonce(scope, nonce, when)
    except NonceUsed:
        raise AuthError("SignatureNonceUsed", "Specified signature nonce was used already.") from None


@dataclass
class AcsRequest:
    """A request as signed: `query` and `form` decoded (name, value) pairs, header
    names in any case, the body's raw bytes."""

    method: str
    path: str
    query: Sequence[tuple[str, str]]
    headers: Mapping[str, Sequence[str]]  # lower-case name -> values
    body: bytes = b""
    form: Sequence[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass(frozen=True)
class Identity:
    """Who signed a request and what it asked for."""

    access_key_id: str
    action: str | None
    version: str | None


class Acs3HmacSha256:
    """Alibaba's ACS3-HMAC-SHA256 signature (the ICE SDK's): a canonical request over the method, path, query, the
    signed headers and the payload's hash, signed with the secret; verify() is signing's mirror image, with the
    date and nonce checked against replays."""

    algorithm = "ACS3-HMAC-SHA256"
    # Left unsigned, any of these could be changed by whoever replays the request.
    required_headers = ("host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce")

    @staticmethod
    def canonical_query(query: Sequence[tuple[str, str]]) -> str:
        """The query as the scheme signs it: pairs sorted, percent-encoded values."""
        return canonical_query(query, quote_keys=False)

    @staticmethod
    def canonical_headers(headers: Mapping[str, Sequence[str]], signed: Sequence[str]) -> str:
        """The signed headers as `name:value` lines, in the order signed."""
        return "".join(f"{name}:{','.join(sorted(v.strip() for v in headers.get(name, ())))}\n" for name in signed)

    def canonical_request(self, req: AcsRequest, signed: Sequence[str], payload_hash: str) -> str:
        """The canonical request: method, path, query, headers, signed header names and the payload's hash, a line
        each."""
        return "\n".join(
            [
                req.method.upper(),
                req.path or "/",
                self.canonical_query(req.query),
                self.canonical_headers(req.headers, signed),
                ";".join(signed),
                payload_hash,
            ]
        )

    def string_to_sign(self, canonical_request: str) -> str:
        """The algorithm's name and the canonical request's SHA-256, hex."""
        return f"{self.algorithm}\n{sha256_hex(canonical_request.encode())}"

    @staticmethod
    def signature(secret: str, string_to_sign: str) -> str:
        """HMAC-SHA256 of the string to sign under `secret`, hex."""
        return hmac_sha256_hex(secret, string_to_sign)

    def sign(
        self, req: AcsRequest, access_key_id: str, secret: str, *, date: str | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        """The headers to send (req.headers plus x-acs-date, nonce, content hash and
        Authorization), signed as the SDKs sign them: every header given."""
        headers = {k.lower(): v[0] for k, v in req.headers.items()}
        headers.setdefault("x-acs-date", date or datetime.now(timezone.utc).strftime(DATE_FORMAT))
        headers.setdefault("x-acs-signature-nonce", nonce or uuid.uuid4().hex)
        payload = sha256_hex(req.body)
        headers["x-acs-content-sha256"] = payload
        signed = sorted(headers)
        full = AcsRequest(req.method, req.path, req.query, {k: [v] for k, v in headers.items()}, req.body)
        sts = self.string_to_sign(self.canonical_request(full, signed, payload))
        headers["authorization"] = (
            f"{self.algorithm} Credential={access_key_id},SignedHeaders={';'.join(signed)},"
            f"Signature={self.signature(secret, sts)}"
        )
        return headers

    def parse_authorization(self, value: str) -> tuple[str, list[str], str]:
        """(access key id, signed header names, signature) from the Authorization header."""
        algorithm, parts = authorization_fields(value)
        if algorithm != self.algorithm:
            raise AuthError("IncompleteSignature", f"the signature algorithm {algorithm!r} is not supported")
        if not parts.get("Credential") or not parts.get("SignedHeaders") or not parts.get("Signature"):
            raise AuthError("IncompleteSignature", "Authorization needs Credential, SignedHeaders and Signature")
        return parts["Credential"], parts["SignedHeaders"].lower().split(";"), parts["Signature"]

    def verify(self, req: AcsRequest, keys: Mapping[str, str], replay: ReplayGuard) -> Identity:
        """The caller's identity when `req` is signed by a key in `keys`, fresh and not replayed; AuthError
        otherwise."""
        ak, signed, given = self.parse_authorization(req.header("authorization") or "")
        missing = [h for h in self.required_headers if h not in signed]
        if missing:
            raise AuthError("IncompleteSignature", f"SignedHeaders must include {', '.join(missing)}")
        secret = keys.get(ak)
        if secret is None:
            raise _unknown_key(ak)
        # The body is hashed here, not taken from x-acs-content-sha256, so it cannot be swapped.
        sts = self.string_to_sign(self.canonical_request(req, signed, sha256_hex(req.body)))
        if not same(self.signature(secret, sts), given.lower()):
            raise _mismatch(sts)
        when = _check_time(req.header("x-acs-date"), replay, "x-acs-date")
        _check_nonce(ak, req.header("x-acs-signature-nonce"), replay, "x-acs-signature-nonce", when)
        return Identity(ak, req.header("x-acs-action"), req.header("x-acs-version"))


class RpcHmacSha1:
    """Signature, AccessKeyId, Timestamp and SignatureNonce travel as parameters; the
    string to sign covers every query and form parameter but Signature."""

    method_name = "HMAC-SHA1"
    version = "1.0"

    @staticmethod
    def canonical_query(params: Sequence[tuple[str, str]]) -> str:
        """The parameters as the scheme signs them: sorted, percent-encoded, without Signature."""
        return canonical_query(params, skip=("Signature",))

    def string_to_sign(self, method: str, params: Sequence[tuple[str, str]]) -> str:
        """`METHOD&%2F&` and the encoded canonical query, as the RPC scheme signs."""
        return f"{method.upper()}&%2F&{quote_plus(self.canonical_query(params), safe='~')}"

    @staticmethod
    def signature(secret: str, string_to_sign: str) -> str:
        """Base64 HMAC-SHA1 of the string to sign under `secret&`."""
        digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def sign(
        self,
        method: str,
        params: Mapping[str, str],
        access_key_id: str,
        secret: str,
        *,
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        """The query to send: `params` (Action, Version, ...) with the signature's own."""
        out = dict(params)
        out.update(
            Format=out.get("Format", "json"),
            SignatureMethod=self.method_name,
            SignatureVersion=self.version,
            AccessKeyId=access_key_id,
        )
        out.setdefault("Timestamp", timestamp or datetime.now(timezone.utc).strftime(DATE_FORMAT))
        out.setdefault("SignatureNonce", nonce or uuid.uuid4().hex)
        out["Signature"] = self.signature(secret, self.string_to_sign(method, list(out.items())))
        return out

    def verify(self, req: AcsRequest, keys: Mapping[str, str], replay: ReplayGuard) -> Identity:
        """The caller's identity when the request's query and form are signed by a key in `keys`, fresh and not
        replayed; AuthError otherwise."""
        params = list(req.query) + list(req.form)
        values = dict(params)
        if values.get("SignatureMethod", self.method_name) != self.method_name:
            raise AuthError("IncompleteSignature", f"SignatureMethod {values['SignatureMethod']!r} is not supported")
        if values.get("SignatureVersion", self.version) != self.version:
            raise AuthError("IncompleteSignature", f"SignatureVersion {values['SignatureVersion']!r} is not supported")
        ak = values.get("AccessKeyId")
        if not ak:
            raise AuthError("MissingParameter", "AccessKeyId is mandatory for this action.")
        secret = keys.get(ak)
        if secret is None:
            raise _unknown_key(ak)
        sts = self.string_to_sign(req.method, params)
        if not same(self.signature(secret, sts), values.get("Signature", "")):
            raise _mismatch(sts)
        # What the call does must be signed: an Action or Version from a header is not.
        for name in ("Action", "Version"):
            if not values.get(name):
                raise AuthError("MissingParameter", f"{name} is mandatory for this action.")
        when = _check_time(values.get("Timestamp"), replay, "Timestamp")
        _check_nonce(ak, values.get("SignatureNonce"), replay, "SignatureNonce", when)
        return Identity(ak, values.get("Action"), values.get("Version"))


def scheme_for(req: AcsRequest) -> Acs3HmacSha256 | RpcHmacSha1:
    """The scheme a request was signed with; AuthError when it carries no signature."""
    auth = req.header("authorization")
    if auth and auth.strip().startswith("ACS3-"):
        return Acs3HmacSha256()
    if any(k == "Signature" for k, _ in req.query):
        return RpcHmacSha1()
    if auth:
        raise AuthError("IncompleteSignature", "the Authorization header is not an ACS3-HMAC-SHA256 signature")
    raise AuthError("IncompleteSignature", "the request is not signed: sign it with an AccessKey pair")
