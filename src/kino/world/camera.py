"""The 2.5D pinhole camera: a path of keys becomes one Camera (intrinsics, extrinsics, lens) per frame.

Conventions (OpenCV-style camera space): x right, y down, z forward; pixel (u, v) = (f x/z + cx,
f y/z + cy) with pixel centres at half-integers. Depth of field uses the thin-lens circle of confusion
c = f_px * A * |1/z - 1/z_focus| pixels (diameter), with entrance pupil A = PUPIL / N for f-number N
(Kino World is a tabletop miniature, so the pupil is large relative to the scene, as with a macro lens).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kino.world.scene import CameraKey, Scene

__all__ = ["Camera", "camera_path", "interpolate_key", "ease", "circle_of_confusion", "PUPIL"]

PUPIL = 0.5  # world metres at f/1


@dataclass(frozen=True)
class Camera:
    """One frame's camera: world→camera rotation (rows right, down, forward), position, focal in px."""

    position: np.ndarray  # (3,)
    rotation: np.ndarray  # (3, 3)
    focal: float
    cx: float
    cy: float
    width: int
    height: int
    focus: float
    aperture: float
    roll: float  # radians, for image-space sprite rotation

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) → camera space (..., 3)."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation.T

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (..., 3) → pixel u, v and depth z (camera space); z <= 0 is behind the camera."""
        pc = self.to_camera(points)
        z = pc[..., 2]
        zs = np.where(np.abs(z) < 1e-6, 1e-6, z)
        return self.focal * pc[..., 0] / zs + self.cx, self.focal * pc[..., 1] / zs + self.cy, z

    def coc(self, depth: np.ndarray | float) -> np.ndarray | float:
        """Thin-lens circle-of-confusion diameter in pixels at camera depth z."""
        return circle_of_confusion(self.focal, self.aperture, self.focus, depth)

    def to_dict(self) -> dict:
        """Intrinsics and extrinsics as plain JSON (K, world→camera R and t, lens)."""
        t = -self.rotation @ self.position
        return {
            "K": [[self.focal, 0.0, self.cx], [0.0, self.focal, self.cy], [0.0, 0.0, 1.0]],
            "R": np.round(self.rotation, 6).tolist(),
            "t": np.round(t, 6).tolist(),
            "position": np.round(self.position, 6).tolist(),
            "focal_px": round(self.focal, 4),
            "focus": round(self.focus, 4),
            "aperture": self.aperture,
        }


def circle_of_confusion(focal: float, aperture: float, focus: float, depth: np.ndarray | float) -> np.ndarray | float:
    """Thin-lens circle-of-confusion diameter in px, f_px * (PUPIL / N) * |1/z - 1/z_focus|, at camera depth z
    (0 for a pinhole, aperture 0): what the renderer blurs by and what eval asks the blur to follow."""
    if aperture <= 0:
        return np.zeros_like(depth) if isinstance(depth, np.ndarray) else 0.0
    inv = 1.0 / np.maximum(depth, 1e-3)
    return focal * (PUPIL / aperture) * np.abs(inv - 1.0 / focus)


def ease(s: float, kind: str) -> float:
    """Easing curve `kind` (linear, ease_in, ease_out, smooth) at s in [0, 1]."""
    if kind == "linear":
        return s
    if kind == "ease_in":
        return s * s
    if kind == "ease_out":
        return 1 - (1 - s) * (1 - s)
    return s * s * (3 - 2 * s)  # smoothstep


def interpolate_key(keys: tuple[CameraKey, ...], u: float) -> CameraKey:
    """The camera key at clip fraction u: piecewise interpolation with the later key's easing."""
    if u <= keys[0].t or len(keys) == 1:
        return keys[0]
    if u >= keys[-1].t:
        return keys[-1]
    j = max(i for i in range(len(keys)) if keys[i].t <= u)
    a, b = keys[j], keys[j + 1]
    s = ease((u - a.t) / (b.t - a.t), b.ease)

    def lerp(x: float, y: float) -> float:
        return x + (y - x) * s

    return CameraKey(
        t=u,
        pan=lerp(a.pan, b.pan),
        tilt=lerp(a.tilt, b.tilt),
        roll=lerp(a.roll, b.roll),
        zoom=math.exp(lerp(math.log(a.zoom), math.log(b.zoom))),  # zoom feels linear in log focal
        dolly=lerp(a.dolly, b.dolly),
        orbit=lerp(a.orbit, b.orbit),
        crane=lerp(a.crane, b.crane),
        focus=lerp(a.focus, b.focus),
        aperture=lerp(a.aperture, b.aperture),
        ease=b.ease,
    )


def _rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def camera_at(scene: Scene, key: CameraKey) -> Camera:
    """The camera for one interpolated key."""
    spec = scene.camera
    pos = np.asarray(spec.position, dtype=np.float64)
    target = np.asarray(spec.target, dtype=np.float64)
    # orbit: circle the target about the vertical axis, still looking at it
    pos = target + _rot_y(-key.orbit) @ (pos - target)
    fwd = target - pos
    fwd /= np.linalg.norm(fwd)
    yaw = math.atan2(fwd[0], fwd[2]) + math.radians(key.pan)
    pitch = math.asin(np.clip(fwd[1], -1, 1)) + math.radians(key.tilt)
    pitch = max(-1.45, min(1.45, pitch))
    f = np.array([math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    r = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
    up = np.cross(f, r)
    roll = math.radians(key.roll)
    r2 = math.cos(roll) * r - math.sin(roll) * up
    up2 = math.sin(roll) * r + math.cos(roll) * up
    pos = pos + f * key.dolly
    pos[1] += key.crane  # after the look direction is fixed: a crane move keeps the framing's angles
    w, h = scene.width, scene.height
    focal = (min(w, h) / 2) / math.tan(math.radians(spec.fov) / 2) * key.zoom
    return Camera(
        position=pos,
        rotation=np.stack([r2, -up2, f]),
        focal=focal,
        cx=w / 2,
        cy=h / 2,
        width=w,
        height=h,
        focus=key.focus,
        aperture=key.aperture,
        roll=roll,
    )


def camera_path(scene: Scene) -> list[Camera]:
    """One Camera per frame of the scene."""
    n = scene.num_frames
    return [camera_at(scene, interpolate_key(scene.camera.keys, i / max(1, n - 1))) for i in range(n)]
