"""Stereo vs mono latency on CPU and the stereo matcher's own share (issue 22's bench).

Times, interleaved round by round so that load on the machine hits all alike, with ONNX
Runtime (CPU EP, ``--threads`` intra-op threads, sessions as the onnxruntime runner makes
them) and torch (eager, same threads):

  mono     the checkpoint's mono graph (image -> depth)
  stereo   its stereo graph (image, aux, fb -> depth, confidence)
  matcher  the stereo matcher alone (both views' levels 0/1 and images -> disparity, ...)

The encoder of the auxiliary view and the fusion make up the rest of stereo - mono.

    .venv/bin/python scripts/bench_stereo_share.py --model default --out benchmarks \
        --name stereo-latency-default
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

# torch's OpenMP threads sleep when idle too, not spin into the next backend's round
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402


class MatcherOnly(torch.nn.Module):
    def __init__(self, matcher: torch.nn.Module) -> None:
        super().__init__()
        self.matcher = matcher

    def forward(self, image, aux, l0, l1, r0, r1, fb):  # noqa: ANN001, ANN201
        out = self.matcher(image, aux, [l0, l1], [r0, r1], fb)
        return out.disparity, out.confidence, out.depth


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--size", default="192x640")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out", default="benchmarks")
    p.add_argument("--name", default="stereo-latency")
    a = p.parse_args()
    import onnxruntime as ort

    from iid_rdepth_ros.export.onnx_export import export_checkpoint
    from iid_rdepth_ros.model.checkpoint import load_model
    from iid_rdepth_ros.runtime.onnxruntime_runner import create_session, session_options

    h, w = (int(v) for v in a.size.lower().split("x"))
    torch.set_num_threads(a.threads)
    model, cfg, _ = load_model(a.model, steps=a.steps)
    if model.matcher is None:
        raise SystemExit(f"{a.model} has no stereo matcher (cfg.stereo.enabled is false)")
    model = model.for_export()
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, h, w, generator=g)
    aux = torch.roll(image, -8, dims=-1)
    fb = torch.tensor([200.0])
    with torch.no_grad():
        lf, rf = model.encode(image), model.encode(aux, levels=2)
    m_args = (image, aux, lf[0], lf[1], rf[0], rf[1], fb)
    tmp = Path(tempfile.mkdtemp(prefix="stereo-share-"))
    export_checkpoint(a.model, tmp, h, w, steps=a.steps, verify=False)
    with torch.no_grad():
        torch.onnx.export(MatcherOnly(model.matcher).eval(), m_args, str(tmp / "matcher.onnx"),
                          dynamo=False, opset_version=17,
                          input_names=["image", "aux", "l0", "l1", "r0", "r1", "fb"])
    # sessions as the onnxruntime runner makes them for the node: its graph rewrites, and
    # idle intra-op threads sleep (with spin-waiting, each interleaved session's idle threads
    # spin on the cores the next one needs)
    opts = session_options(ort, a.threads, spin_wait=False)
    sessions = {n: create_session(ort, tmp / f"{n}.onnx", opts, ["CPUExecutionProvider"])
                for n in ("mono", "stereo", "matcher")}
    feeds = {"mono": {"image": image.numpy()},
             "stereo": {"image": image.numpy(), "aux": aux.numpy(), "fb": fb.numpy()},
             "matcher": dict(zip(["image", "aux", "l0", "l1", "r0", "r1", "fb"],
                                 [t.numpy() for t in m_args], strict=True))}
    calls = {
        ("onnxruntime", n): (lambda n=n: sessions[n].run(None, feeds[n])) for n in sessions}
    calls[("torch", "mono")] = lambda: model(image, steps=a.steps)
    calls[("torch", "stereo")] = lambda: model(image, aux, fb, steps=a.steps)
    calls[("torch", "matcher")] = lambda: model.matcher(image, aux, lf[:2], rf, fb)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in calls}
    with torch.inference_mode():
        for r in range(a.warmup + a.repeats):
            for key, fn in calls.items():
                start = time.perf_counter()
                fn()
                if r >= a.warmup:
                    times[key].append((time.perf_counter() - start) * 1e3)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = []
    for backend in ("onnxruntime", "torch"):
        mono, stereo, matcher = (med[(backend, n)] for n in ("mono", "stereo", "matcher"))
        rows.append({"backend": backend, "mono_ms": mono, "stereo_ms": stereo,
                     "matcher_ms": matcher, "stereo_over_mono": stereo / mono,
                     "matcher_share_of_stereo": matcher / stereo,
                     "rest_of_extra_ms": stereo - mono - matcher})
    command = "python " + " ".join(shlex.quote(x) for x in sys.argv)
    result = {"command": command, "model": a.model, "size": [h, w], "steps": a.steps,
              "threads": a.threads, "repeats": a.repeats, "max_disparity":
              int(cfg.stereo.max_disparity), "rows": rows, "ort": ort.__version__,
              "torch": torch.__version__}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{a.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Stereo vs mono latency, {a.model}, {h}x{w}, T={a.steps}, {a.threads} threads",
             "", f"Command: `{command}`", "",
             f"Medians of {a.repeats} interleaved rounds after {a.warmup} warm-up rounds; "
             f"max_disparity {cfg.stereo.max_disparity}; ONNX Runtime sessions as the runner "
             "makes them (its graph rewrites, spin-waiting off). The rest of stereo - mono is the "
             "auxiliary view's encoder (levels 0/1) and the fusion.", "",
             "| backend | mono ms | stereo ms | matcher ms | stereo / mono | matcher share "
             "of stereo | rest of the extra ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['backend']} | {r['mono_ms']:.1f} | {r['stereo_ms']:.1f} | "
              f"{r['matcher_ms']:.1f} | {r['stereo_over_mono']:.2f} | "
              f"{100 * r['matcher_share_of_stereo']:.0f} % | {r['rest_of_extra_ms']:.1f} |"
              for r in rows]
    (out / f"{a.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
