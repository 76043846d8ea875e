"""iid_rdepth_node lifecycle over real DDS, started through its console script.

Configure fails cleanly (naming the file and the reason) for a missing or broken model, an
unusable engine, or a mono-only model with aux_mode required; after fixing the parameters the
node configures, activates, deactivates and cleans up; fixed parameters change only while
unconfigured (here: output_resolution network).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("torch")

from ros_node_harness import (  # noqa: E402
    CAM_H,
    CAM_W,
    FX,
    Harness,
    NodeControl,
    NodeProcess,
    free_domain,
    running_node,
    synthetic_rgb,
    tiny_checkpoint,
)

from iid_rdepth_ros.ros.cloud import cloud_to_array  # noqa: E402
from iid_rdepth_ros.ros.image_codec import image_to_array  # noqa: E402

DOMAIN_ID = free_domain(45)
NS = "life"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[Harness, NodeProcess, NodeControl, Path]]:
    tmp = Path(tmp_path_factory.mktemp("life"))
    params = {"autostart": False, "backend": "torch",
              "model_path": str(tmp / "missing" / "model.safetensors"),
              "input_height": 96, "input_width": 320}
    with running_node(DOMAIN_ID, NS, params, tmp, wait=False, console_script=True) as (
            harness, node):
        yield harness, node, NodeControl(harness), tmp


def _configure_fails(control: NodeControl, node: NodeProcess, *expected: str) -> None:
    assert control.change_state("configure") is False
    assert control.state() == "unconfigured"
    last = [line for line in node.log().splitlines() if "configure failed" in line][-1]
    for text in expected:
        assert text in last, (text, last)


def test_configure_fails_cleanly_then_succeeds(
        rig: tuple[Harness, NodeProcess, NodeControl, Path]) -> None:
    harness, node, control, tmp = rig
    assert control.state() == "unconfigured"
    # the console script raised glibc's malloc thresholds (ros/process_settings.py) and said so
    assert "malloc: allocations below 32 MB from the heap" in node.log()
    missing = str(tmp / "missing" / "model.safetensors")
    _configure_fails(control, node, missing)
    assert node.alive()

    # a card with weights that are not safetensors
    ckpt = tiny_checkpoint()
    broken = tmp / "broken.safetensors"
    broken.write_bytes(b"this is not a safetensors file")
    shutil.copy(ckpt.with_suffix(".yaml"), broken.with_suffix(".yaml"))
    assert all(r.successful for r in control.set_params({"model_path": str(broken)}))
    _configure_fails(control, node, str(broken))

    # an engine the tensorrt backend cannot use here
    engine = tmp / "model.engine"
    engine.write_bytes(b"\0" * 64)
    assert all(r.successful for r in control.set_params(
        {"backend": "tensorrt", "engine_path": str(engine)}))
    _configure_fails(control, node, str(engine), "tensorrt")

    # a mono-only model cannot serve aux_mode required
    mono_only = tiny_checkpoint(variant="baseline")
    assert all(r.successful for r in control.set_params(
        {"backend": "torch", "engine_path": "", "model_path": str(mono_only),
         "aux_mode": "required"}))
    _configure_fails(control, node, "aux_mode is required", "no auxiliary-view path")

    assert all(r.successful for r in control.set_params(
        {"model_path": str(ckpt), "aux_mode": "auto"}))
    assert control.change_state("configure") is True
    assert control.state() == "inactive"
    assert control.change_state("activate") is True
    harness.wait_ready(node, timeout=30.0)
    out = harness.request(synthetic_rgb(1), keys=("depth", "info", "points"))
    assert (out["depth"].height, out["depth"].width) == (CAM_H, CAM_W)


def test_fixed_parameters_change_only_while_unconfigured(
        rig: tuple[Harness, NodeProcess, NodeControl, Path]) -> None:
    harness, node, control, _ = rig
    assert control.state() == "active"
    refused = control.set_params({"output_resolution": "network"})[0]
    assert not refused.successful and "read-only after configure" in refused.reason

    assert control.change_state("deactivate") is True
    stamp = harness.publish(synthetic_rgb(2))
    time.sleep(1.0)
    assert harness.find("depth", stamp) is None  # inactive: nothing is processed
    assert control.change_state("cleanup") is True
    assert control.state() == "unconfigured"
    assert all(r.successful for r in control.set_params({"output_resolution": "network"}))
    assert control.change_state("configure") is True
    assert control.change_state("activate") is True
    harness.wait_ready(node, timeout=30.0)

    out = harness.request(synthetic_rgb(3), keys=("depth", "info", "points"))
    depth_msg, info, cloud = out["depth"], out["info"], out["points"]
    assert (depth_msg.height, depth_msg.width) == (96, 320)
    assert (info.height, info.width) == (96, 320)
    k = np.array(info.k).reshape(3, 3)
    assert k[0, 0] == pytest.approx(FX * 320 / CAM_W)
    assert k[1, 1] == pytest.approx(FX * 96 / CAM_H)
    depth = image_to_array(depth_msg).astype(np.float64)
    xyz = cloud_to_array(cloud)[..., :3].astype(np.float64)
    v, u = np.mgrid[0:96, 0:320]
    valid = np.isfinite(depth)
    want = np.stack([(u - k[0, 2]) * depth / k[0, 0], (v - k[1, 2]) * depth / k[1, 1], depth],
                    axis=-1)[valid]
    rel = np.abs(xyz[valid] - want) / np.maximum(np.abs(want), 1e-6)
    assert rel.max() <= 1e-4
