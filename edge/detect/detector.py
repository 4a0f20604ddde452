"""Object detection with ONNX Runtime: one session per model, one adapter per output family."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

import numpy as np
import onnxruntime as ort

from common.configfile import ConfigError
from edge.detect.adapters import ADAPTERS, Decoded
from edge.detect.detections import Detections
from edge.detect.geometry import Letterbox, batched_nms
from edge.detect.manifest import ResolvedModel, load_manifest

if TYPE_CHECKING:  # edge.config imports the rules, and they (through pose) this module
    from edge.config.models import ModelsConfig

log = logging.getLogger("parkguard.edge.detector")


# short names accepted in ``models.providers`` (any case), beside ONNX Runtime's own full names
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dnnl": "DnnlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
}
CPU = "CPUExecutionProvider"


def resolve_providers(wanted: list[str], available: list[str] | None = None) -> list[str]:
    """``models.providers`` → the providers to ask ONNX Runtime for, in the config's order.

    A name ONNX Runtime does not know at all (a typo) is refused (:class:`ConfigError`). A known
    provider that this installation lacks (``CUDAExecutionProvider`` with the CPU-only
    ``onnxruntime`` package, ``OpenVINOExecutionProvider`` without ``onnxruntime-openvino``) is
    left out with a warning in the log: the node still watches its cameras, on the next provider
    listed. CPU always comes last as the fallback for operators an accelerator does not run.
    """
    available = list(ort.get_available_providers() if available is None else available)
    known = {p.lower(): p for p in [*ort.get_all_providers(), *available]}
    full: list[str] = []
    for i, name in enumerate(wanted):
        key = name.strip().lower()
        resolved = PROVIDER_ALIASES.get(key) or known.get(key) or known.get(key + "executionprovider")
        if resolved is None:
            raise ConfigError(
                f"models.providers[{i}]: {name!r} is not an ONNX Runtime execution provider "
                f"(short names: {', '.join(PROVIDER_ALIASES)}; installed here: {', '.join(available)})"
            )
        if resolved not in full:
            full.append(resolved)
    missing = [p for p in full if p not in available]
    if missing:
        log.warning(
            "models.providers: %s not installed in this ONNX Runtime (installed: %s); "
            "falling back to the next provider listed, CPU last",
            ", ".join(missing),
            ", ".join(available),
        )
    chosen = [p for p in full if p in available]
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def make_session(
    path: str, threads: int, providers: list[str], spinning: bool = False
) -> ort.InferenceSession:
    """An ONNX Runtime session: ``threads`` intra-op threads (0 = ONNX Runtime's default, one per
    physical core), one inter-op thread, graph optimisations on, ``providers`` as
    :func:`resolve_providers` gives them.

    ``spinning`` (off by default): ONNX Runtime's intra-op threads busy-wait after each call for
    the next one. On an edge box the same cores decode the cameras and run the tracker and rules
    between calls, so the spinning only steals their CPU: measured with one 100 fps camera on the
    2-core dev machine (loaded by other work), 33 ms of process CPU per analyzed frame with
    spinning off against 41–57 ms with it on, and more frames analyzed per second
    (``bench/edge_cameras.py --spinning on|off`` measures it again)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # memory-pattern planning pre-allocates a block per input shape: on the CPU it buys no speed
    # measurable here and costs 16 MB with NanoDet-416 (session 75 → 59 MB, ms/run the same within
    # noise, 3 interleaved runs of 40 on 2 cores; bench/edge_memory.py --components shows it)
    if "CPUExecutionProvider" in (providers or ["CPUExecutionProvider"])[:1]:
        opts.enable_mem_pattern = False
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, sess_options=opts, providers=providers)
    used = session.get_providers()
    if providers and used[0] != providers[0]:  # e.g. CUDA installed but no GPU or CUDA libraries
        log.warning("ONNX Runtime could not start %s here; the model runs on %s", providers[0], used[0])
    return session


class Detector:
    """A loaded model: frames in, :class:`Detections` (normalised boxes and keypoints) out.

    The manifest's ``family`` picks the adapter (edge/detect/adapters/). Class-wise NMS runs here,
    within each semantic label, unless the model (or its adapter) suppresses duplicates itself.
    """

    def __init__(
        self,
        model: ResolvedModel,
        threads: int = 0,
        providers: list[str] | None = None,
        score_threshold: float = 0.3,
        nms_iou: float = 0.5,
        verify_hash: bool = True,
        max_batch: int = 8,
        spinning: bool = False,
    ) -> None:
        adapter_cls = ADAPTERS.get(model.entry.family)
        if adapter_cls is None:
            raise ConfigError(
                f"model {model.entry.name!r}: family {model.entry.family!r} has no adapter "
                f"(have: {', '.join(ADAPTERS)})"
            )
        if verify_hash:
            model.verify_hash()
        self.model = model
        chosen = resolve_providers(providers or [CPU])  # a misspelt provider: refused as such
        try:
            self.session = make_session(str(model.path), threads, chosen, spinning)
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise ConfigError(
                f"model {model.entry.name!r}: ONNX Runtime cannot load {model.path}: {exc}"
            ) from None
        self.providers: list[str] = self.session.get_providers()  # what the model really runs on
        self.threads = threads
        self.adapter = adapter_cls(self.session, model)
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_batch = max(1, max_batch)
        if model.class_names and self.adapter.num_classes not in (None, len(model.class_names)):
            raise ConfigError(
                f"model {model.entry.name!r}: labels file has {len(model.class_names)} classes, "
                f"the model {self.adapter.num_classes}"
            )
        self.class_names: list[str] = list(self.adapter.class_names)
        self.semantic: list[str] = [model.entry.label_map.get(n, n) for n in self.class_names]
        groups = {label: i for i, label in enumerate(dict.fromkeys(self.semantic))}
        self._group = np.array([groups[label] for label in self.semantic], dtype=np.int64)
        self.last_infer_ms = 0.0  # inference time per frame of the last call (a batch: its share)
        # per frame of the last call (a batch: its share): preprocess, inference, postprocess ms
        self.last_stage_ms: dict[str, float] = {}

    @property
    def labels(self) -> set[str]:
        return set(self.semantic)

    @property
    def mapped_labels(self) -> set[str]:
        """The semantic labels the manifest maps this model's classes to (person, vehicle …)."""
        return set(self.model.entry.label_map.values())

    @property
    def dynamic_batch(self) -> bool:
        return bool(self.adapter.dynamic_batch)

    def label_of(self, class_id: int) -> str:
        return self.semantic[class_id] if 0 <= class_id < len(self.semantic) else str(class_id)

    def warmup(self, runs: int = 2) -> None:
        frame = np.zeros((self.adapter.height, self.adapter.width, 3), np.uint8)
        for _ in range(runs):
            self.detect(frame)

    def run_raw(self, tensor: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.adapter.input_name: tensor})

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        t_pre = time.perf_counter()
        tensor, lb = self.adapter.preprocess(frame_bgr)
        t0 = time.perf_counter()
        outputs = self.run_raw(tensor)
        t1 = time.perf_counter()
        self.last_infer_ms = (t1 - t0) * 1000
        decoded = self.adapter.decode(outputs, self.score_threshold, self.adapter.input_size_of(tensor))
        out = self.finish(decoded, lb)
        self.last_stage_ms = {
            "preprocess": (t0 - t_pre) * 1000,
            "inference": self.last_infer_ms,
            "postprocess": (time.perf_counter() - t1) * 1000,
        }
        return out

    def detect_batch(self, frames: list[np.ndarray]) -> list[Detections]:
        """Several frames (e.g. one per camera) at once.

        With a dynamic batch axis, frames whose input tensors have the same shape are stacked
        and run in one call (at most ``max_batch`` a call); otherwise they run one by one.
        Results are the same as :meth:`detect` on each frame.
        """
        t_pre = time.perf_counter()
        prepared = [self.adapter.preprocess(f) for f in frames]
        pre_ms = (time.perf_counter() - t_pre) * 1000
        post_ms = 0.0
        results: list[Detections | None] = [None] * len(frames)
        calls: list[list[int]] = []
        if self.adapter.dynamic_batch:
            by_shape: dict[tuple[int, ...], list[int]] = {}
            for i, (tensor, _) in enumerate(prepared):
                by_shape.setdefault(tensor.shape, []).append(i)
            for idx in by_shape.values():
                calls += [idx[k : k + self.max_batch] for k in range(0, len(idx), self.max_batch)]
        else:
            calls = [[i] for i in range(len(frames))]
        total_ms = 0.0
        for idx in calls:
            tensors = [prepared[i][0] for i in idx]
            batch = tensors[0] if len(tensors) == 1 else np.concatenate(tensors)
            t0 = time.perf_counter()
            outputs = self.run_raw(batch)
            total_ms += (time.perf_counter() - t0) * 1000
            size = self.adapter.input_size_of(batch)
            t_post = time.perf_counter()
            for j, i in enumerate(idx):
                # each frame gets its slice of every output that has the batch axis first
                own = [o[j : j + 1] if o.ndim and o.shape[0] == len(idx) else o for o in outputs]
                decoded = self.adapter.decode(own, self.score_threshold, size)
                results[i] = self.finish(decoded, prepared[i][1])
            post_ms += (time.perf_counter() - t_post) * 1000
        n = max(1, len(frames))
        self.last_infer_ms = total_ms / n
        self.last_stage_ms = {"preprocess": pre_ms / n, "inference": total_ms / n, "postprocess": post_ms / n}
        return [r if r is not None else Detections.empty() for r in results]

    def finish(self, dec: Decoded, lb: Letterbox) -> Detections:
        """NMS (where the model has none), then input pixels → normalised frame coordinates."""
        if len(dec) == 0:
            return Detections.empty()
        if not self.adapter.nms_inside:
            keep = batched_nms(dec.boxes, dec.scores, self.nms_groups(dec.class_ids), self.nms_iou)
            dec = dec.take(keep)
        norm = lb.to_normalised(dec.boxes)
        ok = np.flatnonzero((norm[:, 2] > norm[:, 0]) & (norm[:, 3] > norm[:, 1]))
        kps = None if dec.keypoints is None else lb.points_to_normalised(dec.keypoints[ok])
        cls = dec.class_ids[ok]
        return Detections(norm[ok], dec.scores[ok], cls, [self.label_of(int(c)) for c in cls], keypoints=kps)

    def nms_groups(self, class_ids: np.ndarray) -> np.ndarray:
        """NMS runs within each semantic label, so a "car" and a "truck" on one van stay one vehicle."""
        n = len(self._group)
        if n == 0:
            return class_ids.astype(np.int64)
        inside = (class_ids >= 0) & (class_ids < n)
        # a class id beyond the names (no labels file) is a group of its own
        return np.where(inside, self._group[np.clip(class_ids, 0, n - 1)], n + class_ids)


class DetectorSet:
    """The main object model and the extra ones (``models.extra_detectors``, e.g. a trained PPE
    model) run on the same frame; their detections are one set.

    Each model keeps its own labels and NMS; class ids of the extra models are offset (by 1000 ×
    their place) so they stay distinct. Inference time is the sum of the models'.
    """

    CLASS_OFFSET = 1000

    def __init__(self, members: list[Detector]) -> None:
        if not members:
            raise ValueError("a detector set needs at least one model")
        self.members = members
        self.model = members[0].model
        self.providers = members[0].providers
        self.threads = members[0].threads
        self.last_infer_ms = 0.0
        self.last_stage_ms: dict[str, float] = {}

    @property
    def labels(self) -> set[str]:
        return set().union(*(m.labels for m in self.members))

    @property
    def mapped_labels(self) -> set[str]:
        return set().union(*(m.mapped_labels for m in self.members))

    @property
    def dynamic_batch(self) -> bool:
        return all(m.dynamic_batch for m in self.members)

    def warmup(self, runs: int = 2) -> None:
        for m in self.members:
            m.warmup(runs)

    def _merge(self, per_model: list[Detections]) -> Detections:
        parts = []
        for k, d in enumerate(per_model):
            if k and len(d):
                d = Detections(
                    d.boxes, d.scores, d.class_ids + k * self.CLASS_OFFSET, d.labels, d.tracks, d.keypoints
                )
            parts.append(d)
        return Detections.concat(parts)

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        return self.detect_batch([frame_bgr])[0]

    def detect_batch(self, frames: list[np.ndarray]) -> list[Detections]:
        per_model = []
        total = 0.0
        stages: dict[str, float] = {}
        for m in self.members:
            per_model.append(m.detect_batch(frames))
            total += m.last_infer_ms
            for k, v in m.last_stage_ms.items():
                stages[k] = stages.get(k, 0.0) + v
        self.last_infer_ms = total
        self.last_stage_ms = stages
        return [self._merge([r[i] for r in per_model]) for i in range(len(frames))]


class ObjectDetector(Protocol):
    """What the node, the pipeline and the tools need of the object model: one model
    (:class:`Detector`) or the main one with extra ones on the same frames (:class:`DetectorSet`)."""

    model: ResolvedModel  # the main model
    providers: list[str]
    threads: int
    last_infer_ms: float  # inference time per frame of the last call
    last_stage_ms: dict[str, float]  # preprocess / inference / postprocess ms per frame of the last call

    @property
    def labels(self) -> set[str]:
        """Every semantic label the model(s) give."""
        ...

    @property
    def mapped_labels(self) -> set[str]:
        """The labels the manifest maps classes to (person, vehicle …)."""
        ...

    @property
    def dynamic_batch(self) -> bool:
        """Several frames can run in one call."""
        ...

    def warmup(self, runs: int = 2) -> None: ...

    def detect(self, frame_bgr: np.ndarray) -> Detections: ...

    def detect_batch(self, frames: list[np.ndarray]) -> list[Detections]: ...


def load_detector(m: ModelsConfig) -> ObjectDetector:
    """The node's object model (``models.detector``), with the extra ones run on the same frames
    (``models.extra_detectors``, e.g. a trained PPE model) when configured."""
    models = load_manifest(m.manifest)
    names = [("models.detector", m.detector)] + [
        (f"models.extra_detectors[{i}]", name) for i, name in enumerate(m.extra_detectors)
    ]
    for where, name in names:
        if name not in models:
            raise ConfigError(f"{where}: {name!r} is not in {m.manifest} (have: {', '.join(models)})")
    if len({name for _, name in names}) != len(names):
        raise ConfigError("models.extra_detectors: a model is listed twice (or is the main detector)")
    members = [
        Detector(models[name], m.threads, m.providers, m.score_threshold, m.nms_iou) for _, name in names
    ]
    return members[0] if len(members) == 1 else DetectorSet(members)
