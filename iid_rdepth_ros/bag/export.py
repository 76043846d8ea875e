"""A rosbag2 recording as a training set: ``iid-rdepth bag-export`` (the generic folder layout).

Frames are paired and their ground truth is projected exactly as ``eval-bag`` does
(``frames.FramePairer``, ``frames.ground_truth``: nearest stamp within the tolerances, LiDAR
moved into the camera with ``/tf_static`` -- and ``/tf`` where the static transforms do not
link the frames -- then projected with the CameraInfo's P and R). What is written is what
``datasets.folder`` reads::

    OUT/intrinsics.yaml        fx, fy, cx, cy of the images as written, depth_unit,
                               baseline_m (with an aux view), width, height
    OUT/images/NAME.png        rgb, the main camera's (rectified) image
    OUT/right/NAME.png         the aux (right) image, with --aux-image-topic
    OUT/depth/NAME.png         sparse ground truth, uint16 (mm or 1/256 m), 0 = none
          or NAME.npy          float32 metres, 0 = none (--depth-format npy)
    OUT/train.txt, val.txt     the time split (below)
    OUT/frames.csv             name, image index, stamp, split, ground-truth pixels and the
                               stamp difference between image and ground truth
    OUT/export.json            topics, counts, skip reasons, density, split window, command

``NAME`` is the image's position on the image topic (``000123``). Split by time, not by
frame: the last ``val_fraction`` of the exported time span is the validation part
(``val.txt``), and frames less than ``val_gap`` seconds before it are in neither list, so
neighbouring, near-identical frames never sit on both sides. The held-out window is recorded
(offset from the bag's first image stamp) so that ``eval-bag --held-out OUT`` scores exactly
that part of the bag.

Every skipped frame is counted with its reason. The output appears only when the export is
complete (written beside it, then renamed); an existing directory is replaced only when it
is an earlier export and ``overwrite`` is set.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EXPORT_FORMAT = "iid-rdepth-bag-export/1"
EXPORT_JSON = "export.json"
DEPTH_FORMATS = ("png", "npy")
DEPTH_UNITS = {"mm": 1000.0, "1/256": 256.0}  # as datasets.folder reads them
UINT16_MAX = 65535


@dataclass
class ExportOptions:
    """What ``bag-export`` writes and how it pairs (mirrors its command-line options)."""

    every: int = 1  # keep every N-th paired frame
    val_fraction: float = 0.2  # last share of the exported time span held out
    val_gap: float = 1.0  # seconds before the held-out part left out of both lists
    max_frames: int | None = None  # stop after writing N frames
    depth_format: str = "png"
    depth_unit: str = "mm"  # 16-bit PNG unit: mm (to 65.535 m) or 1/256 (to 255.99 m)
    tolerance: float = 0.005
    gt_tolerance: float = 0.05
    overwrite: bool = False
    progress: bool = True
    command: str | None = None

    def validate(self) -> None:
        """ValueError naming the first bad option."""
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"--every must be a positive integer, got {self.every!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if not self.val_gap >= 0:
            raise ValueError(f"--val-gap must be >= 0 s, got {self.val_gap}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"--max-frames must be >= 1, got {self.max_frames}")
        if self.depth_format not in DEPTH_FORMATS:
            raise ValueError(f"--depth-format must be one of {DEPTH_FORMATS}, got "
                             f"{self.depth_format!r}")
        if self.depth_unit not in DEPTH_UNITS:
            raise ValueError(f"--depth-unit must be one of {tuple(DEPTH_UNITS)}, got "
                             f"{self.depth_unit!r}")
        if not (self.tolerance >= 0 and self.gt_tolerance >= 0):
            raise ValueError("the stamp tolerances must be >= 0 s")


@dataclass
class _Written:
    name: str
    index: int
    stamp: int
    pixels: int
    density: float
    dt_ns: int
    split: str = "train"


@dataclass
class ExportSummary:
    """What :func:`export_bag` wrote (also in ``export.json``)."""

    out: Path
    written: int
    train: int
    val: int
    gap: int
    skipped: dict[str, int]
    density: dict[str, float | None]
    window: dict[str, Any]
    seconds: float
    record: dict[str, Any] = field(default_factory=dict)


def check_output(out: str | Path, overwrite: bool) -> Path:
    """The output directory, checked before any work: new, empty, or (with ``overwrite``) an
    earlier export. FileExistsError otherwise."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise FileExistsError(f"{out} exists and is not a directory")
        if any(out.iterdir()):
            if not (out / EXPORT_JSON).is_file():
                raise FileExistsError(f"{out} is not empty and not an earlier bag-export (no "
                                      f"{EXPORT_JSON}); choose another --out")
            if not overwrite:
                raise FileExistsError(f"{out} holds an earlier export (pass --overwrite to "
                                      "replace it)")
    if out.parent.exists() and not out.parent.is_dir():
        raise NotADirectoryError(f"{out.parent} (the parent of --out) is not a directory")
    return out


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")


def encode_depth(depth: np.ndarray, unit: str) -> tuple[np.ndarray, int]:
    """uint16 PNG values of metric depth (0 = none) and how many measurements did not fit
    the unit's range (they are written as 0: no measurement, never a wrong value)."""
    scaled = np.round(depth.astype(np.float64) * DEPTH_UNITS[unit])
    over = scaled > UINT16_MAX
    scaled[over | ~np.isfinite(scaled) | (scaled < 0)] = 0
    return scaled.astype(np.uint16), int(over.sum())


def _write_depth(stem: Path, depth: np.ndarray, opts: ExportOptions) -> int:
    if opts.depth_format == "npy":
        np.save(stem.with_suffix(".npy"), depth.astype(np.float32))
        return 0
    import cv2

    values, over = encode_depth(depth, opts.depth_unit)
    if not cv2.imwrite(str(stem.with_suffix(".png")), values):
        raise OSError(f"cannot write {stem.with_suffix('.png')}")
    return over


def time_split(offsets_ns: list[int], val_fraction: float, val_gap_s: float
               ) -> tuple[list[str], int | None]:
    """Split label (train | val | gap) of each frame by its stamp offset, and the start of the
    held-out part (offset ns; None without one). The held-out part is the last
    ``val_fraction`` of the span first..last offset; frames within ``val_gap_s`` before it are
    ``gap``."""
    if not offsets_ns:
        return [], None
    if val_fraction <= 0:
        return ["train"] * len(offsets_ns), None
    lo, hi = min(offsets_ns), max(offsets_ns)
    start = hi - int(round(val_fraction * (hi - lo)))
    gap = int(round(val_gap_s * 1e9))
    labels = ["val" if t >= start else "gap" if t >= start - gap else "train"
              for t in offsets_ns]
    return labels, start


def _same_camera(a: Any, b: Any) -> bool:
    va = np.array([a.fx, a.fy, a.cx, a.cy], dtype=np.float64)
    vb = np.array([b.fx, b.fy, b.cx, b.cy], dtype=np.float64)
    return bool(np.allclose(va, vb, rtol=1e-6, atol=1e-6))


def export_bag(bag_path: str | Path, spec: Any, out: str | Path,
               opts: ExportOptions | None = None) -> ExportSummary:
    """Export the paired frames of a bag into the folder data set ``out`` (module docstring).

    ``spec`` is a ``frames.TopicSpec``. Raises FileNotFoundError / BagError (ValueError) for a
    missing or unreadable bag or topic, FileExistsError for an output in the way, and
    ValueError when no frame (or no training frame) could be exported.
    """
    from iid_rdepth_ros.bag.evaluate import bag_info, gt_description
    from iid_rdepth_ros.bag.frames import (
        FramePairer,
        camera_model,
        decode_rgb,
        ground_truth,
        iter_frames,
        read_transforms,
    )
    from iid_rdepth_ros.bag.io import open_bag
    from iid_rdepth_ros.bag.messages import stamp_ns
    from iid_rdepth_ros.bag.transforms import TransformTimeError
    from iid_rdepth_ros.ros.camera_info import CameraInfoError, baseline_from_info

    opts = opts or ExportOptions()
    opts.validate()
    spec.validate()
    out = check_output(out, opts.overwrite)
    if not Path(bag_path).exists():
        raise FileNotFoundError(f"bag {bag_path} does not exist")
    t_start = time.perf_counter()
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)  # left by an interrupted export of ours
    for sub in ("images", "depth") + (("right",) if spec.aux_image else ()):
        (tmp / sub).mkdir(parents=True)
    written: list[_Written] = []
    skipped: Counter = Counter()
    first_k = first_hw = None
    baseline: float | None = None
    over_range = 0
    bar = None
    try:
        with open_bag(bag_path) as bag:
            spec.check(bag)
            tree = read_transforms(bag, spec) if spec.gt_points else None
            n_images = bag.counts[spec.image]
            pairer = FramePairer(spec, opts.tolerance, opts.gt_tolerance)
            if opts.progress:
                from tqdm import tqdm

                bar = tqdm(total=n_images, desc="bag-export", unit="image")
            camera_frame = ""
            paired = 0
            for frame in iter_frames(bag, spec, pairer):
                if bar is not None:
                    bar.update(pairer.stats.images - bar.n)
                paired += 1
                if (paired - 1) % opts.every:
                    skipped[f"thinned (--every {opts.every})"] += 1
                    continue
                rgb = decode_rgb(frame.image)
                hw = rgb.shape[:2]
                try:
                    k, _ = camera_model(frame.info, hw)
                except CameraInfoError as exc:
                    skipped[f"camera_info unusable ({exc.kind})"] += 1
                    continue
                if first_k is None:
                    first_k, first_hw = k, hw
                elif hw != first_hw or not _same_camera(k, first_k):
                    skipped["image size or camera_info differs from the first frame's"] += 1
                    continue
                aux = None
                if spec.aux_image:
                    if frame.aux is None:
                        skipped["no aux image within tolerance"] += 1
                        continue
                    try:
                        b = baseline_from_info(frame.aux_info)
                    except CameraInfoError:
                        skipped["aux camera_info has no baseline (P[3])"] += 1
                        continue
                    aux = decode_rgb(frame.aux)
                    if aux.shape != rgb.shape:
                        skipped["aux image size differs from the main image's"] += 1
                        continue
                    if baseline is None:
                        baseline = b
                    elif abs(b - baseline) > 1e-6 * max(baseline, 1.0):
                        skipped["aux baseline differs from the first frame's"] += 1
                        continue
                try:
                    gt = ground_truth(frame, hw, tree)
                except TransformTimeError:
                    skipped["no /tf transform at the image stamp"] += 1
                    continue
                pixels = int((gt > 0).sum())
                if pixels == 0:
                    skipped["no ground-truth pixel in the image"] += 1
                    continue
                camera_frame = camera_frame or frame.image.header.frame_id
                name = f"{frame.index:06d}"
                _write_rgb(tmp / "images" / f"{name}.png", rgb)
                if aux is not None:
                    _write_rgb(tmp / "right" / f"{name}.png", aux)
                over_range += _write_depth(tmp / "depth" / name, gt, opts)
                written.append(_Written(name, frame.index, frame.stamp, pixels,
                                        pixels / float(gt.size),
                                        frame.stamp - stamp_ns(frame.gt)))
                if opts.max_frames and len(written) >= opts.max_frames:
                    break
            if bar is not None:
                bar.update(pairer.stats.images - bar.n)
            pair_stats = pairer.stats.as_dict()
            first_stamp = pairer.first_stamp
            info = bag_info(bag, spec)
            gt_text = gt_description(spec, tree, camera_frame)
        if not written:
            reasons = {**pair_stats["skipped"], **skipped}
            raise ValueError(f"{bag_path}: no frame could be exported ({n_images} images; "
                             f"skipped: {reasons or 'none'})")
        assert first_stamp is not None and first_k is not None and first_hw is not None
        labels, val_start = time_split([w.stamp - first_stamp for w in written],
                                       opts.val_fraction, opts.val_gap)
        for w, label in zip(written, labels, strict=True):
            w.split = label
        counts = Counter(labels)
        if counts["train"] == 0:
            raise ValueError(f"{bag_path}: all {len(written)} exported frames fall in the "
                             f"held-out part or its gap: lower --val-fraction / --val-gap")
        for split in ("train", "val"):
            names = [w.name for w in written if w.split == split]
            if names:
                (tmp / f"{split}.txt").write_text("\n".join(names) + "\n")
        intrinsics = {"fx": float(first_k.fx), "fy": float(first_k.fy),
                      "cx": float(first_k.cx), "cy": float(first_k.cy),
                      "depth_unit": opts.depth_unit, "width": int(first_hw[1]),
                      "height": int(first_hw[0])}
        if baseline is not None:
            intrinsics["baseline_m"] = float(baseline)
        import yaml

        (tmp / "intrinsics.yaml").write_text(
            "# written by iid-rdepth bag-export: the camera of images/ (rectified, from "
            "CameraInfo P)\n" + yaml.safe_dump(intrinsics, sort_keys=False))
        with (tmp / "frames.csv").open("w", newline="") as f:
            rows = csv.writer(f)
            rows.writerow(["name", "image_index", "stamp_ns", "split", "gt_pixels",
                           "gt_density", "gt_dt_ms"])
            for w in written:
                rows.writerow([w.name, w.index, w.stamp, w.split, w.pixels,
                               f"{w.density:.6f}", f"{w.dt_ns / 1e6:.3f}"])
        density = np.array([w.density for w in written])
        dt_ms = np.abs(np.array([w.dt_ns for w in written], dtype=np.float64)) / 1e6
        window = {"rule": (f"the last {opts.val_fraction:g} of the exported time span; "
                           f"{opts.val_gap:g} s before it in neither list"),
                  "first_image_stamp_ns": int(first_stamp),
                  "val_start_offset_ns": None if val_start is None else int(val_start),
                  "val_start_s": None if val_start is None else val_start / 1e9,
                  "train_end_s": None if val_start is None
                  else (val_start - int(round(opts.val_gap * 1e9))) / 1e9,
                  "span_s": (written[-1].stamp - written[0].stamp) / 1e9}
        all_skipped = {**pair_stats["skipped"], **dict(skipped)}
        record = {
            "format": EXPORT_FORMAT,
            "bag": info,
            "topics": {k: v for k, v in vars(spec).items() if v},
            "command": opts.command,
            "options": {k: v for k, v in vars(opts).items() if k not in ("command",)},
            "ground_truth": gt_text,
            "frames": {"images": pair_stats["images"], "paired": pair_stats["frames"],
                       "written": len(written), "train": counts["train"], "val": counts["val"],
                       "gap": counts["gap"], "camera_info_by_latest":
                       pair_stats["camera_info_by_latest"]},
            "skipped": all_skipped,
            "density": {"mean": float(density.mean()), "min": float(density.min()),
                        "max": float(density.max()),
                        "pixels_mean": float(np.mean([w.pixels for w in written]))},
            "gt_stamp_difference_ms": {"mean": float(dt_ms.mean()), "max": float(dt_ms.max()),
                                       "note": "|image stamp - ground-truth stamp|; the "
                                       "sensor's motion in between is not compensated"},
            "depth": {"format": opts.depth_format, "unit": opts.depth_unit
                      if opts.depth_format == "png" else "m",
                      "beyond_unit_range": over_range},
            "intrinsics": intrinsics,
            "split": window,
        }
        (tmp / EXPORT_JSON).write_text(json.dumps(record, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)  # an earlier export (check_output) that overwrite replaces
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    return ExportSummary(out=out, written=len(written), train=counts["train"],
                         val=counts["val"], gap=counts["gap"], skipped=all_skipped,
                         density=record["density"], window=window,
                         seconds=time.perf_counter() - t_start, record=record)


def read_held_out(export_dir: str | Path) -> dict[str, Any]:
    """The held-out window of an export (``export.json``'s ``split`` and ``topics``)."""
    path = Path(export_dir) / EXPORT_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: --held-out takes the --out directory of "
                                "'iid-rdepth bag-export'")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path} is not a bag-export record (format {EXPORT_FORMAT})")
    split = record.get("split") or {}
    if split.get("val_start_offset_ns") is None:
        raise ValueError(f"{path}: that export has no held-out part (--val-fraction 0)")
    return {"start_ns": int(split["val_start_offset_ns"]),
            "first_stamp_ns": int(split["first_image_stamp_ns"]),
            "image_topic": record.get("topics", {}).get("image")}
