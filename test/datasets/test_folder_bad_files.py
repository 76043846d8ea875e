"""Folder data sets with broken files: one line naming the file, exit 2, nothing executed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from iid_rdepth_ros.cli.main import main


def _folder(root: Path, intrinsics: str | bytes) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "depth").mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.zeros((32, 64, 3), np.uint8))
        np.save(root / "depth" / f"{name}.npy", np.ones((32, 64), np.float32))
    data = intrinsics if isinstance(intrinsics, bytes) else intrinsics.encode()
    (root / "intrinsics.yaml").write_bytes(data)
    return root


def _evaluate(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    rc = main(["evaluate", "--dataset", "folder", "--data", str(root), "--predictions",
               str(root / "depth"), "--no-progress"])
    captured = capsys.readouterr()
    return rc, [ln for ln in captured.err.splitlines() if ln.strip()]


@pytest.mark.parametrize("text, words", [
    ("fx: [1\ncx: 2\n", "line 2, column 3: expected ',' or ']'"),
    ("fx: 1\n  fy: 2\n", "line 2"),
    ("- just\n- a list\n", "must hold a mapping"),
    (b"fx: \xff\xfe\n", "not valid YAML"),
])
def test_malformed_intrinsics(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                              words: str) -> None:
    root = _folder(tmp_path / "data", text)
    rc, err = _evaluate(root, capsys)
    assert rc == 2 and len(err) == 1, err
    assert f"{root / 'intrinsics.yaml'}" in err[0] and words in err[0], err


def test_python_tags_are_refused_not_run(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "marker"
    root = _folder(tmp_path / "data", f"fx: !!python/object/apply:os.system ['touch {marker}']"
                                      "\nfy: 1\ncx: 1\ncy: 1\n")
    rc, err = _evaluate(root, capsys)
    assert rc == 2 and len(err) == 1, err
    assert "could not determine a constructor for the tag" in err[0]
    assert "no tags that build objects" in err[0] and str(root) in err[0]
    assert not marker.exists()


def test_corrupt_npy_depth_names_the_file(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "data", "fx: 50\nfy: 50\ncx: 32\ncy: 16\n")
    (root / "depth" / "b.npy").write_bytes(b"\x93NUMPY\x01\x00")
    rc, err = _evaluate(root, capsys)
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"iid-rdepth evaluate: error: cannot read depth {root}/depth/b.npy")
