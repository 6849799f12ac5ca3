"""Layers point one way: UI (app.py, videolisa/ui) → CLI → chat / evaluation / training /
profiling → inference (and outputs, the toy world) → video / modeling → errors, defaults,
sampling. No module imports from a layer above its own, nor from a sibling of its layer above
the bottom."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "videolisa"
LAYER = {
    "ui": 5,
    "cli": 4,
    "chat": 3,
    "evaluation": 3,
    "training": 3,
    "profiling": 3,
    "inference": 2,
    "outputs": 2,
    "toyworld": 2,
    "video": 1,
    "modeling": 1,
    "errors": 0,
    "defaults": 0,
    "sampling": 0,
}
FACE = {"__init__", "__main__"}  # the package's public face and entry point


def imported_parts(path: Path) -> list[str]:
    """The top-level ``videolisa`` parts (subpackages or modules) that ``path`` imports."""
    parts = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("videolisa."):
            parts.append(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            parts += [a.name.split(".")[1] for a in node.names if a.name.startswith("videolisa.")]
    return parts


def test_every_part_has_a_layer():
    parts = {p.relative_to(PACKAGE).with_suffix("").parts[0] for p in PACKAGE.rglob("*.py")}
    assert parts - FACE == set(LAYER)


def test_imports_point_down():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        own = path.relative_to(PACKAGE).with_suffix("").parts[0]
        if own in FACE:
            continue
        for part in imported_parts(path):
            sibling = part != own and LAYER[part] == LAYER[own] and LAYER[own] >= 2
            if LAYER[part] > LAYER[own] or sibling:
                upward.append(f"{path.relative_to(PACKAGE)} imports videolisa.{part}")
    assert upward == []
