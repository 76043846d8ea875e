"""CPU time per synth-street frame (render, encode) by scene kind and image size.

    OMP_NUM_THREADS=1 python scripts/bench_synth_kinds.py

Process CPU time (robust to other jobs on shared cores) of `SynthStreet.frame` and of encoding
its synth-street/2 files, mean over 15 frames after one warm-up frame, in the geometry mode's
settings (photometry, misalignment) with the image size fixed by a camera override.
"""

from __future__ import annotations

import time

from iid_rdepth_ros.synth import CameraOverride, SceneMix, SynthConfig, SynthStreet, get_mode
from iid_rdepth_ros.synth.config import NEAR_CAMERAS, STREET_CAMERAS
from iid_rdepth_ros.synth.writer import FORMAT_V2, encode_frame

SIZES = ((240, 320), (360, 640), (375, 1242), (540, 960))


def main() -> None:
    geometry = get_mode("geometry")
    print("| kind | size | render ms/frame | encode ms/frame |")
    print("|---|---|---|---|")
    for kind in ("street", "room", "corridor", "floating"):
        cams = STREET_CAMERAS if kind == "street" else NEAR_CAMERAS
        cfg = SynthConfig(scenes=(SceneMix(kind, 1.0, cams),), photometric=geometry.photometric,
                          vertical_misalignment_px=0.5, seed_salt=1, name=kind)
        for h, w in SIZES:
            street = SynthStreet(0, sequence_length=4, config=cfg,
                                 camera=CameraOverride(height=h, width=w))
            street.frame(0)
            render = encode = 0.0
            n = 15
            for i in range(1, n + 1):
                t = time.process_time()
                frame = street.frame(i)
                render += time.process_time() - t
                t = time.process_time()
                encode_frame(frame, FORMAT_V2)
                encode += time.process_time() - t
            print(f"| {kind} | {h}x{w} | {1000 * render / n:.0f} | {1000 * encode / n:.0f} |")


if __name__ == "__main__":
    main()
