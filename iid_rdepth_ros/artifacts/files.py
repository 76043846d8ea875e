"""File helpers shared by every writer and reader: hashes, atomic writes and output checks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block
    ends without an exception, removed otherwise. Readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (``.`` for a relative path's base)."""
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def _check_creatable(target: Path, path: Path) -> None:
    """PermissionError / NotADirectoryError unless ``target`` (a folder that may not exist
    yet) can be created or written to; messages name ``path``, the output asked for."""
    base = _nearest_existing(target)
    if not base.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {base} is a file, not a directory")
    where = "" if base == target else f" (in {base})"
    if not os.access(base, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {path}: permission denied{where}")
    try:  # the permission bits do not tell everything (root, special file systems)
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as exc:
        raise PermissionError(f"cannot write {path}: no new file can be made in {base} "
                              f"({exc.strerror or exc})") from None


def check_output_file(path: str | Path) -> Path:
    """``path`` as a Path if a file can be written there (its folder exists or can be made, and
    it is not a folder itself); otherwise an OSError whose one-line message names ``path`` and
    the reason. Nothing is created: commands call this before they start their work."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    if os.path.lexists(path) and not os.access(path, os.W_OK):
        raise PermissionError(f"cannot write {path}: permission denied")
    _check_creatable(path.parent, path)
    return path


def check_output_dir(path: str | Path) -> Path:
    """``path`` as a Path if it is a writable folder or one that can be created; otherwise an
    OSError naming ``path`` and the reason (as :func:`check_output_file`)."""
    path = Path(path).expanduser()
    if os.path.lexists(path) and not path.is_dir():
        raise NotADirectoryError(f"cannot write into {path}: it is a file, not a directory")
    _check_creatable(path, path)
    return path
