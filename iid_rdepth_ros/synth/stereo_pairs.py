"""Stereo training pairs with exact dense disparity, for the learned matcher
(``model.stereo_matcher``): geometry, not one street.

Every source returns the same sample dict (numpy, one rectified pair at one size)::

    left, right  (H, W, 3) uint8 RGB        rectified pair (right camera at +B along x)
    disparity    (H, W) float32             left-view disparity in pixels of this image
                                            (the right view sees left pixel x at x - d);
                                            0 for points at infinity (synth-street sky)
    valid        (H, W) bool                where ``disparity`` is ground truth
    occluded     (H, W) bool                left pixels the right view does not see
                                            (hidden behind a nearer surface or out of frame)
    depth        (H, W) float32             metres = fb / disparity, 0 where none / infinite
    fb           float                      focal (pixels of this image) x baseline (metres)
    baseline     float                      metres (synth sources; planar scenes have none)
    source       str

Sources:
- ``SynthStreetPairs``: synth-street frames (``SynthStreet(seed).frame(i)``) with a random
  resize (a different focal length: disparity scales with the horizontal factor) and crop.
- ``PlanarPhotoPairs``: real photographs (scikit-image's shipped files; nothing downloads)
  and procedural textures on a random layered piecewise-planar scene. Each layer is a plane,
  so its disparity is affine in the image, ``d = a + b x + c y``, and has a shape (mask) and a
  texture attached to the left view's coordinates. The left view shows, per pixel, the layer
  with the largest disparity; the right view is rendered by inverse mapping per layer
  (``x_l = (x_r + a + c y) / (1 - b)``) with the same z-buffer rule, so occlusions and
  disocclusions are exact in both views. ``mode="photo"`` textures every layer with one
  photograph (the left view *is* that photograph), ``"collage"`` gives each layer its own
  texture (photo crops, dead-leaves, flat, stripes).
- ``photometric``: independent gain, gamma, white balance, noise, blur and JPEG per view, and a
  sub-pixel vertical shift of the right view (the disparity ground truth is unchanged).
- ``MixedPairs``: draws from several sources with given probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: scikit-image photographs held out of training for the semi-real evaluation (colour photos)
#: plus one that appears nowhere in training (not in synth-street's texture atlas either)
EVAL_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
UNSEEN_PHOTOS = ("retina",)
#: shipped (offline) scikit-image images the planar generator may train on
TRAIN_PHOTOS = ("camera", "coins", "moon", "clock", "page", "text", "brick", "grass", "gravel",
                "hubble_deep_field", "immunohistochemistry", "cell", "colorwheel", "logo")

Sample = dict


def load_photo(name: str) -> np.ndarray:
    """A shipped scikit-image image as (H, W, 3) uint8 RGB (grey replicated, alpha dropped)."""
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype != np.uint8:
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def load_photos(names: Sequence[str]) -> dict[str, np.ndarray]:
    return {n: load_photo(n) for n in names}


def _depth_from_disparity(disp: np.ndarray, valid: np.ndarray, fb: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        depth = np.where(valid & (disp > 0), fb / np.maximum(disp, 1e-6), 0.0)
    return depth.astype(np.float32)


# ----------------------------------------------------------------------------- synth-street


class SynthStreetPairs:
    """Random resize + crop of synth-street frames (pre-rendered pool or rendered on demand).

    ``scale``: range of the resize factor (both axes): the focal length and every disparity
    scale with it, so one street teaches several cameras. ``mode``: the synth mode
    (``geometry``: random cameras, near-range rooms and objects, photometric differences).
    """

    def __init__(self, seed: int, frames: int, height: int = 192, width: int = 640,
                 scale: tuple[float, float] = (0.55, 1.15), sequence_length: int = 20,
                 cache: bool = True, mode: str = "street") -> None:
        from .config import get_mode
        from .street import SynthStreet

        self.street = SynthStreet(seed, height, width, sequence_length, config=get_mode(mode))
        self.mode = mode
        self.frames = int(frames)
        self.scale = scale
        self.cache: dict[int, tuple] | None = {} if cache else None

    def _frame(self, i: int) -> tuple:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        f = self.street.frame(i)
        fb = float(f["fx"] * f["baseline_m"])
        depth, depth_r = f["depth"], f["depth_right"]
        # sky (depth 0) is at infinity: disparity 0 is its exact ground truth
        disp = np.where(depth > 0, fb / np.maximum(depth, 1e-6), 0.0).astype(np.float32)
        disp_r = np.where(depth_r > 0, fb / np.maximum(depth_r, 1e-6), 0.0).astype(np.float32)
        item = (f["left"], f["right"], disp, disp_r, fb, float(f["baseline_m"]))
        if self.cache is not None:
            self.cache[i] = item
        return item

    def full(self, i: int) -> Sample:
        """Frame ``i`` at its own size, no augmentation (for evaluation)."""
        left, right, disp, disp_r, fb, baseline = self._frame(i)
        occ = occlusion_mask(disp, disp_r)
        valid = np.ones(disp.shape, bool)
        return {"left": left, "right": right, "disparity": disp, "valid": valid,
                "occluded": occ, "depth": _depth_from_disparity(disp, valid, fb), "fb": fb,
                "baseline": baseline, "source": f"synth-{self.mode}"}

    def sample(self, rng: np.random.Generator, size: tuple[int, int]) -> Sample:
        import cv2

        left, right, disp, disp_r, fb, baseline = self._frame(int(rng.integers(self.frames)))
        h, w = size
        hs, ws = disp.shape
        lo = max(self.scale[0], h / hs, w / ws)
        s = float(np.exp(rng.uniform(math.log(lo), math.log(max(lo, self.scale[1])))))
        nh, nw = max(h, round(hs * s)), max(w, round(ws * s))
        sx = nw / ws
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        occ = occlusion_mask(disp, disp_r).astype(np.uint8)
        if (nh, nw) != (hs, ws):
            left = cv2.resize(left, (nw, nh), interpolation=interp)
            right = cv2.resize(right, (nw, nh), interpolation=interp)
            disp = cv2.resize(disp, (nw, nh), interpolation=cv2.INTER_NEAREST) * sx
            occ = cv2.resize(occ, (nw, nh), interpolation=cv2.INTER_NEAREST)
        y0 = int(rng.integers(nh - h + 1))
        x0 = int(rng.integers(nw - w + 1))
        crop = (slice(y0, y0 + h), slice(x0, x0 + w))
        disp = disp[crop].astype(np.float32)
        valid = np.ones(disp.shape, bool)
        occluded = occ[crop].astype(bool) | (np.arange(w)[None, :] - disp < 0)
        fb_s = fb * sx
        return {"left": np.ascontiguousarray(left[crop]),
                "right": np.ascontiguousarray(right[crop]), "disparity": disp, "valid": valid,
                "occluded": occluded, "depth": _depth_from_disparity(disp, valid, fb_s),
                "fb": fb_s, "baseline": baseline, "source": f"synth-{self.mode}"}


def occlusion_mask(disp: np.ndarray, disp_right: np.ndarray, tol: float = 1.0) -> np.ndarray:
    """Left pixels whose partner ``x - d`` is out of frame or shows a nearer surface."""
    h, w = disp.shape
    xr = np.rint(np.arange(w)[None, :] - disp).astype(np.int64)
    out = (xr < 0) | (xr >= w)
    seen = np.take_along_axis(disp_right, np.clip(xr, 0, w - 1), axis=1)
    return out | (seen > disp + tol)


# ------------------------------------------------------------------------ planar photo pairs


@dataclass
class Layer:
    mask: np.ndarray  # (H, Wc) bool on the texture canvas (left-view coordinates)
    plane: tuple[float, float, float]  # (a, b, c): d = a + b x + c y
    texture: np.ndarray  # (H, Wc, 3) float32 in [0, 1]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    import cv2

    sh, sw = max(2, int(h / scale)), max(2, int(w / scale))
    small = rng.standard_normal((sh, sw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def dead_leaves(rng: np.random.Generator, h: int, w: int, n: int = 400) -> np.ndarray:
    """Dead-leaves texture (random overlapping discs / boxes, power-law sizes), float RGB."""
    import cv2

    img = np.empty((h, w, 3), np.float32)
    img[:] = rng.uniform(0, 1, 3)
    rmin, rmax = 2.0, max(h, w) / 4
    for _ in range(n):
        u = rng.uniform()
        r = (rmin ** -2 + u * (rmax ** -2 - rmin ** -2)) ** -0.5  # p(r) ~ r^-3
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        col = tuple(float(c) for c in rng.uniform(0, 1, 3))
        if rng.uniform() < 0.6:
            cv2.circle(img, (int(cx), int(cy)), int(r), col, -1, lineType=cv2.LINE_AA)
        else:
            cv2.rectangle(img, (int(cx - r), int(cy - r * rng.uniform(0.3, 1))),
                          (int(cx + r), int(cy + r)), col, -1)
    return img


def _photo_canvas(rng: np.random.Generator, photo: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random crop of ``photo`` resized to (h, w), float RGB (random zoom and flip)."""
    import cv2

    ph, pw = photo.shape[:2]
    aspect = w / h
    zoom = rng.uniform(0.5, 1.0)
    ch = min(ph, pw / aspect) * zoom
    cw = ch * aspect
    y0 = rng.uniform(0, ph - ch)
    x0 = rng.uniform(0, pw - cw)
    crop = photo[int(y0):int(y0 + ch), int(x0):int(x0 + cw)]
    if rng.uniform() < 0.5:
        crop = crop[:, ::-1]
    interp = cv2.INTER_AREA if crop.shape[1] > w else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=interp
                      ).astype(np.float32) / 255.0


def _random_texture(rng: np.random.Generator, photos: list[np.ndarray], h: int, w: int
                    ) -> np.ndarray:
    kind = rng.choice(["photo", "leaves", "flat", "stripes", "noise"],
                      p=[0.5, 0.25, 0.1, 0.05, 0.1])
    if kind == "photo" and photos:
        tex = _photo_canvas(rng, photos[int(rng.integers(len(photos)))], h, w)
        tint = rng.uniform(0.7, 1.3, 3).astype(np.float32)
        return np.clip(tex * tint, 0, 1)
    if kind == "leaves" or (kind == "photo" and not photos):
        return dead_leaves(rng, h, w, n=int(rng.integers(100, 600)))
    base = rng.uniform(0.05, 0.95, 3).astype(np.float32)
    if kind == "flat":  # textureless, a faint shading gradient and noise
        g = _smooth_noise(rng, h, w, max(h, w) / 2)[:, :, None] * 0.03
        return np.clip(base + g + rng.normal(0, 0.004, (h, w, 1)), 0, 1).astype(np.float32)
    if kind == "stripes":  # repetitive structure
        period = rng.uniform(4, 24)
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        s = np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / period)
        return np.clip(base + 0.25 * s[:, :, None], 0, 1).astype(np.float32)
    n = _smooth_noise(rng, h, w, rng.uniform(1, 12))
    n = (n - n.mean()) / (n.std() + 1e-6)
    return np.clip(base + rng.uniform(0.05, 0.25) * n[:, :, None], 0, 1).astype(np.float32)


def _random_mask(rng: np.random.Generator, h: int, w: int, x0: float, x1: float) -> np.ndarray:
    """A random shape inside columns [x0, x1) of an (h, w) canvas."""
    import cv2

    m = np.zeros((h, w), np.uint8)
    cx = rng.uniform(x0, x1)
    cy = rng.uniform(0, h)
    rx = (x1 - x0) * rng.uniform(0.03, 0.3)
    ry = h * rng.uniform(0.05, 0.5)
    kind = rng.choice(["ellipse", "rect", "poly", "blob", "pole"])
    if kind == "ellipse":
        cv2.ellipse(m, (int(cx), int(cy)), (int(rx) + 1, int(ry) + 1), rng.uniform(0, 180), 0,
                    360, 1, -1)
    elif kind == "rect":
        cv2.rectangle(m, (int(cx - rx), int(cy - ry)), (int(cx + rx), int(cy + ry)), 1, -1)
    elif kind == "pole":  # thin structure
        t = rng.uniform(1, 6)
        if rng.uniform() < 0.7:
            cv2.rectangle(m, (int(cx - t), int(cy - ry * 2)), (int(cx + t), h), 1, -1)
        else:
            cv2.rectangle(m, (int(cx - rx * 2), int(cy - t)), (int(cx + rx * 2), int(cy + t)),
                          1, -1)
    elif kind == "poly":
        k = int(rng.integers(3, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(0.4, 1.0, k)
        pts = np.stack([cx + rx * rad * np.cos(ang), cy + ry * rad * np.sin(ang)], 1)
        cv2.fillPoly(m, [pts.astype(np.int32)], 1)
    else:
        n = _smooth_noise(rng, h, w, rng.uniform(8, 40))
        yy, xx = np.mgrid[:h, :w]
        env = np.exp(-(((xx - cx) / (rx + 1)) ** 2 + ((yy - cy) / (ry + 1)) ** 2))
        m = ((n + 3 * env - 2.2) > 0).astype(np.uint8)
    return m.astype(bool)


def _plane_over(rng: np.random.Generator, mask: np.ndarray, lo: float, hi: float,
                max_slant: float) -> tuple[float, float, float]:
    """(a, b, c) of a plane whose disparity over ``mask`` stays within [lo, hi]."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return (float(rng.uniform(lo, hi)), 0.0, 0.0)
    xm, ym = xs.mean(), ys.mean()
    dx, dy = max(1.0, np.ptp(xs)), max(1.0, np.ptp(ys))
    d0 = rng.uniform(lo, hi)
    room = min(d0 - lo, hi - d0)
    b = rng.uniform(-1, 1) * min(max_slant, room / dx)
    c = rng.uniform(-1, 1) * min(max_slant, max(0.0, room - abs(b) * dx) / dy)
    return (float(d0 - b * xm - c * ym), float(b), float(c))


class PlanarPhotoPairs:
    """Layered piecewise-planar scenes textured with photographs (see the module docstring).

    ``max_disparity``: the largest disparity generated (pixels of the output); each scene draws
    its own range, log-uniform, so small and large ranges are both common.
    ``mode``: probability of "photo" (one photograph, left view = the photo) vs "collage".
    """

    def __init__(self, photos: dict[str, np.ndarray], max_disparity: float = 192.0,
                 photo_mode_prob: float = 0.5, max_layers: int = 10,
                 min_range: float = 2.0) -> None:
        if not photos:
            raise ValueError("PlanarPhotoPairs needs at least one photograph")
        self.photos = list(photos.values())
        self.names = list(photos)
        self.max_disparity = float(max_disparity)
        self.photo_mode_prob = photo_mode_prob
        self.max_layers = max_layers
        self.min_range = min_range

    def sample(self, rng: np.random.Generator, size: tuple[int, int],
               photo: int | None = None) -> Sample:
        h, w = size
        dmax = float(np.exp(rng.uniform(math.log(self.min_range),
                                        math.log(self.max_disparity))))
        pad = int(math.ceil(dmax)) + 2
        wc = w + pad  # texture canvas: the right view sees left coordinates up to w - 1 + d
        photo_mode = rng.uniform() < self.photo_mode_prob
        if photo_mode:
            src = self.photos[int(rng.integers(len(self.photos))) if photo is None else photo]
            shared = _photo_canvas(rng, src, h, wc)

        def texture() -> np.ndarray:
            if photo_mode:
                return shared
            return _random_texture(rng, self.photos, h, wc)

        layers: list[Layer] = []
        # background: far plane (sometimes at ~infinity), slanted like a floor or a wall
        full = np.ones((h, wc), bool)
        bg_hi = dmax * rng.uniform(0.05, 0.6)
        bg_lo = 0.0 if rng.uniform() < 0.3 else bg_hi * rng.uniform(0.0, 0.8)
        layers.append(Layer(full, _plane_over(rng, full, bg_lo, bg_hi, 0.3), texture()))
        if rng.uniform() < 0.4:  # a ground plane rising towards the camera at the bottom
            top = int(rng.uniform(0.3, 0.8) * h)
            ground = np.zeros((h, wc), bool)
            ground[top:] = True
            d_top = bg_hi * rng.uniform(0.8, 1.2)
            d_bot = rng.uniform(d_top, dmax)
            c = (d_bot - d_top) / max(1, h - 1 - top)
            layers.append(Layer(ground, (d_top - c * top, 0.0, float(c)), texture()))
        for _ in range(int(rng.integers(0, self.max_layers + 1))):
            mask = _random_mask(rng, h, wc, 0, wc)
            lo = dmax * rng.uniform(0.05, 0.9)
            hi = rng.uniform(lo, dmax)
            layers.append(Layer(mask, _plane_over(rng, mask, lo, hi, 0.4), texture()))
        left, disp_l = _render(layers, h, w, right=False)
        right, disp_r = _render(layers, h, w, right=True)
        occ = occlusion_mask(disp_l, disp_r)
        fb = float(rng.uniform(20.0, 400.0))  # any camera: depth = fb / d
        valid = np.ones((h, w), bool)
        to8 = (lambda x: np.clip(np.rint(x * 255), 0, 255).astype(np.uint8))
        return {"left": to8(left), "right": to8(right), "disparity": disp_l, "valid": valid,
                "occluded": occ, "depth": _depth_from_disparity(disp_l, valid, fb), "fb": fb,
                "source": "planar-photo" if photo_mode else "planar-collage"}


def _render(layers: list[Layer], h: int, w: int, right: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """(image (h, w, 3) float, disparity (h, w)) of the left or right view (z-buffer)."""
    import cv2

    img = np.zeros((h, w, 3), np.float32)
    best = np.full((h, w), -np.inf, np.float32)
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    for layer in layers:
        a, b, c = layer.plane
        if right:  # right pixel x_r sees left coordinate x_l with x_l - d(x_l) = x_r
            xl = ((xs + a + c * ys) / (1.0 - b)).astype(np.float32)
            xl = np.broadcast_to(xl, (h, w)).astype(np.float32)
            yl = np.broadcast_to(ys, (h, w)).astype(np.float32)
            cover = cv2.remap(layer.mask.astype(np.uint8), xl, yl, cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
            colour = cv2.remap(layer.texture, xl, yl, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
            d = a + b * xl + c * yl
        else:
            cover = layer.mask[:, :w]
            colour = layer.texture[:, :w]
            d = np.broadcast_to(a + b * xs + c * ys, (h, w))
        win = cover & (d > best)
        best = np.where(win, d, best)
        img[win] = colour[win]
    disp = np.where(np.isfinite(best), best, 0.0).astype(np.float32)
    return img, np.maximum(disp, 0.0)


# ----------------------------------------------------------------------------- photometric


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1] if ok else img


def _view_photometric(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    import cv2

    x = img.astype(np.float32) / 255.0
    if rng.uniform() < 0.3 * strength:
        s = rng.uniform(0.3, 1.2)
        x = cv2.GaussianBlur(x, (0, 0), s)
    gamma = float(np.exp(rng.uniform(-0.25, 0.25) * strength))
    x = np.clip(x, 0, 1) ** gamma
    gain = float(np.exp(rng.uniform(-0.25, 0.25) * strength))
    wb = np.exp(rng.uniform(-0.08, 0.08, 3) * strength).astype(np.float32)
    x = x * gain * wb
    sigma = rng.uniform(0, 0.02) * strength
    if sigma > 0:
        x = x + rng.normal(0, sigma, x.shape).astype(np.float32)
    out = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    if rng.uniform() < 0.3 * strength:
        out = _jpeg(out, int(rng.integers(40, 96)))
    return out


def photometric(rng: np.random.Generator, sample: Sample, strength: float = 1.0,
                max_vshift: float = 0.5) -> Sample:
    """Independent photometric changes per view and a sub-pixel vertical shift of the right
    view (ground truth unchanged: it is the rectification error the matcher must tolerate)."""
    import cv2

    out = dict(sample)
    out["left"] = _view_photometric(rng, sample["left"], strength)
    right = _view_photometric(rng, sample["right"], strength)
    if max_vshift > 0 and rng.uniform() < 0.5:
        dy = rng.uniform(-max_vshift, max_vshift)
        m = np.float32([[1, 0, 0], [0, 1, dy]])
        right = cv2.warpAffine(right, m, (right.shape[1], right.shape[0]),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out["right"] = right
    return out


# ---------------------------------------------------------------------------------- mixing


class MixedPairs:
    """Draw each sample from one of ``sources`` (objects with ``sample(rng, size)``) with the
    given probabilities, then apply ``photometric`` with probability ``photometric_prob``."""

    def __init__(self, sources: Sequence[tuple[object, float]], photometric_prob: float = 0.8,
                 transform: Callable[[np.random.Generator, Sample], Sample] | None = None
                 ) -> None:
        self.sources = [s for s, _ in sources]
        p = np.asarray([p for _, p in sources], float)
        self.probs = p / p.sum()
        self.photometric_prob = photometric_prob
        self.transform = transform

    def sample(self, rng: np.random.Generator, size: tuple[int, int]) -> Sample:
        src = self.sources[int(rng.choice(len(self.sources), p=self.probs))]
        s = src.sample(rng, size)  # type: ignore[attr-defined]
        if rng.uniform() < self.photometric_prob:
            s = photometric(rng, s)
        if self.transform is not None:
            s = self.transform(rng, s)
        return s


def to_batch(samples: Sequence[Sample]) -> dict:
    """Stack samples into torch tensors: left/right (B, 3, H, W) [0, 1], disparity / valid /
    occluded (B, 1, H, W), fb (B,)."""
    import torch

    def img(key: str) -> torch.Tensor:
        x = np.stack([s[key] for s in samples]).transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)

    def plane(key: str, dtype=np.float32) -> torch.Tensor:
        return torch.from_numpy(np.stack([s[key] for s in samples]).astype(dtype)[:, None])

    return {"left": img("left"), "right": img("right"), "disparity": plane("disparity"),
            "valid": plane("valid", bool), "occluded": plane("occluded", bool),
            "fb": torch.tensor([float(s["fb"]) for s in samples], dtype=torch.float32),
            "source": [s["source"] for s in samples]}
