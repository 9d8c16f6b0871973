"""The ``# Copied from classicnets.models.<x>.modeling_<x>.<Name>`` markers hold: every marked copy is still the code
of its original.

Model folders are self-contained (STYLE.md, layout 1): a helper two models need is repeated in each file, marked
with where it comes from, optionally ``with a->b`` (a rename applied to the original first). A fix made to one copy
and not the others would silently split the architectures; this test fails on that drift. The code is compared,
not the prose: docstrings and comments may say what is particular to each model.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import classicnets

SRC = Path(classicnets.__file__).parent
MARKER = re.compile(r"#\s*Copied from (classicnets(?:\.\w+)+)((?:\s+with\s+\w+->\w+)*)")


def _markers() -> list[tuple[Path, int, str, list[tuple[str, str]]]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = MARKER.search(line)
            if match:
                renames = re.findall(r"(\w+)->(\w+)", match.group(2))
                found.append((path, number, match.group(1), renames))
    return found


def _definitions(tree: ast.AST):
    """Every def/class/assignment with its qualified name (``Class.method``)."""
    def walk(body, prefix):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield prefix + node.name, node
                if isinstance(node, ast.ClassDef):
                    yield from walk(node.body, prefix + node.name + ".")
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        yield prefix + target.id, node
    yield from walk(tree.body, "")


def _code(node: ast.AST) -> str:
    """The node's AST without docstrings (nor comments, which the AST never holds)."""
    node = ast.parse(ast.unparse(node)).body[0]  # a private copy
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if (isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            sub.body = body[1:] or [ast.Pass()]
    return ast.dump(node)


def _original(reference: str, renames: list[tuple[str, str]]) -> tuple[str, ast.AST]:
    parts = reference.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest importable module prefix
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        qualname = ".".join(parts[cut:])
        source = Path(module.__file__).read_text(encoding="utf-8")
        for old, new in renames:
            source = source.replace(old, new)
        definitions = dict(_definitions(ast.parse(source)))
        if qualname not in definitions:
            raise AssertionError(f"{reference}: {qualname} is not defined in {module.__file__}")
        return qualname, definitions[qualname]
    raise AssertionError(f"{reference}: no importable module")


MARKERS = _markers()


def test_the_markers_are_found():
    # The activation table is repeated in every image model: if the scan found none, the regex broke.
    assert sum(ref.endswith("modeling_mlp.ACTIVATIONS") for _, _, ref, _ in MARKERS) >= 3


@pytest.mark.parametrize(("path", "line", "reference", "renames"), MARKERS,
                         ids=[f"{p.relative_to(SRC)}:{n}" for p, n, _, _ in MARKERS])
def test_copies_match_their_original(path, line, reference, renames):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # The copy is the first definition that starts after the marker (a marker may continue on a second line).
    copy = min(((node.lineno, name, node) for name, node in _definitions(tree) if node.lineno > line),
               key=lambda item: item[0], default=None)
    assert copy is not None and copy[0] <= line + 3, f"{path}:{line}: no definition follows the marker"
    qualname, original = _original(reference, renames)
    assert copy[1].rsplit(".", 1)[-1] == qualname.rsplit(".", 1)[-1], (
        f"{path}:{line}: the marker names {qualname} but marks {copy[1]}")
    assert _code(copy[2]) == _code(original), (
        f"{path}:{line} has drifted from {reference}: make the two the same (or drop the marker if the copy "
        f"is meant to differ)")
