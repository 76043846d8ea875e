"""iid_rdepth_node over real DDS, mono: message structure, geometry, parameters, diagnostics.

The node runs in its own process with an untrained tiny checkpoint; this process publishes
camera frames and checks what comes back.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("torch")

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
    running_node,
    synthetic_rgb,
    tiny_checkpoint,
)

from iid_rdepth_ros.ros.cloud import cloud_to_array, unpack_rgb  # noqa: E402
from iid_rdepth_ros.ros.image_codec import image_to_array  # noqa: E402

DOMAIN_ID = free_domain(41)
NS = "mono"
MIN_DEPTH, MAX_DEPTH = 0.5, 80.0


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, NodeProcess]]:
    params = {"backend": "torch", "model_path": str(tiny_checkpoint()), "input_height": 96,
              "input_width": 320, "min_depth": MIN_DEPTH, "max_depth": MAX_DEPTH,
              "aux_mode": "off"}
    with running_node(DOMAIN_ID, NS, params, tmp_path_factory.mktemp("mono_logs")) as rig:
        yield rig


@pytest.fixture(scope="module")
def frame(rig: tuple[Harness, NodeProcess]) -> dict:
    harness, _ = rig
    rgb = synthetic_rgb(1)
    out = harness.request(rgb, keys=("depth", "info", "colorized", "points"))
    out["rgb"] = rgb
    return out


def test_depth_image_header_size_encoding_and_range(frame: dict) -> None:
    depth_msg = frame["depth"]
    assert depth_msg.encoding == "32FC1"
    assert (depth_msg.height, depth_msg.width) == (CAM_H, CAM_W)
    assert depth_msg.step == 4 * CAM_W
    assert depth_msg.header.frame_id == "cam_left_optical"
    depth = image_to_array(depth_msg)
    finite = np.isfinite(depth)
    assert finite.mean() > 0.5, "most pixels should have a depth"
    assert depth[finite].min() >= MIN_DEPTH and depth[finite].max() <= MAX_DEPTH
    # every other output carries the input header too (REP 118)
    for key in ("info", "colorized", "points"):
        assert frame[key].header == depth_msg.header, key


def test_depth_camera_info_matches_depth_size(frame: dict) -> None:
    info, depth = frame["info"], frame["depth"]
    assert (info.width, info.height) == (depth.width, depth.height)
    k = np.array(info.k).reshape(3, 3)
    p = np.array(info.p).reshape(3, 4)
    np.testing.assert_allclose(k, [[FX, 0, CX], [0, FY, CY], [0, 0, 1]])
    np.testing.assert_allclose(p[:, :3], k)


def test_cloud_points_are_backprojected_depth_pixels(frame: dict) -> None:
    cloud, info = frame["points"], frame["info"]
    depth = image_to_array(frame["depth"])
    assert (cloud.height, cloud.width) == depth.shape and cloud.height > 1
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"]
    assert cloud.header.frame_id == "cam_left_optical" and not cloud.is_dense
    values = cloud_to_array(cloud)
    fx, cx, fy, cy = info.k[0], info.k[2], info.k[4], info.k[5]
    v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]].astype(np.float64)
    z = depth.astype(np.float64)
    expected = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1)
    valid = np.isfinite(z)
    assert np.array_equal(np.isfinite(values[..., 2]), valid)
    got = values[..., :3][valid].astype(np.float64)
    want = expected[valid]
    rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-6)
    assert rel.max() <= 1e-4
    np.testing.assert_array_equal(unpack_rgb(values[..., 3]), frame["rgb"])


def test_colorized_is_bgr8_at_depth_size(frame: dict) -> None:
    colorized = frame["colorized"]
    assert colorized.encoding == "bgr8"
    assert (colorized.height, colorized.width) == (CAM_H, CAM_W)
    pixels = image_to_array(colorized)
    assert pixels.shape == (CAM_H, CAM_W, 3) and pixels.std() > 0


def test_runtime_parameters_take_effect_and_fixed_ones_are_refused(
        rig: tuple[Harness, NodeProcess]) -> None:
    harness, _ = rig
    control = NodeControl(harness)
    results = control.set_params({"points_stride": 4, "points_color": False,
                                  "max_depth": 40.0, "colormap": "viridis"})
    assert all(r.successful for r in results), [r.reason for r in results]
    out = harness.request(synthetic_rgb(2), keys=("depth", "points", "colorized"))
    cloud = out["points"]
    assert (cloud.height, cloud.width) == (-(-CAM_H // 4), -(-CAM_W // 4))
    assert [f.name for f in cloud.fields] == ["x", "y", "z"]
    depth = image_to_array(out["depth"])
    assert np.nanmax(depth) <= 40.0
    # fixed after configure; invalid values refused with a reason
    refused = control.set_params({"backend": "onnxruntime"})[0]
    assert not refused.successful and "read-only after configure" in refused.reason
    bad = control.set_params({"min_depth": 50.0})[0]
    assert not bad.successful and "min_depth must be < max_depth" in bad.reason
    bad = control.set_params({"colormap": "no-such-map"})[0]
    assert not bad.successful and "colormap" in bad.reason
    out_of_range = control.set_params({"points_stride": 0})[0]
    assert not out_of_range.successful
    assert control.get_params(["points_stride", "backend"]) == {"points_stride": 4,
                                                                "backend": "torch"}
    assert all(r.successful for r in control.set_params(
        {"points_stride": 1, "points_color": True, "max_depth": MAX_DEPTH}))


def test_diagnostics_report_backend_rates_and_counts(rig: tuple[Harness, NodeProcess]) -> None:
    harness, _ = rig
    for seed in range(3):
        harness.request(synthetic_rgb(10 + seed))
    diag = harness.diagnostics(timeout=3.0)
    assert diag["state"] == "active" and diag["backend"] == "torch"
    assert diag["aux view"] == "off"
    assert int(diag["frames out"]) >= 3 and int(diag["frames in"]) >= int(diag["frames out"])
    assert float(diag["latency p50 ms"]) > 0 and float(diag["latency p95 ms"]) >= float(
        diag["latency p50 ms"])
    assert float(diag["infer p50 ms"]) > 0
    assert diag["network size"] == "320x96"
    assert "frames dropped" in diag and "bad input" in diag and "fps out" in diag


def test_colormap_and_cloud_are_built_only_while_subscribed(
        rig: tuple[Harness, NodeProcess]) -> None:
    harness, _ = rig
    key = "outputs skipped (no subscriber)"
    before = int(harness.diagnostics(timeout=3.0)[key])
    harness.unsubscribe("colorized")
    harness.unsubscribe("points")
    try:
        # the node learns through discovery that nobody listens; then it skips both builds
        skipped = before
        for seed in range(20):
            harness.request(synthetic_rgb(30 + seed))
            skipped = int(harness.diagnostics(timeout=3.0)[key])
            if skipped >= before + 2:
                break
        assert skipped >= before + 2, "colorized and points were built without subscribers"
    finally:
        harness.subscribe("colorized")
        harness.subscribe("points")
    out = harness.request(synthetic_rgb(60), keys=("depth", "colorized", "points"))
    assert out["colorized"] is not None and out["points"] is not None
