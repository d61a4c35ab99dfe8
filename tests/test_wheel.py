"""The Linux wheel stands alone: libjpeg-turbo is linked into the extension, so a wheel
installed into a fresh virtual environment takes snapshots without loading any libjpeg
from the system (none needed, no compiler, no headers).

Opt-in, since it builds a wheel and a venv (a minute or two): STILLFRAME_WHEEL_TEST=1.
It tests the manylinux wheel in dist/, running scripts/build-wheel first when there is
none; CI runs scripts/build-wheel, then this file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux wheel"),
    pytest.mark.skipif(
        os.environ.get("STILLFRAME_WHEEL_TEST") != "1",
        reason="builds and installs the wheel: STILLFRAME_WHEEL_TEST=1 (CI runs it after scripts/build-wheel)",
    ),
]

# Run inside the new venv, from an empty folder, so only the installed wheel is importable.
SNAPSHOT = r"""
import json, sys
import stillframe as sf
from stillframe import _native, testsrc

video = testsrc.make_video("clip.mp4", frames=60, size=(640, 360), gop=30)
result = sf.snapshot(video, sf.Interval(0.5), "out/{Count}.jpg", width=320)
maps = open("/proc/self/maps").read()
print(json.dumps({
    "module": _native.__file__,
    "library": _native.JPEG_LIBRARY,
    "files": result.files,
    "jpegs": [open(f, "rb").read(3) == b"\xff\xd8\xff" for f in result.files],
    "mapped": sorted({line.split()[-1] for line in maps.splitlines() if "libjpeg" in line}),
}))
"""


def manylinux_wheel() -> Path:
    def found() -> list[Path]:
        return sorted(DIST.glob("stillframe-*-manylinux*.whl"))

    if not found():
        subprocess.run([str(ROOT / "scripts" / "build-wheel")], check=True)
    wheels = found()
    assert len(wheels) == 1, wheels
    return wheels[0]


def needed(lib: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


@pytest.fixture(scope="module")
def wheel() -> Path:
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is not installed")
    return manylinux_wheel()


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("wheel-venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True)
    return python


def test_the_extension_links_no_libjpeg(wheel: Path, tmp_path: Path) -> None:
    assert re.search(r"-manylinux_\d+_\d+_x86_64\.whl$", wheel.name), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        [ext] = [n for n in names if re.fullmatch(r"stillframe/_native\..*\.so", n)]
        zf.extract(ext, tmp_path)
    # auditwheel grafts a shared library into stillframe.libs/; a static link needs none.
    assert not [n for n in names if ".libs/" in n], names
    libs = needed(tmp_path / ext)
    assert libs and not [n for n in libs if "jpeg" in n], libs


def test_the_wheel_carries_the_job_stores_migrations(wheel: Path) -> None:
    shipped = ROOT / "src" / "stillframe" / "jobs" / "migrations"
    wanted = {
        f"stillframe/jobs/migrations/{p.relative_to(shipped).as_posix()}"
        for p in shipped.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert {"stillframe/jobs/migrations/env.py", "stillframe/jobs/migrations/versions/v0001_baseline.py"} <= wanted
    with zipfile.ZipFile(wheel) as zf:
        assert wanted <= set(zf.namelist()), wanted - set(zf.namelist())


def test_the_installed_wheel_snapshots_without_a_system_libjpeg(installed: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH", "LD_PRELOAD")}
    run = subprocess.run(
        [str(installed), "-c", SNAPSHOT], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    got = json.loads(run.stdout.splitlines()[-1])
    assert got["module"].startswith(str(installed.parent.parent)), got["module"]
    assert got["library"] == "libjpeg-turbo 3.1.3"
    assert len(got["files"]) == 4 and all(got["jpegs"]), got
    # No libjpeg shared object was loaded to write those JPEGs.
    assert got["mapped"] == [], got["mapped"]
    ldd = subprocess.run(["ldd", got["module"]], capture_output=True, text=True, check=True).stdout
    assert "libjpeg" not in ldd, ldd
