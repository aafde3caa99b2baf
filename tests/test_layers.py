"""The stages' import contract (pyproject.toml, [tool.importlinter]; docs/architecture.md) holds."""

import ast
import re
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_stages_import_only_from_the_layers_below():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# A module that keeps imports inside its functions for one reason says it once, in a comment of its own
# at module level that starts so; any other import inside a function has its reason on its line or the
# line above.
MODULE_REASON = "# Imports inside functions:"


def imports_inside_functions_without_a_reason(source: str) -> list[int]:
    """Line numbers of imports inside functions that no comment explains."""
    lines = source.splitlines()
    if any(line.startswith(MODULE_REASON) for line in lines):
        return []
    unexplained = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                # The first of a run of imports carries the reason for the run.
                first = node.lineno
                while first > 1 and re.match(r"\s*(import|from)\s", lines[first - 2]):
                    first -= 1
                run = lines[first - 1:node.end_lineno]
                above = lines[first - 2] if first > 1 else ""
                if not (above.lstrip().startswith("#") or any("#" in line for line in run)):
                    unexplained.append(node.lineno)
    return sorted(set(unexplained))


def test_imports_inside_functions_say_why():
    found = {str(path.relative_to(PROJECT_ROOT)): lines for path in sorted((PROJECT_ROOT / "src").rglob("*.py"))
             if (lines := imports_inside_functions_without_a_reason(path.read_text(encoding="utf-8")))}
    assert not found, f"imports inside functions without a comment saying why (file: lines): {found}"


def test_the_import_check_finds_an_unexplained_import():
    unexplained = "def f():\n    import os\n    return os\n"
    explained = "def f():\n    # Only this command needs it.\n    import os\n    import sys\n    return os, sys\n"
    assert imports_inside_functions_without_a_reason(unexplained) == [2]
    assert imports_inside_functions_without_a_reason(explained) == []
    assert imports_inside_functions_without_a_reason(MODULE_REASON + " start-up time.\n" + unexplained) == []
