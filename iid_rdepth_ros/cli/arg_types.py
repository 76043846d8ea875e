"""argparse ``type=`` converters shared by the subcommands (clear usage errors on bad input).

Every subcommand declares its outputs and sizes through these, so they are checked while the
command line is parsed, before any work starts, and a bad one is a one-line usage error
naming the argument, the path or value and the reason (exit 2): ``output_file`` /
``output_dir`` for anything a command writes, ``network_size`` / ``network_height`` /
``network_width`` / ``image_side`` / ``diffusion_steps`` / ``threads`` for sizes bounded by
what the model and the machine can take (``model.config.MAX_INPUT_*``,
``MAX_DIFFUSION_STEPS``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from iid_rdepth_ros.model.config import (
    MAX_DIFFUSION_STEPS,
    MAX_DISPARITY,
    MAX_INPUT_HEIGHT,
    MAX_INPUT_WIDTH,
    check_input_size,
)

#: largest camera image ``synth`` renders (each side): the node's largest network input
MAX_IMAGE_SIDE = MAX_INPUT_WIDTH
#: most frames per batch ``evaluate`` takes (throughput saturates long before; a batch of
#: full-size frames must fit in memory)
MAX_BATCH = 256
#: most CPU threads a command accepts (far above any machine's cores; a typo like 100000
#: would otherwise start that many threads)
MAX_THREADS = 1024


def _int_at_least(text: str, minimum: int, expected: str, maximum: int | None = None,
                  step: int = 1) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum) or value % step:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _int_at_least(text, 0, "an integer >= 0")


def seconds(text: str) -> float:
    """A duration in seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def network_size(text: str) -> tuple[int, int]:
    """``HxW`` of a network input: multiples of 32, H in 32..2048, W in 32..4096."""
    h, sep, w = text.lower().partition("x")
    try:
        return check_input_size(int(h), int(w)) if sep else check_input_size(0, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HxW in multiples of 32 up to {MAX_INPUT_HEIGHT}x{MAX_INPUT_WIDTH}, got "
            f"{text!r}") from None


def network_height(text: str) -> int:
    """A network input height: a multiple of 32 in 32..2048."""
    return _int_at_least(text, 32, f"a multiple of 32 in 32..{MAX_INPUT_HEIGHT}",
                         MAX_INPUT_HEIGHT, 32)


def network_width(text: str) -> int:
    """A network input width: a multiple of 32 in 32..4096."""
    return _int_at_least(text, 32, f"a multiple of 32 in 32..{MAX_INPUT_WIDTH}",
                         MAX_INPUT_WIDTH, 32)


def image_side(text: str) -> int:
    """A camera image side in pixels: 1..MAX_IMAGE_SIDE."""
    return _int_at_least(text, 1, f"pixels in 1..{MAX_IMAGE_SIDE}", MAX_IMAGE_SIDE)


def diffusion_steps(text: str) -> int:
    """Diffusion steps T: 1..MAX_DIFFUSION_STEPS."""
    return _int_at_least(text, 1, f"steps in 1..{MAX_DIFFUSION_STEPS}", MAX_DIFFUSION_STEPS)


def max_disparity(text: str) -> int:
    """A stereo search range in network pixels: a multiple of 8 in 8..1024."""
    return _int_at_least(text, 8, f"a multiple of 8 in 8..{MAX_DISPARITY}", MAX_DISPARITY, 8)


def threads(text: str) -> int:
    """CPU threads: 1..MAX_THREADS."""
    return _int_at_least(text, 1, f"threads in 1..{MAX_THREADS}", MAX_THREADS)


def batch_size(text: str) -> int:
    """Frames per batch: 1..MAX_BATCH."""
    return _int_at_least(text, 1, f"a batch size in 1..{MAX_BATCH}", MAX_BATCH)


def output_file(text: str) -> Path:
    """A file the command will write: its folder exists or can be made, it is writable and not
    a folder (``artifacts.files.check_output_file``; nothing is created here)."""
    from iid_rdepth_ros.artifacts.files import check_output_file

    try:
        return check_output_file(text)
    except OSError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def output_dir(text: str) -> Path:
    """A folder the command will write into: a writable folder or one that can be made."""
    from iid_rdepth_ros.artifacts.files import check_output_dir

    try:
        return check_output_dir(text)
    except OSError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def file_stem(text: str) -> str:
    """A plain file name stem (no folder part): results are written as ``<stem>.json`` etc."""
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a file name without a folder, got {text!r}")
    return text


def camera_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` of a camera image (as cameras are named: 1280x720), each side in
    1..MAX_IMAGE_SIDE, returned as ``(height, width)``."""
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(h), int(w))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 2 or max(size) > MAX_IMAGE_SIDE:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels (e.g. 1280x720), got "
                                         f"{text!r}")
    return size


def image_size(text: str) -> tuple[int, int]:
    """``HxW`` of an image: two positive integers."""
    h, sep, w = text.lower().partition("x")
    try:
        size = (int(h), int(w))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected HxW in pixels, got {text!r}")
    return size
