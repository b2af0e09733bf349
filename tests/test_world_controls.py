"""Controls derived from ground truth: Motion Brush, camera path, keyframes, character references."""

from __future__ import annotations

import numpy as np
import pytest

from kino.world.controls import camera_control, keyframes, motion_brush, reference_crops, rle
from kino.world.render import render
from kino.world.scene import Action, Body, CameraKey, CameraSpec, Character, Look, Scene


def _scene(**kw):
    base = dict(width=96, height=96, fps=16, seconds=1.5, look=Look(style="flat", backdrop="studio"))
    return Scene(**{**base, **kw})


def test_motion_brush_paints_the_movers_with_their_measured_velocity():
    mover = Body(1, "ball", "red", (-1.0, 0.3, 0.0), (0.3, 0.3, 0.3), (2.0, 0.0, 0.0), material="ice")
    still = Body(2, "box", "blue", (1.5, 0.3, 1.0), (0.3, 0.3, 0.3))
    clip = render(_scene(bodies=(mover, still)))
    brush = motion_brush(clip)
    assert [r.object_id for r in brush.regions] == [1]
    region = brush.regions[0]
    inst0 = clip.layers[0].instance
    assert np.array_equal(region.mask, inst0 == 1)
    assert not (brush.static_mask & region.mask).any() and brush.static_mask[inst0 == 2].all()
    dx, dy, dz = region.vector
    assert dx > 20 and abs(dy) < 0.2 * dx  # px/s to the right, not up or down
    # two metres per second at this depth, in pixels: focal / depth * 2 (ice barely slows)
    cam = clip.cameras[0]
    depth = cam.to_camera(np.array([-1.0, 0.3, 0.0]))[2]
    assert dx == pytest.approx(cam.focal / depth * 2.0, rel=0.15)
    d = brush.to_dict()
    assert sum(d["regions"][0]["mask"]["counts"]) == 96 * 96


def test_rle_round_trips():
    rng = np.random.default_rng(0)
    for mask in (rng.random((7, 9)) > 0.5, np.ones((3, 4), bool), np.zeros((3, 4), bool)):
        enc = rle(mask)
        flat, val = [], False
        for c in enc["counts"]:
            flat += [val] * c
            val = not val
        assert np.array_equal(np.array(flat).reshape(enc["size"]), mask)


def test_camera_keyframes_and_reference_crops():
    person = Character(3, (-1.0, 0.0, 0.5), shirt="green", trousers="black", actions=(Action("walk", 0.0, 2.0, 1.0),))
    cam = CameraSpec(keys=(CameraKey(t=0.0), CameraKey(t=1.0, pan=10.0)))
    clip = render(_scene(characters=(person,), camera=cam))
    cc = camera_control(clip)
    assert cc["keys"][1]["pan"] == 10.0 and len(cc["frames"]) == clip.scene.num_frames
    ks = keyframes(clip, [0, 5])
    assert np.array_equal(ks[1]["image"], clip.frames[5])
    with pytest.raises(ValueError, match="frames"):
        keyframes(clip, [clip.scene.num_frames])
    (ref,) = reference_crops(clip)
    crop = ref["image"].reshape(-1, 3).astype(int)
    green = (crop[:, 1] > crop[:, 0] + 25) & (crop[:, 1] > crop[:, 2] + 25)  # green-hued (outlines darken it)
    assert green.sum() >= 10  # the shirt is in the crop
    x, y, w, h = ref["box"]
    inst = clip.layers[ref["frame"]].instance
    assert (inst[y : y + h, x : x + w] == 3).sum() == (inst == 3).sum() > 0  # the whole person, centred
