"""``out/demo/report.md``: the demo's one-page report (live node, offline runtime, mono vs
stereo vs SGBM), with relative links to the pictures and the point cloud."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _rel(path: str | Path | None, root: Path) -> str:
    return "" if not path else os.path.relpath(Path(path), root)


def _ms(v: Any) -> str:
    return "–" if v is None else f"{v:.0f}"


def write_demo_report(out_dir: str | Path, offline_demo: dict[str, Any],
                      live_demo: dict[str, Any] | None, command: str) -> Path:
    """Write ``report.md`` under ``out_dir`` and return its path."""
    from iid_rdepth_ros.evaluation.report import markdown_table

    out = Path(out_dir)
    d = offline_demo["data"]
    lines = ["# IID-RDepth demo", "",
             f"Generated data: synth-street seed {d['seed']} (never used for training), "
             f"{d['frames']} frames at {d['height']}x{d['width']}, KITTI-like intrinsics, "
             "0.54 m stereo baseline. These are numbers on generated streets, not KITTI.", "",
             f"Command: `{command}`; model `{offline_demo['model']['name']}` "
             f"({offline_demo['model'].get('preset')}), diffusion steps "
             f"{offline_demo['steps']}.", ""]
    if live_demo is not None:
        lines += _live_section(out, live_demo)
    else:
        lines += ["The live part (bag -> node -> replay) was skipped (--no-live).", ""]
    lines += ["## Offline: mono vs stereo vs OpenCV SGBM", "",
              f"![overview]({_rel(offline_demo['paths']['overview'], out)})", ""]
    rows = offline_demo["methods"]
    lines.append(markdown_table(rows, notes=[
        "dense ground truth, sky excluded, 1e-3..80 m, no median scaling, mean of per-frame "
        "metrics; the model called directly (torch)",
        "SGBM rows: only pixels where SGBM returned a depth (coverage)",
        f"CPU ms/frame: mono {offline_demo['timing']['mono_ms_per_frame']}, stereo "
        f"{offline_demo['timing']['stereo_ms_per_frame']}, SGBM "
        f"{offline_demo['timing']['sgbm_ms_per_frame']}"]))
    per_frame = _rel(offline_demo["paths"]["per_frame"], out)
    lines += ["", f"Per-frame errors: ![per frame]({per_frame})",
              "", f"Point clouds (binary PLY, open in MeshLab/CloudCompare): "
              f"`{_rel(offline_demo['paths']['cloud'], out)}` (stereo prediction), "
              f"`{_rel(offline_demo['paths']['cloud_gt'], out)}` (ground truth)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _live_section(out: Path, demo: dict[str, Any]) -> list[str]:
    from iid_rdepth_ros.evaluation.report import markdown_table

    live, offline, cmp_ = demo["live"], demo["offline"], demo["comparison"]
    f = live["frames"]
    diag = live.get("node_diagnostics", {})
    rows = {"node, live over DDS (frames it published)": live["metrics"],
            "runtime offline, same frames": cmp_.get("offline_same_frames", {}),
            "runtime offline, all frames": offline["metrics"]}
    lines = ["## Live: the bag replayed through iid_rdepth_node", "",
             f"A stereo rosbag2 (`{_rel(demo['bag']['path'], out)}`, mcap: left/right images "
             "+ CameraInfo, dense depth, LiDAR cloud, /tf_static) was replayed at "
             f"{demo['rate']:g}x its 10 Hz rate by `iid-rdepth replay` to `iid_rdepth_node` "
             "running as its own process (namespace /demo, remapped to the bag's topics); "
             "`eval-bag --live` scored every `depth/image` the node published.", ""]
    if live.get("paths", {}).get("frames"):
        mid = live["paths"]["frames"][len(live["paths"]["frames"]) // 2]
        lines += [f"![live frame]({_rel(mid, out)})", ""]
    lines.append(markdown_table(rows, notes=[
        f"frames: {f['expected']} in the bag, {f['evaluated']} published by the node and "
        f"scored, **{f['dropped']} dropped** (no depth: the node keeps only the latest frame "
        f"while busy); {f['input_seen']} input images seen by the evaluator",
        f"node diagnostics: frames in {diag.get('frames in', '?')}, out "
        f"{diag.get('frames out', '?')}, dropped {diag.get('frames dropped', '?')}, stereo "
        f"{diag.get('stereo frames', '?')}; backend {diag.get('backend', '?')}",
        f"live vs offline on the same {cmp_.get('frames', 0)} frames: largest per-frame AbsRel "
        f"difference {100 * cmp_.get('max_rel_diff_abs_rel', float('nan')):.3f} % "
        f"(frames differing by > 0.1 %: {cmp_.get('frames_differing', [])}; a frame the node "
        "ran before its aux view was paired is mono)",
        f"ground truth: {live['ground_truth']}"]))
    lat_l, lat_o = live["latency"], offline["latency"]
    lines += ["", "| latency | frames | mean ms | p50 ms | p95 ms | max ms |",
              "|---|---:|---:|---:|---:|---:|",
              f"| node end to end (image in -> depth out, DDS both ways) | {lat_l['frames']} | "
              f"{_ms(lat_l['mean_ms'])} | {_ms(lat_l['p50_ms'])} | {_ms(lat_l['p95_ms'])} | "
              f"{_ms(lat_l['max_ms'])} |",
              f"| runtime offline (runner.infer) | {lat_o['frames']} | {_ms(lat_o['mean_ms'])} | "
              f"{_ms(lat_o['p50_ms'])} | {_ms(lat_o['p95_ms'])} | {_ms(lat_o['max_ms'])} |", ""]
    if live.get("paths", {}).get("sequence"):
        lines += [f"Error and latency along the sequence (live): "
                  f"![sequence]({_rel(live['paths']['sequence'], out)})", ""]
    if live.get("paths", {}).get("cloud"):
        lines += [f"Point cloud of a frame the node published: "
                  f"`{_rel(live['paths']['cloud'], out)}`", ""]
    lines += [f"Reports: `{_rel(live['paths']['metrics_md'], out)}` (live), "
              f"`{_rel(offline['paths']['metrics_md'], out)}` (offline); node log "
              f"`{_rel(demo['node']['log'], out)}`.", "",
              "Reproduce by hand (another terminal for each):", "", "```bash",
              "iid_rdepth_node --ros-args -r __ns:=/demo "
              + " ".join(f"-r {k}:={v}" for k, v in demo["node"]["remaps"].items())
              + "".join(f" -p {k}:={v}" for k, v in demo["node"]["params"].items()),
              f"iid-rdepth eval-bag {demo['bag']['path']} --live --depth-topic /demo/depth/image "
              "--image-topic /camera/left/image --camera-info-topic /camera/left/camera_info "
              "--gt-depth-topic /camera/left/depth_gt --aux-image-topic /camera/right/image "
              "--aux-camera-info-topic /camera/right/camera_info",
              f"iid-rdepth replay {demo['bag']['path']}   # or: ros2 bag play "
              f"{demo['bag']['path']}", "```", ""]
    return lines
