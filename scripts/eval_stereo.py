"""Issue 22's "must show" stereo evaluation of a checkpoint (``bench.stereo_eval``).

    python scripts/eval_stereo.py --model /work/scratch/stereo/ckpt/prov \
        --data-dir /work/scratch/stereo/eval_data --out benchmarks/

Generates the held-out synth splits (test-mixed, test-near) and the two-camera invariance
renders under ``--data-dir`` where missing, runs the model's stereo (and mono) through the
runtime and OpenCV SGBM, the camera-invariance comparison and the semi-real photo pairs, and
writes ``OUT/NAME.json`` and ``OUT/NAME.md`` (the command line at the top).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from iid_rdepth_ros.bench import stereo_eval as se  # noqa: E402

ITEMS = ("splits", "invariance", "semi-real")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default",
                   help="checkpoint: default, baseline or a path (stem, .yaml or .safetensors)")
    p.add_argument("--backend", default="torch", choices=("torch", "onnxruntime", "auto"),
                   help="runtime backend (torch: network size per camera in place; "
                        "onnxruntime exports one graph per network size, cached)")
    p.add_argument("--frames", type=int, default=40, help="frames per synth split")
    p.add_argument("--data-frames", type=int, default=40,
                   help="frames generated per split when missing")
    p.add_argument("--invariance-frames", type=int, default=20,
                   help="scenes of the camera-invariance test")
    p.add_argument("--semi-real", type=int, default=20, help="semi-real photo pairs")
    p.add_argument("--semi-real-size", default="384x512", help="HxW of the semi-real pairs")
    p.add_argument("--data-dir", default="data/stereo_eval", help="where the synth data live")
    p.add_argument("--budget", default="192x640", help="network pixel budget HxW")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for the model (default 1: on 2 cores shared with a "
                        "training job, 2 threads ran 40x slower)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    p.add_argument("--only", nargs="+", choices=ITEMS, default=list(ITEMS),
                   help="run only these items")
    p.add_argument("--no-mono", action="store_true", help="skip the mono reference")
    p.add_argument("--out", default="benchmarks", help="output folder")
    p.add_argument("--name", default=None, help="output name (default stereo-eval-<model>)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def _hw(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def model_name(model: str) -> str:
    return Path(model).name.split(".")[0] if model not in ("default", "baseline") else model


def run(args: argparse.Namespace) -> dict[str, Any]:
    progress = not args.no_progress
    t0 = time.perf_counter()
    dirs = se.prepare_data(args.data_dir, args.data_frames, args.invariance_frames)
    budget = _hw(args.budget)
    runner = se.open_camera_runner(args.model, args.backend, args.threads, budget, args.device)
    result: dict[str, Any] = {"model": {"name": args.model, "backend": runner.runner.backend,
                                        "budget": f"{budget[0]}x{budget[1]}",
                                        "card_stereo": se.card_stereo(args.model),
                                        "info": _plain(runner.runner.info)}}
    try:
        if "splits" in args.only:
            result["splits"] = {s: se.evaluate_split(runner, dirs[s], args.frames,
                                                     mono=not args.no_mono, progress=progress)
                                for s in se.SPLITS}
        if "invariance" in args.only:
            a, b = se.invariance_dirs(args.data_dir)
            result["invariance"] = se.evaluate_invariance(runner, a, b, args.invariance_frames,
                                                          progress)
        if "semi-real" in args.only:
            result["semi_real"] = se.evaluate_semi_real(runner, args.semi_real,
                                                        _hw(args.semi_real_size),
                                                        progress=progress)
    finally:
        runner.close()
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    return result


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(info, default=str))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python scripts/eval_stereo.py " + shlex.join(sys.argv[1:] if argv is None
                                                            else argv)
    result = run(args)
    result["command"] = command
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = args.name or f"stereo-eval-{model_name(args.model)}"
    (out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (out / f"{name}.md").write_text(se.render_markdown(result, command), encoding="utf-8")
    print(f"wrote {out / name}.json and .md in {result['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
