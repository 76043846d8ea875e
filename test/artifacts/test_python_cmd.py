"""``artifacts.python_cmd``: Python children never import from the working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from iid_rdepth_ros.artifacts.python_cmd import PACKAGE_ROOT, child_env, python_module_command


def _armed(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marker"
    cwd = tmp_path / "cwd"
    (cwd / "evilpkg").mkdir(parents=True)
    (cwd / "evilpkg" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    return cwd, marker


def test_plain_python_m_imports_from_the_cwd(tmp_path: Path) -> None:
    """Control: what ``python -m`` does without -P."""
    cwd, marker = _armed(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "evilpkg"], cwd=cwd, capture_output=True,
                          text=True, timeout=60)
    assert marker.exists() and "cannot be directly executed" in proc.stderr


def test_children_do_not(tmp_path: Path) -> None:
    cwd, marker = _armed(tmp_path)
    cmd = python_module_command("evilpkg")
    assert cmd[:3] == [sys.executable, "-P", "-m"]
    proc = subprocess.run(cmd, cwd=cwd, env=child_env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "No module named evilpkg" in proc.stderr
    assert not marker.exists()
    # the package itself is still found (installed, or named on PYTHONPATH for a checkout)
    proc = subprocess.run(python_module_command("iid_rdepth_ros.cli.main", "--version"),
                          cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("iid-rdepth "), proc.stderr


def test_child_env_adds_only_the_package_root_and_only_for_a_checkout(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = child_env({"PYTHONPATH": "/x"}, {"A": "1"})
    assert env == {"PYTHONPATH": "/x", "A": "1"}
    monkeypatch.chdir(PACKAGE_ROOT)
    env = child_env({"PYTHONPATH": "/x"})
    assert env["PYTHONPATH"].split(":") == [str(PACKAGE_ROOT), "/x"]
