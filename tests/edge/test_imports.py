"""Every edge module imports on its own, first: no import cycle between the packages (the config
takes its rules from edge/rules/registry.py, so nothing the rules import may import edge.config)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # fresh interpreters per module: left out of the fast loop
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


TRACKER_SCRIPT = """
import sys, tempfile
from pathlib import Path
from edge.config import EdgeConfig
from edge.node import EdgeNode
rule = {"id": "r", "type": sys.argv[1], "zone": "z"}
if sys.argv[1] == "loitering":
    rule["duration_s"] = 5
tmp = Path(tempfile.mkdtemp())
cfg = EdgeConfig.model_validate({
    "site": "yijia", "node": "edge-imports", "evidence_dir": str(tmp / "ev"), "state_dir": str(tmp / "st"),
    "models": {"manifest": sys.argv[2], "threads": 1},
    "cameras": [{"id": "cam-1", "url": sys.argv[3],
                 "zones": [{"id": "z", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}], "rules": [rule]}],
})
node = EdgeNode(cfg)
cam = node.camera("cam-1")
print(cam.analyzer.tracker is not None, "supervision" in sys.modules, "scipy" in sys.modules)
"""


def test_a_node_whose_rules_read_no_tracks_never_imports_the_tracker() -> None:
    """Tracking (supervision's ByteTrack and scipy: ~74 MB) only for a camera with a rule that
    reads track ids."""
    seen = {}
    for rule in ("intrusion", "loitering"):
        res = subprocess.run(
            [
                sys.executable,
                "-c",
                TRACKER_SCRIPT,
                rule,
                str(REPO / "models" / "manifest.yaml"),
                str(REPO / "samples" / "vtest-walkway.mp4"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        seen[rule] = res.stdout.split()[-3:]
    assert seen["intrusion"] == ["False", "False", "False"], seen
    assert seen["loitering"] == ["True", "True", "True"], seen


MODBUS_SCRIPT = """
import sys, tempfile
from pathlib import Path
from edge.config import EdgeConfig
from edge.node import EdgeNode  # everything a node imports
from edge.warning.service import make_warnings
tmp = Path(tempfile.mkdtemp())
outputs = [{"id": "sink", "type": "audio", "player": "file", "file": str(tmp / "w.wav")}]
if sys.argv[1] == "modbus":
    outputs.append({"id": "strobe", "type": "modbus", "host": "127.0.0.1", "coil": 0})
cfg = EdgeConfig.model_validate({
    "site": "yijia", "node": "edge-imports", "state_dir": str(tmp / "st"),
    "warning": {"outputs": outputs},
    "cameras": [{"id": "cam-1", "url": "x.mp4", "zones": [{"id": "z", "points": [[0, 0], [1, 0], [1, 1]]}],
                 "rules": [{"id": "r", "type": "intrusion", "zone": "z",
                            "warning": {"message": "请佩戴安全帽", "outputs": [o["id"] for o in outputs]}}]}],
})
make_warnings(cfg)
print("pymodbus" in sys.modules)
"""


def test_pymodbus_is_imported_only_with_a_modbus_output() -> None:
    seen = {}
    for kind in ("audio", "modbus"):
        res = subprocess.run(
            [sys.executable, "-c", MODBUS_SCRIPT, kind], capture_output=True, text=True, timeout=120, cwd=REPO
        )
        assert res.returncode == 0, res.stdout + res.stderr
        seen[kind] = res.stdout.split()[-1]
    assert seen == {"audio": "False", "modbus": "True"}
