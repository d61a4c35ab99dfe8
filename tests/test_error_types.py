"""Errors by type, never by words in a message: an HTTP status reaches the caller as
the error its type names, whatever the URL says; every error raised with a code is
of the class that code names; nothing outside the tree leaves the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stillframe as sf
from stillframe import errors

from . import livesrc

SRC = Path(__file__).resolve().parents[1] / "src" / "stillframe"


@pytest.fixture(scope="module")
def served(clips, tmp_path_factory):
    """nginx serving a good clip named like an error status, a damaged file named
    so too, and a folder (a 403: nginx lists no folders)."""
    if livesrc.nginx_binary() is None:  # .ci/run installs it
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    docroot = tmp_path_factory.mktemp("www")
    good = clips("errors.mp4", frames=30, size=(64, 48), gop=10)
    (docroot / "clip-403.mp4").write_bytes(good.read_bytes())
    (docroot / "clip-404.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
    (docroot / "adir").mkdir()
    with livesrc.http_server(docroot, tmp_path_factory.mktemp("nginx")) as server:
        yield server.url


def test_a_damaged_file_named_404_is_damaged_not_missing(served):
    with pytest.raises(sf.ResourceContentBad):
        sf.probe(f"{served}/clip-404.mp4")


def test_a_good_file_named_403_opens(served):
    assert sf.probe(f"{served}/clip-403.mp4").frame_count == 30


def test_a_missing_file_is_not_found(served):
    with pytest.raises(sf.ResourceNotFound) as caught:
        sf.probe(f"{served}/nothing-here.mp4")
    assert caught.value.code == "InvalidParameter.ResourceNotFound"


def test_a_forbidden_url_is_permission_denied(served):
    with pytest.raises(sf.PermissionDenied) as caught:
        sf.probe(f"{served}/adir/")
    assert caught.value.code == "PermissionDenied.ResourceAccess"


def _raised_with_codes() -> list[tuple[str, str, str]]:
    """(where, class, code) for every `Class(..., code="...")` in the package."""
    names = set(errors.__all__)
    out = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names):
                continue
            for kw in node.keywords:
                if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                    out.append((f"{path.relative_to(SRC)}:{node.lineno}", node.func.id, kw.value.value))
    return out


def test_a_class_and_its_code_agree():
    """An error made with a code is of the class the tree gives that code."""
    for where, name, code in _raised_with_codes():
        assert type(errors.error_for_code(code)).__name__ == name, (where, name, code)
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and cls is not errors.StillframeError:  # the base shares InternalError's code
            assert type(errors.error_for_code(cls.code)) is cls, cls


def test_every_error_class_is_at_the_top_level():
    for name in errors.__all__:
        if name[0].isupper():
            assert getattr(sf, name) is getattr(errors, name), name
            assert name in sf.__all__, name


def test_a_region_that_does_not_match_is_in_the_tree():
    from stillframe._regions import RegionError

    assert issubclass(RegionError, sf.ResourceContentBad)
