"""Ownership of a training output folder: what a run writes there, what it may replace.

A run writes ``config.yaml``, ``log.jsonl``, ``resume/`` (``resume.old/`` for an instant while
it swaps states), checkpoints ``stage1.*``, ``stage2.*``, ``stage1_step<N>.*``
(``.safetensors`` + ``.yaml`` card), and transiently ``.resume.*`` folders and ``.<name>.*.tmp``
files (atomic writes). Anything else in the folder is never touched.

- A fresh run refuses a folder holding a resume state or checkpoints (another run's, or an
  earlier one of its own): ``--resume`` continues it, ``--overwrite`` removes them first.
  ``config.yaml`` / ``log.jsonl`` without a resume state or checkpoint are what a run that
  died before its first resume state left; a fresh run takes them over.
- A fresh run that fails before its first resume state removes what it wrote (:class:`Claim`),
  so the folder is as it was and the same command can simply be run again.
- Temporary folders and files a killed run left are removed when the next run starts.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

CONFIG_FILE = "config.yaml"
LOG_FILE = "log.jsonl"
RESUME_DIR = "resume"
#: checkpoint stems a run writes
CHECKPOINT_STEM = re.compile(r"stage[12]|stage1_step\d+")
CHECKPOINT_SUFFIXES = (".safetensors", ".yaml")
#: transient names: save_state's temporary folders (``.resume.XXXXXXXX``) and atomic_path's
#: temporary files (``.NAME.XXXXXXXX.tmp``); XXXXXXXX is tempfile's random part
_TEMP_STATE = re.compile(r"\.resume\.[a-z0-9_]{8}")
_TEMP_FILE = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a checkpoint file of the names a run writes."""
    return path.suffix in CHECKPOINT_SUFFIXES and CHECKPOINT_STEM.fullmatch(path.stem) is not None


def run_files(out: Path) -> list[Path]:
    """The files and folders of a training run in ``out`` (not the temporary ones)."""
    if not out.is_dir():
        return []
    own = {CONFIG_FILE, LOG_FILE, RESUME_DIR, RESUME_DIR + ".old"}
    return sorted(p for p in out.iterdir() if p.name in own or is_checkpoint(p))


def temporary_files(out: Path) -> list[Path]:
    """Temporary files and folders a run leaves only when it is killed while writing."""
    if not out.is_dir():
        return []
    found = []
    for path in sorted(out.iterdir()):
        name = _TEMP_FILE.fullmatch(path.name)
        if _TEMP_STATE.fullmatch(path.name) or (
                name is not None and (name[1] == CONFIG_FILE or is_checkpoint(Path(name[1])))):
            found.append(path)
    return found


def remove(paths: list[Path]) -> None:
    """Delete files and folders (missing ones are fine)."""
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def check_fresh(out: Path, has_state: bool, overwrite: bool) -> list[Path]:
    """For a fresh run in ``out``: the run files to remove before it starts (all of them with
    ``overwrite``; else the ``config.yaml`` / ``log.jsonl`` of a run that died before its first
    resume state); FileExistsError naming what is there when the folder holds a resume state
    or checkpoints and ``overwrite`` is off."""
    found = run_files(out)
    checkpoints = [p.name for p in found if is_checkpoint(p)]
    if overwrite:
        return found
    if has_state:
        raise FileExistsError(f"{out} already holds a training run ({RESUME_DIR}/ state): "
                              "continue it with --resume, replace it with --overwrite or "
                              "choose another --out")
    if checkpoints:
        shown = ", ".join(checkpoints[:4]) + (", ..." if len(checkpoints) > 4 else "")
        raise FileExistsError(f"{out} holds checkpoints this run did not write ({shown}): "
                              "choose another --out or replace them with --overwrite")
    return found


class Claim:
    """What one fresh run wrote into its folder, to undo when it fails before its first
    resume state."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.before = {p.name for p in run_files(out)}

    def undo(self) -> list[Path]:
        """Remove the run files that were not there when the run started; returns them."""
        new = [p for p in run_files(self.out) if p.name not in self.before]
        remove(new + temporary_files(self.out))
        return new
