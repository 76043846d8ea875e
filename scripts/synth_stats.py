"""Depth and disparity statistics of a synth-street data set (either format), by scene kind.

    python scripts/synth_stats.py DIR [--width 640]

Disparity is `fx * B / Z + (cx - cx_right)` at the data's own size and rescaled to a network
input `--width` pixels wide (what a matcher searches after resizing). Dense ground truth.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from iid_rdepth_ros.synth import SynthStreetDataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--width", type=int, default=640, help="network input width")
    args = parser.parse_args()
    ds = SynthStreetDataset(args.root)
    depth, disp, net, frame_max = (defaultdict(list) for _ in range(4))
    for i in range(len(ds)):
        item, cam = ds[i], ds.camera(i)
        kind = ds.records[i].get("scene_kind", "street")
        z = item["depth"][item["depth"] > 0]
        d = cam.disparity(z)
        depth[kind].append(z[::7])
        disp[kind].append(d[::7])
        net[kind].append(d[::7] * args.width / cam.width)
        frame_max[kind].append(float(d.max()) * args.width / cam.width)
    pct = (1, 50, 99)
    print(f"{args.root}: {len(ds)} frames")
    print(f"| kind | frames | depth m p{pct} | disparity px p{pct} | at width {args.width} "
          f"p{pct} | per-frame max at width {args.width} p(50, 95, 100) |")
    print("|---|---|---|---|---|---|")
    for kind in sorted(depth):
        z, d, n = (np.concatenate(v[kind]) for v in (depth, disp, net))
        fm = np.percentile(frame_max[kind], (50, 95, 100))
        fmt = lambda a: " / ".join(f"{x:.3g}" for x in a)  # noqa: E731
        print(f"| {kind} | {len(frame_max[kind])} | {fmt(np.percentile(z, pct))} | "
              f"{fmt(np.percentile(d, pct))} | {fmt(np.percentile(n, pct))} | {fmt(fm)} |")


if __name__ == "__main__":
    main()
