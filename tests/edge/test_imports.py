"""Every edge module imports on its own, first: no import cycle between the packages (the config
takes its rules from edge/rules/registry.py, so nothing the rules import may import edge.config)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "edge" or m.startswith("edge.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def edge_modules() -> list[str]:
    out = []
    for path in sorted((REPO / "edge").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_every_edge_module_imports_first() -> None:
    modules = edge_modules()
    assert "edge.rules.man_down" in modules and "edge.config" in modules
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, *modules], capture_output=True, text=True, timeout=240, cwd=REPO
    )
    assert res.returncode == 0, res.stdout + res.stderr
