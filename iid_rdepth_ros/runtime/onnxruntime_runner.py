"""ONNX Runtime backend: CPU execution provider, CUDA or TensorRT where the installed build has
them (``RunnerConfig.ort_provider``).

Sessions use all graph optimisations and the graph rewrites of ``ort_rewrite`` (channel
softmax as element-wise ops: same maths, much faster on the CPU provider).

``model_path`` is an exported ``.onnx``; its partner variant beside it is found through the
``mono.onnx`` / ``stereo.onnx`` names and the graphs' metadata. The caller hands the runner its
graph: ``export.open_runner`` exports a checkpoint once (cached) for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.artifacts.lazy_import import lazy_import
from iid_rdepth_ros.runtime.base import Runner
from iid_rdepth_ros.runtime.config import RunnerConfig
from iid_rdepth_ros.runtime.processing import NetworkInput

#: ``RunnerConfig.ort_provider`` -> ONNX Runtime's execution provider names
PROVIDER_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
                  "tensorrt": "TensorrtExecutionProvider"}


def select_providers(ort: Any, config: RunnerConfig) -> list[Any]:
    """Execution providers for ``config.ort_provider`` (see ``RunnerConfig``), best first;
    RunnerError when a requested one is not in this onnxruntime build."""
    available = ort.get_available_providers()
    choice = config.ort_provider
    if choice == "auto":
        gpu = config.device != "cpu" and PROVIDER_NAMES["cuda"] in available
        return [PROVIDER_NAMES["cuda"], PROVIDER_NAMES["cpu"]] if gpu else [PROVIDER_NAMES["cpu"]]
    if PROVIDER_NAMES[choice] not in available:
        raise RunnerError(f"ort_provider {choice!r}: this onnxruntime has no "
                          f"{PROVIDER_NAMES[choice]} (available: {', '.join(available)}); "
                          "install onnxruntime-gpu built for this machine's CUDA")
    chain: list[Any] = [PROVIDER_NAMES["cpu"]]
    if choice in ("cuda", "tensorrt") and PROVIDER_NAMES["cuda"] in available:
        chain.insert(0, PROVIDER_NAMES["cuda"])
    if choice == "tensorrt":  # engines and timing caches kept between sessions
        cache = Path(config.cache_dir or Path.home() / ".cache" / "iid_rdepth_ros") / "ort_trt"
        chain.insert(0, (PROVIDER_NAMES["tensorrt"], {
            "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True, "trt_timing_cache_path": str(cache)}))
    return chain


def session_options(ort: Any, num_threads: int | None, spin_wait: bool = True) -> Any:
    """All graph optimisations, intra-op threads = cores (or ``num_threads``), sequential;
    ``spin_wait=False`` lets idle intra-op threads sleep instead of spinning."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = num_threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if not spin_wait:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


#: graph outputs the runner hands on (``confidence`` where the model gives one)
OUTPUT_NAMES = ("depth", "confidence")

#: Metadata two graphs must share to be the mono/stereo pair of one export.
SAME_EXPORT_KEYS = ("model", "checkpoint_sha256", "steps", "height", "width", "canonical_focal",
                    "min_depth", "max_depth")


def create_session(ort: Any, path: Path, options: Any, providers: list[str]) -> Any:
    """An InferenceSession on the graph after the CPU rewrites of ``ort_rewrite`` (in memory;
    graphs with external weights are loaded from their file as they are)."""
    import onnx

    from iid_rdepth_ros.runtime.ort_rewrite import decompose_channel_softmax

    model = onnx.load(str(path), load_external_data=False)
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    model, _ = decompose_channel_softmax(model)
    return ort.InferenceSession(model.SerializeToString(), sess_options=options,
                                providers=providers)


def find_graphs(onnx_path: Path) -> dict[str, Path]:
    """``{"mono": path, "stereo": path}``: a graph plus its partner variant beside it
    (``mono.onnx`` / ``stereo.onnx``) when that comes from the same export."""
    from iid_rdepth_ros.artifacts.onnx_meta import get_metadata

    try:
        meta = get_metadata(onnx_path)
    except (ValueError, FileNotFoundError) as exc:
        raise RunnerError(str(exc)) from exc
    variant = meta["variant"]
    graphs = {variant: onnx_path}
    other = "stereo" if variant == "mono" else "mono"
    partner = onnx_path.with_name(f"{other}.onnx")
    if partner.is_file() and partner != onnx_path:
        try:
            partner_meta = get_metadata(partner)
        except ValueError:
            return graphs
        if all(partner_meta.get(k) == meta.get(k) for k in SAME_EXPORT_KEYS):
            graphs[other] = partner
    return graphs


class OnnxRuntimeRunner(Runner):
    """Backend ``onnxruntime``."""

    name = "onnxruntime"

    def __init__(self, config: RunnerConfig) -> None:
        super().__init__(config)
        self._sessions: dict[str, Any] = {}

    def _resolve(self) -> dict[str, Path]:
        path = Path(self.config.model_path).expanduser()
        if path.suffix != ".onnx":
            raise RunnerError(f"the onnxruntime backend runs an exported .onnx graph, not "
                              f"{self.config.model_path} (export it with `iid-rdepth export`; "
                              "export.open_runner does it for a checkpoint)")
        if not path.is_file():
            raise RunnerError(f"ONNX model {path} does not exist")
        return find_graphs(path)

    def _load(self) -> None:
        ort = lazy_import("onnxruntime", "the onnxruntime backend")
        from iid_rdepth_ros.artifacts.onnx_meta import get_metadata

        graphs = self._resolve()
        if "mono" not in graphs:
            raise RunnerError(f"no mono graph next to {graphs.get('stereo')} (expected mono.onnx)")
        options = session_options(ort, self.config.num_threads, self.config.spin_wait)
        chosen = select_providers(ort, self.config)
        metas = {}
        for variant, path in graphs.items():
            try:
                metas[variant] = get_metadata(path)
                self._sessions[variant] = create_session(ort, path, options, chosen)
            except Exception as exc:  # ORT raises its own exception types for bad files
                self._sessions.clear()
                raise RunnerError(f"onnxruntime cannot load {path}: {exc}") from exc
            self._check_graph(variant, path, metas[variant])
        mono = metas["mono"]
        self.canonical_focal = float(mono["canonical_focal"])
        self.depth_range = (float(mono["min_depth"]), float(mono["max_depth"]))
        self.steps = int(mono["steps"])
        self.has_stereo = "stereo" in self._sessions
        self.stereo_refined = bool(metas.get("stereo", {}).get("stereo_refine", False))
        self._extra_info = {"providers": self._sessions["mono"].get_providers(),
                            "graphs": {v: str(p) for v, p in graphs.items()}}

    def _check_graph(self, variant: str, path: Path, meta: dict[str, Any]) -> None:
        want = (self.config.input_height, self.config.input_width)
        have = (int(meta["height"]), int(meta["width"]))
        problems = []
        if have != want:
            problems.append(f"exported at {have[0]}x{have[1]}, runner configured for "
                            f"{want[0]}x{want[1]}")
        steps = self.config.diffusion_steps
        if steps is not None and int(meta["steps"]) != steps:
            problems.append(f"exported with T={meta['steps']}, runner configured for T={steps}")
        if variant == "stereo" and not self.config.stereo_refine and meta.get("stereo_refine"):
            problems.append("exported with the stereo refinement, runner configured with "
                            "stereo_refine off (export with --no-stereo-refine)")
        wanted = self.config.max_disparity
        if variant == "stereo" and wanted is not None:
            have_range = meta.get("max_disparity")
            if have_range is None:
                problems.append(f"max_disparity {wanted} configured, but the graph has no "
                                "geometry-first stereo matcher")
            elif int(have_range) != wanted:
                problems.append(f"exported with max_disparity {have_range}, runner configured "
                                f"for {wanted} (export with --max-disparity {wanted})")
        names = {i.name for i in self._sessions[variant].get_inputs()}
        expected = {"image"} if variant == "mono" else {"image", "aux", "fb"}
        if names != expected:
            problems.append(f"inputs {sorted(names)}, expected {sorted(expected)}")
        if problems:
            self._sessions.clear()
            raise RunnerError(f"{path} ({variant}) does not fit: " + "; ".join(problems))

    def _forward(self, prepared: NetworkInput) -> dict[str, np.ndarray]:
        if prepared.stereo:
            variant = "stereo"
            feeds = {"image": prepared.image, "aux": prepared.aux, "fb": prepared.fb}
        else:
            variant, feeds = "mono", {"image": prepared.image}
        session = self._sessions[variant]
        names = [o.name for o in session.get_outputs() if o.name in OUTPUT_NAMES]
        return dict(zip(names, session.run(names, feeds), strict=True))

    def _close(self) -> None:
        self._sessions.clear()
