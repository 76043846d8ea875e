"""iid_rdepth_node over real DDS: every kind of bad input gets one throttled log line and a
diagnostic, and the node keeps serving good frames."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("torch")

from ros_node_harness import (  # noqa: E402
    BASELINE,
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
    stereo_partner,
    synthetic_rgb,
    tiny_checkpoint,
)
from sensor_msgs.msg import Image  # noqa: E402

from iid_rdepth_ros.geometry.camera import Intrinsics  # noqa: E402
from iid_rdepth_ros.ros.camera_info import make_camera_info  # noqa: E402
from iid_rdepth_ros.ros.cloud import cloud_to_array  # noqa: E402
from iid_rdepth_ros.ros.image_codec import image_to_array  # noqa: E402

DOMAIN_ID = free_domain(43)
NS = "bad"
REPEATS = 4


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, NodeProcess]]:
    params = {"backend": "torch", "model_path": str(tiny_checkpoint()), "input_height": 96,
              "input_width": 320, "aux_mode": "auto"}
    with running_node(DOMAIN_ID, NS, params, tmp_path_factory.mktemp("bad_logs"), warm=True,
                      log_tail=4000) as rig:
        yield rig


def _log_lines(node: NodeProcess, kind: str) -> list[str]:
    return [line for line in node.log().splitlines() if f"bad input [{kind}]" in line]


def _raw(height: int, width: int, encoding: str, step: int, nbytes: int, stamp) -> Image:
    msg = Image(height=height, width=width, encoding=encoding, step=step)
    msg.data = bytes(nbytes)
    msg.header.stamp = stamp
    msg.header.frame_id = "cam_left_optical"
    return msg


def _send_bad_images(harness: Harness, make) -> None:
    for _ in range(REPEATS):
        stamp = harness.stamp_now()
        harness.info_pub.publish(harness.camera_info(stamp))
        harness.image_pub.publish(make(stamp))
        time.sleep(0.05)


def _check_kind(harness: Harness, node: NodeProcess, kind: str, text: str) -> None:
    """One log line (throttled) naming the problem, a diagnostic, and good frames still work."""
    assert harness.wait_for(lambda: len(_log_lines(node, kind)) >= 1, 5.0), node.log()[-2000:]
    out = harness.request(synthetic_rgb(3))  # a good frame is still served
    assert out["depth"] is not None
    lines = _log_lines(node, kind)
    assert len(lines) == 1, lines  # repeats within the throttle period are not logged
    assert text in lines[0]
    diag = harness.diagnostics(timeout=3.0)
    assert f"issue {kind}" in diag, sorted(diag)
    assert int(diag["bad input"]) >= 1 or kind in ("stamp_backwards",)
    assert node.alive()


def test_unsupported_encoding(rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    _send_bad_images(harness, lambda s: _raw(CAM_H, CAM_W, "yuv422", CAM_W * 2,
                                             CAM_W * 2 * CAM_H, s))
    _check_kind(harness, node, "encoding", "image: unsupported camera image encoding 'yuv422' "
                "(supported: rgb8, bgr8, mono8, rgba8, bgra8); frame skipped")


def test_zero_size_image(rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    _send_bad_images(harness, lambda s: _raw(0, 0, "rgb8", 0, 0, s))
    _check_kind(harness, node, "empty", "image is empty")


def test_data_shorter_than_step_times_height(rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    _send_bad_images(harness, lambda s: _raw(CAM_H, CAM_W, "rgb8", CAM_W * 3,
                                             CAM_W * 3 * CAM_H // 2, s))
    _check_kind(harness, node, "short_data", "expected step*height")


def _depth_without_cloud(harness: Harness, info_fx: float) -> None:
    stamp = None
    for _ in range(REPEATS):
        stamp = harness.stamp_now()
        harness.publish(synthetic_rgb(4), stamp=stamp,
                        info=harness.camera_info(stamp, fx=info_fx))
        time.sleep(0.1)
    assert harness.wait_for(lambda: harness.find("depth", stamp) is not None, 5.0)
    depth = image_to_array(harness.find("depth", stamp))
    assert depth.shape == (CAM_H, CAM_W) and np.isfinite(depth).any()
    time.sleep(0.3)
    assert harness.find("points", stamp) is None  # no cloud without a focal length
    assert harness.find("info", stamp) is None


def test_zero_focal_publishes_depth_skips_cloud(rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    _depth_without_cloud(harness, 0.0)
    _check_kind(harness, node, "focal", "unusable focal length")


def test_nan_focal_publishes_depth_skips_cloud(rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    before = len(_log_lines(node, "focal"))
    _depth_without_cloud(harness, float("nan"))
    # same kind as the zero focal above: still within the throttle period, so no new line
    assert len(_log_lines(node, "focal")) == before
    assert "fx=nan" in harness.diagnostics(timeout=3.0)["issue focal"]


def test_aux_size_differs_from_main(rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    small = synthetic_rgb(6, h=CAM_H // 2, w=CAM_W // 2)
    for _ in range(REPEATS):
        out = harness.request(synthetic_rgb(6), keys=("depth", "points"), aux=small)
        assert out["depth"] is not None and out["points"] is not None  # mono is served
    _check_kind(harness, node, "aux_size", "aux image is 200x60 but the main image is 400x120")


def test_aux_camera_info_without_baseline(rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    rgb = synthetic_rgb(7)
    for _ in range(REPEATS):
        stamp = harness.stamp_now()
        no_baseline = harness.camera_info(stamp, "cam_right_optical", baseline=None)
        out = harness.request(rgb, aux=stereo_partner(rgb), aux_info=no_baseline)
        assert out["depth"] is not None
    _check_kind(harness, node, "aux_baseline", "no stereo baseline")
    # a proper aux camera_info engages stereo again (a few pairs: the first main image of a
    # returning aux stream may arrive before its partner and be served mono)
    for _ in range(3):
        harness.request(rgb, aux=stereo_partner(rgb))
    diag = harness.diagnostics(timeout=3.0)
    assert diag["aux view"] == "engaged", (diag["aux reason"], diag["stereo frames"])
    assert BASELINE > 0


def test_stamps_going_backwards(rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    harness.request(synthetic_rgb(8))
    old = harness.stamp_now()
    old.sec -= 100
    for _ in range(REPEATS):
        harness.publish(synthetic_rgb(8), stamp=old)
        time.sleep(0.1)
    # the frame in the past is still processed (bag loop / clock reset): buffers reset
    assert harness.wait_for(lambda: harness.find("depth", old) is not None, 5.0)
    _check_kind(harness, node, "stamp_backwards", "stamp went backwards")


def test_camera_info_of_another_aspect_refuses_the_frame(rig: tuple[Harness, NodeProcess]
                                                         ) -> None:
    harness, node = rig
    stamps = []
    for _ in range(REPEATS):
        stamp = harness.stamp_now()
        info = make_camera_info((480, 640), Intrinsics(350.0, 350.0, 319.5, 239.5), None,
                                stamp, "cam_left_optical")
        harness.publish(synthetic_rgb(9), stamp=stamp, info=info)
        stamps.append(stamp)
        time.sleep(0.1)
    _check_kind(harness, node, "info_size",
                "camera_info is for a 640x480 image but the image is 400x120 (another aspect "
                "ratio: scaling it would stretch the camera); frame skipped")
    assert all(harness.find("depth", s) is None for s in stamps)  # refused, not rescaled


def test_implausible_aux_baseline_runs_mono(rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    rgb = synthetic_rgb(12)
    for _ in range(REPEATS):
        stamp = harness.stamp_now()
        broken = harness.camera_info(stamp, "cam_right_optical", baseline=1e30 / 280.0)
        out = harness.request(rgb, aux=stereo_partner(rgb), aux_info=broken)
        assert out["depth"] is not None
        assert harness.diagnostics(timeout=3.0)["aux view"] == "absent"
    _check_kind(harness, node, "aux_baseline_range",
                "aux camera_info gives a stereo baseline of 3.57143e+27 m (P[3] = -1e+30, "
                "P[0] = 280), outside 0.001..3 m (max_baseline); using mono")


DISTORTED = {"plumb_bob": [-0.2, 0.05, 0.001, 0.0, 0.0],
             "equidistant": [0.01, -0.003, 0.0, 0.0]}
#: K of the distorted camera_infos (P is the harness camera: fx 280, centred)
DISTORTED_K = Intrinsics(270.0, 272.0, 201.0, 58.0)
TILTED_R = [0.999, 0.04, 0, -0.04, 0.999, 0, 0, 0, 1.0]


def _distorted_info(stamp, model: str, d: list[float]):
    """The harness camera (P) with a distortion model, D, K != P and a rectification R."""
    info = make_camera_info((CAM_H, CAM_W), Intrinsics(FX, FY, CX, CY), None, stamp,
                            "cam_left_optical", distortion_model=model, d=d, r=TILTED_R)
    k = DISTORTED_K
    info.k = [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0]
    return info


def _distorted_frame(harness: Harness, node: NodeProcess, model: str, d: list[float],
                     seed: int, keys: tuple[str, ...]) -> dict:
    """Publish one frame with a distorted camera_info; its outputs once ``keys`` arrived."""
    stamp = harness.stamp_now()
    harness.publish(synthetic_rgb(seed), stamp=stamp, info=_distorted_info(stamp, model, d))
    assert harness.wait_for(lambda: all(harness.find(k, stamp) is not None for k in keys),
                            10.0), ({k: harness.find(k, stamp) is not None for k in keys},
                                    node.log()[-2000:])
    time.sleep(0.3)  # what else belongs to the frame
    return {k: harness.find(k, stamp) for k in ("depth", "info", "points")}


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(shape[1], dtype=np.float64),
                       np.arange(shape[0], dtype=np.float64))


def _check_cloud_through_model(model: str, d: list[float], depth: np.ndarray,
                               points: np.ndarray) -> None:
    """The cloud's points lie on their pixels' rays of the distortion model (OpenCV's
    projection through K and D puts each back on its pixel) at the pixel's depth, and are not
    the back-projection through P."""
    cv2 = pytest.importorskip("cv2")
    valid = np.isfinite(points[..., 2])
    assert valid.mean() > 0.5 and np.isfinite(points[valid]).all()
    np.testing.assert_array_equal(points[..., 2][valid], depth[valid])
    k = DISTORTED_K
    camera = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    zero = np.zeros(3)
    obj = points[valid].astype(np.float64).reshape(-1, 1, 3)
    project = cv2.fisheye.projectPoints if model == "equidistant" else cv2.projectPoints
    pixels = project(obj, zero, zero, camera, np.array(d))[0].reshape(-1, 2)
    u, v = _grid(depth.shape)
    np.testing.assert_allclose(pixels, np.stack([u[valid], v[valid]], -1), atol=0.01)
    x_through_p = (u - CX) * depth / FX
    assert np.nanmax(np.abs(points[..., 0] - x_through_p) / depth) > 0.05


def test_distorted_camera_info_is_reported_once_and_kept_in_depth_info(
        rig: tuple[Harness, NodeProcess]) -> None:
    """points_distortion: model (default): the cloud goes through each camera's K and D."""
    harness, node = rig
    warning = "main camera_info has a plumb_bob distortion D = [-0.2, 0.05, 0.001, 0, 0]"
    for model, d in DISTORTED.items():
        for repeat in range(3):
            stamp = harness.stamp_now()
            info = _distorted_info(stamp, model, d)
            harness.publish(synthetic_rgb(13), stamp=stamp, info=info)
            assert harness.wait_for(lambda s=stamp: all(
                harness.find(k, s) is not None for k in ("depth", "info", "points")), 10.0), (
                {k: harness.find(k, stamp) is not None for k in ("depth", "info", "points")},
                node.log()[-2000:])
            out = {k: harness.find(k, stamp) for k in ("depth", "info", "points")}
            published = out["info"]
            assert published.distortion_model == model and list(published.d) == d
            assert list(published.r) == list(info.r)
            assert list(published.k) == list(info.k) and list(published.p) == list(info.p)
            if repeat == 0:
                _check_cloud_through_model(model, d, image_to_array(out["depth"]),
                                           cloud_to_array(out["points"])[..., :3])
        diag = harness.diagnostics(timeout=3.0)
        text = diag["warning main camera distortion"]
        assert text.startswith(f"{model} distortion D = [") and "rectified" in text
        assert text.endswith("points back-projected through K and D, each pixel's ray "
                             "undistorted (points_distortion: model; if the image is already "
                             "rectified, set points_distortion: rectified)"), text
        assert diag["_level"] == "1"  # WARN
    log = node.log()
    assert log.count(warning) == 1  # one warning per distortion seen, not per frame
    assert log.count("main camera_info has a equidistant distortion") == 1
    assert "image_proc's rectify node" in log
    assert log.count("Cloud: points back-projected through K and D") == 2
    # an undistorted camera_info again: the warning clears
    harness.request(synthetic_rgb(14))
    assert "warning main camera distortion" not in harness.diagnostics(timeout=3.0)


def test_points_distortion_rectified_and_skip(rig: tuple[Harness, NodeProcess]) -> None:
    """rectified: the cloud through P as if D were zero; skip: depth without a cloud, and the
    diagnostic says why; an unknown value is refused (the node keeps its setting)."""
    harness, node = rig
    control = NodeControl(harness)
    model, d = "plumb_bob", DISTORTED["plumb_bob"]
    refused = control.set_params({"points_distortion": "undistort"})[0]
    assert not refused.successful and refused.reason == (
        "points_distortion must be one of model, rectified, skip, got 'undistort'")
    try:
        assert control.set_params({"points_distortion": "rectified"})[0].successful
        out = _distorted_frame(harness, node, model, d, 15, ("depth", "points"))
        depth = image_to_array(out["depth"])
        points = cloud_to_array(out["points"])[..., :3]
        u, v = _grid(depth.shape)
        through_p = np.stack([(u - CX) * depth / FX, (v - CY) * depth / FY, depth], -1)
        np.testing.assert_allclose(points, through_p, rtol=1e-5, atol=1e-6)
        text = harness.diagnostics(timeout=3.0)["warning main camera distortion"]
        assert text.endswith("points back-projected through P, D ignored (points_distortion: "
                             "rectified: the image is taken as rectified)"), text

        assert control.set_params({"points_distortion": "skip"})[0].successful
        for seed in (16, 17):
            out = _distorted_frame(harness, node, model, d, seed, ("depth", "info"))
            assert out["points"] is None  # no cloud, depth and its camera_info as ever
        text = harness.diagnostics(timeout=3.0)["warning main camera distortion"]
        assert text.startswith("plumb_bob distortion D = [") and text.endswith(
            "; points not published (points_distortion: skip)"), text
        assert node.log().count("Cloud: points not published (points_distortion: skip)") == 1
    finally:
        assert control.set_params({"points_distortion": "model"})[0].successful


def test_distortion_model_opencv_cannot_undo_skips_the_cloud(
        rig: tuple[Harness, NodeProcess]) -> None:
    harness, node = rig
    for seed in (18, 19):
        out = _distorted_frame(harness, node, "double_sphere", [0.2, 0.6], seed,
                               ("depth", "info"))
        assert out["points"] is None
        assert out["info"].distortion_model == "double_sphere"
    why = ("points not published: distortion model 'double_sphere' cannot be undone here "
           "(OpenCV: plumb_bob, rational_polynomial, equidistant) (points_distortion: model; "
           "if the image is already rectified, set points_distortion: rectified)")
    diag = harness.diagnostics(timeout=3.0)
    assert diag["warning main camera distortion"] == (
        "double_sphere distortion D = [0.2, 0.6]: the node needs rectified images (P is used); "
        f"depth/camera_info keeps this D and R; {why}")
    assert node.log().count(f"Cloud: {why}") == 1  # once, not per frame
    harness.request(synthetic_rgb(20), keys=("depth", "points"))  # zero D: the cloud is back
