"""What the request signature schemes (acs_sign, huawei_sign) share: RFC 3986
percent-encoding, the sorted canonical query, SHA-256 and HMAC-SHA256 as hex, and
the fields of an Authorization header."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Container, Sequence
from urllib.parse import quote

__all__ = ["authorization_fields", "canonical_query", "hmac_sha256_hex", "percent", "same", "sha256_hex"]


def percent(text: str) -> str:
    """Every byte but unreserved characters percent-encoded (a space is %20)."""
    return quote(text, safe="~")


def canonical_query(pairs: Sequence[tuple[str, str]], *, skip: Container[str] = (), quote_keys: bool = True) -> str:
    """`name=value` pairs sorted (by name, then value) and joined by `&`; names in
    `skip` left out. ACS3 leaves the names as they are (`quote_keys=False`)."""
    return "&".join(f"{percent(k) if quote_keys else k}={percent(v)}" for k, v in sorted(pairs) if k not in skip)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hmac_sha256_hex(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def same(expected: str, given: str) -> bool:
    """A constant-time comparison of two signatures or digests, whatever characters
    the caller sent (hmac.compare_digest refuses non-ASCII text)."""
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass"))


def authorization_fields(value: str) -> tuple[str, dict[str, str]]:
    """(scheme, {name: value}) of `SCHEME a=1,b=2`; items without `=` are ignored,
    a value keeps any space after its `=`."""
    scheme, _, rest = value.strip().partition(" ")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, val = item.strip().partition("=")
        if sep:
            fields[name] = val
    return scheme, fields
