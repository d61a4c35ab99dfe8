"""The one thing a script must do for worker processes: keep its work under
`if __name__ == "__main__":`.

Worker processes are started fresh (forkserver or spawn: never a fork of a process
that may hold threads), and each imports the caller's script again to find what it
runs. A script that calls snapshot_many at its top level would start the batch again
in every worker, which multiprocessing stops with a traceback per worker and a
BrokenProcessPool per video. This says so once, before any process starts.
"""

from __future__ import annotations

import ast
import sys
from functools import lru_cache

from stillframe.errors import InvalidParameter

__all__ = ["check_main_guard"]


def _is_main_test(node: ast.expr) -> bool:
    """`__name__ == "__main__"`, either way round."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return False
    sides = [node.left, node.comparators[0]]
    return any(isinstance(a, ast.Name) and a.id == "__name__" for a in sides) and any(
        isinstance(b, ast.Constant) and b.value == "__main__" for b in sides
    )


@lru_cache(maxsize=8)
def _guarded_lines(path: str) -> tuple[tuple[int, int], ...] | None:
    """The line ranges of a script's `if __name__ == "__main__":` blocks, or None
    when the script cannot be read."""
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    return tuple(
        (node.body[0].lineno, node.end_lineno or node.body[-1].lineno)
        for node in tree.body
        if isinstance(node, ast.If) and _is_main_test(node.test)
    )


def check_main_guard(what: str = "snapshot_many") -> None:
    """InvalidParameter when the script being run calls `what` from its top level
    rather than under `if __name__ == "__main__":`. Interactive sessions, notebooks
    and `python -c` have no script to import again, and pass."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str) or not path.endswith(".py"):
        return
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:  # not called from the script's own top level (a thread, a callback)
        return
    blocks = _guarded_lines(path)
    line = frame.f_lineno
    if blocks is None or any(first <= line <= last for first, last in blocks):
        return
    raise InvalidParameter(
        f"{what} runs the videos in worker processes, and each imports {path} again: line {line} would "
        f'start the batch once more in every one of them. Put the script\'s work under `if __name__ == "__main__":` '
        "(see docs/distributed.md's example), or pass a Dask client"
    )
