"""Generic folder data set (your own robot's data): formats, intrinsics, train + evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.datasets import open_dataset
from iid_rdepth_ros.datasets.folder import FolderDataset
from iid_rdepth_ros.synth import SynthStreet

torch.set_num_threads(1)
H, W = 64, 224


def _png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def make_folder(root: Path, frames: int, unit: str = "mm", right: bool = True) -> dict:
    """``frames`` synth-street frames written as a folder data set; returns the truth."""
    street = SynthStreet(seed=3, height=H, width=W, sequence_length=frames)
    truth = {}
    for i in range(frames):
        f = street.frame(i)
        name = f"cam_{i:04d}"
        _png(root / "images" / f"{name}.png", f["left"])
        if right:
            _png(root / "right" / f"{name}.png", f["right"])
        depth = np.where(f["depth"] < 60, f["depth"], 0).astype(np.float32)
        if i % 2:  # .npy metres for odd frames, 16-bit PNG for even ones
            np.save(root / "depth" / f"{name}.npy", depth)
            stored = depth
        else:
            scale = 1000.0 if unit == "mm" else 256.0
            q = np.round(depth * scale).astype(np.uint16)
            (root / "depth").mkdir(exist_ok=True)
            cv2.imwrite(str(root / "depth" / f"{name}.png"), q)
            stored = q.astype(np.float32) / np.float32(scale)
        truth[name] = {"depth": stored, "image": f["left"], "right": f["right"]}
    k = street.frame(0)
    lines = [f"fx: {k['fx']}", f"fy: {k['fy']}", f"cx: {k['cx']}", f"cy: {k['cy']}",
             f"depth_unit: {unit!r}", f"width: {W}", f"height: {H}"]
    if right:
        lines.append(f"baseline_m: {k['baseline_m']}")
    (root / "intrinsics.yaml").write_text("\n".join(lines) + "\n")
    names = sorted(truth)
    (root / "train.txt").write_text("\n".join(names[:-2]) + "\n")
    (root / "val.txt").write_text("\n".join(names[-2:]) + "\n")
    truth["_k"] = k
    return truth


def test_folder_reader_formats(tmp_path: Path) -> None:
    for unit in ("mm", "1/256"):
        root = tmp_path / unit.replace("/", "_")
        truth = make_folder(root, 3, unit)
        ds = open_dataset("folder", "all", root)
        assert isinstance(ds, FolderDataset) and ds.stereo and len(ds) == 3
        for i, name in enumerate(ds.names):
            item = ds[i]
            assert np.array_equal(item["depth"], truth[name]["depth"]), (unit, name)
            assert np.array_equal(item["image"], truth[name]["image"])
            assert np.array_equal(item["aux"], truth[name]["right"])
        assert ds[0]["fx"] == pytest.approx(truth["_k"]["fx"])
        assert ds[0]["baseline_m"] == pytest.approx(truth["_k"]["baseline_m"])
        assert "eval_mask" not in ds[0]
    assert open_dataset("folder", "val", root).names == ["cam_0001", "cam_0002"]
    assert "aux" not in open_dataset("folder", "all", root, aux=False)[0]


def test_folder_reader_errors(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_folder(root, 2)
    k = (root / "intrinsics.yaml").read_text()
    (root / "intrinsics.yaml").write_text(k.replace("depth_unit: 'mm'", "depth_unit: cm"))
    with pytest.raises(ValueError, match="depth_unit"):
        FolderDataset(root)
    (root / "intrinsics.yaml").write_text(k.replace("baseline_m", "# baseline_m"))
    with pytest.raises(ValueError, match="baseline_m"):
        FolderDataset(root)
    (root / "intrinsics.yaml").write_text(k + "focal: 3\n")
    with pytest.raises(ValueError, match="unknown key"):
        FolderDataset(root)
    (root / "intrinsics.yaml").write_text(k)
    (root / "depth" / "cam_0000.png").unlink()
    with pytest.raises(ValueError, match="no depth"):
        FolderDataset(root)
    (root / "intrinsics.yaml").unlink()
    with pytest.raises(FileNotFoundError, match="intrinsics"):
        FolderDataset(root)


TINY = ["preset=lite0-96x320", f"model.input_height={H}", f"model.input_width={W}",
        f"model.canonical_focal={721.5377 * W / 1242}", "model.decoder.channels=[16,16,32,32]",
        "model.decoder.n_bins=16", "model.decoder.bcp_hidden=32",
        "model.decoder.upsample_hidden=16", "model.diffusion.width=16",
        "model.diffusion.unet_channels=[16,16,16]", "model.diffusion.steps=1",
        "model.diffusion.train_steps=1", "model.avlfe.candidates=8", "model.avlfe.hidden=16",
        "model.avlfe.match_channels=8", "val_every=0", "ckpt_every=0"]


def test_train_and_evaluate_on_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "robot"
    make_folder(root, 6)
    out = tmp_path / "run"
    sets = [a for item in TINY for a in ("--set", item)]
    assert main(["train", "--dataset", "folder", "--data-root", str(root), "--split", "train",
                 "--val-split", "val", "--stage", "both", "--steps1", "2", "--steps2", "2",
                 "--batch-size", "2", "--threads", "1", "--no-progress", "--cache", "off",
                 "--workers", "1", "--out", str(out), *sets]) == 0
    card = (out / "stage2.yaml").read_text()
    assert "dataset: folder" in card and "stereo:" in card
    res_path = tmp_path / "eval.json"
    assert main(["evaluate", "--model", str(out / "stage2"), "--dataset", "folder",
                 "--data-root", str(root), "--split", "val", "--json", str(res_path),
                 "--threads", "1", "--no-progress"]) == 0
    res = json.loads(res_path.read_text())
    assert res["frames"] == 2 and res["aux_engaged"] is True
    assert [r["name"] for r in res["per_frame"]] == ["cam_0004", "cam_0005"]
    assert res["protocol"]["eval_crop"] == "none" and res["protocol"]["max_depth"] == 80.0
