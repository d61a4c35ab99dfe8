"""Run a Python module with this process's wall clock moved, as on a host whose
clock is wrong:

    python -m tests.clockshift 600 -m stillframe worker ...     # ten minutes fast

A Linux time namespace (`unshare --time`) moves only the monotonic and boot-time
clocks, never CLOCK_REALTIME, so the wall clock is moved here instead: time.time()
and time.time_ns(), which is what Python code (ours, SQLAlchemy, the job store)
reads it by."""

from __future__ import annotations

import runpy
import sys
import time

if __name__ == "__main__":
    offset = float(sys.argv[1])
    if sys.argv[2] != "-m":
        sys.exit("usage: python -m tests.clockshift SECONDS -m MODULE [ARGS...]")
    real, real_ns = time.time, time.time_ns
    time.time = lambda: real() + offset  # type: ignore[assignment]
    time.time_ns = lambda: real_ns() + int(offset * 1e9)  # type: ignore[assignment]
    module = sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
