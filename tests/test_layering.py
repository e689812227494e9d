"""The package's layers import only what comes before them in the pipeline.

Reading and rules know nothing of analyses, renderers or the command line;
renderers read the result object and never a trace; only the command line
(and the launcher and server that run it) imports ``corr.cli``.  Each import
of every module is read from its source, including imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "corr"

# layer -> layers it must never import
FORBIDDEN = {
    "reading": {"normalise", "engine", "sched", "analyses", "render", "api", "cli", "server", "pipeline"},
    "normalise": {"engine", "sched", "analyses", "render", "api", "cli", "server", "pipeline"},
    "rules": {"reading", "normalise", "engine", "sched", "analyses", "render", "api", "cli", "server"},
    "text": {"reading", "render", "cli"},
    "paths": {"reading", "render", "cli", "rules", "engine"},
    "errors": {"reading", "render", "cli", "rules", "engine"},
    "render": {"reading", "normalise", "pipeline", "cli", "server"},
    "analyses": {"render", "api", "cli", "server"},
    "engine": {"render", "api", "cli", "server"},
    "sched": {"render", "api", "cli", "server", "analyses"},
    "record": {"render", "analyses", "api", "cli", "server"},
    "api": {"cli", "server"},
}
MAY_IMPORT_CLI = {"cli", "launcher", "server", "__main__"}


def _layer(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _module(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ["corr"] + (parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_layers(path: Path) -> set[str]:
    """The corr layers ``path`` imports (``corr.X...`` -> X, relative imports resolved)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            else:
                target = (node.module or "").split(".")
            # ``from corr import X`` / ``from .. import X``: X is the layer
            targets = [target + [a.name] for a in node.names] if target == ["corr"] else [target]
        for target in targets:
            if target[0] == "corr" and len(target) > 1:
                found.add(target[1])
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_reader_sees_every_module_s_imports():
    """The resolution above, checked on modules whose imports are known."""
    assert "text" in _imported_layers(PACKAGE / "reading" / "native_fields.py")
    assert "paths" in _imported_layers(PACKAGE / "render" / "output.py")
    assert "cli" in _imported_layers(PACKAGE / "launcher.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_later_stage(path):
    layer = _layer(path)
    imported = _imported_layers(path) - {layer}
    assert not imported & FORBIDDEN.get(layer, set()), (
        f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(imported & FORBIDDEN[layer])}")
    if layer not in MAY_IMPORT_CLI:
        assert "cli" not in imported, f"{path.relative_to(PACKAGE)} imports corr.cli"
