"""Dense forward optical flow, computed analytically from the scene (never estimated).

Every pixel belongs to a sprite part or to the backdrop at frame t. A part's pixel moves with the
part's affine map: p' = A'(A^-1 (p - b)) + b'. A backdrop pixel is a world point (floor, wall, or a
direction at infinity for the sky) reprojected by the next frame's camera. So flow is exact for the
2.5D world wherever the surface is still visible at t+1; disocclusions are where it is undefined.
"""

from __future__ import annotations

import numpy as np

from kino.world.render import Clip

__all__ = ["forward_flow", "warp_backward"]


def forward_flow(clip: Clip) -> np.ndarray:
    """Flow (T-1, H, W, 2) in pixels from frame t to frame t+1 (dx right, dy down)."""
    T = len(clip.layers)
    h, w = clip.scene.height, clip.scene.width
    px = np.broadcast_to(np.arange(w, dtype=np.float64) + 0.5, (h, w))
    py = np.broadcast_to(np.arange(h, dtype=np.float64)[:, None] + 0.5, (h, w))
    out = np.zeros((max(T - 1, 0), h, w, 2), np.float32)
    for t in range(T - 1):
        cur, nxt, cam1 = clip.layers[t], clip.layers[t + 1], clip.cameras[t + 1]
        # backdrop: reproject world points with the next camera
        u, v, _ = cam1.project(cur.world)
        fx, fy = u - px, v - py
        nxt_parts = {p.key: p for p in nxt.parts}
        for idx in np.unique(cur.part[cur.part >= 0]):
            p0 = cur.parts[idx]
            p1 = nxt_parts.get(p0.key)
            sel = cur.part == idx
            if p1 is None:  # gone at t+1 (dust that died): flow undefined, leave the backdrop's
                continue
            m = p1.A @ np.linalg.inv(p0.A)
            dx, dy = px[sel] - p0.b[0], py[sel] - p0.b[1]
            fx[sel] = m[0, 0] * dx + m[0, 1] * dy + p1.b[0] - px[sel]
            fy[sel] = m[1, 0] * dx + m[1, 1] * dy + p1.b[1] - py[sel]
        out[t, ..., 0], out[t, ..., 1] = fx, fy
    return out


def warp_backward(nxt: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample image `nxt` (H, W, C) at p + flow(p) with bilinear interpolation: predicts frame t."""
    h, w = flow.shape[:2]
    x = np.clip(np.arange(w)[None, :] + flow[..., 0], 0, w - 1)
    y = np.clip(np.arange(h)[:, None] + flow[..., 1], 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    img = nxt.astype(np.float32)
    top = img[y0, x0] * (1 - ax) + img[y0, x1] * ax
    bot = img[y1, x0] * (1 - ax) + img[y1, x1] * ax
    return top * (1 - ay) + bot * ay
