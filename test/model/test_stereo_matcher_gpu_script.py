"""The one-call GPU script of issue 22 (scripts/diagnostics/gpu_train_stereo.sh) runs its whole
chain: matcher fine-tune from the shipped checkpoint, probe, fusion, assembly, evaluation.
Here with SMOKE=1 (CPU, tiny settings); the CUDA run itself needs a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from iid_rdepth_ros.model.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_writes_a_scored_candidate(tmp_path: Path) -> None:
    out = tmp_path / "gpu"
    # with the matcher's image branch and full-resolution refinement: added to the shipped
    # matcher, carried into the candidate's config
    env = {**os.environ, "SMOKE": "1", "PYTHON": sys.executable, "IMAGE8": "8", "REFINE1": "1"}
    proc = subprocess.run(["bash", "scripts/diagnostics/gpu_train_stereo.sh", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert '"final": true' in (out / "matcher.log").read_text()
    assert "| layer width px |" in (out / "probe.log").read_text()
    result = json.loads((out / "stereo-eval-candidate.json").read_text())
    assert {"splits", "invariance", "semi_real"} <= set(result)
    assert not (out / "fusion" / "cache.safetensors").exists()  # too big to bring back
    # the candidate's mono path is the shipped default's; its matcher is the fine-tuned one
    candidate, card = load_checkpoint(out / "candidate")
    shipped, _ = load_checkpoint("default")
    image = torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        assert torch.equal(candidate(image), shipped(image))
    assert card["stereo"]["matcher"]["file"].endswith("matcher/matcher.safetensors")
    assert candidate.cfg.stereo.image_features8 == 8 and candidate.matcher.cfg.image8 == 8
    assert candidate.cfg.stereo.refine1 and candidate.matcher.cfg.refine1
    assert card["mono_training"]["training"] is not None
