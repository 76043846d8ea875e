"""Measure this machine's float32 matrix-multiply peak (FLOP/s), the yardstick for benchmarks."""

from __future__ import annotations

import time

from iid_rdepth_ros.artifacts.lazy_import import lazy_import


def measure_matmul_peak(size: int = 2048, repeats: int = 7, threads: int | None = None,
                        device: str = "cpu") -> dict[str, float]:
    """Best-of-``repeats`` FLOP/s of a ``size``x``size`` float32 matmul with torch.

    Returns ``{"flops_per_s", "size", "threads", "seconds"}``; ``threads=None`` keeps torch's
    current setting.
    """
    torch = lazy_import("torch", "measuring the matmul peak")
    if threads is not None:
        torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    out = torch.empty(size, size, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        torch.mm(a, b, out=out)  # warm-up (thread pool, caches)
        sync()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b, out=out)
            sync()
            best = min(best, time.perf_counter() - start)
    return {"flops_per_s": 2.0 * size**3 / best, "size": float(size),
            "threads": float(torch.get_num_threads()), "seconds": best}
