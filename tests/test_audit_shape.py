"""The audit's code stays readable: no function or method under ``shopstorm/audit/`` is longer than a screen.

The audit is the part a user must trust when it says a shop is wrong, so each invariant family is its own short
function that a reader can hold against the invariant's description in :data:`shopstorm.audit.findings.INVARIANTS`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import shopstorm.audit

MAX_FUNCTION_LINES = 60
AUDIT = Path(shopstorm.audit.__file__).parent


def long_functions(source: Path) -> list[str]:
    """Every function or method of one module longer than the limit, as ``file:line name (N lines)``."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    too_long = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                too_long.append(f"{source.name}:{node.lineno} {node.name} ({lines} lines)")
    return too_long


def test_the_audit_modules_are_found():
    assert {"invariants.py", "settlement.py"} <= {path.name for path in AUDIT.glob("*.py")}


def test_no_audit_function_is_longer_than_a_screen():
    offenders = [found for source in sorted(AUDIT.glob("*.py")) for found in long_functions(source)]
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines in shopstorm/audit/: " + "; ".join(offenders)
