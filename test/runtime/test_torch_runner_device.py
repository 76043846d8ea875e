"""The torch runner's device path (pre/post-processing as torch ops, pinned buffers and CUDA
graphs on a GPU) gives the depth the shared numpy path gives; its options fail clearly.

Here it runs on the CPU (``device_processing="on"``, eager); test_cuda_graphs.py runs it on a
GPU where one exists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.bench.frames import procedural_frame
from iid_rdepth_ros.runtime import RunnerConfig, create_runner
from iid_rdepth_ros.runtime.processing import preprocess

SIZE = {"input_height": 64, "input_width": 192, "diffusion_steps": 1}


def _pair(checkpoint: Path, **options):
    base = {"backend": "torch", "model_path": str(checkpoint), "device": "cpu",
            "num_threads": 1, **SIZE, **options}
    return (create_runner(RunnerConfig(**base)),
            create_runner(RunnerConfig(**base, device_processing="on")))


@pytest.fixture(scope="module")
def runners(untrained_checkpoint: Path):
    host, device = _pair(untrained_checkpoint)
    with host, device:
        yield host, device




@pytest.mark.parametrize("stereo", [False, True], ids=["mono", "stereo"])
@pytest.mark.parametrize("resolution", ["input", "network"])
@pytest.mark.parametrize("camera", [(120, 360), (48, 150)], ids=["shrink", "enlarge"])
def test_device_path_equals_the_host_path(runners, stereo: bool, resolution: str,
                                          camera: tuple[int, int]) -> None:
    host, device = runners
    frame = procedural_frame(*camera, seed=2, stereo=stereo)
    kwargs = {"aux": frame.aux, "intrinsics": frame.intrinsics, "baseline_m": frame.baseline_m,
              "output_resolution": resolution}
    ref, out = host.infer(frame.image, **kwargs), device.infer(frame.image, **kwargs)
    assert out.shape == ref.shape and out.dtype == np.float32
    assert np.array_equal(np.isnan(out), np.isnan(ref))
    ok = np.isfinite(ref)
    rel = np.abs(out[ok] - ref[ok]) / ref[ok]
    if camera == (120, 360):  # shrinking: identical network inputs
        assert rel.max() <= 1e-5
    elif not stereo:  # enlarging: OpenCV's fixed-point INTER_LINEAR puts some inputs a grey
        # level apart (test_device_processing bounds that)
        assert np.median(rel) < 5e-3 and (rel > 0.02).mean() < 0.05
    else:  # the (untrained, randomly perturbed) stereo matching turns those one-level input
        # differences into whole-match differences on a few per cent of the pixels
        assert np.median(rel) < 5e-3
    assert device.last_latency_s is not None and device.last_latency_s > 0


@pytest.fixture(scope="module")
def matcher_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from eval_fixtures import make_matcher_checkpoint

    return make_matcher_checkpoint(tmp_path_factory.mktemp("matcher") / "model")


@pytest.mark.parametrize("resolution", ["input", "network"])
def test_device_path_gives_the_matchers_confidence(matcher_checkpoint: Path,
                                                   resolution: str) -> None:
    # the geometry-first stereo model: the device path hands on the matcher's confidence as
    # the host path does (same size as depth, NaN where depth is, [0, 1] elsewhere)
    host, device = _pair(matcher_checkpoint)
    frame = procedural_frame(120, 360, seed=3, stereo=True)
    kwargs = {"aux": frame.aux, "intrinsics": frame.intrinsics, "baseline_m": frame.baseline_m,
              "output_resolution": resolution}
    with host, device:
        ref = host.infer_full(frame.image, **kwargs)
        out = device.infer_full(frame.image, **kwargs)
        mono = device.infer_full(frame.image, intrinsics=frame.intrinsics,
                                 output_resolution=resolution)
        prepared = preprocess(frame.image, (64, 192), frame.intrinsics, frame.aux,
                              frame.baseline_m, host.canonical_focal)
        net_host = host.infer_network_outputs(prepared)
        net_device = device.infer_network_outputs(prepared)
    assert ref.confidence is not None and out.confidence is not None
    assert out.confidence.shape == out.depth.shape == ref.depth.shape
    assert np.array_equal(np.isnan(out.confidence), np.isnan(out.depth))
    ok = np.isfinite(ref.confidence) & np.isfinite(out.confidence)
    assert ok.mean() > 0.5
    assert np.abs(out.confidence[ok] - ref.confidence[ok]).max() <= 1e-5
    assert out.confidence[ok].min() >= 0.0 and out.confidence[ok].max() <= 1.0
    assert mono.confidence is None  # no aux view: no stereo confidence
    assert set(net_device) == set(net_host) == {"depth", "confidence"}
    for key in net_host:
        assert np.allclose(net_device[key], net_host[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("device_processing", ["off", "on"])
def test_min_confidence_masks_depth(matcher_checkpoint: Path, device_processing: str) -> None:
    frame = procedural_frame(120, 360, seed=3, stereo=True)
    kwargs = {"aux": frame.aux, "intrinsics": frame.intrinsics, "baseline_m": frame.baseline_m}
    base = {"backend": "torch", "model_path": str(matcher_checkpoint), "device": "cpu",
            "num_threads": 1, "device_processing": device_processing, **SIZE}
    with create_runner(RunnerConfig(**base)) as keep_all:
        ref = keep_all.infer_full(frame.image, **kwargs)
        mono = keep_all.infer_full(frame.image, intrinsics=frame.intrinsics)
    threshold = float(np.nanmedian(ref.confidence))  # masks about half of the pixels
    with create_runner(RunnerConfig(**base, min_confidence=threshold)) as masking:
        out = masking.infer_full(frame.image, **kwargs)
        depth_only = masking.infer(frame.image, **kwargs)
        mono_masked = masking.infer_full(frame.image, intrinsics=frame.intrinsics)
    low = ref.confidence < threshold
    assert 0.2 < low.mean() < 0.8
    assert np.isnan(out.depth[low]).all() and np.isnan(out.confidence[low]).all()
    keep = ~low & np.isfinite(ref.depth)
    assert np.array_equal(out.depth[keep], ref.depth[keep])
    assert np.array_equal(np.isnan(depth_only), np.isnan(out.depth))
    # no confidence without an aux view: mono depth is not masked
    assert mono_masked.confidence is None
    assert np.array_equal(np.isnan(mono_masked.depth), np.isnan(mono.depth))


@pytest.mark.parametrize("value", [-0.1, 1.5, True, "0.5", float("nan")])
def test_min_confidence_out_of_range_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="min_confidence must be a number in \\[0, 1\\]"):
        RunnerConfig(min_confidence=value).validate()


def test_network_only_call_and_info(runners) -> None:
    host, device = runners
    frame = procedural_frame(120, 360, seed=4)
    prepared = preprocess(frame.image, (64, 192), frame.intrinsics, frame.aux, frame.baseline_m,
                          host.canonical_focal)
    assert np.array_equal(device.infer_network(prepared), host.infer_network(prepared))
    info = device.info
    assert info["device_processing"] is True and info["cuda_graphs"] == "off"
    assert info["pinned_buffers"] is False and info["graphs"] >= 1
    assert host.info["device_processing"] is False


def test_bad_frames_fail_as_on_the_host_path(runners) -> None:
    _, device = runners
    frame = procedural_frame(120, 360, seed=4)
    with pytest.raises(ValueError, match="baseline_m is required"):
        device.infer(frame.image, aux=frame.aux, intrinsics=frame.intrinsics)
    with pytest.raises(ValueError, match="intrinsics are required"):
        device.infer(frame.image)
    with pytest.raises(ValueError, match="uint8"):
        device.infer(frame.image.astype(np.float32), intrinsics=frame.intrinsics)


@pytest.mark.parametrize(("option", "words"), [({"cuda_graphs": "capture"}, "needs a CUDA"),
                                              ({"cuda_graphs": "compile"}, "needs a CUDA"),
                                              ({"autocast": "fp16"}, "needs a CUDA")])
def test_cuda_only_options_on_the_cpu_are_a_clear_error(untrained_checkpoint: Path,
                                                        option: dict, words: str) -> None:
    runner = create_runner(RunnerConfig(backend="torch", model_path=str(untrained_checkpoint),
                                        device="cpu", **SIZE, **option))
    with pytest.raises(RunnerError, match=words):
        runner.load()


@pytest.mark.parametrize("field", ["cuda_graphs", "autocast", "device_processing",
                                   "ort_provider"])
def test_bad_option_values_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RunnerConfig(**{field: "fastest"}).validate()
    with pytest.raises(ValueError, match="device is 'cpu'"):
        RunnerConfig(device="cpu", ort_provider="tensorrt").validate()


def test_graph_slots_are_bounded(untrained_checkpoint: Path) -> None:
    runner = create_runner(RunnerConfig(backend="torch", model_path=str(untrained_checkpoint),
                                        device="cpu", device_processing="on", **SIZE))
    with runner:
        runner._pipeline.max_graphs = 2
        for camera in ((64, 192), (96, 200), (120, 360)):
            frame = procedural_frame(*camera, seed=1, stereo=False)
            assert np.isfinite(runner.infer(frame.image, intrinsics=frame.intrinsics)).any()
        assert runner.info["graphs"] == 2
