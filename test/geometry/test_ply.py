"""PLY round trip, binary and ASCII, with and without colours."""

from pathlib import Path

import numpy as np
import pytest

from iid_rdepth_ros.geometry import write_ply


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
