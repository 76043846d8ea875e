"""KITTI reader on a tiny raw-data tree: ground truth scale, stereo partner, crops, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from kitti_fixtures import BASELINE, DATE, make_kitti, split_lines

from iid_rdepth_ros.datasets import open_dataset
from iid_rdepth_ros.datasets.frames import DepthFrames
from iid_rdepth_ros.datasets.kitti import KittiDataset

FRAMES = {"0002": [5, 6], "0005": [3]}


@pytest.fixture(scope="module")
def kitti(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("kitti")
    truth = make_kitti(root, FRAMES)
    split = root / "split.txt"
    split.write_text(split_lines(FRAMES))
    return root, truth, split


def test_annotated_ground_truth_and_stereo_partner(kitti: tuple[Path, dict, Path]) -> None:
    root, truth, split = kitti
    ds = KittiDataset(root, str(split), gt="annotated")
    assert len(ds) == 3 and ds.gt == "annotated"
    item = ds[1]  # drive 0002, frame 6
    t2, t3 = truth[("0002", 6, 2)], truth[("0002", 6, 3)]
    assert item["depth"].dtype == np.float32 and item["depth"].shape == (375, 1242)
    assert np.array_equal(item["depth"], t2["gt"])  # uint16 / 256, metres
    valid = item["depth"] > 0
    truth_m = 4.0 + 50.0 * (1 - np.mgrid[0:375, 0:1242][0] / 375) + 6.0 * np.mgrid[
        0:375, 0:1242][1] / 1242 + 0.5 * 6
    assert np.abs(item["depth"][valid] - truth_m[valid]).max() <= 0.5 / 256 + 1e-6
    assert item["lidar"] is item["depth"]
    assert np.array_equal(item["image"], t2["image"]) and np.array_equal(item["aux"], t3["image"])
    assert (item["fx"], item["cx"], item["cy"]) == pytest.approx((721.5377, 609.5593, 172.854))
    assert item["baseline_m"] == pytest.approx(BASELINE)
    assert item["name"] == "2011_09_26_drive_0002_sync_image_02_0000000006"
    mask = np.zeros((375, 1242), bool)
    mask[153:371, 44:1197] = True  # Garg crop at 375x1242, worked out by hand
    assert np.array_equal(item["eval_mask"], mask)


def test_velodyne_ground_truth(kitti: tuple[Path, dict, Path]) -> None:
    root, truth, split = kitti
    ds = KittiDataset(root, str(split), gt="velodyne", aux=False)
    item = ds[0]
    expected = truth[("0002", 5, 2)]["velodyne"]
    assert "aux" not in item
    assert np.array_equal(item["depth"] > 0, expected > 0)  # behind-scanner points dropped
    np.testing.assert_allclose(item["depth"], expected, atol=2e-3)


def test_right_side_entry_is_mirrored(kitti: tuple[Path, dict, Path], tmp_path: Path) -> None:
    root, truth, _ = kitti
    split = tmp_path / "right.txt"
    split.write_text(f"{DATE}/{DATE}_drive_0002_sync/image_03/data/0000000005.png\n")
    item = KittiDataset(root, str(split), gt="annotated")[0]
    t2, t3 = truth[("0002", 5, 2)], truth[("0002", 5, 3)]
    assert np.array_equal(item["image"], t3["image"][:, ::-1])
    assert np.array_equal(item["aux"], t2["image"][:, ::-1])
    assert np.array_equal(item["depth"], t3["gt"][:, ::-1])
    assert item["cx"] == pytest.approx(1241 - 609.5593)
    mono = KittiDataset(root, str(split), gt="annotated", aux=False)[0]  # no partner: as is
    assert np.array_equal(mono["image"], t3["image"]) and np.array_equal(mono["depth"], t3["gt"])


def test_kb_crop(kitti: tuple[Path, dict, Path]) -> None:
    root, truth, split = kitti
    full = KittiDataset(root, str(split), gt="annotated")[2]
    crop = KittiDataset(root, str(split), gt="annotated", kb_crop=True)[2]
    # top = 375 - 352 = 23, left = (1242 - 1216) // 2 = 13
    assert crop["image"].shape == (352, 1216, 3)
    assert np.array_equal(crop["image"], full["image"][23:375, 13:1229])
    assert np.array_equal(crop["aux"], full["aux"][23:375, 13:1229])
    assert np.array_equal(crop["depth"], full["depth"][23:375, 13:1229])
    assert np.array_equal(crop["eval_mask"], full["eval_mask"][23:375, 13:1229])
    assert (crop["cx"], crop["cy"]) == pytest.approx((609.5593 - 13, 172.854 - 23))


def test_ground_truth_roots_missing_frames_and_named_splits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "raw"
    frames = {"0009": [1, 2]}
    truth = make_kitti(root, frames, height=96, width=320, velodyne=False, gt_layout="release")
    split = tmp_path / "s.txt"
    split.write_text(split_lines(frames) + f"{DATE}/{DATE}_drive_0009_sync 7 l\n")
    with pytest.raises(FileNotFoundError, match="1 of 3 frames have no image"):
        KittiDataset(root, str(split), gt_root=root / "gt")
    ds = KittiDataset(root, str(split), gt_root=root / "gt", on_missing="skip")
    assert ds.gt == "annotated"  # auto: the annotated maps exist (release layout train/DRIVE)
    assert len(ds) == 2 and ds.meta["skipped"] == {"image": 1, "ground truth": 0}
    assert np.array_equal(ds[1]["depth"], truth[("0009", 2, 2)]["gt"])
    with pytest.raises(FileNotFoundError, match="ground truth"):
        KittiDataset(root, str(split), gt="velodyne", on_missing="error")
    # a named split must be the official list (697 frames for eigen)
    monkeypatch.setenv("IID_RDEPTH_SPLITS", str(tmp_path / "splits"))
    (tmp_path / "splits" / "kitti").mkdir(parents=True)
    (tmp_path / "splits" / "kitti" / "eigen_test_files.txt").write_text(split_lines(frames))
    with pytest.raises(ValueError, match="official 'eigen' split has 697"):
        KittiDataset(root, "eigen")
    with pytest.raises(ValueError, match="do not apply to the nyu"):
        open_dataset("nyu", "test", root, kb_crop=True)


def test_depth_frames_and_training_on_kitti(kitti: tuple[Path, dict, Path],
                                            tmp_path: Path) -> None:
    from iid_rdepth_ros.training.config import load_config
    from iid_rdepth_ros.training.train import train

    root, truth, split = kitti
    frames = DepthFrames.from_dataset("kitti", str(split), (64, 224), root=root,
                                      kb_crop=True, gt="annotated")
    item = frames[0]
    assert item["image"].shape == (3, 64, 224) and item["aux"].shape == (3, 64, 224)
    gt = truth[("0002", 5, 2)]["gt"][23:375, 13:1229]
    mask = np.zeros((375, 1242), bool)
    mask[153:371, 44:1197] = True
    assert torch.equal(item["lidar"][0], torch.from_numpy(gt))  # the training target: all of it
    assert torch.equal(item["depth"][0], torch.from_numpy(gt * mask[23:375, 13:1229]))
    assert item["fx"] == pytest.approx(721.5377 * 224 / 1216)

    w = 224
    cfg = load_config(overrides=[
        "data.dataset=kitti", f"data.root={root}", f"data.train={split}", f"data.val={split}",
        "preset=lite0-96x320", "model.input_height=64", f"model.input_width={w}",
        f"model.canonical_focal={721.5377 * w / 1242}", "model.decoder.channels=[16,16,32,32]",
        "model.decoder.n_bins=16", "model.decoder.bcp_hidden=32",
        "model.decoder.upsample_hidden=16", "stage=1", "stage1.steps=2", "batch_size=3",
        "num_threads=1", "progress=false", f"out_dir={tmp_path / 'run'}", "val_every=0"])
    assert cfg.data.kb_crop is True  # the KITTI default
    result = train(cfg)
    from iid_rdepth_ros.model.checkpoint import load_checkpoint

    _, card = load_checkpoint(result["checkpoints"]["stage1"])
    assert card["data"]["train"]["dataset"] == "kitti"
    assert card["data"]["train"]["meta"]["ground_truth"] == "annotated"
    assert card["metrics"]["eval_crop"] == "garg" and card["metrics"]["mono"]["frames"] == 3
