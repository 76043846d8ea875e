"""Start ``iid_rdepth_node`` as its own process (what ``ros2 run`` / a launch file does), with
parameters and topic remaps on its command line and its log in a file."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

from iid_rdepth_ros.artifacts.python_cmd import child_env, python_module_command


def _param_text(value: Any) -> str:
    # strings single-quoted: YAML would read -p aux_mode:=off as boolean false
    if isinstance(value, bool):
        return str(value).lower()
    return f"'{value}'" if isinstance(value, str) else str(value)


#: how the node is started unless told otherwise (same code as the ``iid_rdepth_node`` script;
#: ``-P``: the working directory stays off the node's import path)
NODE_MODULE = tuple(python_module_command("iid_rdepth_ros.ros.node"))


def node_command(namespace: str = "", params: dict[str, Any] | None = None,
                 remaps: dict[str, str] | None = None,
                 executable: list[str] | tuple[str, ...] = NODE_MODULE) -> list[str]:
    """``executable --ros-args ...`` for these settings (``executable``: the node module, an
    installed ``iid_rdepth_node`` script, ...)."""
    args = [*executable, "--ros-args"]
    if namespace:
        args += ["-r", f"__ns:=/{namespace.strip('/')}"]
    for src, dst in (remaps or {}).items():
        args += ["-r", f"{src}:={dst}"]
    for key, value in (params or {}).items():
        args += ["-p", f"{key}:={_param_text(value)}"]
    return args


class NodeProcess:
    """The node in a subprocess; :meth:`stop` ends it with SIGINT (SIGKILL after 15 s).

    ``env`` is added to this process's environment; ``executable`` and ``cwd`` as for
    :func:`node_command` and ``subprocess.Popen``.
    """

    def __init__(self, log_path: str | Path, namespace: str = "",
                 params: dict[str, Any] | None = None, remaps: dict[str, str] | None = None,
                 env: dict[str, str] | None = None,
                 executable: list[str] | tuple[str, ...] = NODE_MODULE,
                 cwd: str | Path | None = None) -> None:
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.command = node_command(namespace, params, remaps, executable)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd,
            env=child_env(extra={"PYTHONUNBUFFERED": "1", "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
                                 "RCUTILS_COLORIZED_OUTPUT": "0", **(env or {})}))

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def log(self) -> str:
        """What the node printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int | None:
        """End the node; returns its exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
