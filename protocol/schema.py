"""Export the JSON Schema of every wire message: ``python -m protocol.schema [OUTDIR]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from protocol.live import LiveRequest, LiveResponse
from protocol.messages import AlertEvent, Heartbeat, NodeConfig, NodeStatus

MESSAGES: dict[str, type[BaseModel]] = {
    "alert-event": AlertEvent,
    "node-status": NodeStatus,
    "heartbeat": Heartbeat,
    "node-config": NodeConfig,
    "live-request": LiveRequest,
    "live-response": LiveResponse,
}


def export(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in MESSAGES.items():
        schema = model.model_json_schema()
        schema["$id"] = f"https://parkguard.example/schema/v1/{name}.json"
        path = outdir / f"{name}.v1.json"
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "schema"
    for path in export(outdir):
        print(path)


if __name__ == "__main__":
    main()
