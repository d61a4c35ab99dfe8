"""The layers of ARCHITECTURE.md hold: the engine imports nothing of outputs, jobs,
the server or the distributed runs; each layer only what lies below it; and the
command line loads a layer only for the command that needs it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stillframe"

# Lowest first; a module may import its own layer and those before it.
LAYERS = ("engine", "outputs", "jobs", "distributed", "server")
OUTPUTS = {
    "_files",
    "_names",
    "_ledger",
    "_objects",
    "_overwrite",
    "_runs",
    "covers",
    "sprites",
    "webvtt",
    "outputs",
    "_run",
    "snapshot",
    "__init__",
}
MAY_IMPORT = {
    "engine": {"engine"},
    "outputs": {"engine", "outputs"},
    "jobs": {"engine", "outputs", "jobs"},
    "distributed": {"engine", "outputs", "distributed"},
    "server": {"engine", "outputs", "jobs", "server"},
}
HIGHER = ("stillframe.jobs", "stillframe.server", "stillframe.distributed")


def _module(path: Path) -> str:
    return ".".join(("stillframe", *path.relative_to(SRC).with_suffix("").parts))


def layer_of(module: str) -> str | None:
    """The layer of `module`, or None for the command line (which may import any
    layer, lazily: tested below)."""
    parts = module.split(".")[1:]
    if not parts or parts[-1] in ("cli", "__main__"):
        return None if parts else "outputs"
    if parts[0] in ("jobs", "server", "distributed"):
        return parts[0]
    return "outputs" if parts[0] in OUTPUTS else "engine"


def _imports(path: Path) -> list[str]:
    """Every stillframe module `path` imports, at the top or inside a function
    (the package imports absolutely: a relative import fails here)."""
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("stillframe")]
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{path}: a relative import"
            base = node.module or ""
            if base == "stillframe":
                out += [f"stillframe.{a.name}" for a in node.names]
            elif base.startswith("stillframe."):
                out.append(base)
    return out


MODULES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_each_module_imports_only_its_layer_and_those_below(path):
    layer = layer_of(_module(path))
    if layer is None:
        return
    for name in _imports(path):
        theirs = layer_of(name)
        if theirs is None:
            continue
        assert theirs in MAY_IMPORT[layer], f"{_module(path)} ({layer}) imports {name} ({theirs})"


def test_the_engine_loads_no_higher_layer():
    code = (
        "import sys, json, stillframe, stillframe.video, stillframe.snapshot, stillframe.outputs;"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HIGHER!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_a_snapshot_from_the_command_line_loads_no_jobs_server_or_distributed(clips, tmp_path):
    clip = clips("layers.mp4", frames=30, size=(64, 48), gop=10)
    code = (
        "import sys, json; from stillframe import cli;"
        f"code = cli.main(['snapshot', {str(clip)!r}, '-o', {str(tmp_path / 'one.jpg')!r}, '--dots', '0.5']);"
        f"print(json.dumps([code, sorted(m for m in sys.modules if m.startswith({HIGHER!r}))]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [0, []]
    assert (tmp_path / "one.jpg").stat().st_size > 0


def test_probe_reads_no_keyframe_unless_asked(clips, capsys, monkeypatch):
    """`stillframe probe` of an MP4 says what its index and both ends say; every
    keyframe's time (one packet read a keyframe) only with --all."""
    from stillframe import cli
    from stillframe._indexes.tables import SampleTableIndex

    clip = str(clips("probe-cost.mp4", frames=120, size=(64, 48), gop=30))
    read = []
    real = SampleTableIndex.keyframe_pts
    monkeypatch.setattr(SampleTableIndex, "keyframe_pts", lambda self: read.append(1) or real(self))
    assert cli.main(["probe", clip]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert read == [] and "keyframe_times" not in shown
    assert shown["frame_count"] == 120 and shown["index"] == "container"
    assert cli.main(["probe", clip, "--all"]) == 0
    assert json.loads(capsys.readouterr().out)["keyframe_times"] == [0.0, 1.0, 2.0, 3.0] and read == [1]


# What the jobs, the server, the distributed runs, object stores, streaming formats
# and the GPU path bring in: a snapshot or a probe of a local file needs none of it.
HEAVY = set(
    "sqlalchemy psycopg psycopg2 starlette uvicorn httpx dask distributed ray boto3 botocore aiobotocore "
    "fsspec s3fs aiohttp requests m3u8 defusedxml torch PIL tqdm yaml".split()
)


def _imported(argv: list[str]) -> set[str]:
    """Every module `python -m stillframe ARGV` imports, from start to exit, as the
    interpreter's own import log (-X importtime) lists them."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "stillframe", *argv], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("command", ["snapshot", "probe"])
def test_the_command_line_imports_only_what_a_local_snapshot_or_probe_needs(command, clips, tmp_path):
    clip = str(clips("imports.mp4", frames=30, size=(64, 48), gop=10))
    argv = (
        ["probe", clip] if command == "probe" else ["snapshot", clip, "-o", str(tmp_path / "one.jpg"), "--dots", "0.5"]
    )
    modules = _imported(argv)
    assert "av" in modules and "stillframe.video" in modules  # the log is read right
    tops = {m.split(".")[0] for m in modules}
    assert sorted(tops & HEAVY) == []
    assert sorted(m for m in modules if m.startswith((*HIGHER, "stillframe.streams", "stillframe._calibration"))) == []


def test_the_package_loads_its_parts_when_first_used():
    """`import stillframe` loads neither PyAV nor NumPy; each public name comes from
    its module on first use, and `stillframe.snapshot` stays the function when the
    module of that name is imported too."""
    code = (
        "import sys, json, stillframe as sf; before = sorted(m for m in ('av', 'numpy') if m in sys.modules);"
        "import stillframe.snapshot; from stillframe import snapshot, PermissionDenied, errors;"
        "print(json.dumps([before, callable(sf.snapshot), sf.snapshot is snapshot, sf.snapshot.__module__,"
        " all(getattr(sf, n) is not None for n in sf.__all__), sf.PermissionDenied is errors.PermissionDenied,"
        " 'Video' in dir(sf)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [[], True, True, "stillframe.snapshot", True, True, True]
    import stillframe

    assert set(stillframe._WHERE) <= set(stillframe.__all__)  # every name loaded on use is public
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        stillframe.Nothing  # noqa: B018


def test_the_package_pickles_by_name_as_a_plain_module_does():
    """Its module is of a class of its own (the facade above): pickled by name, as
    cloudpickle pickles a plain module, so that Dask's client.run can send it back."""
    import pickle

    import stillframe

    assert pickle.loads(pickle.dumps(stillframe)) is stillframe
    cloudpickle = pytest.importorskip("cloudpickle", reason="the dask extra")
    assert cloudpickle.loads(cloudpickle.dumps(stillframe)) is stillframe


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("3", "3")])
def test_an_engine_command_starts_numpy_with_one_blas_thread_unless_told(given, seen, clips):
    """OpenBLAS starts a thread a core as NumPy loads, for algebra no engine command
    does; a caller's own setting stands."""
    clip = str(clips("blas.mp4", frames=10, size=(64, 48), gop=5))
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    code = (
        f"import os, sys; from stillframe import cli; code = cli.main(['probe', {clip!r}]);"
        "print(code, os.environ.get('OPENBLAS_NUM_THREADS'), 'numpy' in sys.modules, file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert run.stderr.split()[-3:] == ["0", seen, "True"]


def test_the_version_is_told_without_loading_the_engine():
    argv = [sys.executable, "-X", "importtime", "-m", "stillframe", "--version"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    from stillframe import __version__

    assert run.returncode == 0 and run.stdout.strip() == f"stillframe {__version__}"
    loaded = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in run.stderr.splitlines() if "|" in line}
    assert sorted(loaded & {"av", "numpy", "sqlalchemy", "starlette"}) == []


def test_the_help_is_told_without_loading_the_engine_or_the_jobs_extra():
    """`stillframe --help` lists every command (the jobs, server and batch ones too)
    from their parsers alone: neither PyAV, NumPy nor SQLAlchemy and Alembic load."""
    modules = _imported(["--help"])
    assert {"stillframe.jobs.cli", "stillframe.server.cli", "stillframe.distributed.cli"} <= modules
    tops = {m.split(".")[0] for m in modules}
    assert sorted(tops & {"av", "numpy", "sqlalchemy", "alembic", "starlette", "dask"}) == []


def test_the_higher_layers_load_their_names_when_first_used():
    code = (
        "import sys, json, stillframe.jobs as jobs, stillframe.distributed as dist;"
        "before = sorted(m for m in ('sqlalchemy', 'numpy', 'av') if m in sys.modules);"
        "from stillframe.jobs import JobService; from stillframe.distributed import snapshot_many;"
        "print(json.dumps([before, JobService.__module__, snapshot_many.__module__,"
        " all(getattr(m, n) is not None for m in (jobs, dist) for n in m.__all__)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [[], "stillframe.jobs.service", "stillframe.distributed._batch", True]
    import stillframe.distributed
    import stillframe.jobs

    for package in (stillframe.jobs, stillframe.distributed):
        assert set(package._WHERE) == set(package.__all__)
