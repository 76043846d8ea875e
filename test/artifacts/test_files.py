"""``artifacts.files``: output paths checked before work (nothing created), atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iid_rdepth_ros.artifacts.files import (
    atomic_path,
    check_output_dir,
    check_output_file,
    write_text_atomic,
)


def test_writable_outputs_pass_and_nothing_is_created(tmp_path: Path) -> None:
    assert check_output_file(tmp_path / "a" / "b" / "x.json") == tmp_path / "a" / "b" / "x.json"
    assert check_output_dir(tmp_path / "new" / "dir") == tmp_path / "new" / "dir"
    (tmp_path / "old.json").write_text("{}")
    assert check_output_file(tmp_path / "old.json") == tmp_path / "old.json"
    assert check_output_dir(tmp_path) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"cannot write .*afile/x\.json: .*afile is a "
                                                 r"file, not a directory"):
        check_output_file(tmp_path / "afile" / "x.json")
    with pytest.raises(NotADirectoryError, match="afile is a file"):
        check_output_dir(tmp_path / "afile" / "deeper" / "dir")
    with pytest.raises(NotADirectoryError, match="it is a file, not a directory"):
        check_output_dir(tmp_path / "afile")
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        check_output_file(tmp_path)


def test_unwritable_places_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PermissionError, match=r"cannot write /proc/x\.md"):
        check_output_file("/proc/x.md")  # permission bits say yes to root; creating fails
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root: the bits do not stop it, the probe decides
            check_output_file(locked / "x.json")
        else:
            with pytest.raises(PermissionError, match="permission denied"):
                check_output_file(locked / "x.json")
    finally:
        locked.chmod(0o700)
    assert list(locked.iterdir()) == []


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "card.yaml"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.yaml"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
