"""iid_rdepth_node over real DDS with a 640x480 (4:3) stereo camera and the shipped model.

The scene is a rendered synth-street pair with exact depth (``street_scene``). The node runs
in its own process with default parameters except ``backend: torch`` (no ONNX export of the
shipped model at a new size inside the test); the camera publishes reliable, as many camera
drivers do, from its own process with the shipped Fast DDS profile (docs/dds.md), so the
node's ``input_qos: auto`` subscribes reliable. Checked: the first paired
frame is already stereo, the depth keeps the camera's aspect (network 384x288) and is metric
on the road plane, a right camera whose principal point lies 30 px to the right gives the
same depth as the pair without the offset, and JPEG-compressed input gives the depth of the
decoded images.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from ros_node_harness import (  # noqa: E402
    Harness,
    NodeProcess,
    free_domain,
    run_camera,
    running_node,
)
from street_scene import CX, CY, FX, FY, OFFSET_PX, StreetPair, street_pair  # noqa: E402

from iid_rdepth_ros.ros.image_codec import image_to_array  # noqa: E402

DOMAIN_ID = free_domain(48)
NS = "cam43"
PARAMS = {"backend": "torch"}
DRIVER = {"outputs": ("depth", "info", "confidence"), "publish": False}
RESULTS: dict[str, Any] = {}


@pytest.fixture(scope="module")
def pair() -> StreetPair:
    return street_pair()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, NodeProcess, Path]]:
    logs = Path(tmp_path_factory.mktemp("camera_logs"))
    with running_node(DOMAIN_ID, NS, PARAMS, logs, driver=DRIVER, log_tail=5000) as (h, n):
        yield h, n, logs


def _stereo(rig: tuple[Harness, NodeProcess, Path], left: np.ndarray, right: np.ndarray,
            aux_cx: float = CX, ns: str = NS, **options: Any) -> np.ndarray:
    """The depth the node publishes for one pair from a camera process (main image first,
    its partner 30 ms later, as two camera drivers would)."""
    harness, node, logs = rig
    frames = {"left": left, "right": right,
              "camera": np.array([FX, FY, CX, CY, aux_cx, street_pair().baseline_m])}
    (stamp,) = run_camera(DOMAIN_ID, ns, frames, logs, **options)
    assert harness.wait_for(lambda: harness.find("depth", stamp) is not None, 120.0), \
        node.log()[-3000:]
    harness.wait_for(lambda: harness.find("info", stamp) is not None, 2.0)
    RESULTS.setdefault("infos", []).append(harness.find("info", stamp))
    if harness.wait_for(lambda: harness.find("confidence", stamp) is not None, 2.0):
        RESULTS.setdefault("confidence", []).append(
            image_to_array(harness.find("confidence", stamp)).copy())
    return image_to_array(harness.find("depth", stamp)).copy()


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a) & np.isfinite(b)
    assert ok.mean() > 0.5
    return np.abs(a[ok] / b[ok] - 1.0)


def test_first_paired_frame_is_stereo(rig: tuple[Harness, NodeProcess, Path],
                                      pair: StreetPair) -> None:
    harness, node, _ = rig
    RESULTS["stereo"] = _stereo(rig, pair.left, pair.right)
    diag = harness.diagnostics(timeout=3.0)
    assert diag["frames out"] == "1" and diag["stereo frames"] == "1", (diag, node.log())
    assert diag["aux view"] == "engaged"
    assert "/cam43/image subscribed reliable" in node.log()  # what the camera offers


def test_depth_keeps_the_camera_aspect_and_the_road_is_metric(
        rig: tuple[Harness, NodeProcess, Path], pair: StreetPair) -> None:
    harness, node, _ = rig
    depth = RESULTS["stereo"]
    assert depth.shape == (480, 640)
    diag = harness.diagnostics(timeout=3.0)
    assert diag["network size"] == "384x288" and diag["camera size"] == "640x480"
    assert "camera 640x480: network input 384x288 (aspect kept, 0% padding)" in node.log()
    info = RESULTS["infos"][0]
    assert (info.width, info.height) == (640, 480)
    np.testing.assert_allclose(np.array(info.k).reshape(3, 3),
                               [[FX, 0, CX], [0, FY, CY], [0, 0, 1]])
    on_road = pair.ground & np.isfinite(depth)
    assert on_road.sum() > 50_000
    ratio = depth[on_road] / pair.depth[on_road]
    print(f"road plane: median depth ratio {np.median(ratio):.4f}, mean |error| "
          f"{np.mean(np.abs(ratio - 1)):.4f} over {on_road.sum()} pixels")
    assert abs(np.median(ratio) - 1.0) < 0.05


def test_the_shipped_stereo_publishes_its_confidence(pair: StreetPair) -> None:
    """``default``'s geometry-first stereo gives a per-pixel confidence beside depth: at the
    camera's size, in [0, 1], NaN exactly where depth is, and high on the textured road."""
    confidence, depth = RESULTS["confidence"][0], RESULTS["stereo"]
    assert confidence.shape == depth.shape == (480, 640)
    assert np.array_equal(np.isnan(confidence), np.isnan(depth))
    ok = np.isfinite(confidence)
    assert confidence[ok].min() >= 0 and confidence[ok].max() <= 1
    assert np.median(confidence[pair.ground & ok]) > 0.5


def test_right_principal_point_offset_gives_the_same_depth(
        rig: tuple[Harness, NodeProcess, Path], pair: StreetPair) -> None:
    harness, _, _ = rig
    offset = _stereo(rig, pair.left, pair.right_offset, aux_cx=CX + OFFSET_PX)
    rel = _rel(offset, RESULTS["stereo"])
    print(f"principal-point offset: median |rel| {np.median(rel):.5f}, mean {rel.mean():.5f}")
    assert np.median(rel) < 0.01 and rel.mean() < 0.01
    diag = harness.diagnostics(timeout=3.0)
    assert diag["aux principal point offset px"] == "30.00, 0.00"
    assert diag["aux view"] == "engaged"


def _jpeg_decoded(rgb: np.ndarray) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])  # as camera_process.py sends it
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


def test_compressed_input_gives_the_depth_of_the_decoded_images(
        rig: tuple[Harness, NodeProcess, Path], pair: StreetPair, tmp_path: Path) -> None:
    # raw transport, JPEG-decoded pixels: what the compressed node must reproduce exactly
    raw_of_decoded = _stereo(rig, _jpeg_decoded(pair.left), _jpeg_decoded(pair.right))
    ns = "cam43c"
    with running_node(DOMAIN_ID, ns, {**PARAMS, "image_transport": "compressed"}, tmp_path,
                      driver=DRIVER) as (comp, node):
        compressed = _stereo((comp, node, tmp_path), pair.left, pair.right, ns=ns,
                             compressed=True)
        diag = comp.diagnostics(timeout=3.0)
        assert diag["image transport"] == "compressed" and diag["stereo frames"] == "1"
        assert "/cam43c/image/compressed (auto" in node.log()
    np.testing.assert_allclose(compressed, raw_of_decoded, rtol=1e-4, atol=1e-4)
    rel = _rel(compressed, RESULTS["stereo"])  # and JPEG itself changes the depth little
    print(f"JPEG q90 vs raw: median |rel| {np.median(rel):.4f}, mean {rel.mean():.4f}")
    assert np.median(rel) < 0.02 and rel.mean() < 0.05
