"""Train the PPE crop classifier (hard hat on the head, hi-vis vest on the torso) and export it.

    .venv/bin/pip install torch==2.13.0          # CPU build; training only, never the runtime
    .venv/bin/python models/train_ppe_classifier.py --data ../shared/data/construction-site-safety

One command, seeded, CPU only (2 threads by default). Steps:

1. **Crops** from a YOLO-format data set whose ``data.yaml`` names ``Hardhat``, ``NO-Hardhat``,
   ``Safety Vest`` and ``NO-Safety Vest``: hard-hat boxes cover the head, vest boxes the torso.
   Each box is squared (side = longest side × ``SQUARE_MARGIN``) — the same square region the
   edge cuts around a head or torso it locates from pose keypoints or the person box — and kept
   with context (``CONTEXT`` × the side) at ``CACHE_SIZE`` px, so the augmentation can move and
   scale the region the way the edge's localisation errs. Crops are cached as ``.npz`` under
   ``--cache`` (default ``.cache/ppe-crops``, gitignored): a rerun skips the photos.
2. **Augmentations a camera brings**: region shift and scale, horizontal flip, small heads
   (downscale to 10–28 px then back), Gaussian blur, JPEG quality 15–70, colour jitter (brightness,
   contrast, saturation; hue only ±4° so a vest's colour stays a vest's), low light (gamma, noise).
3. **Balance**: class-weighted cross-entropy per judgement (inverse frequency).
4. **Network**: one compact CNN from scratch, 64×64 BGR input, two heads (``helmet`` logits,
   ``vest`` logits); a head crop is judged by the first head, a torso crop by the second.
5. **Early stopping** on the valid split (mean of the two crop accuracies), patience ``--patience``.
6. **Export** to ONNX (opset 17, dynamic batch) with metadata: class names, input size,
   normalisation, task, training figures; copied to ``--out`` and its sha256 written into the
   manifest given (``family: ppe_classifier``).

Seeded: ``torch.manual_seed``, ``numpy``, ``random``; the data order comes from a seeded
generator; ``torch.use_deterministic_algorithms(True)``. Bad input (no data.yaml, class names
missing) gets one line naming the file and exit status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from edge.detect.ppe import cut_square  # the crop the edge makes: training sees the same

# The class names the edge expects in the export's metadata (edge/rules/ppe_model.py checks them).
HELMET_CLASSES = ("helmet", "no_helmet")
VEST_CLASSES = ("vest", "no_vest")
# Data set class name → (task, label): task 0 = head (helmet), 1 = torso (vest); label 0 = wearing.
SOURCE_CLASSES = {
    "hardhat": (0, 0),
    "no-hardhat": (0, 1),
    "safety vest": (1, 0),
    "no-safety vest": (1, 1),
}
INPUT_SIZE = 64  # network input, square
SQUARE_MARGIN = 1.15  # square side = longest box side × this (the edge cuts the same)
CONTEXT = 1.5  # cached region = square side × this, so shifts and zoom-outs have pixels
CACHE_SIZE = 96  # cached region in px (the square itself is CACHE_SIZE / CONTEXT = 64 px)
MIN_BOX_PX = 6  # labelled boxes smaller than this (longest side) are skipped
MEAN_BGR = (0.0, 0.0, 0.0)
STD_BGR = (255.0, 255.0, 255.0)
CACHE_VERSION = 1
ATTRIBUTION = "Construction Site Safety dataset, Roboflow Universe (roboflow-universe-projects), CC BY 4.0"


class DataError(Exception):
    """A data-set problem a user can fix; the message names the file."""


@dataclass
class Crops:
    images: np.ndarray  # [N, CACHE_SIZE, CACHE_SIZE, 3] uint8 BGR
    task: np.ndarray  # [N] int64: 0 head, 1 torso
    label: np.ndarray  # [N] int64: 0 wearing, 1 not wearing
    photo: np.ndarray  # [N] int64: index of the source photo in the split's sorted list

    def __len__(self) -> int:
        return len(self.task)

    def subset(self, idx: np.ndarray) -> Crops:
        return Crops(self.images[idx], self.task[idx], self.label[idx], self.photo[idx])


# --------------------------------------------------------------------------------- data set


def class_ids(data_dir: Path) -> dict[int, tuple[int, int]]:
    """Map the data set's class ids to (task, label) from its data.yaml."""
    path = data_dir / "data.yaml"
    if not path.is_file():
        raise DataError(f"{path}: missing (a YOLO export names its classes there)")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML: {exc}") from exc
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list):
        raise DataError(f"{path}: no 'names' list")
    out = {}
    for i, name in enumerate(names):
        key = str(name).strip().lower()
        if key in SOURCE_CLASSES:
            out[i] = SOURCE_CLASSES[key]
    found = {
        SOURCE_CLASSES[str(n).strip().lower()] for n in names if str(n).strip().lower() in SOURCE_CLASSES
    }
    if len(found) != 4:
        raise DataError(
            f"{path}: needs the classes Hardhat, NO-Hardhat, Safety Vest, NO-Safety Vest; has {names}"
        )
    return out


def split_photos(data_dir: Path, split: str) -> list[Path]:
    folder = data_dir / split / "images"
    if not folder.is_dir():
        raise DataError(f"{folder}: missing (expected {split}/images and {split}/labels)")
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
    )


def square_region(x1: float, y1: float, x2: float, y2: float, margin: float) -> tuple[float, float, float]:
    """Centre and side of the square around a box (side = longest side × margin)."""
    return (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * margin


def extract(data_dir: Path, split: str, ids: dict[int, tuple[int, int]], limit_photos: int) -> Crops:
    photos = split_photos(data_dir, split)
    if limit_photos:
        photos = photos[:limit_photos]
    images, tasks, labels, photo_idx = [], [], [], []
    for pi, photo in enumerate(photos):
        label_path = data_dir / split / "labels" / (photo.stem + ".txt")
        if not label_path.is_file():
            continue
        rows = []
        for ln, line in enumerate(label_path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 5:
                raise DataError(f"{label_path}:{ln}: expected 'class cx cy w h', got {line!r}")
            cls = int(parts[0])
            if cls in ids:
                rows.append((cls, *map(float, parts[1:5])))
        if not rows:
            continue
        image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"{photo}: not a readable image")
        h, w = image.shape[:2]
        for cls, cx, cy, bw, bh in rows:
            if max(bw * w, bh * h) < MIN_BOX_PX:
                continue
            _, _, side = square_region(0, 0, bw * w, bh * h, SQUARE_MARGIN)
            images.append(cut_square(image, cx * w, cy * h, side * CONTEXT, CACHE_SIZE))
            task, label = ids[cls]
            tasks.append(task)
            labels.append(label)
            photo_idx.append(pi)
    if not images:
        raise DataError(f"{data_dir / split}: no hard-hat or vest boxes found")
    return Crops(
        np.stack(images),
        np.array(tasks, dtype=np.int64),
        np.array(labels, dtype=np.int64),
        np.array(photo_idx, dtype=np.int64),
    )


def load_crops(data_dir: Path, split: str, cache: Path, limit_photos: int) -> Crops:
    ids = class_ids(data_dir)
    key = hashlib.sha256(
        f"{data_dir.resolve()}|{split}|{limit_photos}|{CACHE_VERSION}|{SQUARE_MARGIN}|{CONTEXT}|{CACHE_SIZE}".encode()
    ).hexdigest()[:16]
    path = cache / f"{split}-{key}.npz"
    if path.is_file():
        z = np.load(path)
        return Crops(z["images"], z["task"], z["label"], z["photo"])
    t0 = time.monotonic()
    crops = extract(data_dir, split, ids, limit_photos)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, images=crops.images, task=crops.task, label=crops.label, photo=crops.photo)
    tmp.replace(path)
    print(f"  {split}: {len(crops)} crops cut in {time.monotonic() - t0:.1f} s → {path}", flush=True)
    return crops


# ----------------------------------------------------------------------------- augmentation


def augment(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One training view (INPUT_SIZE², BGR uint8) of a cached region, as a camera might give it."""
    c = CACHE_SIZE / 2
    side = CACHE_SIZE / CONTEXT * rng.uniform(0.8, 1.25)
    cx = c + rng.uniform(-0.12, 0.12) * side
    cy = c + rng.uniform(-0.12, 0.12) * side
    out = cut_square(region, cx, cy, side, INPUT_SIZE)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if rng.random() < 0.3:  # small heads: few pixels, upscaled by the edge
        small = int(rng.integers(10, 29))
        out = cv2.resize(cv2.resize(out, (small, small), interpolation=cv2.INTER_AREA), (INPUT_SIZE,) * 2)
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, 1.6)))
    img = out.astype(np.float32)
    if rng.random() < 0.8:  # colour: brightness, contrast, saturation, a little hue
        img = img * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
        mean = img.mean()
        img = (img - mean) * rng.uniform(0.7, 1.3) + mean
        hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-2, 2)) % 180
        hsv[..., 1] *= rng.uniform(0.7, 1.3)
        img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    if rng.random() < 0.2:  # low light: darker, noisier
        img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** rng.uniform(1.5, 2.5)
        img += rng.normal(0, rng.uniform(2, 8), img.shape)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        quality = int(rng.integers(15, 71))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(out)


def centre_view(region: np.ndarray) -> np.ndarray:
    c = CACHE_SIZE / 2
    return cut_square(region, c, c, CACHE_SIZE / CONTEXT, INPUT_SIZE)


def to_tensor_batch(views: list[np.ndarray]) -> np.ndarray:
    x = np.stack(views).astype(np.float32)
    x = (x - np.array(MEAN_BGR, np.float32)) / np.array(STD_BGR, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------------- network


def build_model(width: float = 1.0):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    def ch(n: int) -> int:
        return max(8, round(n * width / 8) * 8)

    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )

    class PPENet(nn.Module):
        """64×64 BGR → (helmet logits [N,2], vest logits [N,2]); about 6.3 M multiply-adds a crop
        at width 1 (channels 16, 32, 64, 64, 128), roughly width² times that otherwise."""

        def __init__(self) -> None:
            super().__init__()
            c = [ch(16), ch(32), ch(64), ch(64), ch(128)]
            self.features = nn.Sequential(
                block(3, c[0], 2),  # 32
                block(c[0], c[1], 2),  # 16
                block(c[1], c[2], 2),  # 8
                block(c[2], c[3], 1),
                block(c[3], c[4], 2),  # 4
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Dropout(0.2),
            )
            self.helmet = nn.Linear(c[4], 2)
            self.vest = nn.Linear(c[4], 2)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            f = self.features(x)
            return torch.softmax(self.helmet(f), 1), torch.softmax(self.vest(f), 1)

        def logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            f = self.features(x)
            return self.helmet(f), self.vest(f)

    return PPENet()


# --------------------------------------------------------------------------------- training


def batches(n: int, size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, size):
        yield order[i : i + size]


def evaluate(model, crops: Crops, device: str = "cpu") -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Crop accuracy and confusion matrices (rows: truth wearing / not; cols: predicted)."""
    import torch

    model.eval()
    preds = np.zeros(len(crops), dtype=np.int64)
    with torch.no_grad():
        for idx in batches(len(crops), 256, None):
            x = torch.from_numpy(to_tensor_batch([centre_view(crops.images[i]) for i in idx])).to(device)
            helmet, vest = model.logits(x)
            t = torch.from_numpy(crops.task[idx]).to(device)
            chosen = torch.where(t[:, None] == 0, helmet, vest)
            preds[idx] = chosen.argmax(1).cpu().numpy()
    out: dict[str, object] = {}
    for task, name in ((0, "helmet"), (1, "vest")):
        m = crops.task == task
        cm = np.zeros((2, 2), dtype=np.int64)
        for t, p in zip(crops.label[m], preds[m], strict=True):
            cm[t, p] += 1
        out[f"{name}_acc"] = float((cm[0, 0] + cm[1, 1]) / max(1, cm.sum()))
        out[f"{name}_confusion"] = cm.tolist()
        out[f"{name}_n"] = int(m.sum())
    return out


def export_onnx(model, path: Path, meta: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    import onnx
    import torch

    model.eval()
    model.cpu()
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(
        model,
        (dummy,),
        str(tmp),
        input_names=["input"],
        output_names=["helmet", "vest"],
        dynamic_axes={"input": {0: "batch"}, "helmet": {0: "batch"}, "vest": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    proto = onnx.load(str(tmp))
    del proto.metadata_props[:]
    for k, v in sorted(meta.items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name = "parkguard train_ppe_classifier"
    proto.doc_string = "ParkGuard PPE crop classifier: hard hat on the head, hi-vis vest on the torso"
    onnx.checker.check_model(proto)
    tmp.unlink()
    path.write_bytes(proto.SerializeToString())


def write_manifest(manifest: Path, name: str, file: str, digest: str) -> None:
    """Add or replace this model's entry in manifest.yaml (a text edit: comments stay), indented
    like the file's other entries."""
    text = manifest.read_text(encoding="utf-8") if manifest.is_file() else "models:\n"
    first = re.search(r"(?m)^( *)- name:", text)
    dash = first.group(1) if first else "  "
    key = dash + "  "
    entry = (
        f"{dash}- name: {name}\n"
        f"{key}file: {file}\n"
        f"{key}sha256: {digest}\n"
        f"{key}family: ppe_classifier\n"
        f"{key}input_size: [{INPUT_SIZE}, {INPUT_SIZE}] # width, height; batch dynamic\n"
        f'{key}licence: "CC BY 4.0 (trained on: Construction Site Safety dataset, Roboflow Universe '
        f'(roboflow-universe-projects), CC BY 4.0); model: ParkGuard"\n'
        f'{key}source: "models/train_ppe_classifier.py (PyTorch 2.13 CPU, seed 0), see models/README.md"\n'
    )
    pattern = re.compile(rf"(?m)^{dash}- name: {re.escape(name)}\n(?:{key}.*\n)*")
    if pattern.search(text):
        text = pattern.sub(lambda _: entry, text)
    else:
        if not text.endswith("\n"):
            text += "\n"
        text += "\n" + entry
    manifest.write_text(text, encoding="utf-8")


def train(args: argparse.Namespace) -> dict[str, object]:
    import torch
    from torch import nn

    t_start = time.monotonic()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    cuda = args.device.startswith("cuda")
    # CUDA has no deterministic backward for adaptive average pooling: warn there, refuse nothing
    torch.use_deterministic_algorithms(True, warn_only=cuda)
    cv2.setNumThreads(1)

    print(f"crops from {args.data} (cache {args.cache})", flush=True)
    train_set = load_crops(args.data, args.train_split, args.cache, args.limit_photos)
    valid_set = load_crops(args.data, args.valid_split, args.cache, args.limit_photos)
    if args.max_crops and len(train_set) > args.max_crops:
        pick = np.random.default_rng(args.seed).choice(len(train_set), args.max_crops, replace=False)
        train_set = train_set.subset(np.sort(pick))
    # Model selection on a share of the training photos (whole photos, so no person is on both
    # sides), so that the valid split stays unseen and its figures are an honest estimate.
    select_set = valid_set
    select_name = args.valid_split
    if args.select_share > 0:
        photos = np.unique(train_set.photo)
        n_held = max(1, int(len(photos) * args.select_share))
        held = np.random.default_rng(args.seed + 1).permutation(photos)[:n_held]
        mask = np.isin(train_set.photo, held)
        select_set = train_set.subset(np.flatnonzero(mask))
        train_set = train_set.subset(np.flatnonzero(~mask))
        select_name = f"{len(held)} held-out train photos"
    counts = {
        name: [int(((train_set.task == t) & (train_set.label == lab)).sum()) for lab in (0, 1)]
        for t, name in ((0, "helmet"), (1, "vest"))
    }
    print(
        f"train crops: {len(train_set)} {counts}; selection crops: {len(select_set)} ({select_name}); "
        f"valid crops: {len(valid_set)}",
        flush=True,
    )
    # Inverse-frequency class weights per judgement (balance).
    weights = {}
    for name, (a, b) in counts.items():
        total = max(1, a + b)
        weights[name] = torch.tensor([total / (2 * max(1, a)), total / (2 * max(1, b))], dtype=torch.float32)
    loss_helmet = nn.CrossEntropyLoss(weight=weights["helmet"], reduction="sum")
    loss_vest = nn.CrossEntropyLoss(weight=weights["vest"], reduction="sum")

    device = torch.device(args.device)
    model = build_model(args.width).to(device)
    loss_helmet.to(device)
    loss_vest.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, args.epochs))
    data_rng = np.random.default_rng(args.seed)
    best: dict[str, object] | None = None
    best_state = None
    best_epoch = 0
    stale = 0
    history = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.monotonic()
        model.train()
        total = 0.0
        for idx in batches(len(train_set), args.batch, data_rng):
            x = torch.from_numpy(to_tensor_batch([augment(train_set.images[i], data_rng) for i in idx]))
            y = torch.from_numpy(train_set.label[idx]).to(device)
            t = train_set.task[idx]
            helmet, vest = model.logits(x.to(device))
            loss = torch.zeros((), device=device)
            h, v = torch.from_numpy(t == 0).to(device), torch.from_numpy(t == 1).to(device)
            if h.any():
                loss = loss + loss_helmet(helmet[h], y[h])
            if v.any():
                loss = loss + loss_vest(vest[v], y[v])
            loss = loss / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        figures = evaluate(model, select_set, args.device)
        score = (float(figures["helmet_acc"]) + float(figures["vest_acc"])) / 2  # type: ignore[arg-type]
        seen = evaluate(model, valid_set, args.device) if select_set is not valid_set else figures
        history.append(
            {
                "epoch": epoch,
                "loss": total / len(train_set),
                "score": score,
                **{f"select_{k}": v for k, v in figures.items()},
                **seen,
            }
        )
        print(
            f"epoch {epoch:2d}  loss {total / len(train_set):.4f}  "
            f"selection helmet {figures['helmet_acc']:.3f} vest {figures['vest_acc']:.3f}  "
            f"valid helmet {seen['helmet_acc']:.3f} vest {seen['vest_acc']:.3f}"
            f"  ({time.monotonic() - t0:.0f} s)",
            flush=True,
        )
        if best is None or score > float(best["score"]):  # type: ignore[arg-type]
            best, best_epoch, stale = {"score": score, **seen}, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= args.patience:
                print(f"early stop: no gain on {select_name} for {args.patience} epochs", flush=True)
                break
    assert best is not None and best_state is not None
    model.load_state_dict(best_state)
    train_s = time.monotonic() - t_start

    out_path = args.out / args.file
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "task": "ppe_classifier",
        "heads": json.dumps({"helmet": list(HELMET_CLASSES), "vest": list(VEST_CLASSES)}),
        "outputs": json.dumps({"helmet": "helmet", "vest": "vest"}),
        "input_size": json.dumps([INPUT_SIZE, INPUT_SIZE]),
        "channel_order": "BGR",
        "mean": json.dumps(list(MEAN_BGR)),
        "std": json.dumps(list(STD_BGR)),
        "square_margin": json.dumps(SQUARE_MARGIN),
        "seed": str(args.seed),
        "best_epoch": str(best_epoch),
        "width": json.dumps(args.width),
        "selected_on": select_name,
        "valid_helmet_acc": f"{best['helmet_acc']:.4f}",
        "valid_vest_acc": f"{best['vest_acc']:.4f}",
        "training_data": ATTRIBUTION,
        "licence": "CC BY 4.0 (training data attribution above)",
    }
    export_onnx(model, out_path, meta)
    digest = hashlib.sha256(out_path.read_bytes()).hexdigest()
    if args.manifest is not None:
        write_manifest(args.manifest, args.name, out_path.name, digest)
    result = {
        "file": str(out_path),
        "sha256": digest,
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "train_crops": len(train_set),
        "train_counts": counts,
        "valid_crops": len(valid_set),
        "train_seconds": round(train_s, 1),
        "valid": {k: v for k, v in best.items() if k != "score"},
        "history": history,
    }
    print(
        f"\nbest epoch {best_epoch}/{len(history)}; valid crop accuracy helmet {best['helmet_acc']:.3f} "
        f"(n={best['helmet_n']}), vest {best['vest_acc']:.3f} (n={best['vest_n']})\n"
        f"helmet confusion [[helmet→helmet, helmet→no_helmet], [no_helmet→helmet, no_helmet→no_helmet]]: "
        f"{best['helmet_confusion']}\n"
        f"vest confusion   [[vest→vest, vest→no_vest], [no_vest→vest, no_vest→no_vest]]: "
        f"{best['vest_confusion']}\n"
        f"training time {train_s:.0f} s on {args.threads} threads; exported {out_path} sha256 {digest}",
        flush=True,
    )
    if args.report:
        args.report.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", type=Path, required=True, help="YOLO export folder (with data.yaml, train/, valid/)"
    )
    p.add_argument("--train-split", default="train")
    p.add_argument("--valid-split", default="valid")
    p.add_argument("--cache", type=Path, default=here.parent / ".cache" / "ppe-crops")
    p.add_argument("--out", type=Path, default=here, help="folder for the .onnx (default: models/)")
    p.add_argument("--file", default="ppe-classifier.onnx")
    p.add_argument("--name", default="ppe-classifier")
    p.add_argument("--manifest", type=Path, default=here / "manifest.yaml")
    p.add_argument("--no-manifest", dest="manifest", action="store_const", const=None)
    p.add_argument("--report", type=Path, help="write the figures as JSON here")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier of the network")
    p.add_argument(
        "--select-share",
        type=float,
        default=0.1,
        help="share of training photos held out to pick the best epoch (0: pick on the valid split)",
    )
    p.add_argument(
        "--limit-photos", type=int, default=0, help="use only the first N photos per split (tests)"
    )
    p.add_argument("--max-crops", type=int, default=0, help="use at most N training crops (tests)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name in ("epochs", "batch", "threads"):
        if getattr(args, name) < 1:
            print(f"train_ppe_classifier.py: --{name} must be ≥ 1", file=sys.stderr)
            return 2
    if not 0 <= args.select_share < 0.5 or not 0.25 <= args.width <= 8:
        print(
            "train_ppe_classifier.py: --select-share must be in [0, 0.5), --width in [0.25, 8]",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        import torch  # noqa: F401
    except ImportError:
        print(
            "train_ppe_classifier.py: PyTorch is not installed; `pip install torch==2.13.0` (CPU build)",
            file=sys.stderr,
        )
        return 2
    try:
        train(args)
    except DataError as exc:
        print(f"train_ppe_classifier.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
