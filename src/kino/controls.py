"""Typed user controls for `generate(request)`: Camera Director (presets, keyed paths, depth of field),
Motion Brush (painted regions with vectors, an explicit static region) and tagged reference images.

Both become exactly the tensors the model was trained on (train.py derives the same ones from Kino
World ground truth): the camera as per-frame [R|t] + zoom/focus/aperture relative to frame 0
(MotionCtrl-style, `a2d.camera_features`), the brush as a per-token map of frame 0 (painted cover,
static cover, dx, dy in frame sizes per second, dz), references as REF_SIZE-square images (the crops
training gives, `kino.world.controls.square_image`). Vectors follow controls.md: pixels per second of
the output frame, +x right, +y down, z toward the camera. Every check names its field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from kino.model.a2d import BRUSH_DIM, camera_features
from kino.world.camera import camera_at, interpolate_key
from kino.world.scene import CameraKey, CameraSpec, Scene

__all__ = ["Reference", "MAX_REFERENCES", "check_references", "mentions", "prompt_words", "references_from_list", "tag_problem", "CameraMove", "CameraControl", "BrushRegion", "MotionBrushControl", "ControlError", "camera_tensor", "brush_tensor", "brush_regions", "camera_path", "camera_from_dict", "brush_from_dict", "PRESET_SCALE", "EASINGS"]

EASINGS = ("linear", "ease_in", "ease_out", "smooth")
# preset intensity 10 = this much over the clip (Runway/Kling expose -10..10 sliders)
PRESET_SCALE = {"pan": 30.0, "tilt": 15.0, "roll": 30.0, "zoom": 1.0, "dolly": 3.0, "orbit": 45.0, "crane": 2.0}  # deg, deg, deg, log2 zoom, m, deg, m


# Runway's referenceImages rule (gen4_image): a tag is 3-16 letters, digits or underscores, a letter first
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,15}")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z][A-Za-z0-9_]*)")  # @hero, not the @ of an e-mail address
MAX_REFERENCES = 4  # reference tokens sit in the prefix of every chunk's attention; 4 covers a two-hander plus a set


class ControlError(ValueError):
    """A control field is invalid; the message names it (and `path` locates it for API error bodies)."""

    def __init__(self, message: str, path: tuple = ()):
        super().__init__(message)
        self.path = path


# ------------------------------------------------------------------------------ references
@dataclass(frozen=True)
class Reference:
    """An identity reference: an image (H, W, 3) uint8 or a path, named `@tag` in the prompt (tag None: unnamed)."""

    tag: str | None
    image: np.ndarray | str


def tag_problem(tag: object) -> str | None:
    """Why `tag` is not a valid reference tag, or None."""
    if not isinstance(tag, str):
        return f"must be a string, got {type(tag).__name__}"
    if not _TAG.fullmatch(tag):
        return f"{tag!r} must be 3-16 letters, digits or underscores, starting with a letter"
    return None


def mentions(prompt: str) -> list[str]:
    """The @tags a prompt names, in order."""
    return _MENTION.findall(prompt)


def prompt_words(prompt: str) -> str:
    """The prompt as the text encoder reads it: `@red_ball` → `red ball` (MiniLM knows words, not tags; the
    image itself goes in as reference tokens)."""
    return _MENTION.sub(lambda m: m.group(1).replace("_", " "), prompt)


def check_references(refs, prompt: str, where: str = "references", prompt_where: str = "prompt") -> None:
    """Count, types, tags (valid, unique) and that every @tag of the prompt names one; ControlError otherwise."""
    if not isinstance(refs, (tuple, list)):
        raise ControlError(f"{where}: must be a list of references, got {type(refs).__name__}", (where,))
    if len(refs) > MAX_REFERENCES:
        raise ControlError(f"{where}: at most {MAX_REFERENCES} reference images, got {len(refs)}", (where,))
    seen: dict[str, int] = {}
    for i, r in enumerate(refs):
        if not isinstance(r, Reference):
            raise ControlError(f"{where}[{i}]: expected a Reference(tag, image), got {type(r).__name__}", (where, i))
        if r.tag is None:
            continue
        problem = tag_problem(r.tag)
        if problem:
            raise ControlError(f"{where}[{i}].tag: {problem}", (where, i, "tag"))
        if r.tag in seen:
            raise ControlError(f"{where}[{i}].tag: {r.tag!r} is already the tag of {where}[{seen[r.tag]}]", (where, i, "tag"))
        seen[r.tag] = i
    for tag in mentions(prompt):
        if tag not in seen:
            raise ControlError(f"{prompt_where}: @{tag} names no reference (have: {', '.join(seen) or 'none'})", (prompt_where,))


def references_from_list(items, where: str = "references") -> tuple[Reference, ...]:
    """JSON references (CLI request files, storyboards): [{"tag": "hero", "image": PATH}, ...]."""
    if not isinstance(items, list):
        raise ControlError(f"{where}: must be a list of {{'tag': TAG, 'image': PATH}}", (where,))
    out = []
    for i, r in enumerate(items):
        r = _dict(r, f"{where}[{i}]", ("tag", "image"))
        if not isinstance(r.get("image"), str) or not r["image"]:
            raise ControlError(f"{where}[{i}].image: required, a path to an image", (where, i, "image"))
        out.append(Reference(r.get("tag"), r["image"]))
    return tuple(out)


def _num(value, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ControlError(f"{where}: must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise ControlError(f"{where}: must be in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CameraMove:
    """Preset moves at intensity -10..10, combinable (pan + turns right, tilt + looks up, zoom + in, dolly + forward, orbit + counter-clockwise from above, crane + rises)."""

    pan: float = 0.0
    tilt: float = 0.0
    roll: float = 0.0
    zoom: float = 0.0
    dolly: float = 0.0
    orbit: float = 0.0
    crane: float = 0.0


@dataclass(frozen=True)
class CameraControl:
    """A camera path: a preset move and/or keyed offsets (Kino World `CameraKey`s, t in [0, 1] of the clip),
    with depth of field from `focus` (metres) and `aperture` (f-number, 0 = pinhole) — per key for rack focus."""

    preset: CameraMove | None = None
    keys: tuple[CameraKey, ...] = ()
    focus: float | None = None
    aperture: float | None = None
    ease: str = "smooth"

    def to_keys(self) -> tuple[CameraKey, ...]:
        """Validated keys covering t = 0..1 (the preset adds to every key, scaled by t)."""
        if self.ease not in EASINGS:
            raise ControlError(f"camera.ease: must be one of {list(EASINGS)}, got {self.ease!r}")
        keys = self.keys or (CameraKey(t=0.0), CameraKey(t=1.0, ease=self.ease))
        last = -1.0
        for i, k in enumerate(keys):
            _num(k.t, f"camera.keys[{i}].t", 0.0, 1.0)
            if k.t <= last:
                raise ControlError(f"camera.keys[{i}].t: keys must be in increasing time order ({k.t} after {last})")
            last = k.t
            for name in ("pan", "tilt", "roll", "dolly", "orbit"):
                _num(getattr(k, name), f"camera.keys[{i}].{name}", -360, 360)
            _num(k.crane, f"camera.keys[{i}].crane", -20, 20)
            _num(k.zoom, f"camera.keys[{i}].zoom", 0.1, 10)
            _num(k.focus, f"camera.keys[{i}].focus", 0.1, 1000)
            _num(k.aperture, f"camera.keys[{i}].aperture", 0, 64)
            if k.ease not in EASINGS:
                raise ControlError(f"camera.keys[{i}].ease: must be one of {list(EASINGS)}, got {k.ease!r}")
        if keys[0].t > 0:
            keys = (replace(keys[0], t=0.0),) + tuple(keys)
        if keys[-1].t < 1:
            keys = tuple(keys) + (replace(keys[-1], t=1.0),)
        p = self.preset or CameraMove()
        for name in PRESET_SCALE:
            _num(getattr(p, name), f"camera.preset.{name}", -10, 10)
        if self.focus is not None:
            _num(self.focus, "camera.focus", 0.1, 1000)
        if self.aperture is not None:
            _num(self.aperture, "camera.aperture", 0, 64)
        out = []
        for k in keys:
            s = k.t  # the preset is a move over the whole clip
            out.append(
                replace(
                    k,
                    pan=k.pan + s * p.pan / 10 * PRESET_SCALE["pan"],
                    tilt=k.tilt + s * p.tilt / 10 * PRESET_SCALE["tilt"],
                    roll=k.roll + s * p.roll / 10 * PRESET_SCALE["roll"],
                    zoom=k.zoom * 2 ** (s * p.zoom / 10 * PRESET_SCALE["zoom"]),
                    dolly=k.dolly + s * p.dolly / 10 * PRESET_SCALE["dolly"],
                    orbit=k.orbit + s * p.orbit / 10 * PRESET_SCALE["orbit"],
                    crane=k.crane + s * p.crane / 10 * PRESET_SCALE["crane"],
                    focus=self.focus if self.focus is not None and not self.keys else k.focus,
                    aperture=self.aperture if self.aperture is not None and not self.keys else k.aperture,
                )
            )
        return tuple(out)


def camera_path(control: CameraControl, frames: int, size: tuple[int, int], fps: int = 16):
    """One world `Camera` per frame for a control, on Kino World's default base pose."""
    keys = control.to_keys()
    w, h = size
    scene = Scene(width=w, height=h, fps=fps, seconds=frames / fps, camera=CameraSpec(keys=keys))
    return [camera_at(scene, interpolate_key(keys, i / max(1, frames - 1))) for i in range(frames)]


def camera_tensor(control: CameraControl, frames: int, size: tuple[int, int], fps: int = 16) -> torch.Tensor:
    """(1, frames, CAMERA_DIM) conditioning, as in training (`train._camera`)."""
    cams = camera_path(control, frames, size, fps)
    R = torch.tensor(np.stack([c.rotation for c in cams]), dtype=torch.float32)
    t = torch.tensor(np.stack([-c.rotation @ c.position for c in cams]), dtype=torch.float32)
    f = torch.tensor([c.focal for c in cams], dtype=torch.float32)
    focus = torch.tensor([c.focus for c in cams], dtype=torch.float32)
    ap = torch.tensor([float(c.aperture) for c in cams], dtype=torch.float32)
    return camera_features(R, t, f, focus, ap)[None]


@dataclass(frozen=True)
class BrushRegion:
    """A painted region (mask image (H, W) / path, or polygon [[x, y], ...] in output pixels) and its motion."""

    vector: tuple[float, ...] = (0.0, 0.0, 0.0)  # px/s right, px/s down[, m/s toward the camera]
    mask: np.ndarray | str | None = None
    polygon: tuple[tuple[float, float], ...] | None = None
    speed: str = "linear"  # speed curve along the motion (an easing name)
    ambient: float = 0.0  # 0..1: extra small motion inside the region


@dataclass(frozen=True)
class MotionBrushControl:
    regions: tuple[BrushRegion, ...] = ()
    static_mask: np.ndarray | str | None = None  # explicit "keep still" region; default: everything unpainted
    extra: dict = field(default_factory=dict)


def _mask(m: np.ndarray | str, where: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if isinstance(m, (str, Path)):
        try:
            m = np.asarray(Image.open(m).convert("L"))
        except (OSError, UnidentifiedImageError):
            raise ControlError(f"{where}: unreadable mask image {str(m)!r}") from None
    arr = np.asarray(m)
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    w, h = size
    if arr.shape != (h, w):
        raise ControlError(f"{where}: mask is {arr.shape[1] if arr.ndim == 2 else '?'}x{arr.shape[0]}, the output is {w}x{h}")
    return arr.astype(np.float32) / (255.0 if arr.dtype == np.uint8 else 1.0) > 0.5


def _polygon(poly, where: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, ImageDraw

    try:
        pts = [(_num(p[0], f"{where}[{i}][0]"), _num(p[1], f"{where}[{i}][1]")) for i, p in enumerate(poly)]
    except (TypeError, IndexError, KeyError):
        raise ControlError(f"{where}: must be a list of [x, y] points") from None
    if len(pts) < 3:
        raise ControlError(f"{where}: needs at least 3 points")
    img = Image.new("L", size, 0)
    ImageDraw.Draw(img).polygon(pts, fill=255)
    return np.asarray(img) > 127


def brush_regions(control: MotionBrushControl, size: tuple[int, int]) -> tuple[list[tuple[np.ndarray, list[float], str]], np.ndarray]:
    """Validated regions as (mask (H, W) bool, [dx, dy, dz], speed easing), and the static mask (H, W)."""
    w, h = size
    if not control.regions:
        raise ControlError("motion_brush.regions: give at least one region")
    out, painted = [], np.zeros((h, w), bool)
    for i, r in enumerate(control.regions):
        where = f"motion_brush.regions[{i}]"
        if (r.mask is None) == (r.polygon is None):
            raise ControlError(f"{where}: give exactly one of mask or polygon")
        m = _mask(r.mask, f"{where}.mask", size) if r.mask is not None else _polygon(r.polygon, f"{where}.polygon", size)
        if not m.any():
            raise ControlError(f"{where}: the region is empty")
        if not isinstance(r.vector, (tuple, list)) or len(r.vector) not in (2, 3):
            raise ControlError(f"{where}.vector: must be [dx, dy] or [dx, dy, dz], got {r.vector!r}")
        v = [_num(x, f"{where}.vector[{j}]", -10_000, 10_000) for j, x in enumerate(r.vector)] + [0.0]
        if r.speed not in EASINGS:
            raise ControlError(f"{where}.speed: must be one of {list(EASINGS)}, got {r.speed!r}")
        _num(r.ambient, f"{where}.ambient", 0, 1)
        out.append((m, v[:3], r.speed))
        painted |= m
    static = ~painted if control.static_mask is None else _mask(control.static_mask, "motion_brush.static_mask", size) & ~painted
    return out, static


def brush_tensor(control: MotionBrushControl, size: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """(1, hp, wp, BRUSH_DIM) token map of frame 0, as in training (`train.brush_grid`)."""
    w, h = size
    hp, wp = grid
    out = torch.zeros(hp, wp, BRUSH_DIM)
    regions, static = brush_regions(control, size)
    for m, v, _ in regions:
        cover = torch.from_numpy(m.reshape(hp, h // hp, wp, w // wp).mean(axis=(1, 3))).float()
        out[..., 0] = torch.maximum(out[..., 0], cover)
        out[..., 2] += cover * v[0] / w  # frame widths per second, as trained
        out[..., 3] += cover * v[1] / h
        out[..., 4] += cover * v[2]
    out[..., 1] = torch.from_numpy(static.reshape(hp, h // hp, wp, w // wp).mean(axis=(1, 3))).float()
    return out[None]


# ------------------------------------------------------------------------------ from JSON (CLI files, API)
_KEY_FIELDS = ("t", "pan", "tilt", "roll", "zoom", "dolly", "orbit", "crane", "focus", "aperture", "ease")


def _dict(d, where: str, allowed: tuple[str, ...]) -> dict:
    if not isinstance(d, dict):
        raise ControlError(f"{where}: must be an object, got {type(d).__name__}")
    unknown = set(d) - set(allowed)
    if unknown:
        raise ControlError(f"{where}: unknown field(s) {sorted(unknown)}; known: {list(allowed)}")
    return d


def camera_from_dict(d: dict, where: str = "camera") -> CameraControl:
    """controls.md's `camera` object: {preset: {pan, tilt, ...}, keys: [{t, pan, ..., focus, aperture, ease}], focus, aperture}."""
    d = _dict(d, where, ("preset", "keys", "focus", "aperture", "ease"))
    preset = None
    if d.get("preset") is not None:
        p = _dict(d["preset"], f"{where}.preset", tuple(PRESET_SCALE))
        preset = CameraMove(**{k: _num(v, f"{where}.preset.{k}", -10, 10) for k, v in p.items()})
    keys = []
    raw = d.get("keys") or []
    if not isinstance(raw, list):
        raise ControlError(f"{where}.keys: must be a list")
    for i, k in enumerate(raw):
        k = _dict(k, f"{where}.keys[{i}]", _KEY_FIELDS)
        if "t" not in k:
            raise ControlError(f"{where}.keys[{i}].t: required (clip fraction 0..1)")
        vals = {n: (v if n == "ease" else _num(v, f"{where}.keys[{i}].{n}")) for n, v in k.items()}
        keys.append(CameraKey(**vals))
    ctl = CameraControl(preset=preset, keys=tuple(keys), focus=d.get("focus"), aperture=d.get("aperture"), ease=d.get("ease", "smooth"))
    try:
        ctl.to_keys()  # validate now, naming the field (under the caller's name for it)
    except ControlError as exc:
        msg = str(exc)
        raise ControlError(where + msg[len("camera") :] if msg.startswith("camera") else msg) from None
    return ctl


def brush_from_dict(d: dict, where: str = "motion_brush") -> MotionBrushControl:
    """controls.md's `motion_brush` object: {static_mask, regions: [{mask | polygon, vector, speed, ambient}]}."""
    d = _dict(d, where, ("static_mask", "staticMask", "regions"))
    regions = []
    raw = d.get("regions")
    if not isinstance(raw, list) or not raw:
        raise ControlError(f"{where}.regions: must be a non-empty list")
    for i, r in enumerate(raw):
        r = _dict(r, f"{where}.regions[{i}]", ("mask", "polygon", "vector", "speed", "ambient"))
        vec = r.get("vector", [0, 0, 0])
        if not isinstance(vec, list) or len(vec) not in (2, 3):
            raise ControlError(f"{where}.regions[{i}].vector: must be [dx, dy] or [dx, dy, dz], got {vec!r}")
        vec = tuple(_num(v, f"{where}.regions[{i}].vector[{j}]") for j, v in enumerate(vec))
        poly = r.get("polygon")
        regions.append(BrushRegion(vector=vec, mask=r.get("mask"), polygon=tuple(tuple(p) if isinstance(p, list) else p for p in poly) if isinstance(poly, list) else poly, speed=r.get("speed", "linear"), ambient=r.get("ambient", 0.0)))
    return MotionBrushControl(regions=tuple(regions), static_mask=d.get("static_mask", d.get("staticMask")))
