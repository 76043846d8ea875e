"""Command lines and environments for the Python subprocesses this package starts.

``python -m module`` puts the working directory first on the child's ``sys.path``, so a
package or module of the same name there (a directory a bag or data set came from, say) would
be imported instead of the installed one. Children are started with ``-P`` (Python 3.11+: no
unsafe path entry).

When this package itself was loaded from the working directory (an uninstalled checkout), the
child gets that directory on ``PYTHONPATH`` by name, so it runs the same code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

#: the directory that holds the ``iid_rdepth_ros`` package
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def python_module_command(module: str, *args: str) -> list[str]:
    """``python -P -m module args...`` with this interpreter."""
    return [sys.executable, "-P", "-m", module, *args]


def child_env(base: Mapping[str, str] | None = None,
              extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this environment) plus ``extra``; for an uninstalled checkout run
    from its root, that root on ``PYTHONPATH`` (``-P`` leaves the working directory out)."""
    env = {**(os.environ if base is None else base), **(extra or {})}
    if Path.cwd().resolve() == PACKAGE_ROOT:
        parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if str(PACKAGE_ROOT) not in parts:
            env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT), *parts])
    return env
