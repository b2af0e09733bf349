"""Kino World as data: the ground-truth JSON schema, the train/ood splits, the `kino world` CLI, WorldStream."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from kino.cli import main
from kino.io.video import read_mp4
from kino.world.data import DataSpec, WorldStream, make_sample, sample_seed, save_sample
from kino.world.palette import COLORS, rgb
from kino.world.render import render
from kino.world.sample import OOD_PAIRS, OOD_SPEED, SCENARIOS, TRAIN_SPEED, sample_scene
from kino.world.scene import Scene

SMALL = {"width": 64, "height": 64, "fps": 8, "seconds": 1.0}


# ------------------------------------------------------------------------------------------- 9. schema
def _check_truth(truth: dict, frames: np.ndarray) -> None:
    """The documented kino-world/1 fields, their types and their mutual consistency."""
    assert truth["schema"] == "kino-world/1"
    n, w, h = truth["num_frames"], truth["width"], truth["height"]
    assert frames.shape == (n, h, w, 3)
    assert isinstance(truth["fps"], int) and truth["fps"] > 0
    assert truth["seconds"] * truth["fps"] == pytest.approx(n)
    assert truth["split"] in ("train", "ood")
    # captions: the full one first, then at least one paraphrase, all distinct non-empty strings
    assert isinstance(truth["caption"], str) and truth["caption"].strip()
    caps = truth["captions"]
    assert isinstance(caps, list) and len(caps) >= 2 and caps[0] == truth["caption"]
    assert all(isinstance(c, str) and c.strip() for c in caps) and len(set(caps)) == len(caps)

    objects = truth["objects"]
    assert objects, "every scene has at least one thing in it"
    ids = [o["id"] for o in objects]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) and i > 0 for i in ids)
    for o in objects:
        assert isinstance(o["kind"], str) and o["kind"] in (
            "ball",
            "box",
            "ramp",
            "pillar",
            "wall",
            "platform",
            "character",
        )
        assert o["color"] in COLORS
        assert o["color_rgb"] == list(rgb(o["color"]))
        assert len(o["color_rgb"]) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in o["color_rgb"])
        assert isinstance(o["static"], bool)
        track = o["track"]
        assert len(track) == n
        for x, y, vis in track:
            assert all(isinstance(v, float | int) and math.isfinite(v) for v in (x, y, vis))
            assert 0.0 <= vis <= 1.0
            if vis > 0:  # a seen object's centroid lies on the frame
                assert 0 <= x <= w and 0 <= y <= h
        assert len(o["in_frame"]) == n and all(
            v >= vis - 1e-3 for v, (_, _, vis) in zip(o["in_frame"], track, strict=True)
        )
        assert np.asarray(o["position"]).shape == (n, 3) and np.asarray(o["velocity"]).shape == (n, 3)
        if o["kind"] == "character":
            assert set(o["identity"]) >= {"skin", "hair", "shirt", "trousers", "hat", "height"}
            assert o["identity"]["shirt"] == o["color"]
    assert len(truth["camera"]) == n
    for cam in truth["camera"]:
        K, R, t = np.asarray(cam["K"]), np.asarray(cam["R"]), np.asarray(cam["t"])
        assert K.shape == (3, 3) and R.shape == (3, 3) and t.shape == (3,)
        assert K[0, 0] > 0 and K[0, 0] == K[1, 1] and K[2].tolist() == [0, 0, 1]
        assert K[0, 2] == w / 2 and K[1, 2] == h / 2
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-5)
        # |det R| = 1; note det R = -1: the world frame (x right, y up, z away) is left-handed while the
        # OpenCV camera frame is right-handed, so R is a reflection, not a proper rotation
        assert abs(np.linalg.det(R)) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(t, -R @ np.asarray(cam["position"]), atol=1e-4)  # x_cam = R x_world + t
    # K [R | t] projects a fully visible ball's centre onto its pixel centroid
    for o in objects:
        if o["kind"] != "ball":
            continue
        for f, (x, y, vis) in enumerate(o["track"]):
            if vis > 0.99 and o["in_frame"][f] > 0.99:
                cam = truth["camera"][f]
                p = np.asarray(cam["K"]) @ (np.asarray(cam["R"]) @ np.asarray(o["position"][f]) + np.asarray(cam["t"]))
                assert p[2] > 0
                assert abs(p[0] / p[2] - x) < 1.0 and abs(p[1] / p[2] - y) < 1.0, (o["id"], f, p / p[2], x, y)
    frames_seen = []
    for e in truth["events"]:
        assert isinstance(e["type"], str) and e["type"]
        assert isinstance(e["frame"], int) and 0 <= e["frame"] < n
        assert isinstance(e["objects"], list) and e["objects"] and all(i in ids for i in e["objects"])
        frames_seen.append(e["frame"])
    assert frames_seen == sorted(frames_seen)  # events are listed in time order
    for eff in truth["effects"]:
        assert 0 <= eff["cause"] < len(truth["events"]) and eff["frame_born"] >= truth["events"][eff["cause"]]["frame"]
    # plain JSON: only JSON types (no numpy scalars or arrays), no NaN
    _check_plain(truth)
    text = json.dumps(truth, allow_nan=False)
    back = json.loads(text)
    assert json.dumps(back, allow_nan=False) == text
    # the embedded scene rebuilds the clip's scene (after the JSON round trip, as a reader of the file sees it)
    scene = Scene.from_dict(back["scene"])
    assert scene.num_frames == n and (scene.width, scene.height, scene.fps) == (w, h, truth["fps"])


def _check_plain(value, where: str = "truth") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), where
            _check_plain(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    else:
        assert value is None or type(value) in (str, int, float, bool), (where, type(value))
        assert not isinstance(value, float) or math.isfinite(value), where


def test_ground_truth_json_schema():
    kinds = set()
    for split in ("train", "ood"):
        spec = DataSpec(split=split, seed=5, **SMALL)
        for i in range(6):
            s = make_sample(i, spec)
            assert s.index == i and s.truth["index"] == i and s.truth["seed"] == sample_seed(spec, i)
            assert s.truth["split"] == split
            _check_truth(s.truth, s.frames)
            kinds |= {o["kind"] for o in s.truth["objects"]}
    assert len(kinds) >= 2  # more than one kind of scene was checked


@pytest.mark.parametrize("scenario", ["occlude", "topple", "walk"])
def test_ground_truth_json_schema_per_scenario(scenario):
    # occlusion, toppling (dust effects) and characters exercise the optional parts of the schema
    from kino.world.captions import captions
    from kino.world.truth import ground_truth, measure_tracks

    for seed in range(3):
        clip = render(sample_scene(seed, width=64, height=48, fps=8, seconds=2.0, scenario=scenario), seed)
        truth = ground_truth(clip, captions(clip, measure_tracks(clip)))
        _check_truth(truth, clip.frames)


# ------------------------------------------------------------------------------------------- 10. splits
def _launch_speeds(scene: Scene) -> list[float]:
    """Speeds along x (the launch direction of every scenario) of balls and boxes moving at t = 0."""
    return [
        abs(b.velocity[0]) for b in scene.bodies if not b.static and b.kind in ("ball", "box") and b.velocity[0] != 0
    ]


def _in(speed: float, rng: tuple[float, float]) -> bool:
    return rng[0] <= speed <= rng[1]


def _held_out_pairs(scene: Scene) -> set:
    return {(b.kind, b.color) for b in scene.bodies} & OOD_PAIRS


def test_train_split_never_contains_held_out_pairs_or_speeds():
    scenes = [sample_scene(seed, "train", **SMALL) for seed in range(40)]
    scenes += [sample_scene(seed, "train", scenario=s, **SMALL) for s in SCENARIOS for seed in range(5)]
    launched = 0
    for scene in scenes:
        assert scene.split == "train"
        assert not _held_out_pairs(scene), scene.bodies
        speeds = _launch_speeds(scene)
        assert not any(_in(v, OOD_SPEED) for v in speeds), speeds
        assert all(v < OOD_SPEED[0] for v in speeds), speeds  # not even beyond the held-out range
        launched += bool(speeds)
    assert launched >= 30
    # the scenes really vary (different seeds, different scenes)
    assert len({s.to_json() for s in scenes}) == len(scenes)



@pytest.mark.parametrize(
    "scenario",
    [
        s
        for s in SCENARIOS
    ],
)
def test_every_ood_scene_holds_out_a_pair_or_a_speed(scenario):
    bad = []
    for seed in range(40):
        scene = sample_scene(seed, "ood", scenario=scenario, **SMALL)
        assert scene.split == "ood"
        main_speed = max(_launch_speeds(scene), default=0.0)  # secondary movers are slower than the main object
        # held out: a held-out colour-shape pair, or a main launch speed in (or beyond) OOD_SPEED
        if not _held_out_pairs(scene) and main_speed < OOD_SPEED[0]:
            bad.append((seed, main_speed, [(b.kind, b.color) for b in scene.bodies], len(scene.characters)))
    assert not bad, bad


def test_ood_split_over_the_default_scenario_mix():
    # 40 scenes of the default mix; the one known-bad kind of scene (occlude with a character) is skipped
    checked = 0
    for seed in range(40):
        scene = sample_scene(seed, "ood", **SMALL)
        speeds = _launch_speeds(scene)
        assert _held_out_pairs(scene) or max(speeds, default=0.0) >= OOD_SPEED[0], (seed, speeds, scene.bodies)
        checked += 1
    assert checked >= 35


def test_ood_launch_speeds_stay_in_the_documented_range():
    bad = []
    for scenario in ("roll", "collide", "throw", "topple", "occlude", "ledge"):
        for seed in range(40):
            main_speed = max(_launch_speeds(sample_scene(seed, "ood", scenario=scenario, **SMALL)), default=0.0)
            if main_speed > OOD_SPEED[1]:
                bad.append((scenario, seed, round(main_speed, 3)))
    assert not bad, bad


def test_train_main_launch_speed_is_in_the_documented_range():
    bad = []
    for scenario in ("roll", "collide", "throw", "topple", "occlude", "ledge"):
        for seed in range(12):
            speeds = _launch_speeds(sample_scene(seed, "train", scenario=scenario, **SMALL))
            if speeds and not _in(max(speeds), TRAIN_SPEED):
                bad.append((scenario, seed, round(max(speeds), 3)))
    assert not bad, bad


# ------------------------------------------------------------------------------------------- 11. CLI
RENDER = ["world", "render", "--size", "64x64", "--fps", "8", "--seconds", "1", "--seed", "3", "--quiet"]


def test_cli_world_render_writes_deterministic_clips(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*RENDER, "--count", "2", "--out", str(a)]) == 0
    assert main([*RENDER, "--count", "2", "--out", str(b)]) == 0
    names = sorted(p.name for p in a.iterdir())
    assert names == ["000000.json", "000000.mp4", "000001.json", "000001.mp4"]
    spec = DataSpec(width=64, height=64, fps=8, seconds=1.0, seed=3)
    for stem in ("000000", "000001"):
        assert (a / f"{stem}.mp4").read_bytes() == (b / f"{stem}.mp4").read_bytes()
        assert (a / f"{stem}.json").read_bytes() == (b / f"{stem}.json").read_bytes()
        truth = json.loads((a / f"{stem}.json").read_text())
        frames, fps = read_mp4(a / f"{stem}.mp4")
        assert frames.shape == (truth["num_frames"], 64, 64, 3) == (8, 64, 64, 3)
        assert fps == 8 and truth["fps"] == 8
        _check_truth(truth, frames)
        # the files are exactly make_sample's clip (the video up to H.264 loss)
        sample = make_sample(int(stem), spec)
        assert truth == json.loads(json.dumps(sample.truth))
        assert np.abs(frames.astype(np.int16) - sample.frames).mean() < 3.0
    out = capsys.readouterr()
    assert str(a) in out.out


@pytest.mark.parametrize(("size", "field"), [("63x64", "width"), ("64x63", "height"), ("8x64", "width")])
def test_cli_world_render_rejects_bad_sizes(tmp_path, capsys, size, field):
    out = tmp_path / "bad"
    assert (
        main(["world", "render", "--count", "1", "--out", str(out), "--size", size, "--seconds", "1", "--quiet"]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("kino: error:") and f"{field}:" in err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_cli_world_render_bad_size_syntax_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["world", "render", "--count", "1", "--out", str(tmp_path), "--size", "big"])
    assert exc.value.code == 2
    assert "--size" in capsys.readouterr().err


def test_cli_world_preview_writes_video_and_contact_sheet(tmp_path, capsys):
    path = tmp_path / "p.mp4"
    assert (
        main(
            [
                "world",
                "preview",
                "--seed",
                "1",
                "--output",
                str(path),
                "--size",
                "64x64",
                "--seconds",
                "1",
                "--fps",
                "8",
            ]
        )
        == 0
    )
    frames, fps = read_mp4(path)
    assert frames.shape == (8, 192, 192, 3) and fps == 8  # upscaled 3x for readable labels
    png = tmp_path / "p.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert str(path) in out and str(png) in out


def test_cli_world_render_maps(tmp_path):
    out = tmp_path / "maps"
    assert (
        main(
            [
                "world",
                "render",
                "--count",
                "1",
                "--out",
                str(out),
                "--size",
                "64x48",
                "--fps",
                "8",
                "--seconds",
                "1",
                "--seed",
                "2",
                "--maps",
                "--quiet",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["000000.json", "000000.mp4", "000000.npz"]
    maps = np.load(out / "000000.npz")
    assert set(maps.files) == {"depth", "instance", "flow"}
    assert (
        maps["depth"].shape == (8, 48, 64)
        and maps["instance"].shape == (8, 48, 64)
        and maps["flow"].shape == (7, 48, 64, 2)
    )
    assert np.all(np.isfinite(maps["depth"])) and np.all(maps["depth"] > 0)
    truth = json.loads((out / "000000.json").read_text())
    clip = render(Scene.from_dict(truth["scene"]), seed=truth["seed"])
    assert np.array_equal(maps["instance"], clip.instances)
    assert set(np.unique(maps["instance"])) - {0} <= {o["id"] for o in truth["objects"]}
    # every object id seen in the instance map has a positive visible fraction in the track, and vice versa
    for o in truth["objects"]:
        for f, (_, _, vis) in enumerate(o["track"]):
            assert (vis > 0) == bool((maps["instance"][f] == o["id"]).any())


def test_save_sample_maps_for_a_streamed_sample(tmp_path):
    sample = next(iter(WorldStream(DataSpec(**SMALL), count=1)))
    assert sample.clip is None
    save_sample(sample, tmp_path, maps=True)
    maps = np.load(tmp_path / "000000.npz")
    assert maps["depth"].shape == (8, 64, 64) and maps["flow"].shape == (7, 64, 64, 2)


# ------------------------------------------------------------------------------------------- 12. WorldStream
def _same(a, b) -> None:
    assert a.index == b.index
    assert a.frames.dtype == b.frames.dtype and a.frames.tobytes() == b.frames.tobytes()
    assert a.truth == b.truth


def test_world_stream_is_deterministic_across_workers():
    spec = DataSpec(seed=11, **SMALL)
    serial = list(WorldStream(spec, count=3, workers=0))
    parallel = list(WorldStream(spec, count=3, workers=2))
    assert [s.index for s in serial] == [s.index for s in parallel] == [0, 1, 2]
    for a, b in zip(serial, parallel, strict=True):
        _same(a, b)
        _same(a, make_sample(a.index, spec))
    assert len({s.frames.tobytes() for s in serial}) == 3  # three different clips
    # a stream that starts later yields the same clips for the same indices
    later = list(WorldStream(spec, start=1, count=2))
    assert [s.index for s in later] == [1, 2]
    for a, b in zip(serial[1:], later, strict=True):
        _same(a, b)
    # a different base seed gives different clips
    assert make_sample(0, DataSpec(seed=12, **SMALL)).frames.tobytes() != serial[0].frames.tobytes()


def test_world_stream_rejects_negative_workers():
    with pytest.raises(ValueError, match="workers"):
        WorldStream(DataSpec(**SMALL), count=1, workers=-1)


def test_training_clips_with_depth_of_field_get_a_rack_focus_half_the_time():
    from kino.world.data import _pull_focus
    from kino.world.sample import RACK_SHARE

    pulled, kept, plain, seeds = 0, 0, 0, []
    for seed in range(400):
        sc = sample_scene(seed, "train", width=64, height=64, fps=8, seconds=1.0)
        out = _pull_focus(sc, seed)
        if not any(k.aperture > 0 for k in sc.camera.keys):
            assert out is sc  # no lens, no pull: the sampler's scene as it was
            plain += 1
            continue
        if out is sc:
            kept += 1
            continue
        pulled += 1
        seeds.append(seed)
        a, b = out.camera.keys[0], out.camera.keys[-1]
        assert len(out.camera.keys) == 2 and a.t == 0 and b.t == 1.0 and 6.0 <= abs(b.focus - a.focus) <= 10.0 and 1.2 <= a.aperture == b.aperture <= 2.0
        assert (a.pan, a.zoom, a.dolly, b.pan, b.zoom, b.dolly) == (sc.camera.keys[0].pan, sc.camera.keys[0].zoom, sc.camera.keys[0].dolly,
                                                                      sc.camera.keys[-1].pan, sc.camera.keys[-1].zoom, sc.camera.keys[-1].dolly)  # the path stays
        assert out.bodies == sc.bodies  # only the lens changes
    assert plain > pulled + kept > 40 and abs(pulled / (pulled + kept) - RACK_SHARE) < 0.15
    # make_sample renders the pull: the truth's focus moves across the clip
    spec = DataSpec(width=64, height=64, fps=8, seconds=1.0)
    index = seeds[0]  # sample_seed(spec, i) == i for the default base seed
    focus = [c["focus"] for c in make_sample(index, spec).truth["camera"]]
    assert abs(focus[-1] - focus[0]) >= 6.0 * 0.9 and focus[len(focus) // 2] not in (focus[0], focus[-1])
