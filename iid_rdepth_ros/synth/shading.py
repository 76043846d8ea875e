"""Colour of a ray-cast view: world-space textures, window grids, road paint, sun, haze, sky.

Every surface colour is a function of the *world* hit point (and the surface normal), never of the
view, so the left and right cameras see identical surface texture: texture coordinates are the two
in-plane world coordinates of the hit face (arc length and height on cylinders), scaled and offset
per material, sampled from the mip-mapped atlas with one bilinear `cv2.remap`. The mip level comes
from the pixel footprint on the surface. Shading is Lambertian with a fixed sun per sequence (no
shadows, no specular term), haze grows with depth, and the sky is a function of ray direction only.
"""

from __future__ import annotations

import numpy as np

from .render import CYLINDER, FACE_NORMALS, Hits, RayGrid
from .scene import FACADE, Scene
from .textures import LEVELS, TILE, Atlas

_INV_POW2 = np.array([2.0 ** -lv for lv in range(LEVELS)], np.float32)


def _sample(atlas: Atlas, tile: np.ndarray, s: np.ndarray, t: np.ndarray,
            level: np.ndarray) -> np.ndarray:
    """Bilinear texture lookup: tile index, texel coordinates (level 0) and mip level per pixel.

    Coordinates wrap every `TILE` level-0 texels; returns (H, W, 3) uint8. Texel centres sit at
    +0.5, so the remap coordinate is `origin + u - 0.5`; the tile's wrap-around border supplies
    the neighbour on both sides.
    """
    import cv2

    f = np.take(_INV_POW2, level)
    idx = tile * LEVELS + level
    period = np.float32(TILE)
    out = []
    for c, coord in enumerate((s, t)):
        u = coord - period * np.floor(coord * np.float32(1 / TILE))  # wrap to [0, TILE)
        u *= f  # level texels, in [0, TILE >> level)
        u += np.take(atlas.origin[:, :, c].reshape(-1) - np.float32(0.5), idx)
        out.append(u.astype(np.float32, copy=False))
    return cv2.remap(atlas.image, out[0], out[1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def sky_image(scene: Scene, atlas: Atlas, rays: RayGrid) -> np.ndarray:
    """(H, W, 3) float32 sky colour (0..255) per ray direction: gradient plus clouds."""
    lt = scene.lighting
    dx, dy, dz = rays.d
    elev = np.clip(-dy / rays.norm, -1.0, 1.0)
    az = np.arctan2(dx, dz)
    up = np.sqrt(np.clip(elev, 0.0, 1.0))[..., None]
    grad = lt.horizon + (lt.zenith - lt.horizon) * up
    tile = np.full(elev.shape, atlas.index("sky"), np.intp)
    level = np.zeros(elev.shape, np.intp)
    # Cloud layer: texture coordinates from direction (a dome, compressed towards the horizon).
    m = scene.materials
    off = m.offset[scene.sky_material]
    cs = (az * 180.0 + off[0]).astype(np.float32)
    ct = (np.sqrt(np.clip(elev, 0.0, 1.0)) * 500.0 + off[1]).astype(np.float32)
    tex = _sample(atlas, tile, cs, ct, level)[..., 0].astype(np.float32) / 255.0
    c = np.clip((tex - 0.45) * 4.0, 0.0, 1.0) * lt.cloud_amount * np.clip(elev * 12, 0, 1)
    sky = grad * (1 - c[..., None]) + lt.cloud * c[..., None]
    return (sky * 255.0).astype(np.float32)


def _band(dist_inside: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Anti-aliased indicator of a region given the signed distance inside it (metres)."""
    return np.clip(dist_inside / footprint + 0.5, 0.0, 1.0)


def _windows(col: np.ndarray, px: np.ndarray, mat: np.ndarray, m, s: np.ndarray,
             scale: np.ndarray, height: np.ndarray, fp: np.ndarray) -> None:
    """Blend a grid of glass panes into facade pixels `px` (flat indices into `col` rows)."""
    win = m.window[mat]
    u = (s - m.offset[mat, 0]) / (scale * win[:, 0])  # along the facade, in window cells
    fu = u - np.floor(u)
    a = 0.5 * (1 - win[:, 2])
    wu = _band(np.minimum(fu - a, 1 - a - fu) * win[:, 0], fp)
    v = height / win[:, 1]  # floors
    fv = v - np.floor(v)
    b = 0.5 * (1 - win[:, 3])
    w = wu * _band(np.minimum(fv - b, 1 - b - fv) * win[:, 1], fp) * (v >= 1)
    c = col[px]
    lum = c.mean(axis=1, keepdims=True)  # tinted wall texture: some variation in the glass
    glass = m.glass[mat] * (0.75 + 0.5 * lum)
    c += (glass - c) * w[:, None]
    col[px] = c


def _paint(col: np.ndarray, road_px: np.ndarray, scene: Scene, x: np.ndarray, z: np.ndarray,
           fp_minor: np.ndarray, cos: np.ndarray, tex8: np.ndarray) -> None:
    """Lane lines and zebra crossings on road pixels (anti-aliased by the pixel footprint)."""
    road = scene.road
    lines = road.dashed_lines + road.solid_lines
    near = np.zeros_like(road_px)
    reach = fp_minor + np.float32(0.1)
    for lx in lines:
        near |= np.abs(x - np.float32(lx)) < reach
    for zc in road.crossings:
        near |= (z > zc - 2.0) & (z < zc + 6.0)
    px = np.flatnonzero(road_px & near)
    if len(px) == 0:
        return
    gx, gz = np.take(x, px), np.take(z, px)
    f_across = np.take(fp_minor, px)
    f_along = f_across / np.take(cos, px)
    p = np.zeros_like(gx)
    if road.dashed_lines:
        dash = gz - np.float32(9.0) * np.floor(gz * np.float32(1 / 9))
        on = _band(np.minimum(dash, 3.0 - dash), f_along)
        for lx in road.dashed_lines:
            p = np.maximum(p, _band(0.075 - np.abs(gx - lx), f_across) * on)
    for lx in road.solid_lines:
        p = np.maximum(p, _band(0.06 - np.abs(gx - lx), f_across))
    for zc in road.crossings:
        stripe = gx - np.float32(1.2) * np.floor(gx * np.float32(1 / 1.2))
        inside = _band(np.minimum(gz - zc, zc + 4.0 - gz), f_along)
        p = np.maximum(p, _band(np.minimum(stripe, 0.6 - stripe), f_across) * inside
                       * (np.abs(gx) < road.half_width - 0.4))
    lum = tex8[px].mean(axis=1, keepdims=True) * np.float32(1 / 255)
    paint = np.float32(0.9) * (0.75 + 0.5 * lum)
    c = col[px]
    c += (paint - c) * p[:, None]
    col[px] = c


def shade(scene: Scene, atlas: Atlas, rays: RayGrid, origin: np.ndarray, hits: Hits,
          sky: np.ndarray, max_depth: float, haze: bool = True) -> np.ndarray:
    """RGB uint8 image of one view from its ray-cast `hits`; `sky` from `sky_image`; no haze
    with `haze=False` (indoor scenes)."""
    o = np.asarray(origin, np.float32)
    obj, face = hits.obj, hits.face
    hit = obj > 0
    t = np.where(hit, hits.depth, np.float32(0))
    dx, dy, dz = rays.d
    x = o[0] + t * dx
    y = o[1] + t * dy
    z = o[2] + t * dz
    xface = (face == 1) | (face == 2)
    yface = (face == 3) | (face == 4)
    s = np.where(xface, z, x)
    tt = np.where(yface, z, -y)
    # |n . d| for the footprint: the normal's axis component of the ray.
    ndot = np.where(xface, np.abs(dx), np.where(yface, np.abs(dy), np.abs(dz)))

    mat = np.take(scene.obj_material, obj)
    n_box = len(scene.boxes)
    cyl_px = np.flatnonzero(face == CYLINDER)
    if len(cyl_px):
        c = scene.cylinders[np.take(obj, cyl_px) - 2 - n_box].astype(np.float32)
        rx = (np.take(x, cyl_px) - c[:, 0]) / c[:, 2]
        rz = (np.take(z, cyl_px) - c[:, 1]) / c[:, 2]
        s.reshape(-1)[cyl_px] = np.arctan2(rx, -rz) * c[:, 2]  # seam on the far (+z) side
        ndot.reshape(-1)[cyl_px] = np.abs(rx * np.take(dx, cyl_px) + rz * np.take(dz, cyl_px))

    road = scene.road
    ground = obj == 1
    ax = np.abs(x)
    edges = road.half_width, road.half_width + road.curb_width
    region = ((ax > edges[0]).view(np.int8) + (ax > edges[1]).view(np.int8)
              + (ax > edges[1] + road.sidewalk_width).view(np.int8))
    np.copyto(mat, np.take(np.asarray(road.materials, np.intp), region), where=ground)

    m = scene.materials
    fx = float(rays.k[0, 0])
    cos = np.maximum(ndot / rays.norm, np.float32(0.02))
    fp_minor = np.maximum(t * rays.norm * np.float32(1 / fx), np.float32(1e-6))
    fp = fp_minor / np.sqrt(cos)  # metres per pixel, between minor and major footprint axes
    scale = np.take(m.scale, mat)
    level = np.clip(np.rint(np.log2(fp * scale)), 0, LEVELS - 1).astype(np.intp)
    s *= scale
    s += np.take(m.offset[:, 0], mat)
    tt *= scale
    tt += np.take(m.offset[:, 1], mat)
    tex8 = _sample(atlas, np.take(m.tile, mat), s, tt, level)
    col = tex8 * np.take(m.tint * np.float32(1 / 255), mat, axis=0)

    col2 = col.reshape(-1, 3)
    fac = np.flatnonzero(np.take(m.kind, mat) == FACADE)
    if len(fac):
        _windows(col2, fac, np.take(mat, fac), m, np.take(s, fac), np.take(scale, fac),
                 -np.take(y, fac), np.take(fp, fac))

    road_px = ground & (region == 0)
    if road_px.any():
        _paint(col2, road_px, scene, x, z, fp_minor, cos, tex8.reshape(-1, 3))

    lt = scene.lighting
    lam = lt.ambient + lt.diffuse * np.maximum(FACE_NORMALS @ lt.sun.astype(np.float32), 0)
    shade_px = np.take(lam.astype(np.float32), face)
    if len(cyl_px):
        shade_px.reshape(-1)[cyl_px] = lt.ambient + lt.diffuse * np.maximum(
            rx * np.float32(lt.sun[0]) + rz * np.float32(lt.sun[2]), 0)
    # Haze: weight 0 at the camera, 1 at max_depth; the output is scaled to 0..255 here, plus
    # 0.5 so that the final truncation rounds. (cv2.merge: same-shape products beat broadcasts.)
    import cv2

    if haze:
        fog = (1 - np.exp(t * np.float32(-1 / lt.fog_m))) * np.float32(
            1 / (1 - np.exp(-max_depth / lt.fog_m)))
    else:
        fog = np.zeros_like(t)
    gain = shade_px * (1 - fog) * np.float32(255)
    col *= cv2.merge([gain, gain, gain])
    col += cv2.merge([fog * np.float32(lt.horizon[ch] * 255) + np.float32(0.5)
                      for ch in range(3)])
    sky_px = np.flatnonzero(~hit)
    col2[sky_px] = sky.reshape(-1, 3)[sky_px] + np.float32(0.5)
    return np.clip(col, 0, 255).astype(np.uint8)
