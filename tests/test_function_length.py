"""No function of the package over 60 lines without a reason: one that long says
why in its docstring ("Long for its flags alone", "long because ..."), so that a
function grown long by accident stands out."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "stillframe"
LIMIT = 60
REASON = re.compile(r"\blong (for|because)\b", re.IGNORECASE)


def long_functions(tree: ast.AST) -> list[tuple[str, int, int, str]]:
    """(name, first line, length, docstring) of each function over LIMIT lines."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            if length > LIMIT:
                found.append((node.name, node.lineno, length, ast.get_docstring(node) or ""))
    return found


def test_every_function_over_60_lines_says_why():
    unexplained = [
        f"{path.relative_to(SRC)}:{line} {name} ({length} lines)"
        for path in sorted(SRC.rglob("*.py"))
        for name, line, length, doc in long_functions(ast.parse(path.read_text(encoding="utf-8")))
        if not REASON.search(doc)
    ]
    assert not unexplained, "functions over 60 lines with no reason in their docstring:\n" + "\n".join(unexplained)


def test_the_check_finds_a_long_function_without_a_reason():
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    bare = ast.parse(f'def f():\n    """Does things."""\n{body}\n')
    said = ast.parse(f'def f():\n    """Does things. (Long for its steps alone.)"""\n{body}\n')
    (name, _, length, doc), *_ = long_functions(bare)
    assert (name, length) == ("f", LIMIT + 2) and not REASON.search(doc)
    assert REASON.search(long_functions(said)[0][3])
