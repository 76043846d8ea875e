"""CameraInfo helpers of the node: intrinsics, baseline, the depth image's CameraInfo."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")

from sensor_msgs.msg import CameraInfo  # noqa: E402

from iid_rdepth_ros.ros.camera_info import (  # noqa: E402
    CameraInfoError,
    baseline_from_info,
    distortion_from_info,
    distortion_note,
    intrinsics_from_info,
    rescale_camera_info,
)


def _info(fx: float, fy: float, cx: float, cy: float, w: int, h: int, tx: float = 0.0
          ) -> CameraInfo:
    info = CameraInfo(width=w, height=h, distortion_model="plumb_bob")
    info.d = [0.1, -0.2, 0.0, 0.0, 0.0]
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, tx, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def test_intrinsics_and_baseline_from_camera_info() -> None:
    info = _info(700.0, 710.0, 320.5, 240.25, 640, 480, tx=-700.0 * 0.12)
    intr = intrinsics_from_info(info, (480, 640))
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (700.0, 710.0, 320.5, 240.25)
    assert baseline_from_info(info) == pytest.approx(0.12)
    # P empty -> K is used; info made for 640x480 but the image is 320x240 -> rescaled
    info.p = [0.0] * 12
    half = intrinsics_from_info(info, (240, 320))
    assert half.fx == pytest.approx(350.0) and half.fy == pytest.approx(355.0)
    assert half.cx == pytest.approx((320.5 + 0.5) / 2 - 0.5)
    for fx in (0.0, float("nan"), -5.0):
        with pytest.raises(CameraInfoError, match="unusable focal") as err:
            intrinsics_from_info(_info(fx, 700.0, 1, 1, 4, 4), (4, 4))
        assert err.value.kind == "focal"
    with pytest.raises(CameraInfoError, match="no stereo baseline") as err:
        baseline_from_info(_info(700.0, 700.0, 1, 1, 4, 4, tx=0.0))
    assert err.value.kind == "baseline"


def test_baseline_outside_its_bounds_is_refused() -> None:
    broken = _info(700.0, 700.0, 1, 1, 4, 4, tx=-1e30)
    with pytest.raises(CameraInfoError) as err:
        baseline_from_info(broken, max_baseline=3.0)
    assert str(err.value) == ("aux camera_info gives a stereo baseline of 1.42857e+27 m "
                              "(P[3] = -1e+30, P[0] = 700), outside 0.001..3 m (max_baseline)")
    assert err.value.kind == "baseline_range"
    with pytest.raises(CameraInfoError, match="outside 0.001"):
        baseline_from_info(_info(700.0, 700.0, 1, 1, 4, 4, tx=-700.0 * 1e-4))
    assert baseline_from_info(_info(700.0, 700.0, 1, 1, 4, 4, tx=-700.0 * 2.5),
                              3.0) == pytest.approx(2.5)


def test_camera_info_of_another_aspect_is_refused() -> None:
    info = _info(350.0, 350.0, 319.5, 239.5, 640, 480)
    with pytest.raises(CameraInfoError) as err:
        intrinsics_from_info(info, (120, 400))
    assert err.value.kind == "info_size"
    assert str(err.value) == ("camera_info is for a 640x480 image but the image is 400x120 "
                              "(another aspect ratio: scaling it would stretch the camera); "
                              "frame skipped")
    # same aspect (binned / resized camera) is rescaled; rounding of odd sizes is tolerated
    kitti = _info(721.0, 721.0, 609.6, 172.9, 1242, 375)
    half = intrinsics_from_info(kitti, (188, 621))
    assert half.fx == pytest.approx(360.5) and half.fy == pytest.approx(721 * 188 / 375)


def test_distortion_note() -> None:
    info = _info(700.0, 700.0, 1, 1, 4, 4)
    assert distortion_note(info) == "plumb_bob distortion D = [0.1, -0.2, 0, 0, 0]"
    info.distortion_model = "equidistant"
    info.d = [0.01, 0.002, 0.0, 0.0]
    assert distortion_note(info) == "equidistant distortion D = [0.01, 0.002, 0, 0]"
    info.d = [0.0] * 5
    assert distortion_note(info) == ""
    info.d = []
    assert distortion_note(info) == ""


def test_distortion_from_camera_info_uses_k_at_the_image_size() -> None:
    info = _info(700.0, 710.0, 320.5, 240.25, 640, 480)
    info.k = [690.0, 0.0, 318.0, 0.0, 695.0, 238.0, 0.0, 0.0, 1.0]  # K != P: K is taken
    dist = distortion_from_info(info, (480, 640))
    assert dist.model == "plumb_bob" and dist.d == (0.1, -0.2, 0.0, 0.0, 0.0)
    assert (dist.k.fx, dist.k.fy, dist.k.cx, dist.k.cy) == (690.0, 695.0, 318.0, 238.0)
    half = distortion_from_info(info, (240, 320))  # scaled like P is
    assert half.k.fx == pytest.approx(345.0) and half.k.cx == pytest.approx(159.0 - 0.25)
    info.d = [0.0] * 5
    assert distortion_from_info(info, (480, 640)) is None
    for model, d, why in (("plumb_bob", [0.1, 0.0, 0.0, 0.0], "needs 5 coefficients, D has 4"),
                          ("double_sphere", [0.1, 0.5], "'double_sphere' cannot be undone"),
                          ("", [0.1] * 5, "distortion_model is empty")):
        info.distortion_model, info.d = model, d
        with pytest.raises(CameraInfoError, match=why) as err:
            distortion_from_info(info, (480, 640))
        assert err.value.kind == "distortion"
    info.distortion_model, info.d = "equidistant", [0.01, 0.0, 0.0, 0.0]
    assert distortion_from_info(info, (480, 640)).model == "equidistant"
    info.k = [0.0] * 9
    with pytest.raises(CameraInfoError, match="K has an unusable focal length"):
        distortion_from_info(info, (480, 640))


def test_rescaled_camera_info_matches_depth_size() -> None:
    info = _info(720.0, 720.0, 620.0, 187.0, 1242, 375, tx=-720.0 * 0.54)
    info.header.frame_id = "left"
    intr = intrinsics_from_info(info, (375, 1242))
    out = rescale_camera_info(info, intr, (192, 640), (375, 1242))
    sx, sy = 640 / 1242, 192 / 375
    assert (out.width, out.height, out.header.frame_id) == (640, 192, "left")
    k = np.array(out.k).reshape(3, 3)
    p = np.array(out.p).reshape(3, 4)
    np.testing.assert_allclose(k, p[:, :3])
    np.testing.assert_allclose([k[0, 0], k[1, 1]], [720 * sx, 720 * sy])
    np.testing.assert_allclose([k[0, 2], k[1, 2]], [(620.5) * sx - 0.5, 187.5 * sy - 0.5])
    assert p[0, 3] / p[0, 0] == pytest.approx(-0.54)  # baseline preserved
    # pixel-aligned with the input: its distortion model, D and R are kept
    assert out.distortion_model == "plumb_bob"
    assert list(out.d) == [0.1, -0.2, 0.0, 0.0, 0.0]
    assert list(out.r) == [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
    same = rescale_camera_info(info, intr, (375, 1242), (375, 1242))
    np.testing.assert_allclose(np.array(same.k), np.array(info.k))
    np.testing.assert_allclose(np.array(same.p), np.array(info.p))
    # K of a rectified camera (K != P) stays the input's K, scaled
    info.k = [730.0, 0.0, 600.0, 0.0, 730.0, 180.0, 0.0, 0.0, 1.0]
    info.r = [0.9998, 0.02, 0.0, -0.02, 0.9998, 0.0, 0.0, 0.0, 1.0]
    out = rescale_camera_info(info, intr, (192, 640), (375, 1242))
    assert out.k[0] == pytest.approx(730 * sx) and out.k[2] == pytest.approx(600.5 * sx - 0.5)
    assert out.p[0] == pytest.approx(720 * sx)
    assert list(out.r) == list(info.r)
