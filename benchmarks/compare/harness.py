"""Run one Python tool on one task in this process and time the work itself:

    python -m benchmarks.compare.harness ARGS.json

ARGS.json: {"tool", "video", "times", "out", "width", "height", "quality", "mode",
"sprite", "every", "result"}. Writes {"inproc": seconds, "decoded": n | null} to
"result". The whole process (interpreter, imports) is timed from outside."""

from __future__ import annotations

import importlib
import json
import sys
import time

from benchmarks.compare.adapters import IMPORTS, RUNNERS

args = json.loads(open(sys.argv[1]).read())
tool = args.pop("tool")
for module in IMPORTS[tool]:
    importlib.import_module(module)
run = RUNNERS[tool]
result = args.pop("result")
started = time.perf_counter()
decoded = run(**args)
elapsed = time.perf_counter() - started
with open(result, "w") as f:
    json.dump({"inproc": elapsed, "decoded": decoded}, f)
