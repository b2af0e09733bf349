"""Camera Director and Motion Brush controls: the exact tensors the model was trained on, validation that
names the field, the CLI flags, the camera preview, and the controls reaching the model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from kino.cli import main
from kino.controls import (
    BrushRegion,
    CameraControl,
    CameraMove,
    ControlError,
    MotionBrushControl,
    brush_from_dict,
    brush_tensor,
    camera_from_dict,
    camera_path,
    camera_tensor,
)
from kino.generate import GenerateRequest, RequestError, generate
from kino.model.a2d import A2D
from kino.model.checkpoint import save_checkpoint
from kino.model.config import preset
from kino.train import _camera, brush_grid
from kino.world.controls import motion_brush
from kino.world.data import DataSpec, make_sample
from kino.world.scene import CameraKey, CameraSpec
from kino.world.truth import ground_truth


def test_camera_tensor_equals_the_training_features_of_the_same_path():
    """A keyed path given as a control becomes exactly what train.py computes from Kino World ground truth."""
    keys = (CameraKey(t=0.0, focus=3.0, aperture=2.8), CameraKey(t=0.6, pan=-12, tilt=4, zoom=1.3, focus=6.0, aperture=2.0), CameraKey(t=1.0, pan=-20, roll=5, dolly=1.0, orbit=10, focus=9.0, aperture=1.8))
    sample = make_sample(3, DataSpec(width=128, height=128, seconds=1.0, seed=5), keep_clip=True)
    scene = sample.clip.scene
    import dataclasses

    scene = dataclasses.replace(scene, camera=CameraSpec(keys=keys))
    from kino.world.render import render

    truth = ground_truth(render(scene, seed=0))
    want = _camera(truth)
    got = camera_tensor(CameraControl(keys=keys), scene.num_frames, (128, 128), scene.fps)[0]
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-4)


def test_camera_presets_move_the_right_way():
    T = 16
    pan = camera_tensor(CameraControl(preset=CameraMove(pan=5)), T, (224, 128))[0]
    R = pan[:, :9].reshape(T, 3, 3) / 4 + torch.eye(3)
    yaw = torch.rad2deg(torch.atan2(R[-1, 2, 0], R[-1, 2, 2]))  # forward axis of the last frame in frame 0's camera axes
    assert abs(abs(float(yaw)) - 15.0) < 0.5  # intensity 5 of 10 = 15 degrees
    zoom = camera_tensor(CameraControl(preset=CameraMove(zoom=10)), T, (224, 128))[0]
    assert abs(float(zoom[-1, 12]) / 2 - np.log(2)) < 1e-4 and float(zoom[0, 12]) == 0  # log zoom x2 at the end
    still = camera_tensor(CameraControl(), T, (224, 128))[0]
    assert torch.allclose(still[:, :13], torch.zeros(T, 13), atol=1e-5)
    rack = camera_tensor(CameraControl(keys=(CameraKey(t=0, focus=2.0, aperture=2), CameraKey(t=1, focus=10.0, aperture=2))), T, (224, 128))[0]
    assert float(rack[0, 13]) > float(rack[-1, 13])  # 1/focus falls as focus is pulled back


def test_crane_raises_the_camera_and_keeps_its_look_direction():
    T = 16
    path = camera_path(CameraControl(preset=CameraMove(crane=5)), T, (224, 128))
    rise = path[-1].position - path[0].position
    assert rise[1] == pytest.approx(1.0) and abs(rise[0]) < 1e-9 and abs(rise[2]) < 1e-9  # intensity 5 of 10 = 1 m up
    np.testing.assert_allclose(path[-1].rotation, path[0].rotation, atol=1e-12)  # no tilt: a boom move, not a tilt
    down = camera_path(camera_from_dict({"keys": [{"t": 0}, {"t": 1, "crane": -0.5, "ease": "linear"}]}), T, (224, 128))
    assert down[T // 2].position[1] - down[0].position[1] == pytest.approx(-0.5 * (T // 2) / (T - 1))  # keyed, linear
    feats = camera_tensor(CameraControl(preset=CameraMove(crane=5)), T, (224, 128))[0]
    assert torch.allclose(feats[:, :9], torch.zeros(T, 9), atol=1e-5) and float(feats[-1, 10].abs()) > 0.5  # translation in y only


@pytest.mark.parametrize("spec,field", [
    ({"keys": [{"t": 0.5}, {"t": 0.2}]}, "camera.keys[1].t"),
    ({"keys": [{"t": 0.0, "pan": "left"}]}, "camera.keys[0].pan"),
    ({"keys": [{"pan": 3}]}, "camera.keys[0].t"),
    ({"preset": {"pan": 11}}, "camera.preset.pan"),
    ({"preset": {"boom": 1}}, "camera.preset"),
    ({"preset": {"crane": 11}}, "camera.preset.crane"),
    ({"keys": [{"t": 0, "crane": 50}]}, "camera.keys[0].crane"),
    ({"focus": -1}, "camera.focus"),
    ({"keys": [{"t": 0, "ease": "bouncy"}]}, "camera.keys[0].ease"),
])
def test_camera_errors_name_the_field(spec, field):
    with pytest.raises(ControlError, match=field.replace("[", r"\[").replace("]", r"\]")):
        camera_from_dict(spec)


def test_brush_tensor_equals_the_training_grid_of_the_same_motion():
    """Ground-truth brush regions, given back as a control, give exactly train.brush_grid's tokens."""
    sample = make_sample(1, DataSpec(width=128, height=128, seconds=1.0, seed=2), keep_clip=True)
    mb = motion_brush(sample.clip)
    assert mb.regions, "pick a sample with a moving object"
    ctl = MotionBrushControl(regions=tuple(BrushRegion(vector=r.vector, mask=r.mask) for r in mb.regions))
    got = brush_tensor(ctl, (128, 128), (4, 4))[0]
    want = brush_grid(sample.truth, sample.instance0, 4, 4)
    assert torch.allclose(got[..., :4], want[..., :4], atol=0.02)


def test_brush_polygons_masks_and_errors(tmp_path):
    ctl = brush_from_dict({"regions": [{"polygon": [[0, 0], [64, 0], [64, 64], [0, 64]], "vector": [-32, 0]}]})
    g = brush_tensor(ctl, (128, 128), (4, 4))[0]
    assert torch.allclose(g[:2, :2, 0], torch.ones(2, 2)) and float(g[3, 3, 0]) == 0
    assert float(g[0, 0, 2]) == pytest.approx(-0.25) and float(g[3, 3, 1]) == 1.0  # frame widths/s; rest static
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / "small.png")
    bad = {
        "motion_brush.regions[0].mask: mask is 100x100, the output is 128x128": {"regions": [{"mask": str(tmp_path / "small.png"), "vector": [1, 0]}]},
        "motion_brush.regions[0].vector[1]": {"regions": [{"polygon": [[0, 0], [9, 0], [9, 9]], "vector": [1, "up"]}]},
        "motion_brush.regions: must be a non-empty list": {"regions": []},
        "exactly one of mask or polygon": {"regions": [{"vector": [1, 0]}]},
        "needs at least 3 points": {"regions": [{"polygon": [[0, 0], [9, 9]], "vector": [1, 0]}]},
    }
    for msg, spec in bad.items():
        with pytest.raises(ControlError, match=msg.replace("[", r"\[").replace("]", r"\]")):
            brush_tensor(brush_from_dict(spec), (128, 128), (4, 4))


def test_controls_reach_the_model_and_fail_at_the_entry_point():
    torch.manual_seed(0)
    model = A2D(preset("test")).eval()
    with torch.no_grad():  # zero-initialised control projections are no-ops until trained: give them weight
        for lin in (model.camera_in, model.next_camera_in, model.brush_in):
            lin.weight.normal_(0, 0.5)
    base = GenerateRequest(prompt="a red ball", seconds=0.5, ratio="1:1", steps=1, seed=0)
    plain = generate(base, model)
    cam = generate(GenerateRequest(**{**base.__dict__, "camera": CameraControl(preset=CameraMove(pan=8))}), model)
    brush = generate(GenerateRequest(**{**base.__dict__, "motion_brush": MotionBrushControl(regions=(BrushRegion(vector=(40, 0), polygon=((0, 0), (60, 0), (60, 60))),))}), model)
    assert np.abs(plain.astype(int) - cam).mean() > 1 and np.abs(plain.astype(int) - brush).mean() > 1
    assert np.array_equal(cam, generate(GenerateRequest(**{**base.__dict__, "camera": CameraControl(preset=CameraMove(pan=8))}), model))
    with pytest.raises(RequestError, match="camera.preset.pan"):
        generate(GenerateRequest(**{**base.__dict__, "camera": CameraControl(preset=CameraMove(pan=40))}), model)
    with pytest.raises(RequestError, match="motion_brush.regions"):
        generate(GenerateRequest(**{**base.__dict__, "motion_brush": MotionBrushControl()}), model)


def test_cli_flags_request_file_and_camera_preview(tmp_path, capsys):
    torch.manual_seed(0)
    ckpt = str(save_checkpoint(A2D(preset("test")).eval(), tmp_path / "m.safetensors"))
    mask = np.zeros((128, 128), np.uint8)
    mask[40:80, 10:50] = 255
    Image.fromarray(mask).save(tmp_path / "ball.png")
    out = tmp_path / "a.mp4"
    args = ["generate", "a ball", "--seconds", "0.5", "--ratio", "1:1", "--steps", "1", "--checkpoint", ckpt, "--quiet", "--output", str(out)]
    assert main(args + ["--camera", "pan=-4,zoom=2", "--focus", "3", "--aperture", "2.8", "--brush", f"{tmp_path / 'ball.png'}=30,0"]) == 0
    assert out.is_file()
    assert main(args + ["--camera", "boom=2"]) == 2
    assert "camera: unknown move 'boom'" in capsys.readouterr().err
    assert main(args + ["--brush", f"{tmp_path / 'ball.png'}=fast"]) == 2
    assert "brush" in capsys.readouterr().err
    req = {"prompt": "a ball", "seconds": 0.5, "ratio": "1:1", "steps": 1, "camera": {"keys": [{"t": 0, "focus": 2}, {"t": 1, "pan": 10, "focus": 8}]}, "motion_brush": {"regions": [{"mask": str(tmp_path / "ball.png"), "vector": [20, 0]}]}}
    (tmp_path / "req.json").write_text(json.dumps(req))
    assert main(["generate", "--request", str(tmp_path / "req.json"), "--checkpoint", ckpt, "--quiet", "--output", str(out)]) == 0
    assert main(["camera", "preview", str(tmp_path / "req.json"), "--output", str(tmp_path / "cam.png")]) == 0
    img = np.asarray(Image.open(tmp_path / "cam.png"))
    assert img.shape[0] > 400 and img.std() > 10
    req["camera"]["keys"][1]["t"] = -1
    (tmp_path / "req.json").write_text(json.dumps(req))
    assert main(["camera", "preview", str(tmp_path / "req.json"), "--output", str(tmp_path / "cam.png")]) == 2
    assert "camera.keys[1].t" in capsys.readouterr().err


def test_shots_storyboard_renders_shots_and_a_cut_with_match_cuts(tmp_path, capsys):
    import dataclasses

    from kino.io.video import read_mp4
    from kino.model.config import TokenizerConfig

    torch.manual_seed(0)  # lossless pixel tokenizer: the pinned first frame comes back exactly
    cfg = dataclasses.replace(preset("test"), tokenizer=TokenizerConfig(kind="pixel", down=4))
    ckpt = str(save_checkpoint(A2D(cfg).eval(), tmp_path / "m.safetensors"))
    board = {"ratio": "1:1", "seed": 3, "steps": 1, "shots": [
        {"prompt": "a red ball rolls right", "seconds": 0.5, "camera": {"preset": {"pan": 3}}},
        {"prompt": "the red ball hits a blue box", "seconds": 0.25, "continue": True},
    ]}
    (tmp_path / "board.json").write_text(json.dumps(board))
    assert main(["shots", str(tmp_path / "board.json"), "--output", str(tmp_path / "out"), "--checkpoint", ckpt]) == 0
    paths = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[1] for p in paths] == ["shot_00.mp4", "shot_01.mp4", "cut.mp4"]
    a, _ = read_mp4(paths[0])
    b, _ = read_mp4(paths[1])
    cut, _ = read_mp4(paths[2])
    assert len(a) == 8 and len(b) == 4 and len(cut) == 12
    # the match cut: shot 2 opens on shot 1's last frame (within H.264 error), unlike shot 1's first frame
    assert np.abs(a[-1].astype(int) - b[0]).mean() < 6 < np.abs(a[0].astype(int) - b[0]).mean()
    board["shots"][1]["camera"] = {"keys": [{"t": 0.9}, {"t": 0.1}]}
    (tmp_path / "board.json").write_text(json.dumps(board))
    assert main(["shots", str(tmp_path / "board.json"), "--output", str(tmp_path / "out2"), "--checkpoint", ckpt]) == 2
    assert "storyboard.shots[1].camera.keys[1].t" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()  # validated before anything was rendered
