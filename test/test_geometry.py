"""Back-projection golden values, PLY round trip, fixed-range colormaps."""

import math
from pathlib import Path

import numpy as np
import pytest

from iid_rdepth_ros.geometry import (
    backproject,
    colorize_depth,
    colorize_error,
    point_cloud,
    write_ply,
)
from iid_rdepth_ros.geometry.colormap import colormap_lut

FX, FY, CX, CY = 100.0, 50.0, 2.0, 1.0


def test_backproject_golden_values() -> None:
    depth = np.zeros((4, 5), dtype=np.float32)
    depth[3, 4] = 2.0  # u=4, v=3
    depth[1, 2] = 5.0  # the principal point
    depth[0, 0] = 10.0
    pts = backproject(depth, FX, FY, CX, CY)
    assert pts.shape == (4, 5, 3) and pts.dtype == np.float32
    np.testing.assert_allclose(pts[3, 4], [(4 - 2) * 2 / 100, (3 - 1) * 2 / 50, 2.0], rtol=1e-6)
    np.testing.assert_allclose(pts[1, 2], [0.0, 0.0, 5.0])
    np.testing.assert_allclose(pts[0, 0], [-0.2, -0.2, 10.0], rtol=1e-6)
    assert np.isnan(pts[2, 2]).all()  # depth 0 -> invalid


def test_backproject_reprojects_to_pixels() -> None:
    rng = np.random.default_rng(1)
    depth = rng.uniform(1, 50, size=(6, 7))
    pts = backproject(depth, FX, FY, CX, CY).astype(np.float64)
    k = np.array([[FX, 0, CX], [0, FY, CY], [0, 0, 1]])
    uvw = pts.reshape(-1, 3) @ k.T
    uv = (uvw[:, :2] / uvw[:, 2:]).reshape(6, 7, 2)
    vv, uu = np.mgrid[0:6, 0:7]
    np.testing.assert_allclose(uv[..., 0], uu, atol=1e-4)
    np.testing.assert_allclose(uv[..., 1], vv, atol=1e-4)


def test_backproject_stride_and_range() -> None:
    depth = np.full((5, 6), 3.0)
    depth[2, 4] = 90.0
    pts = backproject(depth, FX, FY, CX, CY, stride=2, max_depth=80.0)
    assert pts.shape == (3, 3, 3)
    np.testing.assert_allclose(pts[0, 1], [(2 - 2) * 3 / 100, (0 - 1) * 3 / 50, 3.0], rtol=1e-6)
    assert np.isnan(pts[1, 2]).all()  # (v=2, u=4) beyond max_depth


def test_point_cloud_drops_invalid_and_keeps_colors() -> None:
    depth = np.array([[1.0, np.nan], [0.0, 2.0]])
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    pts, cols = point_cloud(depth, FX, FY, CX, CY, image=image)
    assert pts.shape == (2, 3)
    np.testing.assert_array_equal(cols, image[[0, 1], [0, 1]])
    with pytest.raises(ValueError, match="image"):
        point_cloud(depth, FX, FY, CX, CY, image=image[:1])


@pytest.mark.parametrize("bad", [(0.0, 1.0), (float("nan"), 1.0), (-1.0, 1.0)])
def test_backproject_rejects_bad_focal(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        backproject(np.ones((2, 2)), bad[0], bad[1], 0.0, 0.0)


def _read_ply(path: Path) -> tuple[list[str], np.ndarray]:
    """Minimal independent PLY reader (binary_little_endian or ascii, one vertex element)."""
    raw = path.read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    header = raw[:end].decode("ascii").splitlines()
    assert header[0] == "ply"
    fmt = header[1].split()[1]
    n = int(next(h for h in header if h.startswith("element vertex")).split()[2])
    types = {"float": "<f4", "uchar": "u1"}
    props = [h.split() for h in header if h.startswith("property")]
    dtype = np.dtype([(p[2], types[p[1]]) for p in props])
    if fmt == "binary_little_endian":
        assert len(raw) - end == n * dtype.itemsize
        return header, np.frombuffer(raw[end:], dtype=dtype)
    rows = np.loadtxt(raw[end:].decode("ascii").splitlines(), ndmin=2)
    assert rows.shape == (n, len(props))
    out = np.empty(n, dtype=dtype)
    for i, p in enumerate(props):
        out[p[2]] = rows[:, i]
    return header, out


@pytest.mark.parametrize("binary", [True, False])
def test_ply_round_trip(tmp_path: Path, binary: bool) -> None:
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(50, 3)).astype(np.float32)
    pts[7] = np.nan  # dropped
    cols = rng.integers(0, 256, size=(50, 3), dtype=np.uint8)
    path = write_ply(tmp_path / "cloud.ply", pts, cols, binary=binary)
    header, data = _read_ply(path)
    expected_fmt = "binary_little_endian" if binary else "ascii"
    assert header[1] == f"format {expected_fmt} 1.0"
    assert "element vertex 49" in header
    keep = np.ones(50, dtype=bool)
    keep[7] = False
    np.testing.assert_allclose(np.stack([data["x"], data["y"], data["z"]], 1), pts[keep])
    np.testing.assert_array_equal(np.stack([data["red"], data["green"], data["blue"]], 1),
                                  cols[keep])


def test_ply_without_colors(tmp_path: Path) -> None:
    pts = np.array([[0.0, 1.0, 2.0]], dtype=np.float32)
    header, data = _read_ply(write_ply(tmp_path / "p.ply", pts))
    assert [h.split()[-1] for h in header if h.startswith("property")] == ["x", "y", "z"]
    assert data["z"][0] == 2.0


def test_colorize_depth_fixed_range() -> None:
    lut = colormap_lut("magma")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    a = np.array([[1.0, 10.0, 80.0, 500.0, 0.0, np.nan]])
    b = np.array([[10.0, 10.0, 10.0, 10.0, 10.0, 10.0]])  # different content, same 10 m
    for scale in ("log", "inverse", "linear"):
        ca, cb = colorize_depth(a, scale=scale), colorize_depth(b, scale=scale)
        assert ca.shape == (1, 6, 3) and ca.dtype == np.uint8
        np.testing.assert_array_equal(ca[0, 1], cb[0, 1])  # never normalised per frame
        np.testing.assert_array_equal(ca[0, 0], lut[255])  # near end
        np.testing.assert_array_equal(ca[0, 2], lut[0])  # far end
        np.testing.assert_array_equal(ca[0, 3], lut[0])  # beyond: clipped
        np.testing.assert_array_equal(ca[0, 4:], 0)  # invalid -> black
    expected = {
        "log": math.log(80 / 10) / math.log(80 / 1),
        "inverse": (1 / 10 - 1 / 80) / (1 - 1 / 80),
        "linear": (80 - 10) / (80 - 1),
    }
    for scale, t in expected.items():
        np.testing.assert_array_equal(colorize_depth(a, scale=scale)[0, 1], lut[round(t * 255)])
    np.testing.assert_array_equal(colorize_depth(a, order="bgr"), colorize_depth(a)[..., ::-1])
    with pytest.raises(ValueError, match="scale"):
        colorize_depth(a, scale="sqrt")


def test_colorize_error_and_bad_args() -> None:
    lut = colormap_lut("inferno")
    err = np.array([[0.0, 0.25, 1.0]])
    c = colorize_error(err, max_error=0.5)
    np.testing.assert_array_equal(c[0], [lut[0], lut[128], lut[255]])
    with pytest.raises(ValueError, match="min_depth"):
        colorize_depth(a := np.ones((2, 2)), min_depth=5.0, max_depth=1.0)
    with pytest.raises(ValueError, match="2-D"):
        colorize_depth(a[None])
    with pytest.raises(ValueError, match="unknown colormap"):
        colormap_lut("no-such-map")
