"""SSD-style graphs with NMS inside, in the TensorFlow Object Detection API's output convention.

Outputs (batch axis first):

=================  ===========  ==========================================================
role               shape        content
=================  ===========  ==========================================================
boxes              [1, N, 4]    ymin, xmin, ymax, xmax, normalised 0–1 to the input image
scores             [1, N]       detection scores, best first
classes            [1, N]       class ids (float or int); they index the labels file directly
num_detections     [1]          how many of the N rows are valid (optional)
=================  ===========  ==========================================================

Outputs are told apart by name first (``box``, ``score``, ``class``, ``num`` in the name, as in
``detection_boxes:0``), then by shape (``[1, N, 4]`` = boxes, ``[1]`` = count), and scores from
classes by dtype (an integer output is classes). A graph where that still leaves two candidates
is refused at load.

Class ids: TF OD API exports number classes from 1 (0 is the background), as their label maps
do; give such a model a labels file whose first line is a placeholder (``background``), as the
TF Lite ``labelmap.txt`` files do with ``???``. The ids are used as they come out of the graph.

Input: NHWC (TF) or NCHW, the frame stretched to the manifest's input size (TF OD API's
``fixed_shape_resizer``), RGB. A uint8 input gets 0–255 (the graph normalises itself, as TF OD
API ``image_tensor`` exports do); a float input gets ``x / 127.5 - 1`` (MobileNet's range).
"""

from __future__ import annotations

import numpy as np

from edge.detect.adapters.base import Adapter, Decoded
from edge.detect.geometry import Letterbox, stretch

ROLES = ("boxes", "scores", "classes", "num")
NAME_HINTS = {"boxes": ("box",), "scores": ("score",), "classes": ("class",), "num": ("num", "count")}


class SsdAdapter(Adapter):
    family = "ssd"
    layout = "NHWC"

    def check_io(self) -> None:
        shape = self.input_shape
        if len(shape) == 4 and shape[1] == 3 and shape[3] != 3:
            self.layout = "NCHW"  # an exporter that moved channels first
        self.check_input_rank_and_size()
        self.dtype = self.input_dtype(("tensor(uint8)", "tensor(float)"))
        self.nms_inside = True
        outs = self.session.get_outputs()
        roles: dict[str, int] = {}
        for i, o in enumerate(outs):
            name = o.name.lower()
            hits = [r for r in ROLES if any(h in name for h in NAME_HINTS[r])]
            if len(hits) == 1 and hits[0] not in roles:
                roles[hits[0]] = i
        rest = [i for i in range(len(outs)) if i not in roles.values()]
        for i in list(rest):
            shp = outs[i].shape
            if "boxes" not in roles and len(shp) == 3 and shp[2] == 4:
                roles["boxes"] = i
            elif "num" not in roles and len(shp) == 1:
                roles["num"] = i
            else:
                continue
            rest.remove(i)
        pending = [r for r in ("scores", "classes") if r not in roles]
        pairs = [i for i in rest if len(outs[i].shape) == 2]
        if pending == ["scores", "classes"] and len(pairs) == 2:
            ints = [i for i in pairs if "int" in outs[i].type]
            if len(ints) == 1:
                roles["classes"] = ints[0]
                roles["scores"] = next(i for i in pairs if i != ints[0])
        elif len(pending) == 1 and len(pairs) == 1:
            roles[pending[0]] = pairs[0]
        missing = [r for r in ("boxes", "scores", "classes") if r not in roles]
        if missing:
            raise self.error(
                f"cannot tell the {', '.join(missing)} output(s) apart; outputs are "
                f"{[(o.name, o.shape, o.type) for o in outs]} (want boxes [1,N,4], scores [1,N], "
                "classes [1,N], num_detections [1], told apart by name or dtype)"
            )
        boxes = outs[roles["boxes"]].shape
        if len(boxes) != 3 or (isinstance(boxes[2], int) and boxes[2] != 4):
            raise self.error(f"boxes output {outs[roles['boxes']].name} {boxes} is not [1, N, 4]")
        for r in ("scores", "classes"):
            if len(outs[roles[r]].shape) != 2:
                raise self.error(f"{r} output {outs[roles[r]].name} {outs[roles[r]].shape} is not [1, N]")
        self.roles = roles

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        img, lb = stretch(frame_bgr, self.width, self.height)
        rgb = img[..., ::-1]
        x = rgb.astype(np.float32) / 127.5 - 1.0 if self.dtype != np.uint8 else np.ascontiguousarray(rgb)
        if self.layout == "NCHW":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x, dtype=self.dtype)[None], lb

    def decode(
        self, outputs: list[np.ndarray], score_threshold: float, input_size: tuple[int, int]
    ) -> Decoded:
        boxes = outputs[self.roles["boxes"]][0]
        scores = outputs[self.roles["scores"]][0].astype(np.float32)
        classes = outputs[self.roles["classes"]][0]
        n = len(scores)
        if "num" in self.roles:
            n = min(n, int(np.asarray(outputs[self.roles["num"]]).reshape(-1)[0]))
        keep = np.flatnonzero(scores[:n] > score_threshold)
        if keep.size == 0:
            return Decoded.empty()
        w, h = input_size
        yx = boxes[keep].astype(np.float32)
        xyxy = yx[:, [1, 0, 3, 2]] * np.array([w, h, w, h], np.float32)
        return Decoded(xyxy, scores[keep], np.rint(classes[keep]).astype(np.int32))
