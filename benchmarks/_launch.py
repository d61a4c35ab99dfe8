"""Run one command and report its wall time, CPU time and peak RSS as JSON.

A child inherits the peak RSS of the process that forks it (ru_maxrss counts the
parent's pages until exec), so the benchmark starts every tool from this small
process rather than from itself.

    python benchmarks/_launch.py RESULT.json CMD [ARGS...]
"""

import json
import os
import sys
import time

out, cmd = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(out, "w") as f:
    json.dump(
        {
            "wall": time.perf_counter() - started,
            "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024,
            "code": os.waitstatus_to_exitcode(status),
        },
        f,
    )
sys.exit(0)
