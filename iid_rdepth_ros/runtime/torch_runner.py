"""PyTorch backend: the checkpoint's model in eval mode under ``torch.inference_mode``."""

from __future__ import annotations

import numpy as np

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.artifacts.lazy_import import lazy_import
from iid_rdepth_ros.runtime.base import Runner
from iid_rdepth_ros.runtime.config import RunnerConfig
from iid_rdepth_ros.runtime.processing import NetworkInput


class TorchRunner(Runner):
    """Backend ``torch``: ``model_path`` is a checkpoint name (``default``) or path."""

    name = "torch"
    flexible_size = True  # the network is fully convolutional; any multiple of 32 runs

    def __init__(self, config: RunnerConfig) -> None:
        super().__init__(config)
        self._model = None
        self._device = "cpu"

    def _load(self) -> None:
        torch = lazy_import("torch", "the torch backend")
        from iid_rdepth_ros.model.checkpoint import load_model

        if str(self.config.model_path).endswith(".onnx"):
            raise RunnerError(f"the torch backend needs a checkpoint, not an ONNX graph "
                              f"({self.config.model_path}); use backend onnxruntime")
        device = self.config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.config.num_threads:
            torch.set_num_threads(self.config.num_threads)
        try:
            model, model_config, info = load_model(self.config.model_path,
                                                   steps=self.config.diffusion_steps,
                                                   stereo_refine=self.config.stereo_refine)
        except (ValueError, OSError, KeyError) as exc:
            raise RunnerError(f"cannot load checkpoint {self.config.model_path}: {exc}") from exc
        try:
            self._model = model.for_export().to(device)
        except RuntimeError as exc:
            raise RunnerError(f"cannot move the model to {device}: {exc}") from exc
        self._device = device
        self.canonical_focal = float(model_config.canonical_focal)
        self.steps = model_config.diffusion.steps
        self.has_stereo = getattr(self._model, "avlfe", None) is not None
        self.stereo_refined = getattr(self._model, "refiner", None) is not None
        self._extra_info = {"device": device, "threads": torch.get_num_threads(),
                            "model_variant": getattr(model, "variant", None), **info}

    def _forward(self, prepared: NetworkInput) -> np.ndarray:
        torch = lazy_import("torch")
        assert self._model is not None
        with torch.inference_mode():
            image = torch.from_numpy(prepared.image).to(self._device)
            aux = fb = None
            if prepared.stereo:
                aux = torch.from_numpy(prepared.aux).to(self._device)
                fb = torch.from_numpy(prepared.fb).to(self._device)
            depth = self._model(image, aux=aux, fb=fb)
            return depth.float().cpu().numpy()

    def _close(self) -> None:
        self._model = None
