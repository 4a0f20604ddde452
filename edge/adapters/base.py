"""What every model adapter does: frame → input tensor, outputs → boxes in input pixels."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import onnxruntime as ort

from edge.geometry import Letterbox
from edge.manifest import ResolvedModel


class Adapter:
    """Turns frames into the model's input and the model's outputs into boxes in input pixels."""

    family: ClassVar[str]

    def __init__(self, session: ort.InferenceSession, model: ResolvedModel) -> None:
        self.session = session
        self.model = model
        self.width, self.height = model.entry.input_size
        self.input_name = session.get_inputs()[0].name
        self.check_io()

    def check_io(self) -> None: ...

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        raise NotImplementedError

    def decode(
        self, outputs: list[np.ndarray], score_threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """→ boxes (N,4 xyxy in model-input pixels), scores (N,), class ids (N,)."""
        raise NotImplementedError
