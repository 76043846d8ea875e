"""Stamp pairing, the latest-frame-wins worker, counters and the throttled bad-input log."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from iid_rdepth_ros.ros.stats import IssueLog, NodeStats
from iid_rdepth_ros.ros.sync import InputSync, StampRing, stamp_ns
from iid_rdepth_ros.ros.worker import InferenceWorker, LatestSlot


def msg(t: float, name: str = "") -> SimpleNamespace:
    """A message-like object with a header stamp at ``t`` seconds."""
    ns = int(round(t * 1e9))
    stamp = SimpleNamespace(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp), name=name)


def test_stamp_ring_bounded_nearest_and_latest() -> None:
    ring = StampRing(3)
    for i in range(5):
        ring.add(i * 100, f"m{i}")
    assert len(ring) == 3 and ring.latest() == (400, "m4")
    assert ring.nearest(205, 10) == (200, "m2")
    assert ring.nearest(150, 10) is None  # 100 was evicted, 200 is 50 away
    assert ring.nearest(100, 1000) == (200, "m2")
    assert ring.newest_stamp() == 400
    assert stamp_ns(msg(1.5)) == 1_500_000_000


def test_stereo_pair_in_either_order() -> None:
    sync = InputSync("auto", tolerance_s=0.01)
    assert sync.add_info(msg(0.0), 0.0).ready == []
    sync.add_aux_info(msg(0.0, "auxinfo"), 0.0)
    # aux first, then main: paired at once
    sync.add_aux(msg(1.000, "a1"), 1.0)
    out = sync.add_main(msg(1.004, "m1"), 1.001)
    assert [f.image.name for f in out.ready] == ["m1"]
    assert out.ready[0].aux_image.name == "a1" and out.ready[0].aux_info.name == "auxinfo"
    # main first: waits (aux stream present), then the aux completes it
    out = sync.add_main(msg(1.100, "m2"), 1.1)
    assert out.ready == [] and sync.pending == 1
    out = sync.add_aux(msg(1.100, "a2"), 1.11)
    assert [(f.image.name, f.aux_image.name) for f in out.ready] == [("m2", "a2")]
    assert sync.pending == 0
    # once aux camera_infos are seen carrying the image stamps, a pair waits for its own
    sync.add_aux_info(msg(1.2, "auxinfo3"), 1.2)
    sync.add_aux(msg(1.2, "a3"), 1.2)
    assert sync.add_main(msg(1.2, "m3"), 1.2).ready[0].aux_info.name == "auxinfo3"
    sync.add_aux(msg(1.3, "a4"), 1.3)
    assert sync.add_main(msg(1.3, "m4"), 1.3).ready == []
    out = sync.add_aux_info(msg(1.3, "auxinfo4"), 1.31)
    assert [(f.aux_image.name, f.aux_info.name) for f in out.ready] == [("a4", "auxinfo4")]


def test_mono_fallback_when_aux_late_or_absent_then_reengage() -> None:
    sync = InputSync("auto", tolerance_s=0.01, wait_s=0.05)
    t = 0.0
    for i in range(5):  # 30 Hz stereo, camera_infos stamped like their images
        t = i / 30
        sync.add_info(msg(t), t)
        sync.add_aux_info(msg(t), t)
        sync.add_aux(msg(t), t)
        assert sync.add_main(msg(t), t).ready[0].aux_image is not None
    # aux stops: the next main waits at most wait_s, then goes mono
    t += 1 / 30
    sync.add_info(msg(t), t)
    assert sync.add_main(msg(t, "late"), t).ready == []
    assert sync.poll(t + 0.01).ready == []
    out = sync.poll(t + 0.06)
    assert [f.image.name for f in out.ready] == ["late"]
    assert out.ready[0].aux_image is None and "within sync_tolerance" in out.ready[0].mono_reason
    # once the stream is stale, mains are released immediately as mono
    t += 0.6
    sync.add_info(msg(t), t)
    out = sync.add_main(msg(t, "mono"), t)
    assert out.ready[0].aux_image is None and out.ready[0].mono_reason == "aux stream absent"
    # aux returns: engaged again
    t += 1 / 30
    sync.add_info(msg(t), t)
    sync.add_aux_info(msg(t), t)
    sync.add_aux(msg(t), t)
    assert sync.add_main(msg(t), t).ready[0].aux_image is not None


def test_first_frame_waits_for_an_announced_aux_camera() -> None:
    # without publishers on the aux topic the first frame runs mono at once
    sync = InputSync("auto", tolerance_s=0.01, wait_s=0.06)
    sync.add_info(msg(0.0), 0.0)
    sync.add_aux_info(msg(0.0, "auxinfo"), 0.0)
    out = sync.add_main(msg(1.0, "m0"), 1.0)
    assert out.ready[0].aux_image is None and out.ready[0].mono_reason == "aux stream absent"
    # the aux topic has a publisher: the first main frame waits for its partner
    sync.set_aux_publishers(1)
    assert sync.add_main(msg(2.0, "m1"), 2.0).ready == [] and sync.pending == 1
    out = sync.add_aux(msg(2.0, "a1"), 2.03)
    assert [(f.image.name, f.aux_image.name) for f in out.ready] == [("m1", "a1")]
    # ... but not longer than wait_s
    sync2 = InputSync("auto", tolerance_s=0.01, wait_s=0.06)
    sync2.add_info(msg(0.0), 0.0)
    sync2.set_aux_publishers(1)
    assert sync2.add_main(msg(5.0, "m"), 5.0).ready == []
    out = sync2.poll(5.07)
    assert out.ready[0].aux_image is None and "sync_tolerance" in out.ready[0].mono_reason
    # a paused aux stream whose publisher is still there: waited for again (wait_s at most)
    sync.add_aux(msg(2.1, "a2"), 2.1)
    assert sync.add_main(msg(9.0, "m2"), 9.0).ready == []  # 7 s later: stale, but announced
    sync2.set_aux_publishers(0)
    assert not sync2.aux_expected(6.0)


def test_no_wait_when_newer_aux_already_passed() -> None:
    sync = InputSync("auto", tolerance_s=0.005)
    sync.add_info(msg(0.0), 0.0)
    sync.add_aux(msg(2.0), 2.0)
    out = sync.add_main(msg(1.9), 2.001)  # its partner can no longer come
    assert len(out.ready) == 1 and out.ready[0].aux_image is None


def test_aux_mode_off_and_required() -> None:
    off = InputSync("off")
    off.add_info(msg(0.0), 0.0)
    off.add_aux(msg(1.0), 1.0)
    out = off.add_main(msg(1.0), 1.0)
    assert out.ready[0].aux_image is None and out.ready[0].mono_reason == ""
    req = InputSync("required", wait_s=0.05)
    req.add_info(msg(0.0), 0.0)
    out = req.add_main(msg(1.0), 1.0)
    assert out.ready == [] and out.dropped[0][1] == "aux_missing"
    with pytest.raises(ValueError, match="aux_mode"):
        InputSync("sometimes")


def test_camera_info_wait_then_drop_and_exact_stamp_preferred() -> None:
    sync = InputSync("off", wait_s=0.05)
    assert sync.add_main(msg(1.0, "m"), 1.0).ready == []
    out = sync.add_info(msg(1.0, "info1"), 1.01)  # arrives just after the image
    assert out.ready[0].info.name == "info1"
    sync.add_info(msg(2.0, "info2"), 2.0)
    sync.add_info(msg(3.0, "info3"), 3.0)
    assert sync.add_main(msg(2.0), 3.0).ready[0].info.name == "info2"  # same stamp
    # infos carry the image stamps: wait for the matching one ...
    assert sync.add_main(msg(4.0), 4.0).ready == []
    assert sync.add_info(msg(4.0, "info4"), 4.01).ready[0].info.name == "info4"
    # ... and when it never comes, take the latest after wait_s
    assert sync.add_main(msg(5.0), 5.0).ready == []
    assert sync.poll(5.06).ready[0].info.name == "info4"
    # a driver whose camera_info stamps never match its images: latest, without waiting
    static = InputSync("off", wait_s=0.05)
    static.add_info(msg(0.0, "static"), 0.0)
    assert static.add_main(msg(7.0), 7.0).ready[0].info.name == "static"
    fresh = InputSync("off", wait_s=0.05)
    fresh.add_main(msg(1.0), 1.0)
    out = fresh.poll(1.06)
    assert out.ready == [] and out.dropped[0][1] == "no_camera_info"


def test_latest_wins_and_bounded_pending() -> None:
    sync = InputSync("auto", tolerance_s=0.001, wait_s=10.0, ring=4)
    sync.add_info(msg(0.0), 0.0)
    sync.add_aux(msg(0.0), 0.0)
    dropped = 0
    for i in range(1, 20):  # aux alive but never matching: mains pile up, bounded
        out = sync.add_main(msg(i * 0.01), 0.001 * i)
        dropped += len(out.dropped)
        assert sync.pending <= 4
    assert dropped == 15
    sync.add_aux_info(msg(0.19), 0.02)
    out = sync.add_aux(msg(0.19), 0.02)  # matches the newest: the older ones are superseded
    assert [f.stamp for f in out.ready] == [190_000_000] and out.ready[0].aux_image is not None
    assert {kind for _, kind, _ in out.dropped} == {"superseded"} and sync.pending == 0
    sync.reset()
    assert sync.pending == 0 and sync.add_main(msg(0.5), 1.0).ready == []  # info forgotten


def test_latest_slot_replaces_and_closes() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is None and slot.put(2) == 1
    assert slot.take(0.01) == 2 and slot.take(0.01) is None
    slot.close()
    assert slot.put(3) == 3 and slot.take() is None


def test_worker_same_thread_errors_and_drop_accounting() -> None:
    threads: dict[str, int] = {}
    done: list[int] = []
    errors: list[BaseException] = []
    gate = threading.Event()

    def setup() -> str:
        threads["setup"] = threading.get_ident()
        return "runner"

    def process(resource: str, item: int) -> None:
        threads["process"] = threading.get_ident()
        gate.wait(5.0)
        if item < 0:
            raise ValueError("negative")
        done.append(item)

    def teardown(resource: str) -> None:
        threads["teardown"] = threading.get_ident()

    worker: InferenceWorker[int] = InferenceWorker(setup, process, teardown, errors.append)
    assert worker.start(5.0) == "runner"
    worker.submit(1)
    time.sleep(0.1)  # 1 is in process, blocked on the gate
    replaced = [worker.submit(i) for i in (2, 3, 4)]
    assert replaced == [None, 2, 3]  # only the latest waits
    gate.set()
    worker.submit(-1)
    time.sleep(0.2)
    worker.submit(5)
    assert worker.wait_idle(5.0)
    time.sleep(0.1)
    assert worker.stop(5.0)
    assert done[0] == 1 and 5 in done and 2 not in done and 3 not in done
    assert len(errors) == 1 and "negative" in str(errors[0])
    assert threads["setup"] == threads["process"] == threads["teardown"]
    assert threads["setup"] != threading.get_ident()


def test_worker_setup_failure_is_raised_by_start() -> None:
    def setup() -> None:
        raise FileNotFoundError("model.safetensors: no such file")

    worker: InferenceWorker[int] = InferenceWorker(setup, lambda r, i: None, lambda r: None,
                                                   lambda e: None)
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        worker.start(5.0)
    assert not worker.alive


def test_issue_log_throttles_per_kind() -> None:
    lines: list[str] = []
    log = IssueLog(lines.append, period_s=5.0)
    assert log.report("encoding", "unsupported encoding 'yuv'", 0.0)
    assert not log.report("encoding", "unsupported encoding 'yuv'", 1.0)
    assert log.report("focal", "fx = 0", 1.0)  # another kind is not throttled by the first
    assert log.report("encoding", "unsupported encoding 'yuv'", 6.0)
    assert len(lines) == 3 and "seen 3x" in lines[2] and "[encoding]" in lines[0]
    assert log.totals() == {"encoding": 3, "focal": 1}
    assert [i.kind for i in log.recent(7.0, 6.5)] == ["encoding", "focal"]
    assert [i.kind for i in log.recent(20.0, 5.0)] == []


def test_stats_rates_and_percentiles() -> None:
    stats = NodeStats(window_s=5.0, keep=100)
    for i in range(50):
        stats.frame_in(i * 0.1)
        stats.frame_out(i * 0.1, 0.01 * (i + 1), stereo=i % 2 == 0, mono_reason="",
                        stages={"infer": 0.005})
    stats.count("dropped", 3)
    snap = stats.snapshot(4.9)
    assert snap.frames_in == 50 and snap.frames_out == 50 and snap.dropped == 3
    assert snap.stereo_out == 25 and snap.last_stereo is False
    assert snap.fps_in == pytest.approx(10.0) and snap.fps_out == pytest.approx(10.0)
    assert snap.latency_p50_ms == pytest.approx(255.0)
    assert snap.latency_max_ms == pytest.approx(500.0)
    assert snap.stage_p50_ms["infer"] == pytest.approx(5.0)
