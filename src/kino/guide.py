"""Warp guide: the requested camera and Motion Brush motion, applied to the last frame, start the next chunk.

A model that has not yet learnt its controls (kino-tiny's controls ablation: every difference inside the
CIs) still receives them as conditioning tokens; the warp guide adds the motion where it can be computed
exactly. Before chunk j is sampled, the last frame made so far is warped to each of chunk j's frames by the
requested motion, and the decoder starts from that warp noised to `level` instead of from pure noise (SDEdit,
arXiv 2108.01073), so the layout moves as asked and the model repaints what the warp cannot know (revealed
borders, the hole a dragged object leaves, lighting). Training-free camera control by warping and
re-noising is CamTrol's idea (Hou et al., arXiv 2406.10126); drag-style region motion is what Motion Brush
asks for (MOFA-Video, DragAnything warp first-frame content along the strokes).

Geometry. Kino World is a ground plane y = 0 under a sky with its subjects standing around the point the
camera is framed on, so a target pixel's ray meets the ground, a vertical stand-in plane through that point,
or nothing (a direction at infinity): `source_coords` maps every pixel of view `dst` to where the same point
lies in view `src` — exact for pan, tilt, roll and zoom (depth does not matter under rotation), exact for the
near floor and approximate for standing objects under dolly, crane and orbit. Brushes move regions in image space: a region painted on frame 0 is at `offset[t]` (and scaled
by `scale[t]` about its centroid, for motion toward the camera) at frame t, and its pixels are taken from
where the region was in the source frame; the hole it leaves is filled with that row's background colour.

Lens. The same ray trace gives each pixel's depth, so the guide also shows the requested depth of field: each
warped frame is blurred by the thin-lens circle of confusion its camera key asks for at that depth (the renderer's
`depth_of_field`, the metric's `circle_of_confusion`). A warp alone carries the anchor's blur into every later frame,
so a rack focus never showed (session 11: prev-1's measured blur stayed flat while the request went 0 -> 5 px, focus
correlation -0.31). The source is taken as sharp, which is what a given first image or a model that has not learnt
the lens gives; `source_lens=True` (training, where the source is a true render) subtracts the blur it already has,
in quadrature, and cannot sharpen what is blurred. Warping then re-blurring is how training-free camera-effect
methods render a lens on a generated view (Generative Photography, Yuan et al. arXiv 2412.02168, build their
"bokeh" training pairs the same way). The decoder washes much of that blur out again, and its own ~3 px blur is a
floor it cannot focus below, so `lens` also renders the requested depth of field on the frames it shows (never on
what the model reads back): rack focus 0.28 -> 0.69 on kino-tiny (session 12, docs/model.md). Each frame is
blurred once, after its two warps (anchor, newest) are merged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from kino.world.camera import circle_of_confusion
from kino.world.render import depth_of_field

__all__ = ["View", "Drag", "WarpGuide", "scene_points", "source_coords", "views_from_cameras", "views_from_truth", "drag_from_region", "drags_from_truth", "guide_from_truth"]

FAR = 80.0  # metres: ground farther than this is treated as at infinity (the horizon)
PIVOT = (0.0, 0.7, 0.0)  # Kino World's default framing point (CameraSpec.target): where a shot's subjects stand
STAND = 2.5  # metres: height of the stand-in plane through the pivot (people are under 2 m)
DRAG_DEPTH = 5.0  # assumed distance (m) of a brushed region, to turn dz (m/s toward the camera) into a scale
MIN_BLUR = 0.5  # px: a circle of confusion below this changes no pixel worth a blur pass


@dataclass(frozen=True)
class View:
    """One frame's camera: intrinsics K (3, 3), world→camera rotation R (3, 3), position C (3,), and its lens:
    focus distance (m) and f-number (0 = a pinhole, everything sharp)."""

    K: np.ndarray
    R: np.ndarray
    C: np.ndarray
    focus: float = 0.0
    aperture: float = 0.0

    def coc(self, depth: np.ndarray) -> np.ndarray:
        """Circle-of-confusion diameter (px) at camera depth z (inf: the horizon and sky; nan: no point, 0 blur)."""
        return np.nan_to_num(circle_of_confusion(float(self.K[0, 0]), self.aperture, self.focus, depth), nan=0.0)


@dataclass(frozen=True)
class Drag:
    """A brushed region: its frame-0 mask (H, W) bool, and per frame t its offset (T, 2) in pixels from frame 0
    and its scale (T,) about the frame-0 centroid."""

    mask: np.ndarray
    offset: np.ndarray
    scale: np.ndarray


def views_from_cameras(cams: Sequence) -> list[View]:
    """`kino.world.camera.Camera` objects (a camera path) → views."""
    return [View(np.array([[c.focal, 0, c.cx], [0, c.focal, c.cy], [0, 0, 1]], float), np.asarray(c.rotation, float), np.asarray(c.position, float),
                 float(c.focus), float(c.aperture)) for c in cams]


def views_from_truth(cams: Sequence[dict], sx: float = 1.0, sy: float = 1.0) -> list[View]:
    """Ground-truth camera dicts (K, R, position) → views, optionally for frames resized by (sx, sy)."""
    scale = np.diag([sx, sy, 1.0])
    return [View(scale @ np.asarray(c["K"], float), np.asarray(c["R"], float), np.asarray(c["position"], float),
                 float(c.get("focus", 0.0)), float(c.get("aperture", 0.0))) for c in cams]


def drag_from_region(mask: np.ndarray, vector: Sequence[float], frames: int, fps: int, ease: Callable[[float], float]) -> Drag:
    """A Motion Brush region: vector (dx, dy px/s[, dz m/s toward the camera]) at average speed over the clip,
    distributed in time by the easing (linear: constant speed)."""
    seconds = max(frames - 1, 1) / fps
    s = np.array([ease(t / max(frames - 1, 1)) for t in range(frames)]) * seconds  # eased seconds elapsed
    dx, dy = float(vector[0]), float(vector[1])
    dz = float(vector[2]) if len(vector) > 2 else 0.0
    scale = DRAG_DEPTH / np.clip(DRAG_DEPTH - dz * s, 0.25 * DRAG_DEPTH, 4 * DRAG_DEPTH)
    return Drag(np.asarray(mask, bool), np.stack([dx * s, dy * s], axis=1), scale)


def drags_from_truth(truth: dict, instance0: np.ndarray, min_travel: float = 4.0) -> list[Drag]:
    """The objects a ground-truth brush paints (as `kino.train.brush_grid` chooses them), dragged along their
    true image tracks (holding the last seen position)."""
    out = []
    for obj in truth["objects"]:
        mask = instance0 == obj["id"]
        track = np.asarray(obj["track"], float)
        seen = np.flatnonzero(track[:, 2] > 0.05)
        if not mask.any() or seen.size < 2 or np.hypot(*(track[seen[-1], :2] - track[0, :2])) < min_travel:
            continue
        pos = track[:, :2].copy()
        pos[seen[-1] + 1 :] = pos[seen[-1]]
        out.append(Drag(mask, pos - pos[0], np.ones(len(pos))))
    return out


def guide_from_truth(truth: dict, instance0: np.ndarray, size: tuple[int, int], chunk: int, camera: bool, brush: bool, source_lens: bool = False) -> WarpGuide | None:
    """The guide `generate` would build from controls equal to a clip's ground truth (its camera path; its brushed
    objects' tracks), for frames of `size` (w, h): what training shows a `guide_input` model and what eval gives
    a model that is asked to follow the truth. None without camera or brush. source_lens: the frames it will warp
    are this truth's own renders, which already show its lens (training), not a model's (eval, generate)."""
    if not (camera or brush):
        return None
    w, h = size
    inst = instance0
    sx, sy = w / inst.shape[1], h / inst.shape[0]
    views = views_from_truth(truth["camera"], sx, sy) if camera else None
    drags = []
    if brush:
        if inst.shape != (h, w):
            import cv2

            inst = cv2.resize(inst.astype(np.int32).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int16)
            truth = {**truth, "objects": [{**o, "track": [[x * sx, y * sy, v] for x, y, v in o["track"]]} for o in truth["objects"]]}
        drags = drags_from_truth(truth, inst)
    pivot = truth.get("scene", {}).get("camera", {}).get("target", PIVOT)
    warp = WarpGuide(size, chunk, views, drags, pivot=pivot, source_lens=source_lens)
    return warp if warp else None


def scene_points(dst: View, size: tuple[int, int], pivot: Sequence[float] | None = PIVOT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each pixel of view `dst` sees in the guide's scene model: (H, W, 3) world ray directions, (H, W) ray
    parameters (inf: at infinity) and the (H, W) mask of finite points. The half of `source_coords` that depends on
    `dst` alone, so a guide warping one frame from two sources (the newest frame and the anchor) traces it once.

    The scene is the ground plane y = 0 up to the `pivot` (the point the shot is framed on, where its subjects
    stand), a vertical stand-in plane through the pivot facing the camera up to STAND metres (the subjects: an
    orbit turns about them rather than sliding them over the floor behind), and beyond that, infinity."""
    w, h = size
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)  # pixel centres at half-integers (world convention)
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(dst.K).T @ dst.R  # (H, W, 3) world directions
    down = rays[..., 1] < -1e-6
    lam = np.where(down, -dst.C[1] / np.where(down, rays[..., 1], -1.0), np.inf)
    lam = np.where(down & (lam * np.linalg.norm(rays, axis=-1) < FAR) & (dst.C[1] > 0), lam, np.inf)
    if pivot is not None:
        n = dst.R[2] * np.array([1.0, 0.0, 1.0])  # the camera's forward, level: a vertical plane facing it
        if np.linalg.norm(n) > 1e-6:
            denom = rays @ n
            lp = np.where(denom > 1e-6, float(n @ (np.asarray(pivot, float) - dst.C)) / np.where(denom > 1e-6, denom, 1.0), np.inf)
            y = dst.C[1] + lp * rays[..., 1]
            lam = np.where((lp > 0) & (lp < lam) & (y >= 0) & (y <= STAND), lp, lam)
    return rays, lam, np.isfinite(lam)


def source_coords(dst: View, src: View, size: tuple[int, int], pivot: Sequence[float] | None = PIVOT, depth: bool = False, points=None):
    """(H, W, 2) pixel coordinates (x, y) in view `src` of the scene point seen at each pixel of view `dst`; with
    `depth`, also that point's camera depth (H, W) in `dst` and in `src` (inf: at infinity; nan: behind `src`).
    `points`: `scene_points(dst, size, pivot)` if already traced (the scene model is described there)."""
    rays, lam, finite = scene_points(dst, size, pivot) if points is None else points
    # finite points project through src's centre; the rest are directions (rotation and zoom only)
    pts = np.where(finite[..., None], dst.C + np.where(finite, lam, 0.0)[..., None] * rays - src.C, rays)
    p = pts @ src.R.T @ src.K.T
    z = np.where(p[..., 2] > 1e-6, p[..., 2], np.nan)  # behind the source camera: no source pixel
    xy = np.stack([p[..., 0] / z, p[..., 1] / z], -1)
    if not depth:
        return xy
    # a ray's camera-space direction K^-1 (u, v, 1) has z = 1, so the ray parameter lam is dst's depth
    return xy, lam, np.where(finite, z, np.inf)


class WarpGuide:
    """Per chunk, the warped starting point: `guide(first_frame, last_pixels)` → (k, 3, H, W) in [-1, 1]. One
    guide serves one video (it keeps that video's anchor frame).

    views: one View per frame of the whole video (Extend context included), or None for a still camera;
    drags: brushed regions (masks on frame `drag_from`, offsets counted from it);
    source_lens: the frames given already show their views' depth of field (true renders), so only the blur
    missing from them is added; False (generate, eval): they are taken as sharp."""

    def __init__(self, size: tuple[int, int], chunk: int, views: Sequence[View] | None = None, drags: Sequence[Drag] = (), drag_from: int = 0, pivot: Sequence[float] | None = PIVOT,
                 source_lens: bool = False):
        self.size, self.chunk, self.views, self.drags, self.pivot = size, chunk, list(views) if views else None, list(drags), pivot
        self.source_lens = source_lens
        self.drag_from = drag_from  # the video frame a brush is painted on (Extend: the first new frame)
        self.anchor: tuple[int, torch.Tensor] | None = None  # (frame index, pixels) of the first frame given
        # frame -> the circle of confusion its own lens asks for: it depends on that frame's view alone, so the guide's
        # warp and the output lens pass of the same frame share one ray trace (a few chunks kept: a clip runs forward)
        self._wants: dict[int, np.ndarray] = {}
        self._points: dict[int, tuple] = {}  # frame -> its `scene_points`, for the same reason (both sources of a warp)

    def __bool__(self) -> bool:
        return self.views is not None or bool(self.drags)

    def _at(self, seq, t: int):
        return seq[max(0, min(t, len(seq) - 1))]

    def coords(self, t: int, r: int, lens: bool = False):
        """(H, W, 2) where each pixel of frame t comes from in frame r; (H, W) masks of frame t's holes (where a
        dragged region was in frame r and is no more) and of its dragged regions; with `lens`, also the (H, W)
        circle of confusion `blur` gives, from the same ray trace (None where no pixel would change)."""
        w, h = self.size
        xy = np.stack(np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5), -1)
        src = xy.copy()
        hole = np.zeros((h, w), bool)
        fg = np.zeros((h, w), bool)
        for d in self.drags:
            ys, xs = np.nonzero(d.mask)
            c0 = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
            dt, dr = t - self.drag_from, r - self.drag_from
            at_t, at_r = c0 + self._at(d.offset, dt), c0 + self._at(d.offset, dr)
            s_t, s_r = self._at(d.scale, dt), self._at(d.scale, dr)
            x0 = c0 + (xy - at_t) / s_t  # frame-0 position of each frame-t pixel, if it is in the region
            ix, iy = np.floor(x0[..., 0]).astype(int), np.floor(x0[..., 1]).astype(int)
            inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
            inside[inside] = d.mask[iy[inside], ix[inside]]
            x0r = c0 + (xy - at_r) / s_r  # pixels the region covered in frame r: background there is unknown
            jx, jy = np.floor(x0r[..., 0]).astype(int), np.floor(x0r[..., 1]).astype(int)
            was = (jx >= 0) & (jx < w) & (jy >= 0) & (jy < h)
            was[was] = d.mask[jy[was], jx[was]]
            hole |= was & ~inside
            src[inside] = at_r + s_r * (x0[inside] - c0)
            hole &= ~inside
            fg |= inside
        coc = None
        if self.views is not None:  # the camera moves the whole picture, dragged regions included
            dst, srcv = self._at(self.views, t), self._at(self.views, r)
            pts = self._scene_points(t)
            if lens and dst.aperture > 0:
                cam, _, zs = source_coords(dst, srcv, self.size, self.pivot, depth=True, points=pts)
                coc = self._coc(t, srcv, zs)
            else:
                cam = source_coords(dst, srcv, self.size, self.pivot, points=pts)
            fx, fy = np.clip(src[..., 0] - 0.5, 0, w - 1), np.clip(src[..., 1] - 0.5, 0, h - 1)
            ix, iy = np.round(fx).astype(int), np.round(fy).astype(int)
            src = cam[iy, ix] + (src - np.stack([ix, iy], -1) - 0.5)  # camera map at the nearest pixel, plus the sub-pixel rest
        return (src, hole, fg, coc) if lens else (src, hole, fg)

    def _per_frame(self, store: dict, t: int, make: Callable[[int], object]):
        """store[t] = make(t) for frame t's view, computed once; a few chunks of frames kept (a clip runs forward)."""
        t = max(0, min(t, len(self.views) - 1))
        if t not in store:
            store[t] = make(t)
            if len(store) > 4 * self.chunk:
                del store[next(iter(store))]  # the oldest frame
        return store[t]

    def _scene_points(self, t: int) -> tuple:
        """`scene_points` of frame t's view, traced once for every warp and lens pass of that frame."""
        return self._per_frame(self._points, t, lambda i: scene_points(self.views[i], self.size, self.pivot))

    def _want(self, t: int) -> np.ndarray:
        """(H, W) circle of confusion frame t's lens asks for at each pixel (the ray parameter is its own depth)."""
        return self._per_frame(self._wants, t, lambda i: self.views[i].coc(self._scene_points(i)[1]))

    def _coc(self, t: int, src: View, zs: np.ndarray | None) -> np.ndarray | None:
        want = self._want(t)
        if self.source_lens:
            want = np.sqrt(np.clip(want**2 - src.coc(zs) ** 2, 0.0, None))
        return want if want.max() >= MIN_BLUR else None

    def blur(self, t: int, r: int) -> np.ndarray | None:
        """(H, W) circle of confusion (px) frame t's lens asks for where it sees each point, less (in quadrature)
        what frame r's lens already gave that point with `source_lens`; None where no pixel would change."""
        if self.views is None:
            return None
        dst, src = self._at(self.views, t), self._at(self.views, r)
        if dst.aperture <= 0:
            return None
        if not self.source_lens:  # what frame t asks for, whatever frame r gave
            return self._coc(t, src, None)
        _, _, zs = source_coords(dst, src, self.size, self.pivot, depth=True, points=self._scene_points(t))
        return self._coc(t, src, zs)

    def lens(self, t: int, frames: np.ndarray) -> np.ndarray:
        """uint8 frames (n, H, W, 3) of frames t .. t+n-1, each blurred by the depth of field its camera key asks
        for (the output lens pass: the frames are taken as sharp); unchanged without an aperture."""
        out = frames
        for i in range(len(frames)):
            coc = self.blur(t + i, t + i)
            if coc is not None:
                out = out.copy() if out is frames else out
                out[i] = np.clip(depth_of_field(frames[i].astype(np.float32), coc) + 0.5, 0, 255).astype(np.uint8)
        return out

    def for_latents(self, tokenizer) -> Callable[[int, torch.Tensor], torch.Tensor]:
        """This guide as `A2D.stream`'s `guide`: chunk j and the previous chunk's latents → chunk j's start latents
        (decode the newest frame, warp, encode)."""
        k = self.chunk

        def guide(j: int, prev: torch.Tensor) -> torch.Tensor:
            last = tokenizer.decode(prev[:, -1:])[0, 0]  # (3, H, W): the newest frame
            return tokenizer.encode(self(j * k, last)[None])

        return guide

    def warp(self, t: int, r: int, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame t from `frame` (3, H, W), the frame r: the image, with the depth of field frame t asks for, and
        where it is known: inside the source's borders."""
        x, inside, coc = self._warp(t, r, frame)
        return self._lens(x, coc), inside

    def _warp(self, t: int, r: int, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
        """`warp` before its blur: the sharp warp, where it is known, and the circle of confusion to blur it by.
        The hole a dragged region leaves counts as known, filled with its row's background: the newest frame's
        pixels there are whatever the decoder left behind, and carrying them on chunk after chunk grew a faint
        residue into a lasting ghost of the brushed object at its start (session 11, docs/model.md)."""
        w, h = self.size
        src, hole, fg, coc = self.coords(t, r, lens=True)
        inside = np.isfinite(src).all(-1) & (src[..., 0] >= 0) & (src[..., 0] <= w) & (src[..., 1] >= 0) & (src[..., 1] <= h)
        src = np.nan_to_num(src, nan=-1e4)
        grid = torch.from_numpy(np.stack([src[..., 0] / w * 2 - 1, src[..., 1] / h * 2 - 1], -1)).float()[None].to(frame.device)
        x = F.grid_sample(frame[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]  # (3, H, W)
        if hole.any():  # the background a dragged region uncovers: its row's colour elsewhere (sky and floor run in rows)
            m = torch.from_numpy(hole).to(x.device)
            keep = torch.from_numpy(~hole & ~fg).to(x.device).float()
            row = (x * keep).sum(-1, keepdim=True) / keep.sum(-1, keepdim=True).clamp_min(1)  # (3, H, 1)
            x = torch.where(m, row.expand_as(x), x)
        return x, torch.from_numpy(inside).to(x.device), coc

    @staticmethod
    def _lens(x: torch.Tensor, coc: np.ndarray | None) -> torch.Tensor:
        """x (3, H, W) blurred by a per-pixel circle of confusion, as the world renders its depth of field."""
        if coc is None:
            return x
        return torch.from_numpy(depth_of_field(x.permute(1, 2, 0).cpu().numpy(), coc)).permute(2, 0, 1).to(x)

    def __call__(self, t0: int, last: torch.Tensor, r: int | None = None) -> torch.Tensor:
        """Frames t0 .. t0+chunk-1 in [-1, 1] from `last` (3, H, W), the frame r (default t0 - 1).

        The first frame a guide is given stays its anchor (image-to-video: the given image; Extend: the last
        real frame; text-to-video: the first chunk's last frame), and every later frame is warped from the
        anchor wherever the anchor saw that point, from the newest frame elsewhere: re-warping only the newest
        (already repainted) frame compounds the decoder's blur chunk after chunk (a brushed ball grew into a
        dark smear over 4 s with pix-3), while the anchor is warped once per frame, as CamTrol renders every
        view from one image."""
        r = t0 - 1 if r is None else r
        if self.anchor is None:
            self.anchor = (r, last)
        ar, anchor = self.anchor
        out = []
        for t in range(t0, t0 + self.chunk):
            x, _, coc = self._warp(t, r, last)
            if ar != r:
                xa, known, ca = self._warp(t, ar, anchor)
                x = torch.where(known, xa, x)
                if coc is not None or ca is not None:  # each pixel's blur as its source needs it (they differ with `source_lens`)
                    z = np.zeros(known.shape)
                    coc = np.where(known.cpu().numpy(), z if ca is None else ca, z if coc is None else coc)
            out.append(self._lens(x, coc))  # one blur of the merged frame, not one per source
        return torch.stack(out)
