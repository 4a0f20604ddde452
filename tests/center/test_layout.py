"""The package's layout holds: only the app factory imports HTTP route modules, and the
center never imports the edge (both sides share protocol/ and common/ only), with one exception:
the reports' face blurring (center/reports/faces.py) runs the edge's face and person detectors and
its pixelation, one implementation for both sides, imported inside its functions only (importing
the center loads no edge module)."""

from __future__ import annotations

import ast
from pathlib import Path

CENTER = Path(__file__).resolve().parents[2] / "center"
ROUTE_MODULES = {"center.api.pages"} | {
    f"center.api.{p.parent.name}.routes" for p in (CENTER / "api").glob("*/routes.py")
}


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a.b import c`` gives a.b and a.b.c)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def test_only_the_app_factory_imports_route_modules() -> None:
    assert len(ROUTE_MODULES) >= 12
    offenders = {
        str(path.relative_to(CENTER.parent)): sorted(imports_of(path) & ROUTE_MODULES)
        for path in CENTER.rglob("*.py")
        if path != CENTER / "app.py" and imports_of(path) & ROUTE_MODULES
    }
    assert offenders == {}


FACES = CENTER / "reports" / "faces.py"
FACES_MAY = ("edge.detect.detector", "edge.detect.manifest", "edge.evidence.blur")


def test_the_center_does_not_import_the_edge() -> None:
    for path in CENTER.rglob("*.py"):
        edge = {m for m in imports_of(path) if m == "edge" or m.startswith("edge.")}
        if path == FACES:
            assert edge and all(m.startswith(FACES_MAY) for m in edge), edge
            continue
        assert not edge, path


def test_the_face_blurring_imports_the_edge_lazily() -> None:
    tree = ast.parse(FACES.read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
    assert not {m for m in names if m.startswith("edge")}, names
