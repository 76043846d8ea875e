"""Split files: where named splits are looked up and how KITTI split lists are parsed.

The official split lists cannot be downloaded here and none is invented: users put the files
they already have (see ``iid_rdepth_ros/datasets/splits/README.md``) in one of the *split
directories*, first match wins:

1. ``$IID_RDEPTH_SPLITS/<dataset>/`` (environment variable)
2. ``<data root>/splits/<dataset>/`` and ``<data root>/splits/``
3. ``iid_rdepth_ros/datasets/splits/<dataset>/`` in this source tree

or give a file path instead of a name (``--split FILE``).

KITTI list lines (all three common formats; blank lines and ``#`` comments are ignored):

- ``2011_09_26/2011_09_26_drive_0002_sync 0000000069 l`` (folder, frame, side l|r)
- ``2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png [more paths]`` (the
  first path names the frame; ``image_02`` is side l, ``image_03`` side r; any extension)
- the same with a ground-truth column and focal length, where ``None`` marks a frame without
  annotated ground truth (kept as ``has_gt=False``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

SPLITS_ENV = "IID_RDEPTH_SPLITS"
SOURCE_SPLITS = Path(__file__).resolve().parent / "splits"


@dataclass(frozen=True)
class NamedSplit:
    """A split known by name: candidate file names (as distributed) and its official size."""

    description: str
    files: tuple[str, ...]
    frames: int | None = None  # enforced when set


KITTI_SPLITS: dict[str, NamedSplit] = {
    "eigen": NamedSplit(
        "Eigen et al. (2014) test split, 697 frames (velodyne ground truth)",
        ("eigen_test_files.txt", "eigen/test_files.txt", "eigen_test.txt"), 697),
    "eigen_benchmark": NamedSplit(
        "the 652 Eigen test frames that have annotated depth (Uhrig et al. 2017)",
        ("eigen_benchmark/test_files.txt", "eigen_benchmark_test_files.txt",
         "eigen_benchmark.txt"), 652),
    "eigen_train": NamedSplit(
        "Eigen training split (as distributed with Monodepth: eigen_train_files.txt)",
        ("eigen_train_files.txt", "eigen_full/train_files.txt", "eigen_train.txt")),
    "eigen_val": NamedSplit(
        "Eigen validation split (as distributed with Monodepth: eigen_val_files.txt)",
        ("eigen_val_files.txt", "eigen_full/val_files.txt", "eigen_val.txt")),
    "eigen_zhou_train": NamedSplit(
        "Zhou et al. (2017) training split without static frames (Monodepth2 eigen_zhou)",
        ("eigen_zhou/train_files.txt", "eigen_zhou_train_files.txt")),
    "eigen_zhou_val": NamedSplit(
        "Zhou et al. (2017) validation split (Monodepth2 eigen_zhou)",
        ("eigen_zhou/val_files.txt", "eigen_zhou_val_files.txt")),
}


def split_dirs(dataset: str, root: str | Path | None = None) -> list[Path]:
    """The directories searched for named splits of ``dataset``, in order."""
    dirs: list[Path] = []
    env = os.environ.get(SPLITS_ENV)
    if env:
        dirs += [Path(env) / dataset, Path(env)]
    if root is not None:
        dirs += [Path(root) / "splits" / dataset, Path(root) / "splits"]
    dirs.append(SOURCE_SPLITS / dataset)
    return dirs


def find_split(dataset: str, name: str, known: dict[str, NamedSplit],
               root: str | Path | None = None) -> tuple[Path, NamedSplit | None]:
    """Path of split ``name`` (a known name or a file) and its ``NamedSplit`` (None for files).

    A known name whose file is nowhere is a FileNotFoundError that says which file names were
    looked for and where.
    """
    if name in known:
        spec = known[name]
        dirs = split_dirs(dataset, root)
        for d in dirs:
            for fname in spec.files:
                if (d / fname).is_file():
                    return d / fname, spec
        raise FileNotFoundError(
            f"{dataset} split {name!r} ({spec.description}) not found: looked for "
            f"{' or '.join(spec.files)} in {', '.join(str(d) for d in dirs)}; put the official "
            "list there (iid_rdepth_ros/datasets/splits/README.md says where to get it) or give "
            "a list file instead of the name (--split / --val-split FILE; --val-split none: "
            "no validation)")
    path = Path(name)
    if path.is_file():
        return path, None
    raise FileNotFoundError(f"{dataset} split {name!r} is neither a known split "
                            f"({', '.join(known)}) nor an existing file")


def read_list(path: str | Path) -> list[str]:
    """The entries of a split list file: one per line, ``#`` starts a comment, blank lines
    skipped."""
    lines = Path(path).read_text().splitlines()
    return [t for t in (line.split("#", 1)[0].strip() for line in lines) if t]


def listed_names(path: Path, available: Iterable[str], what: str,
                 key: Callable[[str], str] = str) -> list[str]:
    """The names a list file gives (each through ``key``), checked against ``available``;
    ValueError naming the file when one is not there (``what``: e.g. "frame(s) are not in
    images/") or the list is empty."""
    names = [key(n) for n in read_list(path)]
    have = set(available)
    missing = [n for n in names if n not in have]
    if missing:
        raise ValueError(f"{path}: {len(missing)} listed {what}, first: {missing[:3]}")
    if not names:
        raise ValueError(f"{path} lists nothing")
    return names


def file_digest(path: str | Path) -> str:
    """Short content hash of a split file (recorded in model cards and cache keys)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class KittiEntry:
    """One frame of a KITTI split."""

    date: str  # 2011_09_26
    drive: str  # 2011_09_26_drive_0002_sync
    frame: int
    side: str  # l (image_02) | r (image_03)
    has_gt: bool = True  # False where the list says "None" for the ground truth

    @property
    def camera(self) -> int:
        return 2 if self.side == "l" else 3

    @property
    def name(self) -> str:
        """Stable frame name, e.g. ``2011_09_26_drive_0002_sync_image_02_0000000069``."""
        return f"{self.drive}_image_0{self.camera}_{self.frame:010d}"


_DRIVE = re.compile(r"^(\d{4}_\d{2}_\d{2})_drive_\d{4}_sync$")
_IMAGE = re.compile(r"image_0([23])/data/(\d+)\.\w+$")


def _drive(folder: str, where: str) -> tuple[str, str]:
    parts = [p for p in folder.strip("/").split("/") if p]
    drive = parts[-1] if parts else ""
    m = _DRIVE.match(drive)
    if not m:
        raise ValueError(f"{where}: {folder!r} does not name a KITTI drive "
                         "(DATE/DATE_drive_NNNN_sync)")
    return m.group(1), drive


def parse_kitti_line(line: str, where: str = "split") -> KittiEntry | None:
    """One split line as a ``KittiEntry`` (None for blank and comment lines)."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    tokens = text.split()
    m = _IMAGE.search(tokens[0])
    if m:  # path style: DATE/DRIVE/image_0c/data/FRAME.ext [...]
        date, drive = _drive(tokens[0][:m.start()], where)
        has_gt = not (len(tokens) >= 2 and tokens[1] == "None")
        return KittiEntry(date, drive, int(m.group(2)), "l" if m.group(1) == "2" else "r",
                          has_gt)
    if len(tokens) >= 2 and tokens[1].isdigit():  # folder style: DATE/DRIVE FRAME [l|r]
        date, drive = _drive(tokens[0], where)
        side = tokens[2] if len(tokens) >= 3 else "l"
        if side not in ("l", "r"):
            raise ValueError(f"{where}: side must be l or r, got {side!r}")
        return KittiEntry(date, drive, int(tokens[1]), side)
    raise ValueError(f"{where}: cannot read {text[:80]!r} as a KITTI split line "
                     "(expected 'DATE/DRIVE FRAME [l|r]' or 'DATE/DRIVE/image_02/data/FRAME.png')")


def read_kitti_split(path: str | Path) -> list[KittiEntry]:
    """All entries of a KITTI split file (ValueError naming the line on bad content)."""
    path = Path(path)
    entries = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        entry = parse_kitti_line(line, f"{path}:{n}")
        if entry is not None:
            entries.append(entry)
    if not entries:
        raise ValueError(f"split file {path} lists no frames")
    return entries
