"""Texture atlas for synth-street: real photos shipped with scikit-image plus procedural noise.

All tiles are square RGB images of `TILE` texels, made seamless (wrap-around) where they are
natural textures, and stored with their mip levels in one padded uint8 atlas so that the renderer
can sample every pixel of a view with a single bilinear `cv2.remap` call. Nothing is downloaded:
only images that scikit-image ships inside its wheel are used. The atlas does not depend on the
data seed (variety comes from per-object tile, tint, scale and offset), and it is built once per
process (`get_atlas()`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

TILE = 256
LEVELS = 6  # 256, 128, 64, 32, 16, 8 texels
PAD = 1  # wrap-around border so bilinear taps never leave a tile
ATLAS_COLS = 8

# Tile groups used by the scene builder (names must exist in `_tile_sources`).
FACADE_TILES = ("brick", "stucco", "concrete", "plaster", "panels", "brick_fine")
MURAL_TILES = ("astronaut", "coffee", "chelsea", "rocket", "hubble", "ihc", "camera", "text",
               "page", "coins", "moon", "clock")
PROP_TILES = ("concrete", "panels", "gravel", "camera", "coins", "text", "paint", "noise")


@dataclass(frozen=True)
class Atlas:
    """All tiles and their mip levels packed in one image.

    `origin[tile, level]` is the (x, y) atlas position of texel (0, 0) of that tile's level;
    level `l` of a tile is `TILE >> l` texels wide.
    """

    image: np.ndarray  # (H, W, 3) uint8, RGB
    origin: np.ndarray  # (n_tiles, LEVELS, 2) float32
    names: tuple[str, ...]

    def index(self, name: str) -> int:
        """Tile index of `name` (ValueError if unknown)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"unknown texture tile {name!r}; have {self.names}") from None


def _square(img: np.ndarray, size: int = TILE) -> np.ndarray:
    """Centre-crop to a square and resize to `size`, as float32 RGB in [0, 1]."""
    import cv2

    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3]
    h, w = img.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    crop = np.ascontiguousarray(img[y0:y0 + s, x0:x0 + s])
    out = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out.astype(np.float32) / 255.0


def _seamless(t: np.ndarray) -> np.ndarray:
    """Cross-fade a tile with its half-shifted copy along x, then y, so it wraps without seams."""
    n = t.shape[0]
    ramp = 1.0 - np.abs(np.arange(n, dtype=np.float32) + 0.5 - n / 2) / (n / 2)  # 0 at edges
    w = np.clip(ramp * 1.6, 0.0, 1.0)
    t = w[None, :, None] * t + (1 - w[None, :, None]) * np.roll(t, n // 2, axis=1)
    t = w[:, None, None] * t + (1 - w[:, None, None]) * np.roll(t, n // 2, axis=0)
    return t


def _noise(rng: np.random.Generator, beta: float, size: int = TILE) -> np.ndarray:
    """Periodic 1/f^beta noise in [0, 1] (tileable by construction: filtered in Fourier space)."""
    f = np.fft.fftfreq(size)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    r[0, 0] = 1.0
    spec = np.fft.fft2(rng.standard_normal((size, size))) / r ** beta
    spec[0, 0] = 0.0
    n = np.real(np.fft.ifft2(spec))
    n = (n - n.mean()) / (n.std() + 1e-9)
    return np.clip(0.5 + 0.18 * n, 0.0, 1.0).astype(np.float32)


def _grey(n: np.ndarray) -> np.ndarray:
    return np.repeat(n[:, :, None], 3, axis=2)


def _tile_sources() -> dict[str, np.ndarray]:
    """Named float32 RGB tiles in [0, 1]."""
    from skimage import data

    rng = np.random.default_rng(20240611)  # fixed: the atlas is the same for every data seed
    brick = np.ascontiguousarray(np.rot90(data.brick()))  # courses run horizontally
    tiles: dict[str, np.ndarray] = {
        "asphalt": _seamless(_square(data.gravel()) * 0.6 + 0.4 * _grey(_noise(rng, 0.6))),
        "pavers": _seamless(_square(brick[:256, :256])),
        "grass": _seamless(_square(data.grass())),
        "gravel": _seamless(_square(data.gravel()[128:384, 128:384])),
        "brick": _seamless(_square(brick)),
        "brick_fine": _seamless(_square(np.tile(brick, (2, 2)))),
        "stucco": _seamless(0.5 * _square(data.gravel()) + 0.5 * _grey(_noise(rng, 1.4))),
        "concrete": _grey(0.35 + 0.65 * _noise(rng, 1.1)),
        "plaster": _grey(0.5 + 0.5 * _noise(rng, 1.8)),
        "noise": _grey(_noise(rng, 0.9)),
        "paint": _grey(0.75 + 0.25 * _noise(rng, 2.2)),
        "sky": _grey(_noise(rng, 2.0)),
    }
    panel = _grey(0.55 + 0.45 * _noise(rng, 1.5))
    panel[::64] *= 0.5
    panel[:, ::32] *= 0.6
    tiles["panels"] = panel
    photos = {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(),
              "rocket": data.rocket(), "hubble": data.hubble_deep_field(),
              "ihc": data.immunohistochemistry(), "camera": data.camera(), "text": data.text(),
              "page": data.page(), "coins": data.coins(), "moon": data.moon(),
              "clock": data.clock()}
    for name, img in photos.items():
        tiles[name] = _square(img)
    return tiles


def _mips(tile: np.ndarray) -> list[np.ndarray]:
    import cv2

    out = [tile]
    for _ in range(1, LEVELS):
        out.append(cv2.resize(out[-1], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
    return out


def build_atlas() -> Atlas:
    """Pack every tile and its mip chain, each with a wrap-around border, into one image."""
    tiles = _tile_sources()
    names = tuple(tiles)
    n = len(names)
    rows = -(-n // ATLAS_COLS)
    sizes = [TILE >> lv for lv in range(LEVELS)]
    band_y = np.cumsum([0] + [rows * (s + 2 * PAD) for s in sizes])
    image = np.zeros((int(band_y[-1]), ATLAS_COLS * (TILE + 2 * PAD), 3), np.float32)
    origin = np.zeros((n, LEVELS, 2), np.float32)
    for i, name in enumerate(names):
        r, c = divmod(i, ATLAS_COLS)
        for lv, m in enumerate(_mips(tiles[name])):
            s = sizes[lv]
            x0 = c * (s + 2 * PAD)
            y0 = int(band_y[lv]) + r * (s + 2 * PAD)
            image[y0:y0 + s + 2 * PAD, x0:x0 + s + 2 * PAD] = np.pad(
                m, ((PAD, PAD), (PAD, PAD), (0, 0)), mode="wrap")
            origin[i, lv] = (x0 + PAD, y0 + PAD)
    img8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    return Atlas(image=img8, origin=origin, names=names)


@functools.lru_cache(maxsize=1)
def get_atlas() -> Atlas:
    """The process-wide atlas (built on first use, about a second)."""
    return build_atlas()
