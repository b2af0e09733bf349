"""Kino World: a procedural physics video world with exact ground truth.

    from kino.world import sample_scene, render, ground_truth
    clip = render(sample_scene(seed=0))
    clip.frames  # (T, H, W, 3) uint8
"""

from kino.world.physics import Event, Motion, simulate
from kino.world.render import Clip, render
from kino.world.sample import OOD_PAIRS, OOD_SPEED, SCENARIOS, TRAIN_SPEED, sample_scene
from kino.world.scene import Action, Body, CameraKey, CameraSpec, Character, Look, Scene, SceneError
from kino.world.truth import ground_truth, measure_tracks

__all__ = [
    "Action", "Body", "CameraKey", "CameraSpec", "Character", "Clip", "Event", "Look", "Motion", "OOD_PAIRS",
    "OOD_SPEED", "SCENARIOS", "Scene", "SceneError", "TRAIN_SPEED", "ground_truth", "measure_tracks", "render",
    "sample_scene", "simulate",
]
