"""Stereo evaluation of issue 22 ("stereo that works on real cameras"), its "Must show" items.

1. ``evaluate_split``: held-out synth splits (``test-mixed``, ``test-near``; random cameras per
   frame): the model's stereo and mono depth through the runtime (``CameraRunner``) against
   OpenCV SGBM (``evaluation.sgbm``, the matcher ``bench.evaluate_sgbm`` scores), AbsRel on
   SGBM's pixels and on all ground-truth pixels, per depth range, bad-1 / bad-3 disparity rates.
2. ``evaluate_invariance``: the same scenes through two cameras (``synth.CameraOverride``);
   the two stereo depth maps compared on the common field of view (``resample_depth``).
3. ``evaluate_semi_real``: scikit-image photographs never trained on turned into stereo pairs
   by a known piecewise-planar disparity (``synth.stereo_pairs.PlanarPhotoPairs``): EPE, AbsRel.

Disparity is ``fx * B / depth`` in pixels of the camera image. Headline depth metrics are the
project's (``evaluation.metrics.MetricAccumulator``: mean of per-frame values); the per-range
tables and the disparity rates are pooled over pixels (a frame may have no pixel in a range).
Everything returns plain dicts (JSON-able); ``render_markdown`` writes the report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.evaluation.metrics import MetricAccumulator, valid_mask

#: depth ranges (metres) of the per-range tables
RANGES: tuple[tuple[float, float], ...] = ((0.0, 5.0), (5.0, 20.0), (20.0, 80.0))
MIN_DEPTH, MAX_DEPTH = 1e-3, 80.0
#: issue 22 targets
TARGET_SGBM_RATIO = 0.5
TARGET_INVARIANCE = 0.03
TARGET_EPE_PX = 1.0
TARGET_SEMI_REAL_ABS_REL = 0.03
#: the two cameras of the invariance test: (height, width, focal px, baseline m); different
#: size, aspect, focal (field of view) and baseline
INVARIANCE_CAMERAS: tuple[tuple[int, int, float, float], ...] = (
    (480, 640, 500.0, 0.08), (360, 640, 400.0, 0.15))
SPLITS = ("test-mixed", "test-near")


# ------------------------------------------------------------------------------- metrics


def depth_to_disparity(depth: np.ndarray, fb: float) -> np.ndarray:
    """``fb / depth`` (pixels); NaN where depth is not a finite number > 0."""
    d = np.asarray(depth, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, fb / np.where(ok, d, 1.0), np.nan)


def range_label(lo: float, hi: float) -> str:
    return f"{lo:g}-{hi:g} m"


@dataclass
class PixelStats:
    """Pooled per-pixel sums of one method, overall and per depth range."""

    ranges: tuple[tuple[float, float], ...] = RANGES
    sums: dict[str, dict[str, float]] = field(default_factory=dict)

    def update(self, pred: np.ndarray, gt: np.ndarray, fb: float, mask: np.ndarray) -> None:
        """Add the pixels of ``mask`` (where ``gt`` is valid); NaN predictions count as
        missing (a coverage loss), not as errors."""
        gt = np.asarray(gt, dtype=np.float64)
        pred = np.asarray(pred, dtype=np.float64)
        keep = mask & valid_mask(gt, MIN_DEPTH, MAX_DEPTH)
        has = keep & np.isfinite(pred) & (pred > 0)
        clipped = np.clip(np.where(has, pred, 1.0), MIN_DEPTH, MAX_DEPTH)
        rel = np.abs(clipped - gt) / np.where(keep, gt, 1.0)
        derr = np.abs(depth_to_disparity(clipped, fb) - depth_to_disparity(gt, fb))
        for label, sel in self._selections(gt, keep):
            s = self.sums.setdefault(label, dict.fromkeys(
                ("pixels", "predicted", "abs_rel", "epe", "bad1", "bad3"), 0.0))
            ok = sel & has
            s["pixels"] += float(sel.sum())
            s["predicted"] += float(ok.sum())
            s["abs_rel"] += float(rel[ok].sum())
            s["epe"] += float(derr[ok].sum())
            s["bad1"] += float((derr[ok] > 1.0).sum())
            s["bad3"] += float((derr[ok] > 3.0).sum())

    def _selections(self, gt: np.ndarray, keep: np.ndarray):
        yield "all", keep
        for lo, hi in self.ranges:
            yield range_label(lo, hi), keep & (gt > lo) & (gt <= hi)

    def result(self) -> dict[str, dict[str, float | None]]:
        """Per label: pixels, coverage, abs_rel, epe (px), bad1, bad3 (fractions)."""
        out: dict[str, dict[str, float | None]] = {}
        for label, s in self.sums.items():
            n = s["predicted"]
            out[label] = {"pixels": int(s["pixels"]),
                          "coverage": s["predicted"] / s["pixels"] if s["pixels"] else None,
                          **{k: (s[k] / n if n else None)
                             for k in ("abs_rel", "epe", "bad1", "bad3")}}
        return out


# ------------------------------------------------------------------------------ running


@dataclass(frozen=True)
class Pair:
    """One rectified pair with its camera and ground truth."""

    left: np.ndarray
    right: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    cx_right: float
    cy_right: float
    baseline_m: float
    depth: np.ndarray  # (H, W) metres, 0 = none
    visible: np.ndarray | None = None  # (H, W) bool: left pixel seen in the right view

    @property
    def fb(self) -> float:
        return self.fx * self.baseline_m


def card_stereo(model: str) -> dict[str, Any] | None:
    """The ``stereo`` section of a checkpoint's model card (provenance), None if it has none
    or the model is not a checkpoint."""
    from iid_rdepth_ros.artifacts.checkpoint_ref import checkpoint_files, read_card

    try:
        return read_card(checkpoint_files(model)[1]).get("stereo")
    except (OSError, ValueError):
        return None


def open_camera_runner(model: str, backend: str = "torch", num_threads: int | None = None,
                       budget_hw: tuple[int, int] = (192, 640), device: str = "cpu") -> Any:
    """A loaded ``export.open_runner.CameraRunner`` (network size follows the camera), with
    the depth bounds opened wide (the metrics clip themselves)."""
    from iid_rdepth_ros.export.open_runner import CameraRunner
    from iid_rdepth_ros.runtime import RunnerConfig

    tiny, huge = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    config = RunnerConfig(backend=backend, model_path=str(model), input_height=budget_hw[0],
                          input_width=budget_hw[1], min_depth=tiny, max_depth=huge,
                          device=device, num_threads=num_threads)
    runner = CameraRunner(config)
    runner.load()
    return runner


def run_model(camera_runner: Any, pair: Pair, stereo: bool = True
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """(depth, confidence) of the model for ``pair`` (mono when ``stereo`` is False)."""
    from iid_rdepth_ros.runtime import Intrinsics

    runner = camera_runner.for_camera(pair.left.shape[:2])
    k = Intrinsics(pair.fx, pair.fy, pair.cx, pair.cy)
    if not stereo:
        result = runner.infer_full(pair.left, intrinsics=k)
    else:
        k_aux = Intrinsics(pair.fx, pair.fy, pair.cx_right, pair.cy_right)
        result = runner.infer_full(pair.left, aux=pair.right, intrinsics=k,
                                   baseline_m=pair.baseline_m, aux_intrinsics=k_aux)
    return result.depth, result.confidence


def sgbm_depth(pair: Pair) -> np.ndarray:
    """OpenCV SGBM depth (``evaluation.sgbm``, as ``bench.evaluate_sgbm``), NaN where none.

    The search range covers this frame's nearest ground-truth depth (an oracle range, the
    generous choice for the baseline), capped at half the width (``SgbmParams.for_camera``).
    """
    from iid_rdepth_ros.evaluation.sgbm import SgbmMatcher, SgbmParams

    gt = pair.depth[valid_mask(pair.depth, MIN_DEPTH, MAX_DEPTH)]
    near = float(gt.min()) if gt.size else 2.0
    params = SgbmParams.for_camera(pair.fb, pair.left.shape[1], max(near, 1e-2))
    return SgbmMatcher(params).depth(pair.left, pair.right, pair.fx, pair.baseline_m)


def synth_pair(data: Any, i: int) -> Pair:
    """Frame ``i`` of a ``synth.SynthStreetDataset`` (synth-street/2) as a :class:`Pair`."""
    from iid_rdepth_ros.synth.occlusion import VISIBLE

    item = data[i]
    cam = data.camera(i)
    occ = item.get("occlusion")
    return Pair(item["image"], item["aux"], cam.fx, cam.fy, cam.cx, cam.cy, cam.cx_right,
                cam.cy_right, cam.baseline_m, np.asarray(item["depth"], np.float32),
                None if occ is None else occ == VISIBLE)


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame")


# ------------------------------------------------------------------------- 1. the splits


def evaluate_split(camera_runner: Any, data_dir: str | Path, frames: int | None = None,
                   mono: bool = True, progress: bool = True) -> dict[str, Any]:
    """Stereo, SGBM (and mono) on a synth-street/2 split; see the module docstring.

    Keys: ``stereo_sgbm_pixels``, ``sgbm``, ``stereo_all_pixels``, ``mono_all_pixels``
    (``MetricAccumulator`` results), ``pixels`` (per method: ``PixelStats`` per range),
    ``sgbm_coverage``, ``confidence_mean``, ``ratio_vs_sgbm``, ``data``, ``timing``.
    """
    from iid_rdepth_ros.synth import SynthStreetDataset

    data = SynthStreetDataset(data_dir)
    n = len(data) if frames is None else min(int(frames), len(data))
    accs = {k: MetricAccumulator(MIN_DEPTH, MAX_DEPTH) for k in
            ("stereo_sgbm_pixels", "sgbm", "stereo_all_pixels", "mono_all_pixels")}
    stats = {k: PixelStats() for k in ("stereo", "stereo_sgbm_pixels", "stereo_visible",
                                       "sgbm", "mono")}
    conf_sum = conf_n = 0.0
    secs = dict.fromkeys(("stereo_s", "mono_s", "sgbm_s"), 0.0)
    kinds: dict[str, int] = {}
    bar = _progress(n, f"stereo-eval {Path(data_dir).name}", progress)
    for i in range(n):
        pair = synth_pair(data, i)
        kind = str(data.records[i].get("scene_kind"))
        kinds[kind] = kinds.get(kind, 0) + 1
        t0 = time.perf_counter()
        depth, conf = run_model(camera_runner, pair)
        t1 = time.perf_counter()
        sg = sgbm_depth(pair)
        t2 = time.perf_counter()
        secs["stereo_s"] += t1 - t0
        secs["sgbm_s"] += t2 - t1
        has_sg = np.isfinite(sg)
        everywhere = np.ones(pair.depth.shape, bool)
        accs["stereo_all_pixels"].update(depth, pair.depth)
        accs["stereo_sgbm_pixels"].update(depth, pair.depth, mask=has_sg)
        accs["sgbm"].update(sg, pair.depth, mask=has_sg)
        stats["stereo"].update(depth, pair.depth, pair.fb, everywhere)
        stats["stereo_sgbm_pixels"].update(depth, pair.depth, pair.fb, has_sg)
        stats["sgbm"].update(sg, pair.depth, pair.fb, everywhere)
        if pair.visible is not None:
            stats["stereo_visible"].update(depth, pair.depth, pair.fb, pair.visible)
        if conf is not None:
            conf_sum += float(np.nansum(conf))
            conf_n += float(np.isfinite(conf).sum())
        if mono:
            t3 = time.perf_counter()
            mono_depth, _ = run_model(camera_runner, pair, stereo=False)
            secs["mono_s"] += time.perf_counter() - t3
            accs["mono_all_pixels"].update(mono_depth, pair.depth)
            stats["mono"].update(mono_depth, pair.depth, pair.fb, everywhere)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    out: dict[str, Any] = {k: _with_median(a) for k, a in accs.items()
                           if mono or k != "mono_all_pixels"}
    out["pixels"] = {k: s.result() for k, s in stats.items() if s.sums}
    sg_all = out["pixels"]["sgbm"]["all"]
    out["sgbm_coverage"] = sg_all["coverage"]
    out["confidence_mean"] = conf_sum / conf_n if conf_n else None
    out["ratio_vs_sgbm"] = _ratio(out["stereo_sgbm_pixels"]["abs_rel"], out["sgbm"]["abs_rel"])
    out["ratio_vs_sgbm_median"] = _ratio(out["stereo_sgbm_pixels"]["abs_rel_median_frame"],
                                         out["sgbm"]["abs_rel_median_frame"])
    out["data"] = {"dir": str(data_dir), "mode": data.meta.get("mode"),
                   "seed": data.meta.get("seed"), "frames_total": len(data),
                   "frames_evaluated": n, "scene_kinds": kinds,
                   "sizes": sorted({f"{r['height']}x{r['width']}" for r in data.records[:n]})}
    out["timing"] = {k: round(v / max(n, 1), 3) for k, v in secs.items()}
    return out


def _with_median(acc: MetricAccumulator) -> dict[str, Any]:
    """``acc.result()`` plus the median over frames of AbsRel (robust to a few bad frames)."""
    return {**acc.result(),
            "abs_rel_median_frame": float(np.median([m["abs_rel"] for m in acc.per_frame]))}


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else float(a) / float(b)


# ------------------------------------------------------------------ 2. camera invariance


@dataclass(frozen=True)
class PinholeCam:
    """Left camera of a render: focal and principal point (pixels), size."""

    fx: float
    fy: float
    cx: float
    cy: float
    height: int
    width: int


def resample_depth(depth: np.ndarray, src: PinholeCam, dst: PinholeCam) -> np.ndarray:
    """``depth`` of camera ``src`` on the pixel grid of ``dst`` (same centre and orientation,
    so a ray keeps its depth ``Z``): bilinear, NaN outside ``src``'s image or where a tap is
    invalid (no depth bleeds into a hole)."""
    import cv2

    u = (np.arange(dst.width, dtype=np.float64) - dst.cx) / dst.fx * src.fx + src.cx
    v = (np.arange(dst.height, dtype=np.float64) - dst.cy) / dst.fy * src.fy + src.cy
    map_x = np.broadcast_to(u[None, :], (dst.height, dst.width)).astype(np.float32)
    map_y = np.broadcast_to(v[:, None], (dst.height, dst.width)).astype(np.float32)
    d = np.asarray(depth, np.float32)
    ok = np.isfinite(d) & (d > 0)
    filled = np.where(ok, d, 0.0).astype(np.float32)
    out = cv2.remap(filled, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=0.0)
    weight = cv2.remap(ok.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    eps = 1e-3  # rounding of the mapping at the border
    inside = ((map_x >= -eps) & (map_x <= src.width - 1 + eps) & (map_y >= -eps)
              & (map_y <= src.height - 1 + eps))
    keep = inside & (weight > 0.99)  # cv2's fixed-point weights: normalised below
    return np.where(keep, out / np.where(keep, weight, 1.0), np.nan).astype(np.float32)


def compare_views(pred_a: np.ndarray, pred_b: np.ndarray, gt_a: np.ndarray, gt_b: np.ndarray,
                  cam_a: PinholeCam, cam_b: PinholeCam, gt_tol: float = 0.01
                  ) -> dict[str, float]:
    """AbsRel between camera A's depth and camera B's resampled onto A's grid, over the
    common field of view where the ground truth is valid and resamples consistently (B's
    resampled ground truth within ``gt_tol`` of A's: leaves out depth edges, where any
    resampling mixes surfaces). Also that ground-truth floor and each view's AbsRel there."""
    gt_b_on_a = resample_depth(gt_b, cam_b, cam_a)
    pred_b_on_a = resample_depth(pred_b, cam_b, cam_a)
    gt_a = np.asarray(gt_a, np.float64)
    valid = valid_mask(gt_a, MIN_DEPTH, MAX_DEPTH)
    common = valid & np.isfinite(gt_b_on_a)
    with np.errstate(invalid="ignore", divide="ignore"):
        consistent = common & (np.abs(gt_b_on_a - gt_a) <= gt_tol * gt_a)
        m = consistent & np.isfinite(pred_a) & np.isfinite(pred_b_on_a) & (pred_a > 0)
        pa, pb, g = pred_a[m].astype(np.float64), pred_b_on_a[m].astype(np.float64), gt_a[m]
    if not m.any():
        return {"pixels": 0, "common_share": float(common.sum() / max(valid.sum(), 1))}
    return {"pixels": int(m.sum()),
            "common_share": float(common.sum() / max(valid.sum(), 1)),
            "abs_rel_between": float(np.mean(np.abs(pb - pa) / pa)),
            "abs_rel_between_sym": float(np.mean(2 * np.abs(pb - pa) / (pa + pb))),
            "gt_floor": float(np.mean(np.abs(gt_b_on_a[m] - g) / g)),
            "abs_rel_a": float(np.mean(np.abs(pa - g) / g)),
            "abs_rel_b": float(np.mean(np.abs(pb - g) / g))}


def invariance_dirs(data_dir: str | Path) -> list[Path]:
    """The folders of the two renders of the invariance test under ``data_dir``."""
    return [Path(data_dir) / f"invariance-{h}x{w}-f{f:g}-b{b:g}"
            for h, w, f, b in INVARIANCE_CAMERAS]


def evaluate_invariance(camera_runner: Any, dir_a: str | Path, dir_b: str | Path,
                        frames: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Stereo depth of the same scenes through two cameras, compared per frame on camera A's
    grid (``compare_views``); means over frames and the worst frame."""
    from iid_rdepth_ros.synth import SynthStreetDataset

    da, db = SynthStreetDataset(dir_a), SynthStreetDataset(dir_b)
    n = min(len(da), len(db)) if frames is None else min(int(frames), len(da), len(db))
    rows: list[dict[str, Any]] = []
    bar = _progress(n, "stereo-eval invariance", progress)
    for i in range(n):
        pa, pb = synth_pair(da, i), synth_pair(db, i)
        depth_a, _ = run_model(camera_runner, pa)
        depth_b, _ = run_model(camera_runner, pb)
        row = compare_views(depth_a, depth_b, pa.depth, pb.depth, _pinhole(pa), _pinhole(pb))
        row["scene_kind"] = str(da.records[i].get("scene_kind"))
        rows.append(row)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    scored = [r for r in rows if r.get("pixels")]
    keys = ("abs_rel_between", "abs_rel_between_sym", "gt_floor", "abs_rel_a", "abs_rel_b",
            "common_share")
    out: dict[str, Any] = {k: float(np.mean([r[k] for r in scored])) if scored else None
                           for k in keys}
    out["worst_abs_rel_between"] = max((r["abs_rel_between"] for r in scored), default=None)
    out["frames"] = len(scored)
    out["per_frame"] = rows
    out["cameras"] = [{"dir": str(d), "height": h, "width": w, "focal_px": f, "baseline_m": b,
                       "hfov_deg": round(math.degrees(2 * math.atan(w / 2 / f)), 1)}
                      for d, (h, w, f, b) in zip((dir_a, dir_b), INVARIANCE_CAMERAS,
                                                 strict=False)]
    return out


def _pinhole(pair: Pair) -> PinholeCam:
    h, w = pair.depth.shape
    return PinholeCam(pair.fx, pair.fy, pair.cx, pair.cy, h, w)


# ------------------------------------------------------------------------ 3. semi-real


def semi_real_pairs(count: int, size_hw: tuple[int, int] = (384, 512), seed: int = 0,
                    hfov_deg: float = 60.0, photos: Sequence[str] | None = None
                    ) -> list[tuple[str, Pair]]:
    """``count`` pairs of ``PlanarPhotoPairs`` in photo mode over the held-out photographs
    (``EVAL_PHOTOS + UNSEEN_PHOTOS``, in turn), as :class:`Pair` s with a camera of
    ``hfov_deg`` (``fx = fy``, principal point at the centre) and ``B = fb / fx``."""
    from iid_rdepth_ros.synth.stereo_pairs import (
        EVAL_PHOTOS,
        UNSEEN_PHOTOS,
        PlanarPhotoPairs,
        load_photos,
    )

    names = list(photos or (*EVAL_PHOTOS, *UNSEEN_PHOTOS))
    gen = PlanarPhotoPairs(load_photos(names), photo_mode_prob=1.0)
    rng = np.random.default_rng(seed)
    h, w = size_hw
    fx = 0.5 * w / math.tan(math.radians(hfov_deg) / 2)
    out = []
    for k in range(int(count)):
        s = gen.sample(rng, (h, w), photo=k % len(names))
        visible = s["valid"] & ~s["occluded"] & (s["disparity"] > 0)
        out.append((names[k % len(names)],
                    Pair(s["left"], s["right"], fx, fx, (w - 1) / 2, (h - 1) / 2, (w - 1) / 2,
                         (h - 1) / 2, float(s["fb"]) / fx, s["depth"], visible)))
    return out


def evaluate_semi_real(camera_runner: Any, count: int = 10, size_hw: tuple[int, int] = (384, 512),
                       seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """EPE (px) and AbsRel of the stereo depth on non-occluded pixels with a disparity > 0
    (depth inside the protocol's 80 m), pooled over pixels, plus per photograph."""
    pairs = semi_real_pairs(count, size_hw, seed)
    total = PixelStats(ranges=())
    per_photo: dict[str, PixelStats] = {}
    conf_sum = conf_n = 0.0
    bar = _progress(len(pairs), "stereo-eval semi-real", progress)
    for name, pair in pairs:
        depth, conf = run_model(camera_runner, pair)
        assert pair.visible is not None
        total.update(depth, pair.depth, pair.fb, pair.visible)
        per_photo.setdefault(name, PixelStats(ranges=())).update(
            depth, pair.depth, pair.fb, pair.visible)
        if conf is not None:
            conf_sum += float(np.nansum(conf))
            conf_n += float(np.isfinite(conf).sum())
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    res = total.result()["all"]
    return {**res, "samples": len(pairs), "size": list(size_hw), "seed": seed,
            "confidence_mean": conf_sum / conf_n if conf_n else None,
            "per_photo": {k: v.result()["all"] for k, v in per_photo.items()}}


# ------------------------------------------------------------------------------- data


def prepare_data(data_dir: str | Path, frames: int, invariance_frames: int, seed: int = 1,
                 generate_fn: Callable[..., Any] | None = None) -> dict[str, Path]:
    """The split and invariance folders under ``data_dir``, generated where missing (one
    scene and camera per frame: sequence length 1)."""
    from iid_rdepth_ros.synth import CameraOverride, generate, get_mode

    gen = generate_fn or generate
    root = Path(data_dir)
    dirs = {split: root / split for split in SPLITS}
    for split, path in dirs.items():
        if not (path / "meta.json").is_file():
            gen(path, frames, seed, sequence_length=1, progress=False,
                config=get_mode(split))
    for path, (h, w, f, b) in zip(invariance_dirs(root), INVARIANCE_CAMERAS, strict=True):
        dirs[path.name] = path
        if not (path / "meta.json").is_file():
            gen(path, invariance_frames, seed + 4, sequence_length=1, progress=False,
                config=get_mode("test-mixed"),
                camera=CameraOverride(focal_px=f, baseline_m=b, height=h, width=w))
    return dirs


# --------------------------------------------------------------------------- markdown


def _f(x: Any, digits: int = 4) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _pct(x: Any) -> str:
    return "" if x is None else f"{100 * x:.1f} %"


def _split_md(name: str, r: dict[str, Any]) -> list[str]:
    d = r["data"]
    lines = [f"## {name} ({d['frames_evaluated']} frames, seed {d['seed']}; scenes "
             + ", ".join(f"{k} {v}" for k, v in sorted(d["scene_kinds"].items()))
             + "; sizes " + ", ".join(d["sizes"]) + ")", "",
             "| method | pixels | AbsRel | AbsRel median frame | RMSE | d1 | frames |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for key, label, pix in (("stereo_sgbm_pixels", "stereo", "SGBM's"),
                            ("sgbm", "SGBM", "SGBM's"),
                            ("stereo_all_pixels", "stereo", "all GT (100 %)"),
                            ("mono_all_pixels", "mono (reference)", "all GT")):
        if key in r:
            m = r[key]
            lines.append(f"| {label} | {pix} | {_f(m['abs_rel'])} | "
                         f"{_f(m.get('abs_rel_median_frame'))} | {_f(m['rmse'], 3)} | "
                         f"{_f(m['d1'])} | {m['frames']} |")
    ratio = r.get("ratio_vs_sgbm")
    met = ratio is not None and ratio <= TARGET_SGBM_RATIO
    lines += ["", f"SGBM coverage {_pct(r['sgbm_coverage'])} of GT pixels; stereo / SGBM AbsRel "
              f"on SGBM's pixels = {_f(ratio, 3)} (target <= {TARGET_SGBM_RATIO}: "
              f"{'met' if met else 'not met'}); stereo confidence mean "
              f"{_f(r.get('confidence_mean'), 3)}; per frame: stereo {r['timing']['stereo_s']} s, "
              f"mono {r['timing']['mono_s']} s, SGBM {r['timing']['sgbm_s']} s.", "",
              *_robust_note(r),
              "Per depth range (pooled over pixels; disparity = fx * B / depth, camera pixels; "
              "bad-N = share of predicted pixels with |disparity error| > N px):", "",
              "| method | pixels | range | GT px | coverage | AbsRel | EPE px | bad-1 | bad-3 |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    labels = {"stereo": ("stereo", "all GT"), "stereo_sgbm_pixels": ("stereo", "SGBM's"),
              "sgbm": ("SGBM", "own"), "stereo_visible": ("stereo", "non-occluded"),
              "mono": ("mono", "all GT")}
    for key, (method, pix) in labels.items():
        for rng, s in r["pixels"].get(key, {}).items():
            lines.append(f"| {method} | {pix} | {rng} | {s['pixels']} | {_pct(s['coverage'])} | "
                         f"{_f(s['abs_rel'])} | {_f(s['epe'], 2)} | {_pct(s['bad1'])} | "
                         f"{_pct(s['bad3'])} |")
    return lines + [""]


def _robust_note(r: dict[str, Any]) -> list[str]:
    """The same comparison by medians and disparity error rates (mean AbsRel is driven by a
    few far-off pixels)."""
    st = r["pixels"].get("stereo_sgbm_pixels", {}).get("all")
    sg = r["pixels"].get("sgbm", {}).get("all")
    if not st or not sg:
        return []
    return [f"Robust view on SGBM's pixels: median-frame AbsRel ratio "
            f"{_f(r.get('ratio_vs_sgbm_median'), 3)}; bad-1 stereo {_pct(st['bad1'])} vs SGBM "
            f"{_pct(sg['bad1'])}, bad-3 stereo {_pct(st['bad3'])} vs SGBM {_pct(sg['bad3'])}.",
            ""]


def _invariance_md(r: dict[str, Any]) -> list[str]:
    cams = "; ".join(f"{c['height']}x{c['width']}, f {c['focal_px']:g} px "
                     f"(hfov {c['hfov_deg']} deg), B {c['baseline_m']:g} m" for c in r["cameras"])
    v = r.get("abs_rel_between")
    met = v is not None and v <= TARGET_INVARIANCE
    return [f"## Camera invariance ({r['frames']} scenes of test-mixed, two cameras)", "",
            f"Cameras A / B: {cams}. Camera B's stereo depth is resampled onto camera A's grid "
            "(same optical centre and orientation, so a ray keeps its depth: "
            "u_B = cx_B + (u_A - cx_A) f_B / f_A; bilinear, no tap on a hole) and compared on "
            "the common field of view where A's ground truth is valid and B's resampled ground "
            "truth agrees with it within 1 % (depth edges left out).", "",
            "| AbsRel(B on A vs A) | symmetric | worst frame | GT resampling floor | "
            "AbsRel A | AbsRel B | common share |", "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {_f(v)} | {_f(r.get('abs_rel_between_sym'))} | "
            f"{_f(r.get('worst_abs_rel_between'))} | {_f(r.get('gt_floor'))} | "
            f"{_f(r.get('abs_rel_a'))} | {_f(r.get('abs_rel_b'))} | "
            f"{_pct(r.get('common_share'))} |", "",
            f"Target <= {TARGET_INVARIANCE}: {'met' if met else 'not met'}.", ""]


def _semi_real_md(r: dict[str, Any]) -> list[str]:
    epe_ok = r["epe"] is not None and r["epe"] <= TARGET_EPE_PX
    rel_ok = r["abs_rel"] is not None and r["abs_rel"] <= TARGET_SEMI_REAL_ABS_REL
    lines = [f"## Semi-real: held-out photographs ({r['samples']} pairs at "
             f"{r['size'][0]}x{r['size'][1]}, seed {r['seed']})", "",
             "scikit-image photographs never used in training (EVAL_PHOTOS + UNSEEN_PHOTOS), the "
             "right view made by a known piecewise-planar disparity (PlanarPhotoPairs, photo "
             "mode, no photometric change); camera fx = fy for 60 deg hfov, principal point at "
             "the centre, B = fb / fx. Non-occluded pixels with disparity > 0 and depth < 80 m.",
             "", "| photo | pixels | coverage | EPE px | bad-1 | bad-3 | AbsRel |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in {**r["per_photo"], "all": r}.items():
        lines.append(f"| {name} | {s['pixels']} | {_pct(s['coverage'])} | {_f(s['epe'], 3)} | "
                     f"{_pct(s['bad1'])} | {_pct(s['bad3'])} | {_f(s['abs_rel'])} |")
    return lines + ["", f"Targets EPE <= {TARGET_EPE_PX} px: {'met' if epe_ok else 'not met'}; "
                    f"AbsRel <= {TARGET_SEMI_REAL_ABS_REL}: {'met' if rel_ok else 'not met'}. "
                    f"Confidence mean {_f(r.get('confidence_mean'), 3)}.", ""]


def render_markdown(result: dict[str, Any], command: str) -> str:
    """The report: command line, then one section per must-show item present in ``result``."""
    model = result.get("model", {})
    card = model.get("card_stereo")
    lines = [f"# Stereo evaluation of `{model.get('name')}` (issue 22, must show) — synth and "
             "semi-real numbers, not KITTI", "", f"    {command}", "",
             f"Backend {model.get('backend')}, network size per camera within a "
             f"{model.get('budget')} pixel budget (runtime.network_size); depth "
             f"{MIN_DEPTH:g}-{MAX_DEPTH:g} m, no median scaling, no crop. Headline AbsRel: mean "
             "of per-frame values (evaluation.metrics). SGBM: OpenCV StereoSGBM "
             "(evaluation.sgbm, as `iid-rdepth evaluate --sgbm`), per frame with a search "
             "range down to the frame's nearest GT depth (oracle range), capped at half the "
             "width. Total wall time "
             f"{result.get('wall_s')} s.", ""]
    if card:
        lines += [f"Model card, stereo section: `{card}`", ""]
    for split in SPLITS:
        if split in result.get("splits", {}):
            lines += _split_md(split, result["splits"][split])
    if "invariance" in result:
        lines += _invariance_md(result["invariance"])
    if "semi_real" in result:
        lines += _semi_real_md(result["semi_real"])
    return "\n".join(lines).rstrip() + "\n"
