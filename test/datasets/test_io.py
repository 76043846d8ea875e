"""``datasets.io``: a depth file that cannot be read is a ValueError naming it; ``.npy`` files
are never unpickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from iid_rdepth_ros.datasets.io import read_depth_npy


class _Payload:
    """Unpickling this would write the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def test_valid_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", np.array([[1.0, np.nan], [-1.0, 2.0]], np.float64))
    assert read_depth_npy(tmp_path / "d.npy").tolist() == [[1.0, 0.0], [0.0, 2.0]]


@pytest.mark.parametrize("content, words", [
    (b"", "not a valid .npy array"),
    (b"\x93NUMPY\x01\x00", "not a valid .npy array (EOF: reading array header"),
    (b"garbage that is no array", "not a valid .npy array"),
])
def test_corrupt_npy_names_the_file(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "frame_0003.npy"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"cannot read depth {path}: ") as info:
        read_depth_npy(path)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_pickled_objects_are_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.npy"
    np.save(path, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=rf"cannot read depth {path}: .*allow_pickle"):
        read_depth_npy(path)
    legacy = tmp_path / "legacy.npy"  # a bare pickle named .npy
    legacy.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match=f"cannot read depth {legacy}"):
        read_depth_npy(legacy)
    assert not marker.exists()


def test_npz_is_not_a_depth_map(tmp_path: Path) -> None:
    path = tmp_path / "d.npy"
    with open(path, "wb") as f:
        np.savez(f, depth=np.ones((2, 2)))
    with pytest.raises(ValueError, match="an .npz archive"):
        read_depth_npy(path)


def test_missing_file_stays_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_depth_npy(tmp_path / "none.npy")
