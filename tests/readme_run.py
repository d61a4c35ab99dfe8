"""The README's two commands, verbatim, in a brand-new venv with the pip it brings, on a
copy of this checkout, run on a thread of their own (tests/test_readme_commands.py).

Their installs take minutes, mostly in pip and the native build, so tests/conftest.py
starts them as soon as the suite is collected with that test among those to run, and the
test, run last, waits for them: they overlap the rest of the suite, whose tests spend
much of their time waiting on servers, streams and subprocesses."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INNER = "STILLFRAME_README_RUN"  # set in the inner test run (tests/conftest.py)
TIMEOUT = 1800.0  # seconds a command may take


def readme_commands() -> list[str]:
    block = re.search(r"## Two commands.*?```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README has no 'Two commands' block"
    return [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


@dataclass
class Ran:
    command: str
    returncode: int
    stdout: str
    stderr: str


class ReadmeRun:
    """The commands on a thread: start(), then wait() for what each gave."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="stillframe-readme-"))
        self.copy = self.root / "checkout"
        self.ran: list[Ran] = []
        self.error: BaseException | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="readme-commands", daemon=True)

    def start(self) -> ReadmeRun:
        self._thread.start()
        return self

    def wait(self, timeout: float) -> list[Ran]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the README's commands still ran after {timeout} s"
        if self.error is not None:
            raise self.error
        return self.ran

    def stop(self) -> None:
        """End a command still running (the session ended first) and remove the files."""
        self._stopped = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        self._thread.join(30)
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self) -> None:
        try:
            files = subprocess.run(
                ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.split()
            for name in files:
                if (ROOT / name).is_file():
                    (self.copy / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / name, self.copy / name)
            env_dir = self.root / "venv"
            venv.create(env_dir, with_pip=True)
            bindir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
            env = {
                **os.environ,
                "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
                "VIRTUAL_ENV": str(env_dir),
                INNER: "1",
            }
            for name in ("PYTHONPATH", "STILLFRAME_CI"):  # a newcomer's shell has neither
                env.pop(name, None)
            for command in readme_commands():
                if self._stopped:
                    return
                self._proc = subprocess.Popen(
                    command,
                    shell=True,
                    cwd=self.copy,
                    env=env,
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
                try:
                    out, err = self._proc.communicate(timeout=TIMEOUT)
                except subprocess.TimeoutExpired:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                    out, err = self._proc.communicate()
                self.ran.append(Ran(command, self._proc.returncode, out, err))
                if self._proc.returncode != 0:
                    return
        except BaseException as exc:  # told to the test, which raises it
            self.error = exc


_current: ReadmeRun | None = None


def start() -> ReadmeRun:
    """Start the commands (once a session)."""
    global _current
    if _current is None:
        _current = ReadmeRun().start()
    return _current


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None
