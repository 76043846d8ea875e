"""Deterministic DDIM scheduler (eta = 0), kept separate from the denoiser network.

Notation: ``alphas_cumprod[t]`` = prod_{i<=t} (1 - beta_i) = a_t. One step from timestep
``t`` to ``p = t - num_train_timesteps // num_inference_steps``::

    x0  = model_output                                  (prediction_type "sample")
        | (x_t - sqrt(1 - a_t) * eps) / sqrt(a_t)       ("epsilon", eps = model_output)
        | sqrt(a_t) * x_t - sqrt(1 - a_t) * v           ("v_prediction")
    eps = (x_t - sqrt(a_t) * x0) / sqrt(1 - a_t)        (when not given)
    x_p = sqrt(a_p) * x0 + sqrt(1 - a_p) * eps          (a_p = 1 after the last step)

Timesteps are "leading" spaced: ``set_timesteps(4)`` with 1000 training steps gives
[750, 500, 250, 0]. The timestep passed to ``step`` is a Python int, so an unrolled sampling
loop has constant coefficients (a fixed ONNX graph).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTION_TYPES = ("sample", "epsilon", "v_prediction")


def make_betas(schedule: str, num_train_timesteps: int, beta_start: float,
               beta_end: float) -> Tensor:
    """Float64 betas of a named schedule.

    linear: ``linspace(beta_start, beta_end)``; scaled_linear:
    ``linspace(sqrt(beta_start), sqrt(beta_end)) ** 2``; squaredcos_cap_v2: the cosine
    schedule ``alpha_bar(t) = cos((t + 0.008) / 1.008 * pi / 2) ** 2`` with betas capped
    at 0.999.
    """
    n = num_train_timesteps
    if schedule == "linear":
        return torch.linspace(beta_start, beta_end, n, dtype=torch.float64)
    if schedule == "scaled_linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, n, dtype=torch.float64) ** 2

    if schedule == "squaredcos_cap_v2":
        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        betas = [min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), 0.999) for i in range(n)]
        return torch.tensor(betas, dtype=torch.float64)
    raise ValueError(f"unknown beta schedule {schedule!r}; known: {', '.join(BETA_SCHEDULES)}")


class DDIMScheduler:
    """DDIM sampler with ``set_timesteps(T)``, ``step(...)`` and ``add_noise(...)``."""

    def __init__(self, num_train_timesteps: int = 1000, beta_schedule: str = "scaled_linear",
                 beta_start: float = 0.00085, beta_end: float = 0.012,
                 prediction_type: str = "sample", set_alpha_to_one: bool = True,
                 steps_offset: int = 0) -> None:
        if num_train_timesteps < 1:
            raise ValueError(f"num_train_timesteps must be >= 1, got {num_train_timesteps}")
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"unknown prediction_type {prediction_type!r}; known: "
                             f"{', '.join(PREDICTION_TYPES)}")
        self.num_train_timesteps = num_train_timesteps
        self.prediction_type = prediction_type
        self.steps_offset = steps_offset
        self.betas = make_betas(beta_schedule, num_train_timesteps, beta_start, beta_end)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        # Python floats for ``step``: sampling reads no tensor on the host (capture-clean)
        self._alpha_cumprod_values: list[float] = self.alphas_cumprod.tolist()
        self.final_alpha_cumprod = 1.0 if set_alpha_to_one else float(self.alphas_cumprod[0])
        self.num_inference_steps: int | None = None
        self.timesteps: list[int] = []

    def set_timesteps(self, num_inference_steps: int) -> list[int]:
        """Choose the ``num_inference_steps`` timesteps (descending) used by ``step``."""
        if not 1 <= num_inference_steps <= self.num_train_timesteps:
            raise ValueError(f"num_inference_steps must be in [1, {self.num_train_timesteps}], "
                             f"got {num_inference_steps}")
        ratio = self.num_train_timesteps // num_inference_steps
        self.num_inference_steps = num_inference_steps
        self.timesteps = [i * ratio + self.steps_offset
                          for i in reversed(range(num_inference_steps))]
        return list(self.timesteps)

    def alpha_cumprod(self, timestep: int) -> float:
        """a_t, or the final value for ``timestep < 0``."""
        if timestep < 0:
            return self.final_alpha_cumprod
        return self._alpha_cumprod_values[timestep]

    def previous_timestep(self, timestep: int) -> int:
        if self.num_inference_steps is None:
            raise RuntimeError("call set_timesteps() before step()")
        return timestep - self.num_train_timesteps // self.num_inference_steps

    def step(self, model_output: Tensor, timestep: int, sample: Tensor) -> Tensor:
        """One deterministic DDIM step from ``timestep`` to the previous one: x_{t-1}."""
        timestep = int(timestep)
        if not 0 <= timestep < self.num_train_timesteps:
            raise ValueError(f"timestep {timestep} outside [0, {self.num_train_timesteps})")
        a_prev = self.alpha_cumprod(self.previous_timestep(timestep))
        x0, eps = self.split_prediction(model_output, timestep, sample)
        return math.sqrt(a_prev) * x0 + math.sqrt(1.0 - a_prev) * eps

    def split_prediction(self, model_output: Tensor, timestep: int,
                         sample: Tensor) -> tuple[Tensor, Tensor]:
        """(x0, eps) implied by the model output at ``timestep``."""
        a_t = self.alpha_cumprod(timestep)
        sa, sb = math.sqrt(a_t), math.sqrt(1.0 - a_t)
        if self.prediction_type == "sample":
            x0 = model_output
            eps = (sample - sa * x0) / sb
        elif self.prediction_type == "epsilon":
            eps = model_output
            x0 = (sample - sb * eps) / sa
        else:
            x0 = sa * sample - sb * model_output
            eps = sa * model_output + sb * sample
        return x0, eps

    def add_noise(self, original: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """Forward process q(x_t | x_0): ``sqrt(a_t) * x0 + sqrt(1 - a_t) * noise``."""
        a = self.alphas_cumprod.to(device=original.device)[timesteps.long()]
        a = a.to(original.dtype).reshape(-1, *([1] * (original.dim() - 1)))
        return a.sqrt() * original + (1 - a).sqrt() * noise
