"""Cameras and their posts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from center.api.schemas import MapPos, RowOut
from protocol import Id

Name128 = Annotated[str, StringConstraints(max_length=128)]


class CameraIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "cam-yard-01",
                    "enterprise_id": "yj-metal",
                    "node": "edge-01",
                    "name": "厂区主通道",
                    "post_name": "熔铸车间出入口",
                    "key_post": True,
                    "map_x": 0.25,
                    "map_y": 0.38,
                }
            ]
        },
    )
    id: Id
    enterprise_id: Id
    node: Id | None = None
    name: Name128 = ""
    post_name: Name128 = ""
    key_post: StrictBool = False
    map_x: MapPos | None = None
    map_y: MapPos | None = None


class CameraPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"key_post": True}]})
    node: Id | None = None
    name: Name128 | None = None
    post_name: Name128 | None = None
    key_post: StrictBool | None = None
    map_x: MapPos | None = None
    map_y: MapPos | None = None


class CameraOut(RowOut):
    id: str
    enterprise_id: str
    node: str | None
    name: str
    post_name: str
    key_post: bool
    map_x: float | None
    map_y: float | None
    node_name: str | None = Field(default=None, description="where its edge node is installed (A区机房)")
    online_rate_30d: float | None = Field(
        default=None,
        description="online hours ÷ hours over the last 30 days (0–1), from the heartbeats; None: no record",
    )
