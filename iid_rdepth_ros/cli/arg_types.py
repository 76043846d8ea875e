"""argparse ``type=`` converters shared by the subcommands (clear usage errors on bad input)."""

from __future__ import annotations

import argparse


def _int_at_least(text: str, minimum: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < minimum:
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
    """``HxW`` of a network input: both multiples of 32, at least 32."""
    h, sep, w = text.lower().partition("x")
    try:
        size = (int(h), int(w))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 32 or size[0] % 32 or size[1] % 32:
        raise argparse.ArgumentTypeError(f"expected HxW in multiples of 32, got {text!r}")
    return size


def camera_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` of a camera image (as cameras are named: 1280x720), returned as
    ``(height, width)``."""
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(h), int(w))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 2:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels (e.g. 1280x720), got "
                                         f"{text!r}")
    return size
