"""Training output folders are owned (``training/run_dir.py``): another run's checkpoints are
never overwritten unless asked, a run that fails before its first resume state leaves the
folder as it was (the retry works), temporaries of a killed run are cleaned, and checkpoints
and cards are written atomically."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.model.checkpoint import load_checkpoint
from iid_rdepth_ros.synth import generate
from iid_rdepth_ros.training import run_dir
from iid_rdepth_ros.training import train as train_module
from iid_rdepth_ros.training.config import load_config
from iid_rdepth_ros.training.train import train

H, W = 64, 192
#: a tiny model (as test_train.py's) so a run takes seconds
TINY = [
    "preset=lite0-96x320", f"model.input_height={H}", f"model.input_width={W}",
    f"model.canonical_focal={721.5377 * W / 1242}",
    "model.decoder.channels=[16, 16, 32, 32]", "model.decoder.n_bins=16",
    "model.decoder.bcp_hidden=32", "model.decoder.upsample_hidden=16",
    "model.diffusion.width=16", "model.diffusion.unet_channels=[16, 16, 16]",
    "model.diffusion.steps=2", "model.diffusion.train_steps=2",
    "model.avlfe.candidates=8", "model.avlfe.hidden=16", "model.avlfe.match_channels=8",
    "batch_size=2", "num_threads=1", "progress=false", "val_every=0", "stage=1",
    "stage1.steps=2",
]
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("rundir")
    good = root / "good"
    generate(good, 4, seed=11, height=H, width=W, sequence_length=4, progress=False)
    bad = root / "bad"
    generate(bad, 4, seed=11, height=H, width=W, sequence_length=4, progress=False)
    (bad / "left" / "000002.png").write_bytes(b"not a png")
    return {"good": good, "bad": bad}


def _cli(data_dir: Path, out: Path, *extra: str) -> int:
    sets = [a for item in TINY for a in ("--set", item)]
    return main(["train", "--train-dir", str(data_dir), "--val-dir", "none", *sets,
                 "--out", str(out), *extra])


def _listing(folder: Path) -> dict[str, bytes | None]:
    return {p.name: p.read_bytes() if p.is_file() else None for p in sorted(folder.iterdir())}


def test_foreign_checkpoints_are_not_overwritten(data: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Issue item 3: a folder with another run's stage1.safetensors but no config.yaml."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "stage1.safetensors").write_bytes(b"another run's weights")
    (out / "notes.txt").write_text("mine")
    before = _listing(out)
    assert _cli(data["good"], out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"iid-rdepth train: error: {out} holds checkpoints this run did not write "
                   "(stage1.safetensors): choose another --out or replace them with "
                   "--overwrite"]
    assert _listing(out) == before
    assert _cli(data["good"], out, "--overwrite") == 0
    _, card = load_checkpoint(out / "stage1")
    assert card["steps"]["stage1"] == 2 and (out / "notes.txt").read_text() == "mine"


def test_a_finished_run_is_refused_then_replaced_on_request(
        data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert _cli(data["good"], out) == 0
    weights = (out / "stage1.safetensors").read_bytes()
    assert _cli(data["good"], out, "--set", "seed=5") == 2
    assert "already holds a training run (resume/ state)" in capsys.readouterr().err
    assert (out / "stage1.safetensors").read_bytes() == weights
    assert _cli(data["good"], out, "--resume", "--overwrite") == 2
    assert _cli(data["good"], out, "--set", "seed=5", "--overwrite") == 0
    assert (out / "stage1.safetensors").read_bytes() != weights


def test_failure_before_the_first_resume_state_leaves_the_folder_as_it_was(
        data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue item 4: bad data used to leave config.yaml behind, so neither a fresh run nor
    --resume worked until files were deleted by hand."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for cache in ("memory", "off"):  # off: the bad frame is read inside the training loop
        assert _cli(data["bad"], out, "--cache", cache) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"iid-rdepth train: error: cannot read {data['bad']}/left/000002.png: "
                       "corrupt or not an image"], err
        assert _listing(out) == {"notes.txt": b"mine"}
    assert _cli(data["good"], out, "--resume") == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert _cli(data["good"], out) == 0  # the retry simply works
    assert (out / "stage1.safetensors").is_file() and (out / "config.yaml").is_file()


def test_a_failure_after_config_yaml_is_written_is_undone(
        data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    seen = []

    def fails(run, stage):
        seen.append(sorted(p.name for p in out.iterdir()))
        (out / "stage1_step1.safetensors").write_bytes(b"a snapshot of this run")
        raise ValueError("bad data")

    monkeypatch.setattr(train_module, "_run_stage", fails)
    cfg = load_config(overrides=[*TINY, f"data.train={data['good']}", "data.val=null",
                                 f"out_dir={out}"])
    with pytest.raises(ValueError, match="bad data"):
        train(cfg)
    assert seen == [["config.yaml"]]
    assert list(out.iterdir()) == []


def test_a_killed_runs_temporaries_are_cleaned(data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _cli(data["good"], out, "--set", "stage1.steps=3", "--stop-after", "1") == 0
    leftovers = [out / ".resume.k1ll3d_x", out / ".stage1.safetensors.ab12cd34.tmp",
                 out / ".config.yaml.zz99yy88.tmp"]
    leftovers[0].mkdir()
    (leftovers[0] / "state.safetensors").write_bytes(b"half a state")
    for path in leftovers[1:]:
        path.write_bytes(b"half a file")
    (out / ".user.abcdefgh.tmp").write_text("not ours")
    assert sorted(run_dir.temporary_files(out)) == sorted(leftovers)
    assert main(["train", "--resume", "--out", str(out)]) == 0
    assert not any(p.exists() for p in leftovers)
    assert (out / ".user.abcdefgh.tmp").exists()
    assert load_checkpoint(out / "stage1")[1]["steps"]["stage1"] == 3


def test_checkpoints_are_written_atomically(data: dict[str, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    out = tmp_path / "run"
    assert _cli(data["good"], out) == 0
    model, _ = load_checkpoint(out / "stage1")
    old = _listing(out)

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half of the weights")
        raise OSError(28, "No space left on device", filename)

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    from iid_rdepth_ros.model.checkpoint import save_checkpoint

    with pytest.raises(OSError):
        save_checkpoint(out / "stage1", model, {"note": "replacement"})
    assert _listing(out) == old  # the old pair is intact, no temporary left


def test_run_files_know_their_names(tmp_path: Path) -> None:
    for name in ("config.yaml", "log.jsonl", "stage1.safetensors", "stage2.yaml",
                 "stage1_step300.yaml", "notes.txt", "stage3.safetensors", "stage1.onnx"):
        (tmp_path / name).write_text("x")
    (tmp_path / "resume").mkdir()
    assert [p.name for p in run_dir.run_files(tmp_path)] == [
        "config.yaml", "log.jsonl", "resume", "stage1.safetensors", "stage1_step300.yaml",
        "stage2.yaml"]
