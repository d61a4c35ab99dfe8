"""A source build without a JPEG library stops at once, in one line naming what to install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not on PATH")


def configure(tmp_path: Path, *defines: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["cmake", "-S", str(ROOT), "-B", str(tmp_path), *(f"-D{d}" for d in defines)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def error_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    assert run.returncode != 0
    # "CMake Error at CMakeLists.txt:<line> (message):", then the message: nothing else.
    lines = [line.strip() for line in run.stderr.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("CMake Error at CMakeLists.txt"))
    return lines[start + 1 :]


@pytest.mark.parametrize("choice", ["system", "auto"])
def test_missing_headers_name_the_package(tmp_path: Path, choice: str) -> None:
    run = configure(
        tmp_path,
        f"STILLFRAME_JPEG={choice}",
        "CMAKE_DISABLE_FIND_PACKAGE_JPEG=ON",
        f"STILLFRAME_JPEG_TARBALL={tmp_path / 'absent.tar.gz'}",
    )
    [message] = error_lines(run)
    assert "install libjpeg62-turbo-dev" in message
    assert "Python" not in run.stdout  # stopped before anything else was looked for


def test_bundled_without_its_source_names_the_script(tmp_path: Path) -> None:
    run = configure(tmp_path, "STILLFRAME_JPEG=bundled", f"STILLFRAME_JPEG_TARBALL={tmp_path / 'absent.tar.gz'}")
    [message] = error_lines(run)
    assert "run scripts/fetch-libjpeg-turbo" in message


def test_an_unknown_choice_is_refused(tmp_path: Path) -> None:
    [message] = error_lines(configure(tmp_path, "STILLFRAME_JPEG=static"))
    assert "use auto, system or bundled" in message
