"""iid_rdepth_node over real DDS with camera-sized images: nothing is lost in transport.

A camera driver in its own process publishes 1280x720 rgb8 (2.7 MB) at 10 Hz for 20 s, first
reliable with Fast DDS's default settings, then best effort with the shipped Fast DDS profile
on the camera side (what docs/dds.md asks of best-effort cameras). The node runs with default
parameters (``input_qos: auto``) and a tiny hand-made ONNX graph (``onnx_graphs``), so the
test is about transport and the node's drop policy, not about the network's speed: every
published frame must reach the node and be answered or counted as dropped.

Also here, on a second node with the tiny graph pair: an unusable ``engine_path`` is named
with its reason and the backend that runs instead, and a model's stereo confidence is
published on ``depth/confidence`` (and masks depth with ``min_confidence``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("onnxruntime")

from onnx_graphs import write_tiny_graphs  # noqa: E402
from ros_node_harness import (  # noqa: E402
    CAM_H,
    CAM_W,
    CX,
    CY,
    FX,
    FY,
    Harness,
    NodeControl,
    NodeProcess,
    free_domain,
    run_camera,
    running_node,
    synthetic_rgb,
)

from iid_rdepth_ros.ros.image_codec import image_to_array  # noqa: E402

DOMAIN_ID = free_domain(49)
SECONDS, RATE = 20, 10.0


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, NodeProcess, Path]]:
    logs = Path(tmp_path_factory.mktemp("transport"))
    graphs = write_tiny_graphs(logs / "graphs", 256, 448)
    params = {"model_path": str(graphs["mono"])}
    driver = {"outputs": ("depth",), "publish": False}
    with running_node(DOMAIN_ID, "hd", params, logs, driver=driver, keep=1000) as (harness,
                                                                                 node):
        yield harness, node, logs


def _counts(harness: Harness) -> dict[str, int]:
    diag = harness.diagnostics(timeout=3.0)
    return {key: int(diag[key]) for key in ("frames in", "frames out", "frames dropped",
                                            "bad input")}


def _stream(rig: tuple[Harness, NodeProcess, Path], qos: str, profile: bool) -> None:
    harness, node, logs = rig
    before = _counts(harness)
    answered_before = harness.count("depth")
    frame = {"left": synthetic_rgb(3, 720, 1280),
             "camera": np.array([900.0, 900.0, 639.5, 359.5, 639.5, 0.0])}
    stamps = run_camera(DOMAIN_ID, "hd", frame, logs, profile=profile, qos=qos, rate=RATE,
                        count=int(SECONDS * RATE), timeout=SECONDS + 120)
    assert len(stamps) == SECONDS * RATE

    deadline = time.monotonic() + 30.0
    while True:  # until the node has taken every frame in and settled each of them
        after = _counts(harness)
        got = {k: after[k] - before[k] for k in after}
        settled = got["frames out"] + got["frames dropped"] + got["bad input"]
        if (got["frames in"] >= len(stamps) and settled == got["frames in"]) or (
                time.monotonic() > deadline):
            break
    print(f"{qos} camera (Fast DDS profile on its side: {profile}): {got}")
    assert got["frames in"] == len(stamps), "frames lost in transport"
    assert got["bad input"] == 0
    assert got["frames out"] + got["frames dropped"] == len(stamps)
    assert got["frames out"] >= len(stamps) // 2
    # the answers reached this process with the stamps of published frames
    harness.wait_for(lambda: harness.count("depth") - answered_before == got["frames out"],
                     10.0)
    received = harness.count("depth") - answered_before
    print(f"  depth images received here: {received} of {got['frames out']}")
    with harness.lock:
        answered = set(list(harness.records["depth"])[-received:])
    assert answered <= set(stamps) and received >= 0.9 * got["frames out"]
    depth = image_to_array(harness.latest("depth")[1])
    assert depth.shape == (720, 1280) and np.isfinite(depth).mean() > 0.9


def test_reliable_camera_with_default_dds_settings(rig: tuple[Harness, NodeProcess, Path]
                                                   ) -> None:
    harness, node, _ = rig
    _stream(rig, "reliable", profile=False)
    assert "/hd/image subscribed reliable" in node.log()
    assert "hd/image: auto: reliable" in harness.diagnostics(timeout=3.0)["input qos"]


def test_best_effort_camera_with_the_shipped_profile(rig: tuple[Harness, NodeProcess, Path]
                                                     ) -> None:
    harness, node, _ = rig
    _stream(rig, "best_effort", profile=True)
    # input_qos auto followed the publishers: best effort once the reliable camera had gone
    assert "/hd/image subscribed best_effort" in node.log()
    assert "hd/image: auto: best_effort" in harness.diagnostics(timeout=3.0)["input qos"]


@pytest.fixture(scope="module")
def tiny_stereo(tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[Harness, NodeProcess, Path]]:
    logs = Path(tmp_path_factory.mktemp("tiny_stereo"))
    graphs = write_tiny_graphs(logs / "graphs", 96, 320)
    params = {"backend": "auto", "model_path": str(graphs["mono"]),
              "engine_path": str(logs / "missing" / "mono.fp16.engine")}
    with running_node(DOMAIN_ID, "extras", params, logs,
                      driver={"outputs": ("depth", "confidence"), "publish": False}) as (h, n):
        yield h, n, logs


def test_unusable_engine_is_named_with_the_backend_that_runs(
        tiny_stereo: tuple[Harness, NodeProcess, Path]) -> None:
    harness, node, logs = tiny_stereo
    engine = logs / "missing" / "mono.fp16.engine"
    note = f"engine_path {engine} not used: engine {engine} does not exist"
    assert f"{note}; running on onnxruntime (CPUExecutionProvider) instead" in node.log()
    diag = harness.diagnostics(timeout=3.0)
    assert diag["backend"] == "onnxruntime" and diag["backend note"] == note
    assert diag["device"] == "CPUExecutionProvider"


def test_stereo_confidence_is_published_and_masks_depth(
        tiny_stereo: tuple[Harness, NodeProcess, Path]) -> None:
    harness, node, logs = tiny_stereo
    rgb = synthetic_rgb(11)
    camera = np.array([FX, FY, CX, CY, CX, 0.2])

    def pair(right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (stamp,) = run_camera(DOMAIN_ID, "extras", {"left": rgb, "right": right,
                                                    "camera": camera}, logs)
        assert harness.wait_for(lambda: harness.find("confidence", stamp) is not None, 30.0), \
            node.log()[-3000:]
        conf_msg = harness.find("confidence", stamp)
        assert conf_msg.encoding == "32FC1"
        assert conf_msg.header == harness.find("depth", stamp).header
        return (image_to_array(harness.find("depth", stamp)).copy(),
                image_to_array(conf_msg).copy())

    depth, confidence = pair(rgb)  # identical views: confidence 1 everywhere
    assert confidence.shape == depth.shape == (CAM_H, CAM_W)
    np.testing.assert_allclose(confidence[np.isfinite(depth)], 1.0, atol=1e-5)
    assert np.array_equal(np.isnan(confidence), np.isnan(depth))
    assert harness.diagnostics(timeout=3.0)["aux view"] == "engaged"
    # a pair that disagrees: low confidence; min_confidence turns it into NaN depth
    other = np.ascontiguousarray(255 - rgb)
    depth, confidence = pair(other)
    threshold = round(float(np.nanmedian(confidence)), 2)
    low = confidence < threshold
    assert threshold < 0.9 and 0.2 < low.mean() < 0.8 and np.isfinite(depth[low]).all()
    assert NodeControl(harness).set_params({"min_confidence": threshold})[0].successful
    time.sleep(0.2)
    masked, confidence2 = pair(other)
    assert np.isnan(masked[low]).all() and np.isfinite(masked[~low]).mean() > 0.9
    assert np.isnan(confidence2[low]).all()
