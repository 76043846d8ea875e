"""Compare the depth of two runners on fixed frames (FP16/INT8 vs FP32, ORT vs torch...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from iid_rdepth_ros.bench.frames import Frame
from iid_rdepth_ros.runtime.base import Runner


def depth_difference(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Error statistics of ``candidate`` against ``reference`` on pixels valid in both.

    ``valid_mismatch`` is the fraction of pixels valid (finite) in exactly one of the two.
    """
    if reference.shape != candidate.shape:
        raise ValueError(f"depth maps differ in shape: {reference.shape} vs {candidate.shape}")
    ref_ok, cand_ok = np.isfinite(reference), np.isfinite(candidate)
    both = ref_ok & cand_ok
    stats = {"pixels": float(reference.size),
             "valid_mismatch": float(np.mean(ref_ok != cand_ok))}
    if not both.any():
        return {**stats, "abs_max": float("nan"), "abs_mean": float("nan"),
                "rel_mean": float("nan"), "rel_p99": float("nan"), "rel_max": float("nan")}
    ref, cand = reference[both].astype(np.float64), candidate[both].astype(np.float64)
    abs_err = np.abs(cand - ref)
    rel = abs_err / np.maximum(np.abs(ref), 1e-6)
    return {**stats, "abs_max": float(abs_err.max()), "abs_mean": float(abs_err.mean()),
            "rel_mean": float(rel.mean()), "rel_p99": float(np.percentile(rel, 99)),
            "rel_max": float(rel.max()),
            "rmse": float(np.sqrt(np.mean((cand - ref) ** 2)))}


def compare_runners(reference: Runner, candidate: Runner, frames: Iterable[Frame],
                    output_resolution: str = "network") -> dict[str, Any]:
    """Run both (loaded) runners on every frame; per-frame and worst-case differences."""
    per_frame = []
    for frame in frames:
        kwargs = {"aux": frame.aux, "intrinsics": frame.intrinsics,
                  "baseline_m": frame.baseline_m, "output_resolution": output_resolution}
        ref = reference.infer(frame.image, **kwargs)
        cand = candidate.infer(frame.image, **kwargs)
        per_frame.append(depth_difference(ref, cand))
    if not per_frame:
        raise ValueError("no frames to compare")
    worst = {key: float(np.nanmax([f[key] for f in per_frame]))
             for key in ("abs_max", "rel_max", "rel_p99", "valid_mismatch")}
    mean = {key: float(np.nanmean([f[key] for f in per_frame]))
            for key in ("abs_mean", "rel_mean", "rmse")}
    return {"reference": reference.info, "candidate": candidate.info, "frames": len(per_frame),
            "worst": worst, "mean": mean, "per_frame": per_frame}
