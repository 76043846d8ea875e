"""ros/process_settings.py: glibc's malloc thresholds raised for the node's process unless the
user set glibc's own knobs, and a short GIL switch interval (docs/dds.md has what they buy)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from iid_rdepth_ros.ros.process_settings import keep_large_buffers


@pytest.mark.parametrize("env", [{"MALLOC_MMAP_THRESHOLD_": "65536"},
                                 {"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"}])
def test_user_knobs_win(env: dict[str, str]) -> None:
    assert keep_large_buffers(environ=env) == (
        f"malloc thresholds left as set by {next(iter(env))}")


def test_unrelated_tunables_do_not_count() -> None:
    done = keep_large_buffers(environ={"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F"})
    assert "left as set" not in done


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_thresholds() -> None:
    # in a fresh process: mallopt's answer for these values (0 would mean refused)
    code = ("from iid_rdepth_ros.ros.process_settings import keep_large_buffers as k; "
            "print(k(environ={}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ("malloc: allocations below 32 MB from the heap, up to 256 MB kept free "
                   "(camera-sized buffers stay mapped)")


def test_tune_process_sets_the_switch_interval() -> None:
    code = ("import sys; from iid_rdepth_ros.ros.process_settings import tune_process as t; "
            "lines = t(); print(sys.getswitchinterval()); print(lines[1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert float(out[0]) == pytest.approx(0.0005)
    assert out[1].startswith("GIL switch interval 0.5 ms")
