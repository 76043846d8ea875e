"""Settings of the node's process: glibc malloc thresholds that keep camera-sized buffers in
the heap between frames, and a short GIL switch interval for the hand-off from the executor
thread to the inference thread.

glibc serves an allocation above its mmap threshold (128 KB at start, raised up to 32 MB as
large blocks are freed) with a fresh ``mmap``, and hands freed memory at the heap's top back
to the kernel above its trim threshold. Every 2.7 MB image the middleware hands the node then
lands in new pages that fault in one by one: measured with
``scripts/diagnostics/dds_image_latency.py`` (1280x720 rgb8, Fast DDS shared memory) the
receiver's one-way latency is 4.3–4.9 ms with glibc's defaults and 1.6–1.9 ms with the
receiving process's thresholds raised (docs/dds.md), and a standalone ONNX Runtime runner at
1280x720 took 23.0–24.3 ms instead of 25.3–26.8 ms. The node's process raises them at start;
what a user set through glibc's own knobs (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``) is left alone.

A frame handed from the executor thread to the inference thread waits for the GIL while the
executor's Python loop runs: from the image callback to the start of the frame's work took
1.4–1.9 ms (p50, 1280x720 mono) with CPython's default switch interval of 5 ms, 0.5–0.75 ms
with 0.5 ms (``iid-rdepth bench --node --camera 1280x720``, the node's stage timings).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

#: mallopt parameter numbers (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: allocations below this come from the heap (a 3840x2160 rgb8 image is 24.9 MB, a 1280x720
#: organised colour cloud 14.7 MB); 32 MB is also glibc's own ceiling for the threshold it
#: adapts by itself on 64-bit machines
MMAP_THRESHOLD = 32 << 20
#: free memory kept at the heap's top before it is handed back
TRIM_THRESHOLD = 256 << 20

#: seconds a thread may hold the GIL while another waits (CPython's default: 0.005)
SWITCH_INTERVAL_S = 0.0005

USER_KNOBS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_large_buffers(mmap_threshold: int = MMAP_THRESHOLD,
                       trim_threshold: int = TRIM_THRESHOLD,
                       environ: dict[str, str] | None = None) -> str:
    """Raise glibc's mmap and trim thresholds for this process; returns what was done (one
    line for the log), or why nothing was."""
    env = os.environ if environ is None else environ
    user = [knob for knob in USER_KNOBS
            if knob in env and (knob != "GLIBC_TUNABLES" or "malloc" in env[knob])]
    if user:
        return f"malloc thresholds left as set by {', '.join(user)}"
    if platform.libc_ver()[0] != "glibc":
        return "malloc thresholds unchanged (not glibc)"
    libc = ctypes.CDLL(None)
    done = [libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold),
            libc.mallopt(M_TRIM_THRESHOLD, trim_threshold)]
    if not all(done):
        return "malloc thresholds unchanged (mallopt refused them)"
    return (f"malloc: allocations below {mmap_threshold >> 20} MB from the heap, up to "
            f"{trim_threshold >> 20} MB kept free (camera-sized buffers stay mapped)")


def tune_process() -> list[str]:
    """Apply this module's settings to the running process; returns what was done (log
    lines)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return [keep_large_buffers(),
            f"GIL switch interval {SWITCH_INTERVAL_S * 1e3:g} ms (quick hand-off of a frame "
            "to the inference thread)"]
