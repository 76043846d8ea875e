"""Files of a bag evaluation: JSON, Markdown, figures and one point cloud.

Under ``out``::

    metrics.json          everything (overall + per-frame metrics, latency, pairing, paths)
    metrics.md            the metrics table, latency and frame accounting
    sequence.png          AbsRel, RMSE and latency along the sequence
    frames/frame_NNNNNN.png   image, ground truth, depth and AbsRel error of chosen frames
    frames/depth_NNNNNN.png   fixed-range depth colormap of the prediction
    cloud_NNNNNN.ply      coloured point cloud of the middle chosen frame

Tables and figures come from ``evaluation.report`` / ``evaluation.plots`` and the colormaps and
PLY writer from ``geometry``, so they look like every other evaluation of this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DEPTH_RANGE = (1.0, 80.0)
MAX_ERROR = 0.3


def _fmt_ms(v: Any) -> str:
    return "–" if v is None else f"{v:.1f}"


def latency_lines(latency: dict[str, Any], label: str) -> list[str]:
    """A Markdown table row of latency statistics."""
    return [f"| {label} | {latency.get('frames', 0)} | {_fmt_ms(latency.get('mean_ms'))} | "
            f"{_fmt_ms(latency.get('p50_ms'))} | {_fmt_ms(latency.get('p95_ms'))} | "
            f"{_fmt_ms(latency.get('max_ms'))} |"]


LATENCY_HEAD = ["| latency | frames | mean ms | p50 ms | p95 ms | max ms |",
                "|---|---:|---:|---:|---:|---:|"]


def frame_lines(result: dict[str, Any]) -> list[str]:
    """Frame accounting in words."""
    f = result["frames"]
    lines = [f"- images in the bag: {f['images']}; frames scored: {f['evaluated']} "
             f"(stereo: {f.get('stereo', 0)})"]
    if "dropped" in f:
        lines.append(f"- frames the node published no depth for (dropped): {f['dropped']} of "
                     f"{f['expected']} expected ({f.get('input_seen', '?')} input images seen "
                     "by the evaluator)")
    p = result.get("pairing", {})
    if p.get("skipped") or p.get("mono_frames") or p.get("camera_info_by_latest"):
        lines.append(f"- pairing: {p}")
    return lines


def markdown(result: dict[str, Any], title: str, label: str) -> str:
    """The report of one evaluation as Markdown."""
    from iid_rdepth_ros.evaluation.report import markdown_table

    notes = [f"bag: {result['bag']['path']}", f"ground truth: {result['ground_truth']}",
             f"runner: {result['runner'].get('backend')} {result['runner'].get('model_path')} "
             f"at {result['runner'].get('network_hw')}, T = "
             f"{result['runner'].get('diffusion_steps')}",
             f"protocol: {result['protocol']['min_depth']:g}..{result['protocol']['max_depth']:g}"
             " m, no median scaling, mean of per-frame metrics; pixels without predicted depth "
             "are left out (coverage)"]
    text = markdown_table({label: result["metrics"]}, title=title, notes=notes)
    text += "\n" + "\n".join(LATENCY_HEAD + latency_lines(result["latency"], label)) + "\n"
    text += f"\nLatency: {result.get('latency_definition', '')}\n\n"
    text += "\n".join(frame_lines(result)) + "\n"
    return text


def write_figures(result: dict[str, Any], out: Path, label: str) -> dict[str, Any]:
    """sequence.png, per-frame overviews and depth colormaps, one PLY; returns their paths."""
    import cv2

    from iid_rdepth_ros.evaluation.plots import save_overview, save_per_frame_plot
    from iid_rdepth_ros.geometry import colorize_depth, point_cloud, write_ply

    paths: dict[str, Any] = {"frames": [], "depth": []}
    rows = [r for r in result["per_frame"] if "abs_rel" in r]
    if rows:
        keys = ("abs_rel", "rmse", "latency_ms")
        series = [{**r, "latency_ms": r.get("latency_ms", np.nan)} for r in rows]
        paths["sequence"] = str(save_per_frame_plot(
            out / "sequence.png", {label: series}, keys=keys,
            title=f"{label}: error and latency along the sequence"))
    samples = result.get("samples", {})
    lo, hi = DEPTH_RANGE
    for index, s in sorted(samples.items()):
        paths["frames"].append(str(save_overview(
            out / "frames" / f"frame_{index:06d}.png", s["image"], s["gt"],
            {label: s["pred"]}, lo, hi, MAX_ERROR, title=f"frame {index}",
            gt_label="ground truth (the bag's GT topic)")))
        png = out / "frames" / f"depth_{index:06d}.png"
        cv2.imwrite(str(png), np.ascontiguousarray(colorize_depth(s["pred"], lo, hi)[..., ::-1]))
        paths["depth"].append(str(png))
    if samples:
        mid = sorted(samples)[len(samples) // 2]
        s = samples[mid]
        k = s["intrinsics"]
        pred = s["pred"]
        if pred.shape != s["image"].shape[:2]:
            from iid_rdepth_ros.bag.scoring import resize_nearest

            pred = resize_nearest(pred, s["image"].shape[:2])
        xyz, rgb = point_cloud(pred, k.fx, k.fy, k.cx, k.cy, image=s["image"], max_depth=hi)
        paths["cloud"] = str(write_ply(out / f"cloud_{mid:06d}.ply", xyz, rgb))
    return paths


def write_report(result: dict[str, Any], out: str | Path, title: str, label: str
                 ) -> dict[str, Any]:
    """Write every file (see module docstring); returns ``result['paths']``."""
    from iid_rdepth_ros.evaluation.report import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = write_figures(result, out, label)
    paths["metrics_json"] = str(out / "metrics.json")
    paths["metrics_md"] = str(out / "metrics.md")
    result["paths"] = paths
    (out / "metrics.md").write_text(markdown(result, title, label))
    write_json(out / "metrics.json", {k: v for k, v in result.items() if k != "samples"})
    return paths
