"""Every handler has the same shape: settings read per invocation, the event parsed into a model, one use
case called, under 30 lines of code, instrumented by the one observability module."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

HANDLERS = sorted((REPO_ROOT / "functions").glob("*/handler.py"))
MAX_CODE_LINES = 30


def code_lines(path: Path) -> int:
    """Lines holding code: no blank lines, comments or docstrings (module, class or function)."""
    source = path.read_text()
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(
            node, clean=False
        ):
            first = node.body[0]
            docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    lines = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type not in skip and token.start[0] not in docstrings
    }
    return len(lines)


def test_every_function_is_checked() -> None:
    assert len(HANDLERS) >= 13


@pytest.mark.parametrize("path", HANDLERS, ids=[p.parent.name for p in HANDLERS])
def test_a_handler_is_short_and_instrumented_by_the_observability_module(path: Path) -> None:
    lines = code_lines(path)
    assert lines < MAX_CODE_LINES, f"functions/{path.parent.name}: {lines} lines of code"
    tree = ast.parse(path.read_text())
    handler = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "handler")
    assert [ast.unparse(d) for d in handler.decorator_list] == ["instrumented"], path.parent.name
    text = path.read_text()
    for own in ("Logger(", "Tracer(", "Metrics("):
        assert own not in text, f"functions/{path.parent.name} builds its own {own[:-1]}"
    assert ".from_env(os.environ)" in text, f"functions/{path.parent.name} reads no settings per invocation"


def test_the_counter_skips_docstrings_and_comments(tmp_path: Path) -> None:
    sample = tmp_path / "handler.py"
    sample.write_text('"""Doc\n\nmore."""\n\n# note\nimport os\n\n\ndef f():\n    """Doc."""\n    return os\n')
    assert code_lines(sample) == 3
