"""Anti-aliased 2-D rasterisation of sprite parts: signed distance → coverage, pattern, shading.

A Part is a shape in local world units (x right, y up) with an affine map to image pixels,
p = A q + b. Coverage is clip(0.5 - sdf_px, 0, 1), the usual one-pixel SDF ramp (Green, "Improved
Alpha-Tested Magnification", SIGGRAPH 2007), so edges are anti-aliased at any size. The same affine map
gives exact forward flow for every pixel a part covers (flow.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Part", "Shading", "raster_part", "second_tone"]


@dataclass(frozen=True)
class Shading:
    """How a style lights parts: ambient level, light vector (view space, z toward camera), tint."""

    style: str
    light: tuple[float, float, float]
    tint: tuple[float, float, float]
    ambient: float


@dataclass(frozen=True)
class Part:
    """One primitive of an object in one frame."""

    key: tuple[int, str]  # (object id, part name): stable across frames, used for flow
    shape: str  # circle | box | poly
    size: tuple  # circle (r,), box (hx, hy, corner), poly ((x, y), ...) counter-clockwise
    A: np.ndarray  # (2, 2) local → pixel linear part
    b: np.ndarray  # (2,) pixel position of the local origin
    spin: float  # body rotation included in A (radians), so shading can stay screen-aligned
    color: tuple[float, float, float]  # albedo 0..1
    pattern: str = "solid"
    period: float = 0.2  # pattern period in local units
    shade: str = "face"  # sphere | cylinder | face | none
    specular: float = 0.0
    alpha: float = 1.0
    depth: float = 1.0  # camera depth (for the depth map and depth of field)

    def extent(self) -> float:
        """Radius (local units) of a circle that bounds the shape."""
        if self.shape == "circle":
            return self.size[0]
        if self.shape == "box":
            return math.hypot(self.size[0], self.size[1])
        return max(math.hypot(x, y) for x, y in self.size)

    def bbox(self) -> tuple[int, int, int, int]:
        """Pixel bounding box (x0, y0, x1, y1), unclipped, one pixel of margin for anti-aliasing."""
        r = self.extent() * math.sqrt(abs(np.linalg.det(self.A))) + 1.5
        return (math.floor(self.b[0] - r), math.floor(self.b[1] - r), math.ceil(self.b[0] + r), math.ceil(self.b[1] + r))


def _sdf(part: Part, qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    if part.shape == "circle":
        return np.sqrt(qx * qx + qy * qy) - part.size[0]
    if part.shape == "box":
        hx, hy, rad = part.size
        dx = np.abs(qx) - (hx - rad)
        dy = np.abs(qy) - (hy - rad)
        out = np.sqrt(np.maximum(dx, 0) ** 2 + np.maximum(dy, 0) ** 2)
        return out + np.minimum(np.maximum(dx, dy), 0) - rad
    verts = part.size
    d = None
    for i in range(len(verts)):
        (x0, y0), (x1, y1) = verts[i], verts[(i + 1) % len(verts)]
        ex, ey = x1 - x0, y1 - y0
        norm = math.hypot(ex, ey)
        # outward normal of a counter-clockwise edge is (ey, -ex)
        e = ((qx - x0) * ey - (qy - y0) * ex) / norm
        d = e if d is None else np.maximum(d, e)
    return d


def _pattern(part: Part, qx: np.ndarray, qy: np.ndarray, px: float) -> np.ndarray | None:
    """Second-tone mask in [0, 1] (None for solid); anti-aliased by the pixel size px (local units)."""
    p = part.period
    k = p / (2 * math.pi * px)  # sine slope → one-pixel ramp
    if part.pattern == "stripes":
        return np.clip(0.5 + np.sin(2 * math.pi * qx / p) * k, 0, 1)
    if part.pattern == "checker":
        return np.clip(0.5 + np.sin(2 * math.pi * qx / p) * np.sin(2 * math.pi * qy / p) * 2 * k, 0, 1)
    if part.pattern == "dots":
        fx = (qx / p + 0.5) % 1.0 - 0.5
        fy = (qy / p + 0.5) % 1.0 - 0.5
        return np.clip(0.5 - (np.sqrt(fx * fx + fy * fy) * p - 0.22 * p) / px, 0, 1)
    return None


def second_tone(color: tuple[float, float, float]) -> np.ndarray:
    """The pattern's second tone: the albedo mixed toward white (dark colours) or black (light ones)."""
    c = np.asarray(color)
    luma = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
    return c * 0.55 + (0.45 if luma < 0.55 else 0.0)


def raster_part(part: Part, x0: int, y0: int, w: int, h: int, sh: Shading) -> tuple[np.ndarray, np.ndarray]:
    """Coverage (h, w) and colour (h, w, 3) of a part over the pixel window starting at (x0, y0)."""
    inv = np.linalg.inv(part.A)
    px = 1.0 / math.sqrt(abs(np.linalg.det(part.A)))  # local units per pixel
    gx = np.arange(x0, x0 + w, dtype=np.float32) + 0.5 - part.b[0]
    gy = np.arange(y0, y0 + h, dtype=np.float32)[:, None] + 0.5 - part.b[1]
    qx = inv[0, 0] * gx + inv[0, 1] * gy  # (h, w) local coordinates
    qy = inv[1, 0] * gx + inv[1, 1] * gy
    sdf_px = _sdf(part, qx, qy) / px
    cov = np.clip(0.5 - sdf_px, 0.0, 1.0) * part.alpha
    base = np.asarray(part.color, dtype=np.float32)
    mask = _pattern(part, qx, qy, px)
    if mask is None:
        col = np.broadcast_to(base, (h, w, 3)).astype(np.float32)
    else:
        col = base + (second_tone(part.color).astype(np.float32) - base) * mask[..., None]
    if sh.style != "flat" and part.shade != "none":
        col = col * _light(part, qx, qy, sh)[..., None]
        col = col * np.asarray(sh.tint, dtype=np.float32)
    elif sh.style == "flat" and part.shade != "none":
        # cartoon outline: a dark band just inside the edge
        band = np.clip(sdf_px + 1.6, 0.0, 1.0)[..., None]
        col = col * (1 - 0.75 * band)
    return cov, col


def _light(part: Part, qx: np.ndarray, qy: np.ndarray, sh: Shading) -> np.ndarray:
    """Lambert + Blinn highlight, computed in screen-aligned coordinates (shading does not spin)."""
    c, s = math.cos(part.spin), math.sin(part.spin)
    ux, uy = c * qx - s * qy, s * qx + c * qy  # undo the body's spin
    lx, ly, lz = sh.light
    amb = sh.ambient
    if part.shade == "sphere":
        r = part.size[0]
        nx, ny = ux / r, uy / r
        nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
        diff = np.clip(nx * lx + ny * ly + nz * lz, 0, 1)
        hx, hy, hz = lx, ly, lz + 1.0
        hn = math.sqrt(hx * hx + hy * hy + hz * hz)
        spec = np.clip((nx * hx + ny * hy + nz * hz) / hn, 0, 1) ** 24 * part.specular
        return amb + (1 - amb) * diff + spec
    if part.shade == "cylinder":
        hw = part.size[0]
        nx = np.clip(qx / hw, -1, 1)
        nz = np.sqrt(1 - nx * nx)
        return amb + (1 - amb) * np.clip(nx * lx + nz * lz * 0.8 + 0.2 * ly, 0, 1)
    # flat face toward the camera, slightly brighter toward its top (sky light)
    hy = part.size[1] if part.shape == "box" else 1.0
    face = amb + (1 - amb) * max(lz * 0.75 + 0.25 * ly, 0.15)
    return face * (0.94 + 0.06 * np.clip(uy / max(hy, 1e-3), -1, 1))
