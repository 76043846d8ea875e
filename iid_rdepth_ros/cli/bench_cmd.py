"""``iid-rdepth bench``: runtime benchmark over backends, variants, T and input sizes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from iid_rdepth_ros.artifacts.files import write_text_atomic
from iid_rdepth_ros.cli.arg_types import camera_size, file_stem, output_dir, threads

BACKENDS = ("torch", "onnxruntime", "tensorrt")


def _csv(kind: type, allowed: tuple[str, ...] | None = None):
    def parse(text: str) -> list:
        items = [s.strip() for s in text.split(",") if s.strip()]
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        if allowed is not None:
            bad = [s for s in items if s not in allowed]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"unknown {', '.join(bad)} (choose from {', '.join(allowed)})")
        try:
            return [kind(s) for s in items]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _size(text: str) -> tuple[int, int]:
    from iid_rdepth_ros.model.config import check_input_size

    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 192x640, got {text!r}") from None
    return check_input_size(h, w, f"--sizes {text}:")


def _gpu_mode(text: str) -> tuple[str, str]:
    graphs, _, precision = text.partition(":")
    precision = precision or "fp32"
    if graphs not in ("off", "capture", "compile") or precision not in ("fp32", "fp16", "bf16"):
        raise ValueError(f"GPU mode {text!r} is not CUDA_GRAPHS:PRECISION (off|capture|compile "
                         ": fp32|fp16|bf16)")
    return graphs, precision


def add_parser(subparsers: Any) -> None:
    """Register ``bench``."""
    p = subparsers.add_parser(
        "bench", help="benchmark latency/throughput/memory/FLOP efficiency of the runtimes",
        description="Benchmark every available backend (torch, onnxruntime; tensorrt where "
                    "importable and engines are given; torch on a CUDA device with and without "
                    "CUDA graphs, fp32 and fp16, where one exists) for mono and stereo, T in "
                    "{1,2,4,8}, at 192x640 and 352x1216: median/p95 latency of the network and "
                    "of camera image to depth, throughput, peak memory (own "
                    "subprocess per configuration), FLOPs counted from the ONNX graph and the "
                    "fraction of this machine's measured float32 matmul peak. Writes "
                    "bench.json and bench.md (with the command line) into --out.")
    p.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                   help="checkpoint (speed does not depend on its weights)")
    p.add_argument("--preset", metavar="NAME",
                   help="benchmark an untrained model of this preset instead of --model "
                        "(saved once under the user cache; speed does not need trained "
                        "weights)")
    p.add_argument("--backends", type=_csv(str, BACKENDS), default=None,
                   help="comma list (default: torch,onnxruntime, plus tensorrt if importable)")
    p.add_argument("--variants", type=_csv(str, ("mono", "stereo")), default=["mono", "stereo"])
    p.add_argument("--steps", type=_csv(int), default=[1, 2, 4, 8], help="comma list of T")
    p.add_argument("--sizes", type=_csv(str), default=["192x640", "352x1216"],
                   help="comma list of HxW")
    p.add_argument("--repeats", type=int, default=20, help="timed runs per configuration")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    p.add_argument("--threads", type=threads, default=os.cpu_count() or 1,
                   help="CPU threads for torch / onnxruntime and the matmul peak")
    p.add_argument("--gpu-modes", type=_csv(_gpu_mode), default=None, metavar="LIST",
                   help="torch on a CUDA device (rows only where one exists, else skipped with "
                        "the reason): comma list of CUDA_GRAPHS:PRECISION, CUDA_GRAPHS in "
                        "off|capture|compile, PRECISION in fp32|fp16|bf16 (default "
                        "off:fp32,capture:fp32,capture:fp16)")
    p.add_argument("--no-gpu", action="store_true", help="no GPU rows")
    p.add_argument("--engines", type=Path, metavar="DIR",
                   help="TensorRT engines as DIR/HxW_T<T>/<variant>.<precision>.engine")
    p.add_argument("--cache-dir", type=output_dir, metavar="DIR",
                   help="where exported ONNX graphs are cached (default: beside the checkpoint "
                        "or ~/.cache/iid_rdepth_ros)")
    p.add_argument("--out", type=output_dir, default="benchmarks", metavar="DIR",
                   help="results directory (default: benchmarks/)")
    p.add_argument("--name", type=file_stem, default="bench",
                   help="file stem of the results (default bench)")
    p.add_argument("--node", action="store_true",
                   help="instead of the sweep: node end-to-end latency (image published -> "
                        "depth received, real DDS) vs Runner.infer on the same frames, mono "
                        "and stereo, first --backends entry (default onnxruntime), first "
                        "--sizes entry; writes <name>-node.json/.md")
    p.add_argument("--camera", type=camera_size, default=(375, 1242), metavar="WxH",
                   help="--node: camera image size as WIDTHxHEIGHT (default 1242x375); the "
                        "network input keeps its aspect within the --sizes budget")
    p.add_argument("--no-progress", action="store_true")


def untrained_checkpoint(preset: str) -> str:
    """An untrained (seed 0) checkpoint of ``preset`` under the user cache, made once."""
    from iid_rdepth_ros.export.onnx_cache import user_cache_root
    from iid_rdepth_ros.model import get_preset

    get_preset(preset)  # ValueError naming the known presets
    stem = user_cache_root() / "bench_models" / f"untrained-{preset}"
    if not stem.with_suffix(".yaml").is_file():
        import torch

        from iid_rdepth_ros.model import build_model
        from iid_rdepth_ros.model.checkpoint import save_checkpoint

        torch.manual_seed(0)
        save_checkpoint(stem, build_model(get_preset(preset)),
                        {"note": "untrained, for speed benchmarks only"})
    return str(stem)


def run(args: argparse.Namespace) -> int:
    """Run the sweep and write ``<name>.json`` and ``<name>.md``."""
    from iid_rdepth_ros.artifacts.lazy_import import is_available
    from iid_rdepth_ros.bench.sweep import SweepOptions, run_sweep, to_markdown

    sizes = [_size(s) for s in args.sizes]
    if args.repeats < 2 or args.warmup < 0 or args.threads < 1:
        raise ValueError("need --repeats >= 2, --warmup >= 0 and --threads >= 1")
    from iid_rdepth_ros.model.config import check_steps

    for t in args.steps:
        check_steps(t, "--steps values")
    backends = args.backends
    if backends is None:
        backends = ["torch", "onnxruntime"] + (["tensorrt"] if is_available("tensorrt") else [])
    if "tensorrt" in backends and args.engines is None:
        raise ValueError("the tensorrt backend needs --engines DIR (see --help)")
    model = untrained_checkpoint(args.preset) if args.preset else args.model
    if args.node:
        return run_node(args, model, backends[0] if args.backends else "onnxruntime", sizes[0])
    options = SweepOptions(model=model, backends=backends, variants=args.variants,
                           steps=args.steps, sizes=sizes, repeats=args.repeats,
                           warmup=args.warmup, threads=args.threads,
                           engine_dir=str(args.engines) if args.engines else None,
                           cache_dir=str(args.cache_dir) if args.cache_dir else None)
    if args.no_gpu:
        options.gpu_modes = ()
    elif args.gpu_modes is not None:
        options.gpu_modes = tuple(args.gpu_modes)

    def progress(message: str) -> None:
        if not args.no_progress:
            print(f"[bench] {message}", file=sys.stderr, flush=True)

    result = run_sweep(options, progress)
    command = getattr(args, "command_line", None) or "iid-rdepth " + " ".join(sys.argv[1:])
    result["command"] = command
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.out / f"{args.name}.json", args.out / f"{args.name}.md"
    write_text_atomic(json_path, json.dumps(result, indent=2) + "\n")
    md_path.write_text(to_markdown(result, command), "utf-8")
    print(md_path.read_text("utf-8"))
    print(f"wrote {json_path} and {md_path}")
    errors = [r for r in result["rows"] if "error" in r]
    return 1 if errors and len(errors) == len(result["rows"]) else 0


def run_node(args: argparse.Namespace, model: str, backend: str,
             size: tuple[int, int]) -> int:
    """Node overhead benchmark (``iid_rdepth_ros.bench.node``), mono then stereo."""
    from iid_rdepth_ros.bench.node import NodeBenchOptions, run_node_bench, to_markdown

    command = getattr(args, "command_line", None) or "iid-rdepth " + " ".join(sys.argv[1:])
    results, parts = {}, []
    for variant in args.variants:
        opts = NodeBenchOptions(model=model, backend=backend, input_hw=size,
                                camera_hw=args.camera,
                                frames=max(args.repeats, 10), warmup=max(args.warmup, 1),
                                stereo=variant == "stereo", threads=args.threads,
                                diffusion_steps=args.steps[0] if len(args.steps) == 1 else None)
        results[variant] = run_node_bench(opts, progress=not args.no_progress)
        parts.append(f"## {variant}\n\n" + to_markdown(results[variant], command))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{args.name}-node"
    write_text_atomic(stem.with_suffix(".json"),
                      json.dumps({"command": command, **results}, indent=2) + "\n")
    stem.with_suffix(".md").write_text(f"# Node overhead\n\nCommand: `{command}`\n\n"
                                       + "\n\n".join(parts), "utf-8")
    print(stem.with_suffix(".md").read_text("utf-8"))
    return 0 if all(r["meets_target"] for r in results.values()) else 1
