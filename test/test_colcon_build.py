"""`colcon build` of the package in a fresh workspace, then its installed entry points start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    return [line for line in out.splitlines() if line and (REPO / line).is_file()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists():
        pytest.fail("colcon is not installed in the test environment (make venv installs it)")
    ws = tmp_path_factory.mktemp("ws")
    src = ws / "src" / "iid_rdepth_ros"
    for rel in _tracked_files():
        if rel.startswith(("data/", "out/")):
            continue
        dst = src / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [str(colcon), "build", "--packages-select", "iid_rdepth_ros"],
        cwd=ws, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return ws / "install"


def _installed_env(install: Path) -> dict[str, str]:
    prefix = install / "iid_rdepth_ros"
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    env = dict(os.environ)
    # What `source install/setup.bash` sets for this package, without needing bash here.
    env["PYTHONPATH"] = os.pathsep.join([str(site / "site-packages"), env.get("PYTHONPATH", "")])
    env["AMENT_PREFIX_PATH"] = os.pathsep.join([str(prefix), env.get("AMENT_PREFIX_PATH", "")])
    return env


def test_install_layout(installed: Path) -> None:
    prefix = installed / "iid_rdepth_ros"
    assert (prefix / "share" / "iid_rdepth_ros" / "package.xml").is_file()
    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / "iid_rdepth_ros"
    assert marker.is_file()
    assert (prefix / "lib" / "iid_rdepth_ros" / "iid-rdepth").is_file()
    site = next(prefix.glob("lib/python*/site-packages"))
    # training/ is installed inside the package namespace, never as a bare top-level module.
    assert (site / "iid_rdepth_ros" / "training" / "__init__.py").is_file()
    assert not (site / "training").exists()


def test_installed_entry_point_starts(installed: Path) -> None:
    exe = installed / "iid_rdepth_ros" / "lib" / "iid_rdepth_ros" / "iid-rdepth"
    proc = subprocess.run(
        [sys.executable, str(exe), "--help"], env=_installed_env(installed),
        capture_output=True, text=True, timeout=120, cwd=installed,
    )
    assert proc.returncode == 0, proc.stderr
    assert "synth" in proc.stdout and "train" in proc.stdout and "evaluate" in proc.stdout
    # The module imported is the installed copy, not the source tree.
    probe = subprocess.run(
        [sys.executable, "-c", "import iid_rdepth_ros.training as t; print(t.__file__)"],
        env=_installed_env(installed), capture_output=True, text=True, cwd=installed,
    )
    assert str(installed) in probe.stdout, probe.stdout + probe.stderr


def test_installed_node_runs_and_publishes_depth(installed: Path, tmp_path: Path) -> None:
    pytest.importorskip("rclpy")
    sys.path.insert(0, str(REPO / "test"))
    from ros_node_harness import (
        CAM_H,
        CAM_W,
        Harness,
        NodeProcess,
        free_domain,
        ros_context,
        synthetic_rgb,
        tiny_checkpoint,
    )

    exe = installed / "iid_rdepth_ros" / "lib" / "iid_rdepth_ros" / "iid_rdepth_node"
    assert exe.is_file()
    domain, ns = free_domain(58), "colcon"
    with ros_context(domain) as context:
        node = NodeProcess(domain, ns, {"model_path": str(tiny_checkpoint()),
                                        "backend": "torch", "input_height": 96,
                                        "input_width": 320},
                           tmp_path, command=[sys.executable, str(exe)],
                           extra_env={k: v for k, v in _installed_env(installed).items()
                                      if k in ("PYTHONPATH", "AMENT_PREFIX_PATH")})
        harness = Harness(context, ns)
        try:
            harness.wait_ready(node)
            out = harness.request(synthetic_rgb(3))
            depth = out["depth"]
            assert depth.encoding == "32FC1"
            assert (depth.height, depth.width) == (CAM_H, CAM_W)
        finally:
            harness.close()
            node.stop()
