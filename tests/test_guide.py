"""The warp guide (kino.guide): its geometry against real Kino World renders, its drags, and its use in generate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kino.controls import BrushRegion, CameraControl, CameraMove, MotionBrushControl, camera_path
from kino.generate import GenerateRequest, RequestError, generate
from kino.guide import Drag, WarpGuide, scene_points, source_coords, views_from_cameras, views_from_truth
from kino.model.a2d import A2D, Conditions
from kino.model.config import preset
from kino.world.render import render
from kino.world.scene import Body, CameraKey, CameraSpec, Look, Scene


def _clip(key: CameraKey):
    box = Body(1, "box", "red", (0.0, 0.4, 0.0), (0.4, 0.4, 0.4))  # standing on the floor, still
    cam = CameraSpec(keys=(CameraKey(t=0.0), key))
    scene = Scene(bodies=(box,), camera=cam, width=128, height=96, fps=16, seconds=1.0, look=Look(style="flat", floor="tiles", backdrop="sky"))
    return render(scene)


def _to_tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1).float() / 127.5 - 1


@pytest.mark.parametrize(
    "key",
    [CameraKey(t=1.0, pan=8.0), CameraKey(t=1.0, tilt=-6.0), CameraKey(t=1.0, zoom=1.4), CameraKey(t=1.0, roll=10.0),
     CameraKey(t=1.0, dolly=1.5), CameraKey(t=1.0, orbit=12.0), CameraKey(t=1.0, crane=1.0)],
    ids=["pan", "tilt", "zoom", "roll", "dolly", "orbit", "crane"],
)
def test_warping_the_first_frame_predicts_the_last_under_the_true_camera(key):
    clip = _clip(key)
    t = len(clip.frames) - 1
    guide = WarpGuide((128, 96), 1, views_from_cameras(clip.cameras))
    warped = guide(t, _to_tensor(clip.frames[0]), r=0)[0]
    real, still = _to_tensor(clip.frames[t]), _to_tensor(clip.frames[0])
    err, base = (warped - real).abs().mean(0).numpy(), (still - real).abs().mean(0).numpy()
    box = clip.layers[t].instance == 1  # the subject, standing at the framing point
    assert box.sum() > 100
    assert err[box].mean() < 0.1 and err[box].mean() < max(0.35 * base[box].mean(), 0.03), (err[box].mean(), base[box].mean())
    # the near floor (bottom third): exact geometry, but the tiles are periodic (a still frame already half
    # matches) and magnified by a dolly (bilinear resampling blurs their edges), so the margin is smaller here
    assert err[64:].mean() < 0.85 * base[64:].mean(), (err[64:].mean(), base[64:].mean())
    if key.pan or key.tilt or key.zoom != 1 or key.roll:  # rotations and zoom: exact everywhere the source saw
        src, _, _ = guide.coords(t, 0)
        seen = (src[..., 0] > 1) & (src[..., 0] < 127) & (src[..., 1] > 1) & (src[..., 1] < 95)
        assert seen.mean() > 0.5 and err[seen].mean() < 0.35 * base[seen].mean()


def test_the_truth_cameras_give_the_same_map_as_the_world_cameras():
    clip = _clip(CameraKey(t=1.0, pan=5.0, dolly=0.5))
    truth = [c.to_dict() for c in clip.cameras]
    a = source_coords(views_from_cameras(clip.cameras)[-1], views_from_cameras(clip.cameras)[0], (128, 96))
    b = source_coords(views_from_truth(truth)[-1], views_from_truth(truth)[0], (128, 96))
    assert np.isclose(a, b, atol=0.05).mean() > 0.99  # truth is rounded to 6 decimals
    half = source_coords(views_from_truth(truth, 0.5, 0.5)[-1], views_from_truth(truth, 0.5, 0.5)[0], (64, 48))
    # resized frames: the same map, scaled (pixel centres shift by a quarter pixel; plane edges move a pixel)
    assert np.isclose(half, (a[::2, ::2] + a[1::2, 1::2]) * 0.25, atol=0.6).mean() > 0.95


def test_a_drag_moves_its_region_and_fills_the_hole_with_the_row_background():
    img = np.zeros((40, 60, 3), np.uint8)
    img[:20] = (40, 80, 200)  # sky rows
    img[20:] = (90, 60, 30)  # floor rows
    mask = np.zeros((40, 60), bool)
    mask[15:25, 10:20] = True
    img[mask] = (250, 0, 0)
    drag = Drag(mask, np.array([[0.0, 0.0], [6.0, 0.0], [12.0, -2.0]]), np.ones(3))
    out = WarpGuide((60, 40), 2, drags=[drag])(1, _to_tensor(img), r=0)  # frames 1 and 2 from frame 0
    out = ((out + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    assert (out[1][13:23, 22:32] == (250, 0, 0)).all()  # moved 12 right and 2 up by frame 2
    assert (out[0][15:25, 16:26] == (250, 0, 0)).all()
    assert (out[1][15:20, 10:20] == (40, 80, 200)).all() and (out[1][23:25, 10:20] == (90, 60, 30)).all()  # uncovered: sky and floor
    assert (out[1][30:] == (90, 60, 30)).all()  # the rest does not move without a camera


def test_later_frames_come_from_the_anchor_not_the_repainted_newest_frame():
    img = np.zeros((40, 60, 3), np.uint8)
    img[:20], img[20:] = (40, 80, 200), (90, 60, 30)
    mask = np.zeros((40, 60), bool)
    mask[15:25, 10:20] = True
    img[mask] = (250, 0, 0)
    offsets = np.array([[4.0 * t, 0.0] for t in range(8)])
    guide = WarpGuide((60, 40), 2, drags=[Drag(mask, offsets, np.ones(8))])
    guide(1, _to_tensor(img), r=0)  # the first frame given is the anchor
    blurred = torch.zeros(3, 40, 60)  # what a weak decoder made of frame 4: grey
    out = ((guide(5, blurred) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    assert (out[1][15:25, 34:44] == (250, 0, 0)).all()  # frame 6: the ball 24 px on, drawn from the anchor
    assert (out[1][:12] == (40, 80, 200)).all() and (out[1][30:] == (90, 60, 30)).all()
    # where the ball started, the newest frame holds whatever the decoder left (here grey): the anchor's row
    # background is used instead, so a residue is not carried on and grown into a ghost chunk after chunk
    assert (out[1][15:20, 10:20] == (40, 80, 200)).all() and (out[1][20:25, 10:20] == (90, 60, 30)).all()


def _edge_energy(img: torch.Tensor, mask: np.ndarray) -> float:
    """Mean squared horizontal + vertical difference inside `mask`: falls as an image is blurred."""
    g = img.mean(0).numpy()
    gx, gy = np.diff(g, axis=1)[:-1, :], np.diff(g, axis=0)[:, :-1]
    return float((gx**2 + gy**2)[mask[:-1, :-1]].mean())


def test_the_guide_renders_a_focus_pull_the_warp_alone_would_not_show():
    # still camera, focus pulled from the box (7 m away) to 15 m at f/1.4; the source is a sharp (pinhole) frame 0
    sharp = _clip(CameraKey(t=1.0))
    box = Body(1, "box", "red", (0.0, 0.4, 0.0), (0.4, 0.4, 0.4))
    cam = CameraSpec(keys=(CameraKey(t=0.0, focus=7.0, aperture=1.4), CameraKey(t=1.0, focus=15.0, aperture=1.4)))
    lens = render(Scene(bodies=(box,), camera=cam, width=128, height=96, fps=16, seconds=1.0, look=Look(style="flat", floor="tiles", backdrop="sky")))
    views, t = views_from_cameras(lens.cameras), len(lens.frames) - 1
    on = sharp.layers[t].instance == 1
    first, last = WarpGuide((128, 96), 1, views)(1, _to_tensor(sharp.frames[0]), r=0)[0], WarpGuide((128, 96), 1, views)(t, _to_tensor(sharp.frames[0]), r=0)[0]
    # frame 1 is still focused on the box (only the far field blurs); the last frame's box is blurred like the render's
    src, real = _to_tensor(sharp.frames[0]), _to_tensor(lens.frames[t])
    assert _edge_energy(first, on) > 0.9 * _edge_energy(src, on) and _edge_energy(last, on) < 0.6 * _edge_energy(src, on)
    assert (last - real).abs().mean().item() < 0.3 * (src - real).abs().mean().item()
    # a pinhole path changes nothing; a source that already shows its lens gets only the blur it lacks
    pinhole = WarpGuide((128, 96), 1, views_from_cameras(sharp.cameras))
    assert pinhole.blur(t, 0) is None
    true_lens = WarpGuide((128, 96), 1, views, source_lens=True)
    assert true_lens.blur(t, t) is None and true_lens.blur(t, 0).max() > 2.0
    assert np.all(true_lens.blur(t, 0) <= WarpGuide((128, 96), 1, views).blur(t, 0) + 1e-9)


def test_the_output_lens_pass_renders_the_requested_depth_of_field_on_every_frame():
    # the same focus pull, rendered on the sharp frames themselves (what `generate` shows): each frame gets the
    # blur its own key asks for, close to the real depth-of-field render; a pinhole path leaves frames untouched
    sharp = _clip(CameraKey(t=1.0))
    box = Body(1, "box", "red", (0.0, 0.4, 0.0), (0.4, 0.4, 0.4))
    cam = CameraSpec(keys=(CameraKey(t=0.0, focus=7.0, aperture=1.4), CameraKey(t=1.0, focus=15.0, aperture=1.4)))
    real = render(Scene(bodies=(box,), camera=cam, width=128, height=96, fps=16, seconds=1.0, look=Look(style="flat", floor="tiles", backdrop="sky")))
    guide = WarpGuide((128, 96), 2, views_from_cameras(real.cameras))
    out = guide.lens(0, sharp.frames)
    assert out.dtype == np.uint8 and out.shape == sharp.frames.shape
    t = len(out) - 1
    on = sharp.layers[t].instance == 1
    err = lambda a, b: np.abs(a.astype(float) - b.astype(float)).mean()  # noqa: E731
    assert err(out[t], real.frames[t]) < 0.3 * err(sharp.frames[t], real.frames[t])  # the box 8 m out of focus
    assert _edge_energy(_to_tensor(out[t]), on) < 0.6 * _edge_energy(_to_tensor(sharp.frames[t]), on)
    assert _edge_energy(_to_tensor(out[1]), on) > 0.9 * _edge_energy(_to_tensor(sharp.frames[1]), on)  # still focused on it
    assert np.array_equal(guide.lens(3, sharp.frames[3:5])[1], out[4])  # chunk by chunk = the whole clip at once
    pinhole = WarpGuide((128, 96), 2, views_from_cameras(sharp.cameras))
    assert pinhole.lens(0, sharp.frames) is sharp.frames


def test_the_output_lens_pass_reuses_the_guides_ray_trace_of_the_same_frame(monkeypatch):
    # a frame's own depth of field depends on its view alone: the warp that starts a chunk traces it, and the lens
    # pass over the chunk's frames reads it back instead of tracing every frame again
    import kino.guide as guide_module

    box = Body(1, "box", "red", (0.0, 0.4, 0.0), (0.4, 0.4, 0.4))
    cam = CameraSpec(keys=(CameraKey(t=0.0, focus=7.0, aperture=1.4), CameraKey(t=1.0, pan=6.0, focus=15.0, aperture=1.4)))
    real = render(Scene(bodies=(box,), camera=cam, width=128, height=96, fps=16, seconds=1.0, look=Look(style="flat", floor="tiles", backdrop="sky")))
    views, frames = views_from_cameras(real.cameras), real.frames
    expected = WarpGuide((128, 96), 2, views).lens(6, frames[6:8])  # a fresh guide traces for itself
    want = WarpGuide((128, 96), 2, views)
    want(6, _to_tensor(frames[5]))
    warped = want(10, _to_tensor(frames[9]))  # from the newest frame (9) and the anchor (5)
    traces = []  # the dst view of each ray trace
    monkeypatch.setattr(guide_module, "scene_points", lambda *a, **k: traces.append(a[0]) or scene_points(*a, **k))
    guide = WarpGuide((128, 96), 2, views)
    guide(6, _to_tensor(frames[5]))  # the chunk of frames 6, 7 starts from the warp of frame 5
    assert len(traces) == 2 and traces[0] is views[6] and traces[1] is views[7]
    assert np.array_equal(guide.lens(6, frames[6:8]), expected) and len(traces) == 2
    guide.lens(8, frames[8:10])  # frames the guide has not warped are traced once each
    assert len(traces) == 4 and traces[2] is views[8] and traces[3] is views[9]
    # frames 10, 11 are warped from two sources, the newest frame (9) and the anchor (5): one trace each, not two
    assert torch.equal(guide(10, _to_tensor(frames[9])), warped)
    assert len(traces) == 6 and traces[4] is views[10] and traces[5] is views[11]


def test_the_truth_views_carry_the_lens():
    cam = CameraSpec(keys=(CameraKey(t=0.0, focus=5.0, aperture=2.0), CameraKey(t=1.0, focus=9.0, aperture=2.0)))
    clip = render(Scene(bodies=(), camera=cam, width=64, height=48, fps=8, seconds=1.0))
    a, b = views_from_cameras(clip.cameras)[-1], views_from_truth([c.to_dict() for c in clip.cameras])[-1]
    assert (a.focus, a.aperture) == pytest.approx((b.focus, b.aperture), abs=1e-3) and b.aperture == 2.0 and b.focus == pytest.approx(9.0, abs=1e-3)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return A2D(preset("test")).eval()


def test_each_chunk_after_the_first_starts_from_the_guide_at_its_level(model, monkeypatch):
    starts = []
    real = model.decoder.sample
    monkeypatch.setattr(model.decoder, "sample", lambda *a, **kw: starts.append((kw["start"], kw["noise"].clone())) or real(*a, **kw))
    target = torch.full((1, model.cfg.chunk, model.tokenizer.channels, 16, 16), 0.5)
    cond = Conditions(text=torch.zeros(1, 1, 384), text_mask=torch.ones(1, 1, dtype=torch.bool))
    seen = []
    list(model.stream(cond, 3, (16, 16), steps=1, guide=lambda j, prev: seen.append((j, prev.shape)) or target, guide_level=1e-3))
    assert [j for j, _ in seen] == [1, 2] and seen[0][1] == target.shape  # called with the previous chunk's latents
    assert starts[0][0] == 1.0 and [s for s, _ in starts[1:]] == [1e-3, 1e-3]
    assert torch.allclose(starts[1][1], target.reshape(1, -1, 16, 16), atol=0.02)
    seen.clear()
    first = torch.randn(1, model.tokenizer.channels, 16, 16)
    cond.keyframes = [(0, first)]  # image-to-video: chunk 0 is guided from the given frame
    list(model.stream(cond, 2, (16, 16), steps=1, guide=lambda j, prev: seen.append((j, prev)) or target, guide_level=0.5))
    assert seen[0][0] == 0 and torch.equal(seen[0][1], first[:, None]) and seen[1][0] == 1


def test_generate_with_a_camera_follows_the_guide_and_level_one_is_the_model_alone(model):
    cam = CameraControl(preset=CameraMove(pan=6))
    base = GenerateRequest(prompt="a red ball", seconds=0.5, ratio="1:1", steps=2, camera=cam)
    off = generate(GenerateRequest(**{**base.__dict__, "warp_guide": 1.0}), model=model)
    guided = generate(GenerateRequest(**{**base.__dict__, "warp_guide": 0.5}), model=model)
    assert np.array_equal(guided, generate(GenerateRequest(**{**base.__dict__, "warp_guide": 0.5}), model=model))  # seeded
    assert np.array_equal(off[:2], guided[:2])  # the first chunk has nothing to warp
    assert not np.array_equal(off[2:], guided[2:])
    # no camera and no brush: nothing to warp, whatever the level
    plain = dict(prompt="a red ball", seconds=0.5, ratio="1:1", steps=2)
    assert np.array_equal(generate(GenerateRequest(**plain, warp_guide=0.5), model=model), generate(GenerateRequest(**plain, warp_guide=1.0), model=model))


def test_generate_shows_each_new_frame_through_its_keys_lens(model, monkeypatch):
    # Extend with a focus pull: every yielded chunk is the lens pass of its frames, counted after the context
    seen = []
    real = WarpGuide.lens
    monkeypatch.setattr(WarpGuide, "lens", lambda self, t, frames: seen.append((t, frames.copy())) or real(self, t, frames))
    rack = (CameraKey(t=0.0, focus=2.0, aperture=1.4), CameraKey(t=1.0, focus=30.0, aperture=1.4))
    ext = np.full((4, 128, 128, 3), 90, np.uint8)
    req = GenerateRequest(prompt="a red ball", seconds=0.5, ratio="1:1", steps=1, extend=ext, camera=CameraControl(keys=rack))
    out = generate(req, model=model)
    assert [t for t, _ in seen] == [4, 6, 8, 10] and len(out) == 8
    views = views_from_cameras(camera_path(req.camera, 12, (128, 128), 16))  # the context's 4 frames, then the 8 new ones
    assert np.array_equal(out[:2], real(WarpGuide((128, 128), 2, views), 4, seen[0][1]))
    assert not np.array_equal(out[:2], seen[0][1])  # the lens changed the shown pixels


def test_warp_guide_is_validated():
    with pytest.raises(RequestError, match="warp_guide"):
        generate(GenerateRequest(prompt="a ball", seconds=0.5, warp_guide=0.0))
    with pytest.raises(RequestError, match="warp_guide"):
        generate(GenerateRequest(prompt="a ball", seconds=0.5, warp_guide="0.5"))


def test_brush_and_camera_together_build_one_guide(model):
    mask = np.zeros((128, 128), bool)
    mask[40:80, 40:80] = True
    req = GenerateRequest(
        prompt="a red ball", seconds=0.5, ratio="1:1", steps=1, warp_guide=0.3,
        camera=CameraControl(preset=CameraMove(zoom=3)), motion_brush=MotionBrushControl(regions=(BrushRegion(vector=(40.0, 0.0), mask=mask),)),
    )
    assert generate(req, model=model).shape == (8, 128, 128, 3)


def test_the_level_travels_from_the_api_and_cli_to_the_request(tmp_path, capsys):
    from kino.cli import main
    from kino.server.worker import build_request

    stored = {"prompt": "a ball", "seconds": 1.0, "ratio": "16:9", "seed": 1, "camera": {"preset": {"pan": 3}}}
    assert build_request(stored, 4).warp_guide == GenerateRequest.warp_guide
    assert build_request({**stored, "warp_guide": 0.4}, 4).warp_guide == 0.4
    assert main(["generate", "a ball", "--camera", "pan=3", "--warp-guide", "1.5", "--output", str(tmp_path / "x.mp4"), "--quiet"]) == 2
    assert "warp_guide: must be a number in (0, 1]" in capsys.readouterr().err and not (tmp_path / "x.mp4").exists()


def test_the_studio_slider_starts_at_the_python_default():
    import re
    from pathlib import Path

    studio = Path(__file__).parents[1] / "src" / "kino" / "server" / "studio"
    store = float(re.search(r"warpGuide: ([0-9.]+)", (studio / "js" / "store.js").read_text()).group(1))
    html = (studio / "index.html").read_text()
    slider = float(re.search(r'id="warp-guide"[^>]*value="([0-9.]+)"', html).group(1))
    assert store == slider == GenerateRequest.warp_guide
    guidance = float(re.search(r"guidance: ([0-9.]+)", (studio / "js" / "store.js").read_text()).group(1))
    assert guidance == float(re.search(r'id="guidance"[^>]*value="([0-9.]+)"', html).group(1)) == GenerateRequest.guidance
