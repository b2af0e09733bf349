"""`kino camera preview`: see a Camera Director path before anything is generated.

One PNG with four panels: the path from above (x–z) and from the side (z–y) with the view direction
every few frames; frame 0's view of a reference floor grid with the last frame's frustum (at the focus
distance) drawn into it; and focus distance / aperture over time (rack focus shows as a ramp).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from kino.controls import CameraControl, camera_path

__all__ = ["draw_camera_preview"]

PANEL = 256


def _fit(points: np.ndarray, pad: float = 24) -> callable:
    lo, hi = points.min(0), points.max(0)
    span = max(float((hi - lo).max()), 1.0)
    centre = (lo + hi) / 2
    scale = (PANEL - 2 * pad) / span
    return lambda p: (PANEL / 2 + (p[0] - centre[0]) * scale, PANEL / 2 - (p[1] - centre[1]) * scale)


def _path_panel(cams, axes: tuple[int, int], title: str, target: np.ndarray) -> Image.Image:
    img = Image.new("RGB", (PANEL, PANEL), (250, 250, 248))
    d = ImageDraw.Draw(img)
    pos = np.array([c.position for c in cams])
    fwd = np.array([c.rotation[2] for c in cams])
    pts = np.concatenate([pos[:, axes], target[None, axes]])
    to = _fit(pts)
    d.line([to(p) for p in pos[:, axes]], fill=(40, 90, 200), width=2)
    step = max(1, len(cams) // 8)
    for i in range(0, len(cams), step):
        a = to(pos[i, axes])
        b = to(pos[i, axes] + 0.6 * fwd[i, axes])
        d.line([a, b], fill=(220, 120, 20), width=2)
    d.ellipse([*(np.array(to(pos[0, axes])) - 4), *(np.array(to(pos[0, axes])) + 4)], fill=(30, 160, 60))
    d.ellipse([*(np.array(to(pos[-1, axes])) - 4), *(np.array(to(pos[-1, axes])) + 4)], fill=(200, 40, 40))
    tx, ty = to(target[list(axes)])
    d.line([tx - 5, ty, tx + 5, ty], fill=(0, 0, 0))
    d.line([tx, ty - 5, tx, ty + 5], fill=(0, 0, 0))
    d.text((6, 6), f"{title}  (green start, red end, orange = view)", fill=(0, 0, 0))
    return img


def _frustum_panel(cams, size: tuple[int, int]) -> Image.Image:
    w, h = size
    c0, c1 = cams[0], cams[-1]
    img = Image.new("RGB", (w, h), (200, 215, 235))
    d = ImageDraw.Draw(img)
    for x in np.arange(-6, 6.5, 1.0):  # floor grid (y = 0) seen by frame 0
        seg = np.array([[x, 0, z] for z in np.linspace(-3, 12, 40)])
        u, v, z = c0.project(seg)
        d.line([(a, b) for a, b, zz in zip(u, v, z, strict=True) if zz > 0.1], fill=(120, 120, 120))
    for zl in np.arange(-3, 12.5, 1.0):
        seg = np.array([[x, 0, zl] for x in np.linspace(-6, 6, 40)])
        u, v, z = c0.project(seg)
        d.line([(a, b) for a, b, zz in zip(u, v, z, strict=True) if zz > 0.1], fill=(120, 120, 120))
    # last frame's image corners pushed out to its focus distance, seen by frame 0
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    rays = np.stack([(corners[:, 0] - c1.cx) / c1.focal, (corners[:, 1] - c1.cy) / c1.focal, np.ones(4)], 1)
    world = c1.position + (rays * c1.focus) @ c1.rotation  # camera→world: R^T
    u, v, z = c0.project(world)
    if (z > 0.1).all():
        d.polygon(list(zip(u.tolist(), v.tolist(), strict=True)), outline=(200, 40, 40))
    d.text((4, 4), "frame 0 + last frame's view (red)", fill=(0, 0, 0))
    return img.resize((PANEL, round(PANEL * h / w)) if w >= h else (round(PANEL * w / h), PANEL))


def _lens_panel(cams) -> Image.Image:
    img = Image.new("RGB", (PANEL, PANEL), (250, 250, 248))
    d = ImageDraw.Draw(img)
    n = len(cams)
    focus = np.array([c.focus for c in cams])
    ap = np.array([float(c.aperture) for c in cams])
    for vals, colour, label, row in ((focus, (40, 90, 200), "focus m", 0), (ap, (200, 40, 40), "aperture f/", 1)):
        lo, hi = float(vals.min()), float(vals.max())
        span = max(hi - lo, 1e-6)
        pts = [(16 + i / max(1, n - 1) * (PANEL - 32), PANEL - 24 - (v - lo) / span * (PANEL - 80)) for i, v in enumerate(vals)]
        d.line(pts, fill=colour, width=2)
        d.text((6, 6 + 14 * row), f"{label}: {vals[0]:.2f} -> {vals[-1]:.2f}", fill=colour)
    d.text((6, PANEL - 16), "time ->", fill=(0, 0, 0))
    return img


def draw_camera_preview(control: CameraControl, frames: int, size: tuple[int, int], output: str | Path, fps: int = 16) -> Path:
    cams = camera_path(control, frames, size, fps)
    target = np.array([0.0, 0.7, 0.0])
    panels = [_path_panel(cams, (0, 2), "top view x-z", target), _path_panel(cams, (2, 1), "side view z-y", target), _frustum_panel(cams, size), _lens_panel(cams)]
    sheet = Image.new("RGB", (2 * PANEL + 8, 2 * PANEL + 8), (255, 255, 255))
    for i, p in enumerate(panels):
        sheet.paste(p, ((i % 2) * (PANEL + 8), (i // 2) * (PANEL + 8)))
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
