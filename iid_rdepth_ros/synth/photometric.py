"""Photometric differences between the two views: each view gets its own camera response.

A view's `ViewPhotometry` is drawn per frame from `PhotometricOptions` and applied to the clean
rendered image by `apply` (a pure function of the image and the recorded parameters, so the
metadata reproduces the pixels exactly). The steps, in order:

1. blur: Gaussian, `blur_sigma` px (0 = none; optics / focus);
2. white balance and exposure: channel c is multiplied by `gain * white_balance[c]`;
3. gamma: `x ** gamma` on [0, 1] after clipping (a different tone curve);
4. noise: Gaussian, `noise_sigma` grey levels (0..255 scale), from `noise_seed`;
5. rounding to uint8;
6. JPEG round trip at `jpeg_quality` (0 = none), through OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: uniforms one view's draw takes (fixed, so the stream never shifts with the options)
VIEW_UNIFORMS = 10


@dataclass(frozen=True)
class PhotometricOptions:
    """Ranges of the per-view camera response (each view drawn independently)."""

    gain: tuple[float, float] = (0.75, 1.33)  # exposure factor, log-uniform
    gamma: tuple[float, float] = (0.8, 1.25)  # log-uniform
    white_balance: float = 0.08  # max relative deviation of the R and B gains from G
    noise_sigma: tuple[float, float] = (0.0, 3.0)  # grey levels
    blur_sigma: tuple[float, float] = (0.3, 1.2)  # px, when blurred
    blur_probability: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 95)
    jpeg_probability: float = 0.4

    def __post_init__(self) -> None:
        for name in ("gain", "gamma", "noise_sigma", "blur_sigma"):
            lo, hi = getattr(self, name)
            if not (0 <= lo <= hi) or (name in ("gain", "gamma") and lo <= 0):
                raise ValueError(f"photometric {name} must be a range lo <= hi (> 0 for gain "
                                 f"and gamma), got {(lo, hi)}")
        q0, q1 = self.jpeg_quality
        if not 1 <= q0 <= q1 <= 100:
            raise ValueError(f"photometric jpeg_quality must be within 1..100, got {(q0, q1)}")
        for name in ("white_balance", "blur_probability", "jpeg_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"photometric {name} must be in [0, 1]")

    def draw(self, u: np.ndarray, noise_seed: int) -> ViewPhotometry:
        """One view's parameters from `VIEW_UNIFORMS` uniforms in [0, 1)."""

        def log_u(x: float, lo: float, hi: float) -> float:
            return float(np.exp(np.log(lo) + x * (np.log(hi) - np.log(lo))))

        wb = (1 + (2 * u[2] - 1) * self.white_balance, 1.0,
              1 + (2 * u[3] - 1) * self.white_balance)
        blur = (self.blur_sigma[0] + u[6] * (self.blur_sigma[1] - self.blur_sigma[0])
                if u[5] < self.blur_probability else 0.0)
        jpeg = (int(round(self.jpeg_quality[0] + u[8] * (self.jpeg_quality[1]
                                                         - self.jpeg_quality[0])))
                if u[7] < self.jpeg_probability else 0)
        noise = self.noise_sigma[0] + u[4] * (self.noise_sigma[1] - self.noise_sigma[0])
        return ViewPhotometry(gain=log_u(u[0], *self.gain), gamma=log_u(u[1], *self.gamma),
                              white_balance=tuple(float(x) for x in wb),
                              noise_sigma=float(noise), noise_seed=int(noise_seed),
                              blur_sigma=float(blur), jpeg_quality=jpeg)

    def to_json(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class ViewPhotometry:
    """The recorded response of one view (frames.jsonl `photometric.left` / `.right`)."""

    gain: float = 1.0
    gamma: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_sigma: float = 0.0
    noise_seed: int = 0
    blur_sigma: float = 0.0
    jpeg_quality: int = 0

    def to_json(self) -> dict:
        return {"gain": self.gain, "gamma": self.gamma, "white_balance": list(self.white_balance),
                "noise_sigma": self.noise_sigma, "noise_seed": self.noise_seed,
                "blur_sigma": self.blur_sigma, "jpeg_quality": self.jpeg_quality}

    @classmethod
    def from_json(cls, d: dict) -> ViewPhotometry:
        return cls(gain=float(d["gain"]), gamma=float(d["gamma"]),
                   white_balance=tuple(float(x) for x in d["white_balance"]),
                   noise_sigma=float(d["noise_sigma"]), noise_seed=int(d["noise_seed"]),
                   blur_sigma=float(d["blur_sigma"]), jpeg_quality=int(d["jpeg_quality"]))


def apply(image: np.ndarray, p: ViewPhotometry) -> np.ndarray:
    """The (H, W, 3) uint8 RGB `image` as seen through the camera response `p`."""
    import cv2

    x = image.astype(np.float32) * np.float32(1 / 255)
    if p.blur_sigma > 0:
        x = cv2.GaussianBlur(x, (0, 0), p.blur_sigma, borderType=cv2.BORDER_REFLECT_101)
    x *= np.asarray(p.white_balance, np.float32) * np.float32(p.gain)
    np.clip(x, 0.0, 1.0, out=x)
    if p.gamma != 1.0:
        x **= np.float32(p.gamma)
    x *= np.float32(255)
    if p.noise_sigma > 0:
        rng = np.random.default_rng(p.noise_seed)
        x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(p.noise_sigma)
    out = np.clip(x + np.float32(0.5), 0, 255).astype(np.uint8)
    if p.jpeg_quality > 0:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[:, :, ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, int(p.jpeg_quality)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    return out
