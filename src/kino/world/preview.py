"""Ground-truth overlays for looking at a clip: boxes, ids, velocity arrows, event markers."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from kino.world.render import Clip
from kino.world.truth import ground_truth

__all__ = ["overlay"]

EVENT_HOLD = 6  # frames an event label stays on screen


def overlay(clip: Clip, scale: int = 3) -> np.ndarray:
    """Frames (T, H*scale, W*scale, 3) with each object's box and id, velocity arrow and recent events."""
    truth = ground_truth(clip)
    fps = clip.scene.fps
    out = []
    for f, frame in enumerate(clip.frames):
        img = Image.fromarray(frame).resize((frame.shape[1] * scale, frame.shape[0] * scale), Image.NEAREST)
        draw = ImageDraw.Draw(img)
        inst = clip.layers[f].instance
        for obj in truth["objects"]:
            oid = obj["id"]
            x, y, vis = obj["track"][f]
            ys, xs = np.nonzero(inst == oid)
            color = tuple(255 - c for c in obj["color_rgb"])
            if xs.size:
                draw.rectangle([xs.min() * scale, ys.min() * scale, (xs.max() + 1) * scale - 1, (ys.max() + 1) * scale - 1], outline=color)
                draw.text((xs.min() * scale + 2, ys.min() * scale + 1), f"{oid} {vis:.2f}", fill=color)
            if obj["static"]:
                continue
            # velocity arrow: where the object will be 0.25 s from now at this velocity
            p = np.array(obj["position"][f])
            v = np.array(obj["velocity"][f])
            cam = clip.cameras[f]
            u0, v0, _ = cam.project(p)
            u1, v1, _ = cam.project(p + v * 0.25)
            if np.hypot(u1 - u0, v1 - v0) > 1.0:
                draw.line([x * scale, y * scale, (x + u1 - u0) * scale, (y + v1 - v0) * scale], fill=(255, 255, 0), width=2)
                draw.ellipse([(x + u1 - u0) * scale - 3, (y + v1 - v0) * scale - 3, (x + u1 - u0) * scale + 3, (y + v1 - v0) * scale + 3], fill=(255, 255, 0))
        line = 0
        for e in truth["events"]:
            if e["frame"] <= f < e["frame"] + EVENT_HOLD:
                draw.text((4, 4 + 11 * line), f"{e['type']} {e['objects']}", fill=(255, 40, 40))
                line += 1
        draw.text((4, img.height - 12), f"frame {f}  t={f / fps:.2f}s", fill=(255, 255, 255))
        out.append(np.asarray(img))
    return np.stack(out)
