"""NYU Depth v2: labeled .mat (v7.3 / HDF5) and folder layouts, Eigen crop, protocol, mono."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from nyu_fixtures import frame, write_folder, write_labeled_mat, write_splits_mat

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.datasets import open_dataset
from iid_rdepth_ros.datasets.frames import DepthFrames
from iid_rdepth_ros.datasets.nyu import NyuFolder, NyuLabeled
from iid_rdepth_ros.datasets.protocol import eigen_crop_mask

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def nyu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nyu")
    write_labeled_mat(root / "nyu_depth_v2_labeled.mat", 3)
    write_splits_mat(root / "splits.mat", train=[1, 3], test=[2])
    return root


def test_labeled_mat_is_read_untransposed(nyu: Path) -> None:
    mat = nyu / "nyu_depth_v2_labeled.mat"
    assert mat.read_bytes()[:10] == b"MATLAB 7.3"
    ds = open_dataset("nyu", "all", mat)
    assert isinstance(ds, NyuLabeled) and len(ds) == 3 and ds.stereo is False
    for k in range(3):
        img, depth = frame(k)
        item = ds[k]
        assert item["image"].shape == (480, 640, 3) and np.array_equal(item["image"], img)
        assert item["depth"].dtype == np.float32 and np.array_equal(item["depth"], depth)
        assert "aux" not in item and item["baseline_m"] == 0.0
        assert (item["fx"], item["fy"], item["cx"], item["cy"]) == pytest.approx(
            (518.8579, 519.4696, 325.5824, 253.7362))
    assert ds.names == ["nyu_00001", "nyu_00002", "nyu_00003"]  # MATLAB frame numbers
    test = open_dataset("nyu", "test", nyu)  # the folder holding the .mat; splits.mat beside
    train = open_dataset("nyu", "train", nyu)
    assert test.frames == [1] and train.frames == [0, 2]
    listed = nyu / "mine.txt"
    listed.write_text("3\n# comment\n1\n")
    assert open_dataset("nyu", str(listed), nyu).frames == [2, 0]
    listed.write_text("4\n")
    with pytest.raises(ValueError, match=r"1\.\.3"):
        open_dataset("nyu", str(listed), nyu)


def test_eigen_crop_selects_the_documented_pixels(nyu: Path) -> None:
    mask = eigen_crop_mask((480, 640))
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (45, 471, 41, 601)
    assert mask.sum() == 426 * 560
    item = open_dataset("nyu", "all", nyu)[0]
    assert np.array_equal(item["eval_mask"], mask)
    with pytest.raises(ValueError, match="480x640"):
        eigen_crop_mask((240, 320))


def test_extracted_folder_layout(tmp_path: Path) -> None:
    write_folder(tmp_path, {"sync/kitchen_0028b": [45, 46],
                            "official_splits/test/bathroom": [1]})
    test = open_dataset("nyu", "test", tmp_path)
    train = open_dataset("nyu", "train", tmp_path)
    assert isinstance(test, NyuFolder) and len(test) == 1 and len(train) == 2
    item = train[1]
    img, depth = frame(46)
    np.testing.assert_allclose(item["depth"], depth, atol=0.5e-3 + 1e-6)  # mm PNG
    assert item["depth"].dtype == np.float32
    assert np.abs(item["image"].astype(int) - img).mean() < 8  # JPEG
    assert train.names[0] == "sync_kitchen_0028b_rgb_00045"
    lst = tmp_path / "list.txt"
    lst.write_text("/bathroom/rgb_00001.jpg /bathroom/sync_depth_00001.png 518.8579\n")
    assert open_dataset("nyu", str(lst), tmp_path)[0]["fx"] == pytest.approx(518.8579)


def test_mono_only(nyu: Path) -> None:
    from iid_rdepth_ros.training.config import load_config

    with pytest.raises(ValueError, match="mono only"):
        DepthFrames.from_dataset("nyu", "all", (96, 128), root=nyu, aux=True)
    with pytest.raises(ValueError, match="stage2.aux_prob"):
        load_config(overrides=["data.dataset=nyu", f"data.root={nyu}", "stage2.aux_prob=0.3"])
    for stage in (1, 2):  # SGBM hints need a stereo pair too
        with pytest.raises(ValueError, match=f"stage{stage}.hint_weight"):
            load_config(overrides=["data.dataset=nyu", f"data.root={nyu}", "stage2.aux_prob=0",
                                   f"stage{stage}.hint_weight=1"])
    cfg = load_config(overrides=["data.dataset=nyu", f"data.root={nyu}"])
    assert (cfg.data.max_depth, cfg.stage2.aux_prob, cfg.data.train, cfg.data.val) == (
        10.0, 0.0, "train", "test")


def _evaluate(argv: list[str], out: Path) -> dict:
    assert main(["evaluate", *argv, "--json", str(out), "--no-progress"]) == 0
    return json.loads(out.read_text())


def test_known_error_gives_known_metrics(nyu: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    rmse = []
    for k in range(3):
        depth = frame(k)[1]
        pred = 2.0 * depth
        pred[:45] = depth[:45]  # perfect outside the crop: must not count
        np.save(pred_dir / f"nyu_{k + 1:05d}.npy", pred)
        g = depth[45:471, 41:601].astype(np.float64)
        rmse.append(math.sqrt((g * g).mean()))
    res = _evaluate(["--dataset", "nyu", "--data-root", str(nyu / "nyu_depth_v2_labeled.mat"),
                     "--split", "all", "--predictions", str(pred_dir)], tmp_path / "r.json")
    assert res["frames"] == 3 and res["protocol"]["max_depth"] == 10.0
    assert res["protocol"]["eval_crop"] == "eigen"
    assert res["abs_rel"] == pytest.approx(1.0, rel=1e-6)
    assert res["rmse"] == pytest.approx(np.mean(rmse), rel=1e-6)
    assert res["rmse_log"] == pytest.approx(math.log(2.0), rel=1e-6)
    assert res["d1"] == res["d2"] == res["d3"] == 0.0  # 2 > 1.25^3
    capsys.readouterr()
    assert main(["evaluate", "--model", "x", "--dataset", "nyu", "--data-root", str(nyu),
                 "--aux", "on"]) == 2
    assert "mono only" in capsys.readouterr().err


def test_training_on_nyu_is_mono(nyu: Path, tmp_path: Path) -> None:
    from iid_rdepth_ros.training.config import load_config
    from iid_rdepth_ros.training.train import train

    cfg = load_config(overrides=[
        "data.dataset=nyu", f"data.root={nyu}", "preset=lite0-96x320", "model.input_height=96",
        "model.input_width=128", "model.decoder.channels=[16,16,32,32]",
        "model.decoder.n_bins=16", "model.decoder.bcp_hidden=32",
        "model.decoder.upsample_hidden=16", "model.diffusion.width=16",
        "model.diffusion.unet_channels=[16,16,16]", "model.diffusion.steps=1",
        "model.diffusion.train_steps=1", "model.avlfe.candidates=8", "model.avlfe.hidden=16",
        "model.avlfe.match_channels=8", "stage1.steps=2", "stage2.steps=1", "batch_size=2",
        "num_threads=1", "progress=false", f"out_dir={tmp_path / 'run'}", "val_every=0"])
    result = train(cfg)
    assert set(result["stages"][2]["val"]) == {"mono"}  # no stereo validation without a view
    assert result["stages"][2]["val"]["mono"]["frames"] == 1
