"""Controls derived from ground truth: what a user would have had to ask for to get this clip.

These are the training targets and the evaluation references for Motion Brush, Camera Director,
keyframes and character references (controls.md): a model conditioned on them should reproduce the clip,
and `kino eval` measures how closely it does.
Vectors follow controls.md: pixels per second of the output frame, +x right, +y down, z toward the
camera (metres per second).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from kino.world.render import Clip
from kino.world.truth import measure_tracks

__all__ = ["REFERENCE_TAGS", "BrushRegion", "MotionBrush", "motion_brush", "camera_control", "keyframes", "reference_crops", "square_image"]

REFERENCE_TAGS = ("hero", "villain")  # the tags of reference slots 1 and 2 in training's tagged captions and the eval's reference cases: they say nothing about the look
MOVING_PX = 4.0  # net displacement (px over the clip) below which a region is painted static


@dataclass(frozen=True)
class BrushRegion:
    """One painted region on frame 0 and its motion."""

    object_id: int
    mask: np.ndarray  # (H, W) bool, frame 0
    vector: tuple[float, float, float]  # px/s right, px/s down, m/s toward the camera


@dataclass(frozen=True)
class MotionBrush:
    """Motion Brush spec: moving regions with vectors, plus the explicit static region."""

    regions: tuple[BrushRegion, ...]
    static_mask: np.ndarray  # (H, W) bool: everything not painted as moving

    def to_dict(self) -> dict:
        """JSON form with masks as run-length encodings (row-major, starting with a run of False)."""
        return {
            "regions": [{"object": r.object_id, "mask": rle(r.mask), "vector": [round(v, 3) for v in r.vector]} for r in self.regions],
            "static_mask": rle(self.static_mask),
        }


def rle(mask: np.ndarray) -> dict:
    """Uncompressed run-length encoding of a boolean mask: {"size": [H, W], "counts": [...]}."""
    flat = mask.ravel().astype(np.int8)
    change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1] if flat.size else 0]])))
    counts = np.diff(np.concatenate([[0], change])).tolist()
    return {"size": list(mask.shape), "counts": [int(c) for c in counts]}


def motion_brush(clip: Clip, tracks: dict | None = None) -> MotionBrush:
    """Brush every object visible on frame 0 that moves; its vector is its mean velocity while visible."""
    tracks = tracks or measure_tracks(clip)
    inst0 = clip.layers[0].instance
    fps = clip.scene.fps
    regions = []
    moving = np.zeros_like(inst0, dtype=bool)
    depth = {}
    for f, cam in enumerate(clip.cameras):
        for oid in tracks:
            depth.setdefault(oid, []).append(float(cam.to_camera(_centre(clip, oid, f))[2]))
    for oid, tr in tracks.items():
        mask = inst0 == oid
        if not mask.any():
            continue
        seen = np.flatnonzero(tr["visible"] > 0.05)
        last = seen[-1] if seen.size else 0
        if last == 0:
            continue
        d = tr["xy"][last] - tr["xy"][0]
        if np.hypot(*d) < MOVING_PX:
            continue
        secs = last / fps
        dz = -(depth[oid][last] - depth[oid][0]) / secs
        regions.append(BrushRegion(oid, mask, (float(d[0] / secs), float(d[1] / secs), float(dz))))
        moving |= mask
    return MotionBrush(tuple(regions), ~moving)


def _centre(clip: Clip, oid: int, f: int) -> np.ndarray:
    sc = clip.scene
    for i, b in enumerate(sc.bodies):
        if b.id == oid:
            return clip.motion.positions[f, i]
    for i, c in enumerate(sc.characters):
        if c.id == oid:
            return clip.motion.char_positions[f, i] + np.array([0.0, c.height / 2, 0.0])
    raise KeyError(oid)


def camera_control(clip: Clip) -> dict:
    """Camera Director spec: the scene's keys plus per-frame intrinsics/extrinsics."""
    return {
        "keys": [dataclasses.asdict(k) for k in clip.scene.camera.keys],
        "frames": [cam.to_dict() for cam in clip.cameras],
    }


def keyframes(clip: Clip, frames: list[int]) -> list[dict]:
    """Keyframe conditioning: the rendered image at each requested frame index."""
    n = len(clip.frames)
    for f in frames:
        if not 0 <= f < n:
            raise ValueError(f"frames: keyframe index {f} is outside the clip's {n} frames")
    return [{"frame": f, "image": clip.frames[f]} for f in frames]


def reference_crops(clip: Clip, tracks: dict | None = None, pad: float = 0.15, bodies: bool = False) -> list[dict]:
    """A square crop of every character (and, with `bodies`, every ball and box) at its most visible frame.

    Each: object id, frame, box [x, y, w, h] (clipped at the frame's edges, so not always square), its
    visible fraction there, the crop `image` and the object's `mask` inside it (identity references)."""
    tracks = tracks or measure_tracks(clip)
    out = []
    h, w = clip.scene.height, clip.scene.width
    objects = list(clip.scene.characters) + (list(clip.scene.bodies) if bodies else [])
    for c in objects:
        tr = tracks[c.id]
        f = int(np.argmax(tr["visible"]))
        if tr["visible"][f] <= 0:
            continue
        inst = clip.layers[f].instance
        ys, xs = np.nonzero(inst == c.id)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        side = int(max(y1 - y0, x1 - x0) * (1 + 2 * pad))
        cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
        top, left = max(0, cy - side // 2), max(0, cx - side // 2)
        bottom, right = min(h, top + side), min(w, left + side)
        crop = clip.frames[f, top:bottom, left:right]
        out.append({"object": c.id, "frame": f, "box": [int(left), int(top), int(crop.shape[1]), int(crop.shape[0])],
                    "visible": float(tr["visible"][f]), "image": crop, "mask": inst[top:bottom, left:right] == c.id})
    return out


def square_image(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 → (size, size, 3): padded to a square by repeating its edge pixels, then resized.

    Padding, not cropping: a crop clipped at the frame's edge, or a user's landscape photo, keeps its whole
    subject. Training (crops) and generation (user images) both go through here, so they match."""
    from PIL import Image

    img = np.asarray(image, np.uint8)
    h, w = img.shape[:2]
    d = max(h, w)
    top, left = (d - h) // 2, (d - w) // 2
    img = np.pad(img, ((top, d - h - top), (left, d - w - left), (0, 0)), mode="edge")
    return np.array(Image.fromarray(img).resize((size, size), Image.BICUBIC))  # writable (torch.from_numpy)
