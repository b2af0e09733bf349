"""render(scene, seed) → frames plus exact ground truth. Pure and deterministic.

Per frame: a per-pixel ray cast gives the backdrop (sky / back wall) and the textured floor; soft
shadows are drawn in floor coordinates (exact perspective); things are camera-facing sprites at their
3-D positions (2.5D), drawn far to near, each assembled from anti-aliased parts (raster.py); depth of
field blurs by the thin-lens circle of confusion; a seeded film grain is optional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from kino.world.camera import Camera, camera_path
from kino.world.palette import BACKDROPS, FLOORS, LIGHTS, rgb
from kino.world.physics import Motion, simulate
from kino.world.raster import Part, Shading, raster_part
from kino.world.scene import Scene

__all__ = ["Clip", "FrameLayers", "render", "render_frame", "SPECULAR", "WALL_Z"]

WALL_Z = 8.0  # the back wall plane for the "wall" and "studio" backdrops
SPECULAR = {"metal": 0.9, "rubber": 0.25, "wood": 0.08, "ice": 0.6}
SKY_DEPTH = 1e4


@dataclass
class FrameLayers:
    """Everything one frame's rasterisation knows beyond its colours."""

    image: np.ndarray  # (H, W, 3) float32 0..1, before depth of field and grain
    depth: np.ndarray  # (H, W) float32 camera depth
    instance: np.ndarray  # (H, W) int32 object id, 0 = background
    part: np.ndarray  # (H, W) int32 index into parts, -1 = background
    parts: list[Part]
    world: np.ndarray  # (H, W, 3) world point of background pixels (for flow)
    own_area: dict[int, float]  # object id → pixel area of the whole object, occlusion and frame edges ignored
    frame_area: dict[int, float]  # object id → pixel area of the object inside the frame, occlusion ignored


@dataclass
class Clip:
    """A rendered clip: uint8 frames, the simulated motion, per-frame cameras and layers."""

    scene: Scene
    frames: np.ndarray  # (T, H, W, 3) uint8
    motion: Motion
    cameras: list[Camera]
    layers: list[FrameLayers]

    @property
    def depth(self) -> np.ndarray:
        return np.stack([ly.depth for ly in self.layers])  # (T, H, W)

    @property
    def instances(self) -> np.ndarray:
        return np.stack([ly.instance for ly in self.layers])  # (T, H, W)


def render(scene: Scene, seed: int = 0) -> Clip:
    """Simulate and render every frame of `scene`; `seed` drives only the film grain."""
    scene.validate()
    motion = simulate(scene)
    cameras = camera_path(scene)
    rng = np.random.default_rng(seed)
    frames = np.empty((scene.num_frames, scene.height, scene.width, 3), dtype=np.uint8)
    layers = []
    cache: dict = {}
    for f, cam in enumerate(cameras):
        ly = render_frame(scene, motion, cam, f, cache)
        img = ly.image
        if cam.aperture > 0:
            img = depth_of_field(img, cam.coc(ly.depth))
        img = img * 255.0
        if scene.look.grain > 0:
            img = img + rng.normal(0, scene.look.grain, img.shape).astype(np.float32)
        frames[f] = np.clip(img + 0.5, 0, 255).astype(np.uint8)
        layers.append(ly)
    return Clip(scene=scene, frames=frames, motion=motion, cameras=cameras, layers=layers)


# ------------------------------------------------------------------------------------------- backdrop
def _shading(scene: Scene, cam: Camera) -> Shading:
    look = scene.look
    az, el = math.radians(look.light_azimuth), math.radians(look.light_elevation)
    world = np.array([math.sin(az) * math.cos(el), math.sin(el), -math.cos(az) * math.cos(el)])
    view = cam.rotation @ world  # camera space: x right, y down, z forward
    light = (float(view[0]), float(-view[1]), float(-view[2]))  # sprite space: y up, z toward camera
    amb = {"flat": 1.0, "shaded": 0.45, "contrast": 0.12}[look.style]
    return Shading(look.style, light, LIGHTS[look.light], amb)


def _light_world(scene: Scene) -> np.ndarray:
    az, el = math.radians(scene.look.light_azimuth), math.radians(scene.look.light_elevation)
    return np.array([math.sin(az) * math.cos(el), math.sin(el), -math.cos(az) * math.cos(el)])


def _backdrop(scene: Scene, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backdrop colour (H, W, 3), depth (H, W), world points (H, W, 3), floor mask (H, W)."""
    h, w = scene.height, scene.width
    u = (np.arange(w, dtype=np.float32) + 0.5 - cam.cx) / cam.focal
    v = (np.arange(h, dtype=np.float32) + 0.5 - cam.cy) / cam.focal
    d_cam = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1), np.float32)), -1)  # (H, W, 3)
    d = d_cam @ cam.rotation.astype(np.float32)  # world directions with unit camera depth
    p = cam.position.astype(np.float32)
    look = scene.look
    bd = BACKDROPS[look.backdrop]
    top, hor = np.asarray(bd["top"], np.float32) / 255, np.asarray(bd["horizon"], np.float32) / 255
    dn = d / np.linalg.norm(d, axis=-1, keepdims=True)
    walled = look.backdrop in ("wall", "studio")
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(d[..., 1] < -1e-6, -p[1] / d[..., 1], np.inf)
        t_wall = np.where(d[..., 2] > 1e-6, (WALL_Z - p[2]) / d[..., 2], np.inf) if walled else np.full((h, w), np.inf)
    floor = (t_floor < t_wall) & np.isfinite(t_floor) & (t_floor > 0)
    wall = ~floor & np.isfinite(t_wall) & (t_wall > 0)
    # sky: gradient with elevation
    s = np.clip(dn[..., 1] * 3.0, 0, 1)[..., None]
    col = hor + (top - hor) * s
    depth = np.full((h, w), SKY_DEPTH, np.float32)
    world = p + d * SKY_DEPTH
    if wall.any():
        tw = t_wall[wall]
        y = p[1] + tw * d[wall][:, 1]
        k = np.clip(y / 4.0, 0, 1)[:, None]
        wc = hor + (top - hor) * k
        wc = wc * np.where((y > 0.0) & (y < 0.12), 0.8, 1.0)[:, None]  # skirting board
        col[wall] = wc
        depth[wall] = tw
        world[wall] = p + d[wall] * tw[:, None]
    if floor.any():
        tf = t_floor[floor]
        fp = p + d[floor] * tf[:, None]
        col[floor] = _floor_texture(look.floor, fp, tf, cam.focal, np.abs(dn[floor][:, 1]), hor)
        depth[floor] = tf
        world[floor] = fp
    return col, depth, world, floor


def _floor_texture(kind: str, fp: np.ndarray, t: np.ndarray, focal: float, grazing: np.ndarray, haze: np.ndarray):
    """Procedural floor colours at floor points fp (N, 3), faded to their mean where texels alias."""
    a, b = (np.asarray(c, np.float32) / 255 for c in FLOORS[kind])
    x, z = fp[:, 0], fp[:, 2]
    foot = t / focal / np.maximum(grazing, 0.05)  # world size of one pixel on the floor
    if kind == "tiles":
        size = 0.6
        m = 0.5 + 0.5 * np.sin(math.pi * x / size) * np.sin(math.pi * z / size) * size / (math.pi * foot)
    elif kind == "wood":
        size = 0.25
        plank = np.floor(z / size)
        m = 0.5 + 0.35 * np.sin(plank * 12.9898) + 0.15 * np.sin(x * 3.0 + plank)
        m = m + np.clip(0.3 - np.abs((z / size) % 1.0 - 0.5) * 0.6 / np.maximum(foot / size, 0.05), 0, 1)
    elif kind == "grass":
        size = 0.3
        m = 0.5 + 0.25 * np.sin(x * 9.1 + np.sin(z * 3.3) * 2) + 0.25 * np.sin(z * 7.7 + np.sin(x * 2.1) * 2)
    else:
        size = 1.0
        m = 0.5 + 0.2 * np.sin(x * 1.7 + z * 0.9) * np.sin(z * 2.3 - x * 0.4)
    fade = np.clip(foot / size * 3.0 - 0.5, 0, 1)  # far away: the average tone, no moiré
    m = np.clip(m, 0, 1) * (1 - fade) + 0.5 * fade
    col = a + (b - a) * m[:, None]
    fog = (1 - np.exp(-t / 40.0))[:, None]
    return col + (haze - col) * fog


# ------------------------------------------------------------------------------------------- objects
def _sprite_map(cam: Camera, anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Affine local→pixel map of a camera-facing sprite at world point `anchor` (None if behind)."""
    u, v, z = cam.project(anchor)
    if z < 0.05:
        return None
    s = cam.focal / z
    uu, vv, _ = cam.project(anchor + np.array([0.0, 1e-3, 0.0]))
    up = np.array([uu - u, vv - v])
    up /= max(np.linalg.norm(up), 1e-12)
    right = np.array([-up[1], up[0]])
    return s * np.stack([right, up], axis=1), np.array([u, v]), float(z)


def _rot(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s], [s, c]])


def object_parts(scene: Scene, motion: Motion, cam: Camera, f: int) -> list[tuple[int, float, list[Part]]]:
    """(object id, depth, parts) for every visible-side object, sorted far to near."""
    out = []
    for i, b in enumerate(scene.bodies):
        pos = motion.positions[f, i]
        sm = _sprite_map(cam, pos)
        if sm is None:
            continue
        m, c, z = sm
        angle = float(motion.angles[f, i])
        A = m @ _rot(angle)
        color = tuple(v / 255 for v in rgb(b.color))
        spec = SPECULAR[b.material]
        hx, hy = b.size[0], b.size[1]
        if b.kind == "ball":
            part = Part((b.id, "body"), "circle", (hx,), A, c, angle, color, b.pattern, hx * 0.9, "sphere", spec, depth=z)
        elif b.kind == "ramp":
            fx = b.facing
            verts = ((-hx, -hy), (hx, -hy), (hx, hy)) if fx > 0 else ((-hx, -hy), (hx, -hy), (-hx, hy))
            part = Part((b.id, "body"), "poly", verts, A, c, angle, color, b.pattern, 0.25, "face", spec, depth=z)
        else:
            corner = 0.06 * min(hx, hy)
            period = min(hx, hy) * 0.8 if b.kind == "box" else 0.3
            part = Part((b.id, "body"), "box", (hx, hy, corner), A, c, angle, color, b.pattern, period, "face", spec, depth=z)
        out.append((b.id, z, [part]))
    for ci, ch in enumerate(scene.characters):
        feet = motion.char_positions[f, ci]
        sm = _sprite_map(cam, feet + np.array([0.0, ch.height / 2, 0.0]))
        if sm is None:
            continue
        m, c, z = sm
        out.append((ch.id, z, _character_parts(ch, m, c, z, float(motion.char_facing[f, ci]), float(motion.char_phase[f, ci]), bool(motion.char_positions[f, ci, 1] > 1e-3))))
    out.sort(key=lambda o: -o[1])
    return out


def _character_parts(ch, m: np.ndarray, c: np.ndarray, z: float, facing: float, phase: float, airborne: bool) -> list[Part]:
    """Head, hair, hat, torso and swinging limbs, in local metres around the body centre (y up)."""
    h = ch.height
    sgn = 1.0 if facing >= 0 else -1.0
    squash = max(abs(facing), 0.25)  # turning: the profile narrows through a front view
    m = m @ np.diag([squash * sgn, 1.0])  # mirror for left-facing characters
    swing = 0.55 * math.sin(phase) if not airborne else 0.35
    col = {k: tuple(v / 255 for v in rgb(getattr(ch, k))) for k in ("skin", "hair", "shirt", "trousers")}
    base = -h / 2  # feet relative to the body centre

    def limb(name, pivot, length, width, angle, color, shade="cylinder"):
        A = m @ _rot(angle)
        centre = np.array(pivot) + _rot(angle) @ np.array([0.0, -length / 2])
        return Part((ch.id, name), "box", (width, length / 2, width * 0.9), A, c + m @ centre, angle, color, "solid", 0.2, shade, 0.05, depth=z)

    hip, shoulder = (0.0, base + 0.47 * h), (0.0, base + 0.79 * h)
    parts = [
        limb("arm_back", shoulder, 0.36 * h, 0.035 * h, swing, tuple(0.8 * v for v in col["shirt"])),
        limb("leg_back", hip, 0.47 * h, 0.045 * h, -swing, tuple(0.8 * v for v in col["trousers"])),
        Part((ch.id, "torso"), "box", (0.1 * h, 0.17 * h, 0.04 * h), m, c + m @ np.array([0.0, base + 0.64 * h]), 0.0, col["shirt"], "solid", 0.2, "cylinder", 0.05, depth=z),
        limb("leg_front", hip, 0.47 * h, 0.045 * h, swing, col["trousers"]),
        Part((ch.id, "hair"), "circle", (0.1 * h,), m, c + m @ np.array([-0.015 * h, base + 0.915 * h]), 0.0, col["hair"], "solid", 0.2, "sphere", 0.1, depth=z),
        Part((ch.id, "head"), "circle", (0.09 * h,), m, c + m @ np.array([0.012 * h, base + 0.895 * h]), 0.0, col["skin"], "solid", 0.2, "sphere", 0.15, depth=z),
        Part((ch.id, "eye"), "circle", (0.012 * h,), m, c + m @ np.array([0.06 * h, base + 0.91 * h]), 0.0, (0.08, 0.08, 0.1), "solid", 0.2, "none", 0.0, depth=z),
    ]
    if ch.hat is not None:
        hat = tuple(v / 255 for v in rgb(ch.hat))
        parts.append(Part((ch.id, "brim"), "box", (0.14 * h, 0.014 * h, 0.01 * h), m, c + m @ np.array([0.02 * h, base + 0.975 * h]), 0.0, hat, "solid", 0.2, "face", 0.05, depth=z))
        parts.append(Part((ch.id, "crown"), "box", (0.085 * h, 0.055 * h, 0.02 * h), m, c + m @ np.array([0.0, base + 1.02 * h]), 0.0, hat, "solid", 0.2, "face", 0.05, depth=z))
    parts.append(limb("arm_front", shoulder, 0.36 * h, 0.035 * h, -swing, col["shirt"]))
    return parts


def _particle_parts(motion: Motion, cam: Camera, t: float) -> list[Part]:
    out = []
    for i, p in enumerate(motion.particles):
        state = p.at(t)
        if state is None:
            continue
        x, y, z, alpha = state
        sm = _sprite_map(cam, np.array([x, y, z]))
        if sm is None:
            continue
        m, c, depth = sm
        out.append(Part((-1 - i, "dust"), "circle", (p.size,), m, c, 0.0, (0.82, 0.78, 0.7), "solid", 1.0, "none", alpha=0.8 * alpha, depth=depth))
    return out


# ------------------------------------------------------------------------------------------- frame
def render_frame(scene: Scene, motion: Motion, cam: Camera, f: int, cache: dict | None = None) -> FrameLayers:
    """Rasterise frame f (no depth of field, no grain); `cache` reuses the backdrop of a still camera."""
    h, w = scene.height, scene.width
    key = (cam.position.tobytes(), cam.rotation.tobytes(), cam.focal)
    if cache is not None and cache.get("key") == key:
        img, depth, world, floor = (a.copy() for a in cache["backdrop"])
    else:
        img, depth, world, floor = _backdrop(scene, cam)
        if cache is not None:
            cache["key"], cache["backdrop"] = key, (img.copy(), depth.copy(), world, floor)
    _shadows(scene, motion, cam, f, img, world, floor)
    sh = _shading(scene, cam)
    instance = np.zeros((h, w), np.int32)
    part_map = np.full((h, w), -1, np.int32)
    parts: list[Part] = []
    own: dict[int, float] = {}
    inside: dict[int, float] = {}
    for oid, z, obj_parts in object_parts(scene, motion, cam, f):
        boxes = [p.bbox() for p in obj_parts]
        X0, Y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        X1, Y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        if X1 - X0 > 8 * (w + h) or Y1 - Y0 > 8 * (w + h):  # absurdly close to the lens: skip, not crash
            continue
        cw, chh = X1 - X0, Y1 - Y0
        acc = np.zeros((chh, cw), np.float32)  # object coverage ("over" of its parts)
        rgbp = np.zeros((chh, cw, 3), np.float32)  # premultiplied colour
        pidx = np.full((chh, cw), -1, np.int32)
        for p, (bx0, by0, bx1, by1) in zip(obj_parts, boxes, strict=True):
            cov, col = raster_part(p, bx0, by0, bx1 - bx0, by1 - by0, sh)
            sl = (slice(by0 - Y0, by1 - Y0), slice(bx0 - X0, bx1 - X0))
            a = cov[..., None]
            rgbp[sl] = rgbp[sl] * (1 - a) + col * a
            acc[sl] = acc[sl] * (1 - cov) + cov
            pidx[sl] = np.where(cov > 0.5, len(parts), pidx[sl])
            parts.append(p)
        own[oid] = float((acc > 0.5).sum())
        # paste the clipped window into the frame
        fx0, fy0, fx1, fy1 = max(X0, 0), max(Y0, 0), min(X1, w), min(Y1, h)
        if fx0 >= fx1 or fy0 >= fy1:
            continue
        src = (slice(fy0 - Y0, fy1 - Y0), slice(fx0 - X0, fx1 - X0))
        dst = (slice(fy0, fy1), slice(fx0, fx1))
        a = acc[src]
        inside[oid] = float((a > 0.5).sum())
        img[dst] = img[dst] * (1 - a[..., None]) + rgbp[src]
        hit = a > 0.5
        instance[dst] = np.where(hit, oid, instance[dst])
        depth[dst] = np.where(hit, z, depth[dst])
        part_map[dst] = np.where(hit, pidx[src], part_map[dst])
    for p in _particle_parts(motion, cam, f / scene.fps):
        x0, y0, x1, y1 = p.bbox()
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if fx0 >= fx1 or fy0 >= fy1 or p.depth > depth[(fy0 + fy1) // 2, (fx0 + fx1) // 2] + 0.5:
            continue
        cov, col = raster_part(p, fx0, fy0, fx1 - fx0, fy1 - fy0, sh)
        dst = (slice(fy0, fy1), slice(fx0, fx1))
        img[dst] = img[dst] * (1 - cov[..., None]) + col * cov[..., None]
        part_map[dst] = np.where(cov > 0.5, len(parts), part_map[dst])
        parts.append(p)
    return FrameLayers(np.clip(img, 0, 1), depth, instance, part_map, parts, world, own, inside)


def _shadows(scene: Scene, motion: Motion, cam: Camera, f: int, img, world, floor) -> None:
    """Soft contact shadows, computed on the floor plane so perspective is exact."""
    light = _light_world(scene)
    slope = light[[0, 2]] / max(light[1], 0.2)  # horizontal shift per metre of height
    style = scene.look.style
    strength = {"flat": 0.25, "shaded": 0.45, "contrast": 0.6}[style]
    casters = []
    for i, b in enumerate(scene.bodies):
        if not b.static:
            p, hx = motion.positions[f, i], motion.half_extents[f, i]
            casters.append((p[0], p[1], p[2], hx[0], hx[2], max(p[1] - hx[1], 0.0)))
    for ci, ch in enumerate(scene.characters):
        p = motion.char_positions[f, ci]
        casters.append((p[0], ch.height * 0.5 + p[1], p[2], 0.2 * ch.height, 0.12 * ch.height, p[1]))
    h, w = floor.shape
    for x, y, z, rx, rz, lift in casters:
        sx, sz = x - slope[0] * (y - rx * 0.3), z - slope[1] * (y - rx * 0.3)
        soft = 0.02 if style != "shaded" else 0.06 + 0.25 * lift
        dark = strength * math.exp(-lift / 1.2)
        ext = max(rx, rz) + 3 * soft
        corners = np.array([[sx + dx, 0.0, sz + dz] for dx in (-ext, ext) for dz in (-ext, ext)])
        u, v, zc = cam.project(corners)
        if (zc <= 0.05).any():
            continue
        x0, x1 = max(int(u.min()) - 1, 0), min(int(u.max()) + 2, w)
        y0, y1 = max(int(v.min()) - 1, 0), min(int(v.max()) + 2, h)
        if x0 >= x1 or y0 >= y1:
            continue
        fl = floor[y0:y1, x0:x1]
        wp = world[y0:y1, x0:x1]
        r = np.sqrt(((wp[..., 0] - sx) / rx) ** 2 + ((wp[..., 2] - sz) / rz) ** 2)
        soft_n = soft / max(rx, rz)
        mask = np.clip((1.0 - r) / (2 * soft_n) + 0.5, 0, 1) * fl
        img[y0:y1, x0:x1] *= (1 - dark * mask)[..., None]


# ------------------------------------------------------------------------------------------- lens
def box_blur(img: np.ndarray, r: int) -> np.ndarray:
    """Running-mean blur of radius r along both axes, edges clamped (the edge pixel repeated past the border).

    OpenCV's box filter, not a numpy cumulative sum: the lens runs on every frame a lens request shows, and the
    blurs were ~75% of `depth_of_field` (a 224x128 frame's four levels: 8.2 ms as 16 numpy passes, 1.3 ms with
    OpenCV; docs/model.md, "Session 14"). The same numbers to float rounding (< 1e-3 of 255)."""
    if r <= 0:
        return img
    return cv2.blur(np.ascontiguousarray(img), (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REPLICATE)


LEVELS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)  # blur radii (px) of the pyramid


def depth_of_field(img: np.ndarray, coc: np.ndarray) -> np.ndarray:
    """Blur each pixel by its circle of confusion: a stack of blurs, blended per pixel by CoC radius.

    Two box passes per level approximate a disc/Gaussian kernel (a gather approximation of a
    scatter-based lens blur; halos at depth edges are accepted).

    A pixel whose radius lies between levels L[i-1] and L[i] is their linear blend. Written as a telescoping sum,
    out = L[0] + sum_i s_i (L[i] - L[i-1]) with s_i the share of bracket i below the pixel's radius (1 for the
    brackets under it, 0 above), it is a few whole-image multiply-adds per level: 2-4x faster than gathering each
    bracket's pixels (measured), the same numbers to float rounding. With the OpenCV blurs, a 224x128 frame's
    depth of field takes 2.3 ms against 10.6 ms before (median of 50, 2 cores).
    """
    radius = np.clip(np.nan_to_num(coc / 2.0, nan=0.0), 0, LEVELS[-1])  # nan (a point behind a source camera): sharp
    img = np.asarray(img, dtype=np.result_type(img, np.float32))  # integer images are blurred in float, not rounded per level
    out = img.copy()  # a copy, also when nothing is blurred
    prev, prev_r = img, 0.0
    top = float(radius.max())
    blurs: dict[int, np.ndarray] = {}  # by box radius: the 1 px and 2 px levels share k = 1
    for r in LEVELS[1:]:
        if prev_r >= top:
            break
        k = max(1, int(round(r / 1.5)))
        if k not in blurs:
            blurs[k] = box_blur(box_blur(img, k), k)
        cur = blurs[k]
        share = np.clip((radius - prev_r) * (1.0 / (r - prev_r)), 0, 1).astype(out.dtype)[..., None]
        out += (cur - prev) * share
        prev, prev_r = cur, r
    return out
