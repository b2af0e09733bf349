"""Kino World rendering throughput: frames per second per core, with and without depth of field."""

from __future__ import annotations

import dataclasses
import time

from kino.world.data import DataSpec, WorldStream
from kino.world.render import render
from kino.world.sample import sample_scene

__all__ = ["bench_world"]


def _with_aperture(scene, aperture: float):
    keys = tuple(dataclasses.replace(k, aperture=aperture, focus=k.focus) for k in scene.camera.keys)
    return scene.with_(camera=dataclasses.replace(scene.camera, keys=keys))


def _fps(size: tuple[int, int], aperture: float, clips: int) -> float:
    frames, spent = 0, 0.0
    for seed in range(clips):
        scene = _with_aperture(sample_scene(seed, width=size[0], height=size[1]), aperture)
        t = time.perf_counter()
        clip = render(scene, seed=seed)  # simulation + rasterisation (+ depth of field): one core
        spent += time.perf_counter() - t
        frames += len(clip.frames)
    return frames / spent


def bench_world(clips: int = 24) -> list[tuple[str, float, str]]:
    """(name, value, unit) rows."""
    rows = []
    for size in ((128, 128), (256, 256)):
        for ap, label in ((0.0, "no DoF"), (2.0, "DoF f/2")):
            rows.append((f"render {size[0]}x{size[1]} {label}", _fps(size, ap, clips), "frames/s/core"))
    # the training stream end to end (render + ground truth + captions), 2 worker processes
    spec = DataSpec(width=128, height=128, seed=1)
    n = 32
    t = time.perf_counter()
    frames = sum(len(s.frames) for s in WorldStream(spec, count=n, workers=2))
    rows.append(("stream 128x128 (truth + captions), 2 workers", frames / (time.perf_counter() - t), "frames/s"))
    return rows
