"""Train and export a YOLO PPE detector (hard hat / head / hi-vis vest) with ultralytics.

    python models/train_ppe.py --data /data/SHWD --format voc \\
        --class-map hat:helmet,person:head --epochs 100 --model yolov8n.yaml \\
        --out models/ppe --name ppe-yolov8n --manifest models/manifest.yaml

- Datasets in **YOLO** format (``images/`` + ``labels/`` with one ``.txt`` a picture, or a
  ``data.yaml``) or **Pascal VOC** (``Annotations/*.xml`` + ``JPEGImages/``, as SHWD and CHV ship;
  ``ImageSets/Main/{train,val,test}.txt`` are used when present). VOC is converted to YOLO here.
- ``--class-map`` maps the dataset's class names to ours (``helmet``, ``head``, ``vest``); classes
  not mapped are dropped (e.g. SHWD: ``hat:helmet,person:head``; CHV: ``helmet:helmet,vest:vest``,
  or its colour classes ``red:helmet,white:helmet,...``; SH17: ``helmet:helmet,head:head,safety-vest:vest``).
- The ONNX export carries the class names in its metadata (``names``: the YOLO adapter of the
  edge reads them); the file is copied next to the manifest and an entry (sha256, family yolo,
  label map helmet/head/vest) is appended to the manifest given.

Ultralytics is AGPL-3.0 and pulls torch: install it in a separate environment (``pip install
parkguard[train]`` there, or ``pip install ultralytics``); nothing in ``edge/`` or ``center/``
imports it. Offline: ``YOLO_OFFLINE=1`` is set here and any TTF font is copied to
``$YOLO_CONFIG_DIR/Arial.ttf`` (ultralytics would download it); ``--model yolov8n.yaml``
trains from scratch (no pretrained ``.pt`` can be downloaded offline; give a local ``.pt`` path
for fine-tuning when you have one).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

OUR_CLASSES = ("helmet", "head", "vest")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class DatasetError(Exception):
    """A dataset problem a user can fix; the message names the file."""


# --------------------------------------------------------------------------- class names


def parse_class_map(text: str | None, classes: list[str]) -> dict[str, str]:
    """``hat:helmet,person:head`` → {hat: helmet, person: head}; without a map, our own names."""
    if not text:
        return {c: c for c in classes}
    out = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if ":" not in part:
            raise DatasetError(f"--class-map: {part!r} is not SOURCE:TARGET")
        src, dst = (s.strip() for s in part.split(":", 1))
        if dst not in classes:
            raise DatasetError(f"--class-map: target {dst!r} is not one of {', '.join(classes)}")
        out[src] = dst
    return out


# --------------------------------------------------------------------------- VOC → YOLO


def voc_objects(xml_path: Path) -> tuple[int, int, list[tuple[str, float, float, float, float]]]:
    """(width, height, [(name, xmin, ymin, xmax, ymax)]) of one VOC annotation."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise DatasetError(f"{xml_path}: not valid XML: {exc}") from None
    size = root.find("size")
    try:
        w = int(float(size.findtext("width")))  # type: ignore[union-attr, arg-type]
        h = int(float(size.findtext("height")))  # type: ignore[union-attr, arg-type]
    except (AttributeError, TypeError, ValueError):
        raise DatasetError(f"{xml_path}: size/width and size/height missing") from None
    objs = []
    for i, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        try:
            vals = [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]  # type: ignore[union-attr, arg-type]
        except (AttributeError, TypeError, ValueError):
            raise DatasetError(f"{xml_path}: object[{i}] ({name!r}): bndbox incomplete") from None
        objs.append((name, *vals))
    return w, h, objs


def yolo_line(cls: int, box: tuple[float, float, float, float], w: int, h: int) -> str | None:
    x1, y1, x2, y2 = box
    x1, x2 = max(0.0, min(x1, w)), max(0.0, min(x2, w))
    y1, y2 = max(0.0, min(y1, h)), max(0.0, min(y2, h))
    if x2 - x1 < 1 or y2 - y1 < 1 or w <= 0 or h <= 0:
        return None
    return f"{cls} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"


def _split_of(stem: str, val_share: float, seed: int = 0) -> str:
    """A stable train/val split from the file name (the same on every run)."""
    digest = hashlib.sha256(f"{seed}:{stem}".encode()).digest()
    return "val" if digest[0] / 256 < val_share else "train"


def _find_image(folder: Path, stem: str) -> Path | None:
    for ext in IMAGE_EXTS:
        for cand in (folder / f"{stem}{ext}", folder / f"{stem}{ext.upper()}"):
            if cand.is_file():
                return cand
    return None


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def convert_voc(
    root: Path, work: Path, class_map: dict[str, str], classes: list[str], val_share: float
) -> Path:
    """A VOC dataset → YOLO layout under ``work``; returns its data.yaml."""
    ann = root / "Annotations"
    imgs = root / "JPEGImages"
    if not ann.is_dir() or not imgs.is_dir():
        raise DatasetError(f"{root}: a VOC dataset has Annotations/ and JPEGImages/")
    sets = root / "ImageSets" / "Main"
    split_of: dict[str, str] = {}
    for name, split in (("train", "train"), ("trainval", "train"), ("val", "val"), ("test", "val")):
        f = sets / f"{name}.txt"
        if f.is_file():
            for line in f.read_text(encoding="utf-8").split():
                split_of.setdefault(line.strip(), split)
    counts: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    n = 0
    for xml_path in sorted(ann.glob("*.xml")):
        stem = xml_path.stem
        img = _find_image(imgs, stem)
        if img is None:
            raise DatasetError(f"{xml_path}: no image {stem}.* in {imgs}")
        w, h, objs = voc_objects(xml_path)
        lines = []
        for name, *box in objs:
            target = class_map.get(name)
            if target is None:
                dropped[name] += 1
                continue
            line = yolo_line(classes.index(target), tuple(box), w, h)  # type: ignore[arg-type]
            if line:
                lines.append(line)
                counts[target] += 1
        split = split_of.get(stem) or _split_of(stem, val_share)
        _link(img, work / "images" / split / img.name)
        label = work / "labels" / split / f"{stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
        n += 1
    if n == 0:
        raise DatasetError(f"{ann}: no *.xml annotations")
    _report(n, counts, dropped)
    return write_data_yaml(work, classes)


def convert_yolo(
    root: Path, work: Path, class_map: dict[str, str], classes: list[str], val_share: float
) -> Path:
    """A YOLO dataset (its own class names) → our class ids under ``work``; returns data.yaml."""
    names = _yolo_names(root)
    pairs: list[tuple[Path, Path | None, str | None]] = []  # image, label, split
    for split_dir in ("train", "val", "valid", "test"):
        split = "train" if split_dir == "train" else "val"
        # images/<split>/ + labels/<split>/ (ultralytics), or <split>/images/ + <split>/labels/
        # (a Roboflow export, as the Construction Site Safety data set comes)
        for img_dir, lbl_dir in (
            (root / "images" / split_dir, root / "labels" / split_dir),
            (root / split_dir / "images", root / split_dir / "labels"),
        ):
            if img_dir.is_dir():
                for img in sorted(img_dir.iterdir()):
                    if img.suffix.lower() in IMAGE_EXTS:
                        pairs.append((img, lbl_dir / f"{img.stem}.txt", split))
    if not pairs and (root / "images").is_dir():
        for img in sorted((root / "images").iterdir()):
            if img.suffix.lower() in IMAGE_EXTS:
                pairs.append((img, root / "labels" / f"{img.stem}.txt", None))
    if not pairs:
        raise DatasetError(f"{root}: a YOLO dataset has images/ (or images/train, images/val) and labels/")
    counts: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    for img, label, split in pairs:
        split = split or _split_of(img.stem, val_share)
        lines = []
        if label is not None and label.is_file():
            for ln, raw in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
                parts = raw.split()
                if not parts:
                    continue
                try:
                    src = int(parts[0])
                    vals = [float(v) for v in parts[1:5]]
                except ValueError:
                    raise DatasetError(f"{label}:{ln}: not 'class x y w h'") from None
                if len(vals) != 4:
                    raise DatasetError(f"{label}:{ln}: not 'class x y w h'")
                src_name = names[src] if 0 <= src < len(names) else str(src)
                target = class_map.get(src_name)
                if target is None:
                    dropped[src_name] += 1
                    continue
                lines.append(f"{classes.index(target)} " + " ".join(f"{v:.6f}" for v in vals))
                counts[target] += 1
        _link(img, work / "images" / split / img.name)
        out = work / "labels" / split / f"{img.stem}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    _report(len(pairs), counts, dropped)
    return write_data_yaml(work, classes)


def _yolo_names(root: Path) -> list[str]:
    import yaml

    for name in ("data.yaml", "dataset.yaml"):
        f = root / name
        if f.is_file():
            data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            names = data.get("names")
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
            raise DatasetError(f"{f}: names is neither a list nor a mapping")
    f = root / "classes.txt"
    if f.is_file():
        return [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]
    raise DatasetError(f"{root}: no data.yaml (names) or classes.txt: the class names are unknown")


def _report(n: int, counts: Counter[str], dropped: Counter[str]) -> None:
    print(f"dataset: {n} images; boxes kept: {dict(counts) or 'none'}", file=sys.stderr)
    if dropped:
        print(f"dataset: boxes of classes not in --class-map dropped: {dict(dropped)}", file=sys.stderr)
    if not counts:
        raise DatasetError("no box of any mapped class: check --class-map against the dataset's names")


def write_data_yaml(work: Path, classes: list[str]) -> Path:
    for split in ("train", "val"):
        (work / "images" / split).mkdir(parents=True, exist_ok=True)
        (work / "labels" / split).mkdir(parents=True, exist_ok=True)
    if not any((work / "images" / "val").iterdir()):  # a tiny set: validate on the training pictures
        for img in (work / "images" / "train").iterdir():
            _link(img, work / "images" / "val" / img.name)
            lbl = work / "labels" / "train" / f"{img.stem}.txt"
            if lbl.is_file():
                _link(lbl, work / "labels" / "val" / lbl.name)
    data = work / "data.yaml"
    names = "\n".join(f"  {i}: {c}" for i, c in enumerate(classes))
    data.write_text(
        f"path: {work}\ntrain: images/train\nval: images/val\nnames:\n{names}\n", encoding="utf-8"
    )
    return data


def detect_format(root: Path) -> str:
    if (root / "Annotations").is_dir():
        return "voc"
    if (root / "images").is_dir() or (root / "data.yaml").is_file():
        return "yolo"
    raise DatasetError(f"{root}: neither VOC (Annotations/) nor YOLO (images/, labels/)")


# --------------------------------------------------------------------------- ONNX + manifest


def write_names(onnx_path: Path, classes: list[str]) -> None:
    """Put the class names into the ONNX metadata (``names``, as ultralytics writes it)."""
    import onnx

    model = onnx.load(str(onnx_path))
    meta = {p.key: p.value for p in model.metadata_props}
    meta["names"] = str(dict(enumerate(classes)))
    meta.setdefault("task", "detect")
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(onnx_path))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def append_manifest(
    manifest: Path,
    name: str,
    onnx_file: Path,
    imgsz: int,
    classes: list[str],
    source: str,
    replace: bool = False,
) -> dict:
    """Copy the model next to the manifest and append its entry (text append: comments stay)."""
    import yaml

    manifest.parent.mkdir(parents=True, exist_ok=True)
    text = manifest.read_text(encoding="utf-8") if manifest.is_file() else "models:\n"
    data = yaml.safe_load(text) or {}
    models = data.get("models") or []
    if any(m.get("name") == name for m in models):
        if not replace:
            raise DatasetError(f"{manifest}: a model named {name!r} is there already (use --replace)")
        text = _drop_entry(text, name)
    target = manifest.parent / f"{name}.onnx"
    if onnx_file.resolve() != target.resolve():
        shutil.copy2(onnx_file, target)
    entry = {
        "name": name,
        "file": target.name,
        "sha256": sha256_of(target),
        "family": "yolo",
        "input_size": [imgsz, imgsz],
        "label_map": {c: c for c in classes},
        "licence": "AGPL-3.0 (trained and exported with ultralytics); check the dataset's licence too",
        "source": source,
    }
    block = yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, width=1000)
    block = "".join("  " + ln + "\n" for ln in block.splitlines())
    if not text.endswith("\n"):
        text += "\n"
    if "models:" not in text:
        text += "models:\n"
    manifest.write_text(text + "\n" + block, encoding="utf-8")
    return entry


def _drop_entry(text: str, name: str) -> str:
    out, skip = [], False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("- name:"):
            skip = stripped.split(":", 1)[1].strip().strip("'\"") == name
        if not skip:
            out.append(line)
    return "".join(out)


# --------------------------------------------------------------------------- training


def offline_setup(config_dir: Path) -> None:
    """Ultralytics offline: no downloads, a local font where it wants Arial.ttf."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    cfg = Path(os.environ["YOLO_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    for sub in (cfg, cfg / "Ultralytics"):
        sub.mkdir(parents=True, exist_ok=True)
        if not (sub / "Arial.ttf").exists():
            fonts = (
                sorted(Path("/usr/share/fonts").rglob("*.ttf")) if Path("/usr/share/fonts").is_dir() else []
            )
            if not fonts:  # a bare machine: matplotlib carries DejaVu Sans
                try:
                    import matplotlib

                    ttf = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
                    fonts = sorted(ttf.glob("*.ttf"))
                except ImportError:
                    fonts = []
            if fonts:
                shutil.copy2(fonts[0], sub / "Arial.ttf")


def train_and_export(args: argparse.Namespace, data_yaml: Path, classes: list[str]) -> Path:
    offline_setup(args.out / "ultralytics-config")
    try:
        from ultralytics import YOLO  # AGPL-3.0: this tool only, never the runtime
    except ImportError:
        raise DatasetError(
            "ultralytics is not installed here: pip install 'parkguard[train]' (or ultralytics) "
            "in a separate environment"
        ) from None
    model = YOLO(args.model)
    t0 = time.monotonic()
    model.train(
        data=str(data_yaml),
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        project=str(args.out / "runs"),
        name=args.name,
        exist_ok=True,
        workers=args.workers,
        seed=args.seed,
        deterministic=True,
        cache=args.cache or False,
        **({"time": args.time_hours} if args.time_hours else {}),
        plots=False,
        amp=args.device != "cpu",
        verbose=True,
    )
    trainer = getattr(model, "trainer", None)
    args.epochs_run = int(getattr(trainer, "epoch", args.epochs - 1)) + 1 if trainer else args.epochs
    print(f"train: {args.epochs_run} epoch(s) in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    best = args.out / "runs" / args.name / "weights" / "best.pt"
    trained = YOLO(str(best)) if best.is_file() else model
    # opset 18: PyTorch ≥ 2.9 exports at 18 and converts down on request, and its conversion to 17
    # kept opset-18 Split attributes that ONNX Runtime then refuses (seen with torch 2.11)
    exported = Path(
        trained.export(format="onnx", imgsz=args.imgsz, opset=args.opset, dynamic=False, simplify=False)
    )
    onnx_path = args.out / f"{args.name}.onnx"
    shutil.copy2(exported, onnx_path)
    write_names(onnx_path, classes)
    check_loads(onnx_path)
    return onnx_path


def check_loads(onnx_path: Path) -> None:
    """The edge runs the export with ONNX Runtime: refuse one it cannot load, before the manifest."""
    try:
        import onnxruntime as ort
    except ImportError:
        print("train: onnxruntime not installed here: the export was not test-loaded", file=sys.stderr)
        return
    try:
        ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types
        raise DatasetError(
            f"{onnx_path}: ONNX Runtime cannot load the export ({exc}); try another --opset"
        ) from exc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="train_ppe.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, type=Path, help="dataset folder (YOLO or VOC)")
    p.add_argument("--format", choices=["auto", "yolo", "voc"], default="auto")
    p.add_argument("--classes", default=",".join(OUR_CLASSES), help="our class names, in output order")
    p.add_argument("--class-map", help="dataset class → ours, e.g. hat:helmet,person:head")
    p.add_argument("--val-share", type=float, default=0.2, help="share of pictures for validation")
    p.add_argument("--model", default="yolov8n.yaml", help="ultralytics model YAML or a local .pt")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--opset", type=int, default=18, help="ONNX opset of the export")
    p.add_argument("--cache", choices=["ram", "disk"], help="ultralytics image cache (decode once)")
    p.add_argument(
        "--time-hours",
        type=float,
        default=0.0,
        help="train for this long instead of --epochs (ultralytics fits the schedule to the time)",
    )
    p.add_argument("--device", default="cpu", help="cpu, 0, 0,1 …")
    p.add_argument("--out", type=Path, default=Path("models/ppe-work"), help="work folder")
    p.add_argument("--name", default="ppe-yolov8n", help="model name in the manifest")
    p.add_argument("--manifest", required=True, type=Path, help="manifest to append the model to")
    p.add_argument("--replace", action="store_true", help="replace an entry of the same name")
    p.add_argument("--convert-only", action="store_true", help="write the YOLO dataset and stop")
    args = p.parse_args(argv)
    try:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]
        if not classes or len(set(classes)) != len(classes):
            raise DatasetError("--classes: give distinct names")
        if not args.data.is_dir():
            raise DatasetError(f"--data: {args.data}: no such folder")
        class_map = parse_class_map(args.class_map, classes)
        fmt = detect_format(args.data) if args.format == "auto" else args.format
        work = args.out / "dataset"
        if work.exists():
            shutil.rmtree(work)
        convert = convert_voc if fmt == "voc" else convert_yolo
        data_yaml = convert(args.data, work, class_map, classes, args.val_share)
        print(f"dataset: YOLO layout in {work} ({fmt} source)", file=sys.stderr)
        if args.convert_only:
            return 0
        random.seed(0)
        onnx_path = train_and_export(args, data_yaml, classes)
        entry = append_manifest(
            args.manifest,
            args.name,
            onnx_path,
            args.imgsz,
            classes,
            f"models/train_ppe.py on {args.data.name} ({fmt}), {args.model}, "
            f"{getattr(args, 'epochs_run', args.epochs)} epoch(s), "
            f"imgsz {args.imgsz}",
            replace=args.replace,
        )
        print(f"manifest: {args.manifest}: {entry['name']} ({entry['file']}, sha256 {entry['sha256']})")
    except DatasetError as exc:
        print(f"train_ppe.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
