"""The model manifest (``models/manifest.yaml``): which ONNX files exist and how to read them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.configfile import ConfigError, format_validation_error, read_yaml

FAMILIES = {
    "nanodet",
    "yolo",
    "ssd",
    "centernet",
    "movenet_multipose",
    "movenet_single",
    "blazeface",
    "ppe_classifier",  # edge/detect/ppe.py: crops in, not frames; never a detector
}


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    family: str
    input_size: tuple[int, int] = Field(description="width, height")
    labels: str | None = Field(default=None, description="file with one class name a line")
    label_map: dict[str, str] = Field(default_factory=dict, description="model class → semantic label")
    licence: str = ""
    source: str = ""
    notes: str = ""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelEntry]


class ResolvedModel:
    """A manifest entry with its files located and checked."""

    def __init__(self, entry: ModelEntry, base: Path) -> None:
        self.entry = entry
        self.path = (base / entry.file).resolve()
        self.class_names: list[str] = []
        if entry.labels:
            labels_path = base / (entry.labels if "." in entry.labels else f"{entry.labels}.txt")
            try:
                lines = labels_path.read_text(encoding="utf-8").splitlines()
            except OSError:
                raise ConfigError(f"model {entry.name!r}: labels file {labels_path} not readable") from None
            self.class_names = [ln.strip() for ln in lines if ln.strip()]

    def verify_hash(self) -> None:
        try:
            digest = sha256_file(self.path)
        except FileNotFoundError:
            raise ConfigError(f"model {self.entry.name!r}: file {self.path} not found") from None
        if digest != self.entry.sha256:
            raise ConfigError(
                f"model {self.entry.name!r}: sha256 of {self.path.name} is {digest}, "
                f"the manifest says {self.entry.sha256}; refusing to load a file that is not the one listed"
            )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_manifest(path: Path) -> dict[str, ResolvedModel]:
    data = read_yaml(path)
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
    out: dict[str, ResolvedModel] = {}
    for i, entry in enumerate(manifest.models):
        if entry.family not in FAMILIES:
            raise ConfigError(
                f"{path}: models[{i}].family: unknown family {entry.family!r} "
                f"(known: {', '.join(sorted(FAMILIES))})"
            )
        if entry.name in out:
            raise ConfigError(f"{path}: models[{i}].name: {entry.name!r} listed twice")
        out[entry.name] = ResolvedModel(entry, path.parent)
    return out
