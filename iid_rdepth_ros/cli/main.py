"""``iid-rdepth``: the command-line dispatcher.

Each subcommand lives in ``iid_rdepth_ros/cli/<name>_cmd.py`` and exposes
``add_parser(subparsers) -> None`` (adds one or more sub-parsers) and ``run(args) -> int``.
Command modules keep heavy imports (torch, cv2, ...) inside ``run`` so ``--help`` stays fast.
A module that is absent is simply not listed; one that fails to import is listed and reports
its import error when used, so one broken command never takes the others down.

Errors a user can cause end as one line on stderr and exit status 2, never a traceback (set
``IID_RDEPTH_DEBUG=1`` for it): bad options and arguments (argparse, including the checks of
``arg_types``: output paths and sizes are validated while parsing, before any work), and the
exceptions :func:`user_error_message` knows, raised by ``run``: ``ValueError``, every
``OSError`` (``FileNotFoundError``, ``PermissionError``, a full disk...; shown as ``FILE:
reason``), ``RunnerError``, ``FloatingPointError``, ``MemoryError`` and YAML errors. Any
other exception is a bug and keeps its traceback. This is the one place that maps errors for
every command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

PROG = "iid-rdepth"
# Subcommand name -> module under iid_rdepth_ros.cli, in the order --help lists them.
COMMANDS: dict[str, str] = {
    "synth": "synth_cmd",
    "train": "train_cmd",
    "evaluate": "evaluate_cmd",
    "export": "export_cmd",
    "build-engine": "build_engine_cmd",
    "eval-bag": "eval_bag_cmd",
    "bag-export": "bag_export_cmd",
    "replay": "replay_cmd",
    "bench": "bench_cmd",
    "demo": "demo_cmd",
}
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, FloatingPointError,
                                                MemoryError)
EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are a single stderr line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("iid_rdepth_ros")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _load(module: str) -> ModuleType | Exception | None:
    """Import a command module; None if it does not exist, the exception if it is broken."""
    full = f"{__package__ or 'iid_rdepth_ros.cli'}.{module}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name == full:
            return None
        return exc
    except Exception as exc:  # noqa: BLE001 - a broken command must not break the others
        return exc


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every available subcommand registered."""
    parser = OneLineParser(
        prog=PROG,
        description="IID-RDepth: monocular/stereo metric depth for ROS 2 -- data, training, "
                    "evaluation, export and tools.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       parser_class=OneLineParser)
    for name, module_name in COMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        before = set(subparsers.choices)
        if isinstance(module, Exception):
            sub = subparsers.add_parser(name, help=f"(unavailable: {module})")
            sub.set_defaults(_run=_broken(name, module))
            continue
        try:
            module.add_parser(subparsers)
        except Exception as exc:  # noqa: BLE001
            if name not in subparsers.choices:
                sub = subparsers.add_parser(name, help=f"(unavailable: {exc})")
                sub.set_defaults(_run=_broken(name, exc))
            continue
        for added in set(subparsers.choices) - before:
            subparsers.choices[added].set_defaults(_run=module.run)
    return parser


def _broken(name: str, exc: Exception):
    def run(args: argparse.Namespace) -> int:
        print(f"{PROG} {name}: unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1

    return run


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user caused (bad input, an unwritable path, a
    broken file), or None for anything else (a bug: it keeps its traceback)."""
    from iid_rdepth_ros.artifacts.errors import RunnerError

    kinds = USER_ERRORS + (RunnerError,)
    yaml = sys.modules.get("yaml")  # YAML errors only exist once something read YAML
    if yaml is not None:
        kinds += (yaml.YAMLError,)
    if not isinstance(exc, kinds):
        return None
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else f"{exc.filename}"
        return f"{target}: {exc.strerror}"  # not "[Errno 20] Not a directory: 'x'"
    text = str(exc).strip()
    if isinstance(exc, MemoryError):
        return f"out of memory{f' ({text})' if text else ''}: use smaller sizes or batches"
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; return the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, already printed), --help, --version
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args.command_line = shlex.join([PROG, *argv])  # recorded in model cards
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: choose a command (see '{PROG} --help')", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_error_message(exc)
        if message is None or os.environ.get("IID_RDEPTH_DEBUG"):
            raise
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    # `python -m` put the working directory first on sys.path: drop it before anything else
    # is imported, so a module there cannot stand in for an installed one (docs/security.md)
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
    sys.exit(main())
