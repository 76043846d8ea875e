"""bench_node: the node-overhead benchmark runs end to end on a few small frames."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("torch")

from ros_node_harness import free_domain, tiny_checkpoint  # noqa: E402

from iid_rdepth_ros.bench.node import (  # noqa: E402
    NodeBenchOptions,
    run_node_bench,
    to_markdown,
)

DOMAIN_ID = free_domain(50)


def test_node_bench_measures_end_to_end_runner_and_messages(tmp_path: Path) -> None:
    opts = NodeBenchOptions(model=str(tiny_checkpoint()), backend="torch", input_hw=(96, 320),
                            camera_hw=(120, 400), frames=4, warmup=1, stereo=True,
                            domain_id=DOMAIN_ID)
    result = run_node_bench(opts, log_dir=tmp_path)
    assert result["missed_frames"] == 0
    e2e, runner = result["end_to_end_ms"], result["runner_only_ms"]
    assert e2e["n"] == runner["n"] == 4
    assert runner["p50"] > 0 and 0 < e2e["p50"] < 10_000
    assert set(result["message_build_ms"]) == {"depth_image", "camera_info", "colorized",
                                               "cloud"}
    assert all(v["p50"] >= 0 for v in result["message_build_ms"].values())
    stages = result["node_stages_p50_ms"]
    assert stages["infer"] > 0 and stages["depth msg"] >= 0
    assert math.isfinite(result["ratio_vs_in_node_infer_p50"])
    assert result["meets_target"] == (result["ratio_p50"] <= 1.10)
    text = to_markdown(result, "cmd")
    assert "| end to end" in text and "stereo" in text and "Command: `cmd`" in text
