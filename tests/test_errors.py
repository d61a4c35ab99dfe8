import pytest

import stillframe
from stillframe import errors


@pytest.mark.parametrize(
    ("cls", "builtin", "code"),
    [
        (errors.InvalidParameter, ValueError, "InvalidParameter"),
        (errors.MissingParameter, ValueError, "MissingParameter"),
        (errors.ResourceNotFound, FileNotFoundError, "InvalidParameter.ResourceNotFound"),
        (errors.ResourceContentBad, ValueError, "InvalidParameter.ResourceContentBad"),
        (errors.PermissionDenied, PermissionError, "PermissionDenied.ResourceAccess"),
        (errors.SnapshotTimeOut, TimeoutError, "SnapshotTimeOut"),
        (errors.TransientNetworkError, ConnectionError, "TransientNetWorkError"),
        (errors.HardwareUnavailable, RuntimeError, "HardwareUnavailable"),
        (errors.JobNotFound, LookupError, "JobNotFound"),
        (errors.TemplateNotFound, LookupError, "TemplateNotFound"),
        (errors.InternalError, RuntimeError, "InternalError"),
    ],
)
def test_each_error_is_both_ours_and_the_builtin(cls, builtin, code):
    err = cls("it went wrong")
    assert isinstance(err, errors.StillframeError)
    assert isinstance(err, builtin)
    assert err.code == code
    assert str(err) == "it went wrong"
    assert err.to_dict() == {"Code": code, "Message": "it went wrong"}
    with pytest.raises(builtin):
        raise err


def test_codes_round_trip_to_classes():
    for code in ("InvalidParameter.ResourceNotFound", "SnapshotTimeOut", "TransientNetWorkError"):
        err = errors.error_for_code(code, "m")
        assert err.code == code
        assert type(err).code == code
    unknown = errors.error_for_code("Something.New", "m")
    assert isinstance(unknown, errors.InternalError)
    assert unknown.code == "Something.New"


def test_http_statuses_follow_the_services():
    assert errors.InvalidParameter.http_status == 400
    assert errors.JobNotFound.http_status == 404
    assert errors.JobAlreadyStarted.http_status == 409
    assert errors.InternalError.http_status == 500


def test_tree_is_drawn_in_the_docstring():
    doc = errors.__doc__
    for name in errors.__all__:
        if name[0].isupper():
            assert name in doc, name


@pytest.mark.parametrize("module", [stillframe, errors])
def test_all_is_sorted_and_complete(module):
    assert module.__all__ == sorted(module.__all__)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("stillframe")
    }
    assert public <= set(module.__all__) | {"errors", "cli", "jpeg", "testsrc"}
    for name in module.__all__:
        assert hasattr(module, name)


def test_version():
    assert stillframe.__version__.count(".") == 2
