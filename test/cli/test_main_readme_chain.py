"""The README's "Fine-tune on your robot" chain, run as written (bash, the installed
``iid-rdepth``) on a small generated bag whose scene scale (x0.1) and focal length (x2 at the
network's size) differ from what the shipped model was trained on: bag-export -> the shipped
``default`` on the held-out part -> a short fine-tune -> the same part again -> export ->
eval-bag of the exported graph. Only the README's two variables change (a 40-frame bag,
``STEPS=40``); ``build-engine`` (TensorRT, a GPU) is in the README's next block and never runs
here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- tested: test/cli/test_main_readme_chain.py"


def readme_chain() -> tuple[str, str, str]:
    """(the try-it synth command, the tested block, the block after it) from the README."""
    text = (REPO / "README.md").read_text()
    after = text[text.index(MARKER):]
    blocks = re.findall(r"```bash\n(.*?)```", after, flags=re.S)
    synth = re.search(r"`(iid-rdepth synth --bag robot_bag [^`]*)`", text)
    assert synth is not None, "the README's try-it command is gone"
    return synth.group(1), blocks[0], blocks[1]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth, block, _ = readme_chain()
    synth = re.sub(r"--frames \d+", "--frames 40", synth)
    block = re.sub(r"^BAG=\S+", "BAG=robot_bag", block, flags=re.M)
    block = re.sub(r"^STEPS=\d+", "STEPS=40", block, flags=re.M)
    cwd = tmp_path_factory.mktemp("robot")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "OMP_NUM_THREADS": "2", "IID_RDEPTH_CACHE": str(cwd / "cache")}
    script = f"set -euo pipefail\n{synth} --no-progress\n{block}"
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1500)
    print(done.stdout[-6000:])
    assert done.returncode == 0, done.stderr[-4000:]
    return cwd


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the chain runs in this test's fixture: minutes on a busy CPU
def test_fine_tune_beats_the_shipped_model_on_held_out_frames(chain: Path) -> None:
    before, after = _json(chain / "runs/default_val.json"), _json(chain / "runs/robot/val.json")
    bag_before = _json(chain / "runs/default_bag/metrics.json")
    bag_after = _json(chain / "runs/robot/bag/metrics.json")
    print(f"held-out AbsRel: default {before['abs_rel']:.4f} -> fine-tuned "
          f"{after['abs_rel']:.4f} (evaluate, {after['frames']} frames); eval-bag default "
          f"{bag_before['metrics']['abs_rel']:.4f} -> exported graph "
          f"{bag_after['metrics']['abs_rel']:.4f}; RMSE {before['rmse']:.3f} -> "
          f"{after['rmse']:.3f} m")
    assert before["frames"] == after["frames"] >= 5
    assert after["abs_rel"] < 0.5 * before["abs_rel"]
    assert after["rmse"] < before["rmse"]
    # eval-bag scores the held-out time window of the bag: the frames of val.txt
    val = (chain / "data/robot/val.txt").read_text().split()
    for result in (bag_before, bag_after):
        assert [f"{r['index']:06d}" for r in result["per_frame"]] == val
    assert bag_after["metrics"]["abs_rel"] < 0.5 * bag_before["metrics"]["abs_rel"]
    # the exported graph through the runtime scores as the checkpoint does in evaluate
    assert bag_after["metrics"]["abs_rel"] == pytest.approx(after["abs_rel"], rel=2e-3)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_fine_tuned_model_exports_and_says_where_it_came_from(chain: Path) -> None:
    export = _json(chain / "runs/robot/onnx/export.json")
    assert set(export["graphs"]) == {"mono", "stereo"}
    for variant, graph in export["graphs"].items():
        assert graph["tensorrt10_compatible"], (variant, graph["tensorrt10_issues"])
        assert graph["ort_vs_torch"]["ok"], (variant, graph["ort_vs_torch"])
    card = yaml.safe_load((chain / "runs/robot/stage2.yaml").read_text())
    shipped = yaml.safe_load((REPO / "iid_rdepth_ros/checkpoints/default.yaml").read_text())
    origin = card["fine_tuned_from"]
    assert origin["checkpoint"] == "default"
    assert origin["weights_sha256"] == shipped["weights_sha256"]
    assert card["data"]["train"]["dataset"] == "folder"
    assert card["steps"]["fine_tune"] == 40
    assert "--init-from default" in card["command"]
    _, _, robot_block = readme_chain()
    assert "iid-rdepth build-engine --onnx runs/robot/onnx-fp16" in robot_block
