"""`kino eval` end to end at toy size: suites, the runner on every source, report.json, and the metrics
this side owns (prompt clauses, motion brush, distribution distance) failing on known corruptions.

Clips are 64x64 / 96x64 and 1-1.5 s so the whole file stays well under a minute on two shared cores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kino.cli import main
from kino.eval.metrics import METRICS, score_clip
from kino.eval.metrics.distribution import FEATURES, frechet_ci, frechet_state, state_features
from kino.eval.parse import parse_video
from kino.eval.run import SCHEMA, bootstrap_ci, evaluate, slice_parsed, slice_truth
from kino.eval.suites import Suite, build_suite, reference_cases
from kino.guide import WarpGuide
from kino.model.a2d import A2D
from kino.model.checkpoint import save_checkpoint
from kino.model.config import preset

PROMPT_METRICS = ("prompt_adherence", "prompt_color", "prompt_direction", "prompt_event")


def _tiny(name: str, limit: int, seconds: float = 1.5, size=(96, 64)) -> Suite:
    return build_suite(name, limit=limit, size=size, seconds=seconds)


@pytest.fixture(scope="module")
def truth_run(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("truth")
    return evaluate(_tiny("standard", 2), "truth", out, n_boot=200, quiet=True, summary=False), out


@pytest.fixture(scope="module")
def model_run(tmp_path_factory) -> tuple[dict, Path]:
    d = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    ckpt = save_checkpoint(A2D(preset("test")).eval(), d / "random.safetensors")
    out = d / "eval"
    return evaluate(_tiny("standard", 1, seconds=1.0, size=(64, 64)), str(ckpt), out, steps=1, n_boot=200, quiet=True, summary=False), out


# ------------------------------------------------------------------------------------------- suites
def test_suites_are_reproducible_and_disjoint_from_their_reference_set():
    a, b = build_suite("standard", limit=3), build_suite("standard", limit=3)
    assert a == b and len(a.cases) == 3
    assert build_suite("standard", seed=1, limit=3).cases != a.cases
    assert {c.seed for c in a.cases}.isdisjoint(c.seed for c in reference_cases(a))
    assert {c.seed for c in a.cases}.isdisjoint(c.seed for c in build_suite("ood", limit=3).cases)
    case = _tiny("standard", 1).cases[0]
    g1, g2 = case.render(), case.render()
    assert np.array_equal(g1.frames, g2.frames) and g1.truth["caption"] == g2.truth["caption"] != ""
    assert g1.frames.shape == (24, 64, 96, 3)
    assert all(c.split == "ood" for c in build_suite("ood", limit=2).cases)


def test_control_and_long_cases_carry_their_controls():
    ctl = _tiny("controls", 6, seconds=2.0, size=(64, 64))
    modes = [c.controls["mode"] for c in ctl.cases]
    assert modes == ["i2v", "keyframes", "brush", "camera", "dof", "extend"]
    brush = ctl.cases[2].render()
    assert brush.truth["brush"]["regions"] and len(brush.truth["camera"][0]["key"]) and brush.truth["scene"]["camera"]["keys"][-1]["pan"] == 0
    cam = ctl.cases[3].scene().camera.keys
    assert len(cam) == 2  # every camera case moves the camera
    assert any(k.aperture > 0 for k in ctl.cases[4].scene().camera.keys)
    kf = ctl.cases[1].render()
    assert [f for f, _ in kf.keyframes] == [0, 31] and np.array_equal(kf.keyframes[1][1], kf.frames[-1])
    ext = ctl.cases[5].render()
    assert ext.source is not None and len(ext.source) == 16 and ext.score_from == 16
    long = build_suite("long", limit=1)
    assert long.cases[0].seconds == 60.0 and long.cases[0].controls["extend_frames"] == 64 and long.window_s == 4.0


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match="limit"):
        build_suite("standard", limit=0)
    with pytest.raises(ValueError, match="suite"):
        build_suite("nope")


def test_count_adds_cases_after_the_unchanged_ones(tmp_path):
    long = build_suite("long", count=6)
    assert long.cases[:4] == build_suite("long").cases and len(long.cases) == 6 and long.cases[5].id == "long-005"
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match="count"):
            build_suite("long", count=bad)
    args = ["eval", "--suite", "standard", "--truth", "--size", "64x64", "--seconds", "1", "--quiet"]
    assert main([*args, "--count", "41", "--cases", "standard-040", "--out", str(tmp_path)]) == 0  # the 41st case exists
    assert [c["id"] for c in json.loads((tmp_path / "report.json").read_text())["cases"]] == ["standard-040"]
    assert main([*args, "--count", "0", "--out", str(tmp_path / "x")]) == 2


def test_cases_picks_ids_by_pattern_in_suite_order(tmp_path, capsys):
    suite = build_suite("controls")
    assert [c.id for c in suite.only("controls-rack-*,controls-004").cases] == ["controls-004"] + [f"controls-rack-{j:03d}" for j in range(4)]
    assert suite.only(None) is suite and suite.only("controls-rack-*").limited(1).cases == suite.cases[36:37]
    with pytest.raises(ValueError, match="cases: no case of suite 'controls' matches 'rack-\\*'"):
        suite.only("rack-*")
    rc = main(["eval", "--suite", "controls", "--truth", "--cases", "controls-rack-00[12]", "--size", "64x64", "--seconds", "1", "--out", str(tmp_path), "--quiet"])
    assert rc == 0 and [c["id"] for c in json.loads((tmp_path / "report.json").read_text())["cases"]] == ["controls-rack-001", "controls-rack-002"]
    assert main(["eval", "--truth", "--cases", "nope", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "cases: no case" in capsys.readouterr().err and not (tmp_path / "x").exists()  # refused before any work


# ------------------------------------------------------------------------------------------- runs
def test_truth_run_writes_every_applicable_metric_with_its_floor(truth_run):
    report, out = truth_run
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["schema"] == SCHEMA and on_disk["suite"]["name"] == "standard" and on_disk["suite"]["cases"] == 2
    assert on_disk["source"]["kind"] == "truth" and on_disk["generation"] is None
    applicable = {n for c in report["cases"] for n, v in c["floor"].items() if v is not None}
    assert applicable <= set(report["metrics"]) and set(PROMPT_METRICS) <= applicable
    assert "state_frechet" in report["metrics"] and report["metrics"]["state_frechet"]["set_level"]
    for name, m in report["metrics"].items():
        assert m["floor"] is not None and m["definition"], name
        assert m["value"] == pytest.approx(m["floor"]), name  # the truth scores exactly its floor
        lo, hi = m["ci"]
        assert lo <= m["value"] + 1e-9 and m["value"] <= hi + 1e-9, name  # the bootstrap CI holds the mean
    for name in PROMPT_METRICS:
        if report["metrics"][name]["n"]:
            assert report["metrics"][name]["pass"] is True, name
    case = report["cases"][0]
    assert case["prompt"] and case["clauses"] and all(cl["ok"] == cl["ok_floor"] for cl in case["clauses"])


def test_truth_run_html_has_the_table_and_embedded_plots(truth_run):
    _, out = truth_run
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page and "state_frechet" in page
    assert page.count("data:image/png;base64,") >= 3  # bars, trajectories, contact sheets
    assert "http://" not in page and "https://" not in page  # self-contained


def test_random_model_scores_worse_than_the_floor(model_run):
    report, out = model_run
    assert report["source"]["kind"] == "checkpoint" and (out / "videos" / "standard-000.mp4").is_file()
    gen = report["generation"]
    assert gen["time_to_first_chunk_s"] > 0 and gen["frames_per_s"] > 0 and gen["peak_rss_mb"] > 0
    m = report["metrics"]
    assert m["prompt_adherence"]["value"] < m["prompt_adherence"]["floor"]
    assert m["prompt_adherence"]["pass"] is False
    assert m["state_frechet"]["value"] > m["state_frechet"]["floor"]
    assert report["cases"][0]["generation"]["frames"] == 16


def test_videos_source_names_every_missing_file(model_run, capsys):
    _, out = model_run
    rc = main(["eval", "--videos", str(out / "videos"), "--limit", "2", "--size", "64x64", "--seconds", "1", "--out", str(out / "v"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "standard-001.mp4" in err and "standard-000.mp4" not in err


def test_videos_source_scores_a_directory_of_mp4(model_run, tmp_path):
    report, out = model_run
    again = evaluate(_tiny("standard", 1, seconds=1.0, size=(64, 64)), str(out / "videos"), tmp_path, n_boot=50, quiet=True, summary=False, html=False)
    assert again["source"]["kind"] == "videos"
    a, b = report["metrics"]["prompt_adherence"], again["metrics"]["prompt_adherence"]
    assert a["floor"] == b["floor"] and b["value"] < b["floor"]


def test_windows_and_extend_are_scored_over_the_continuation(tmp_path):
    suite = _tiny("controls", 6, seconds=2.0, size=(64, 64))
    suite = dataclasses.replace(suite, cases=(suite.cases[2], suite.cases[5]), window_s=0.5)
    report = evaluate(suite, "truth", tmp_path, n_boot=50, quiet=True, summary=False, html=False)
    brush, ext = report["cases"]
    assert brush["metrics"]["brush_adherence"] == 1.0 and brush["metrics"]["brush_endpoint_error"] < 2.0
    assert ext["scored_frames"] == [16, 32] and ext["metrics"]["brush_adherence"] is None
    assert len(brush["windows"]) == 4 and report["windows"]["start_s"] == [0.0, 0.5, 1.0, 1.5]


def test_brush_on_a_first_frame_cases_give_the_frame_and_score_the_brush(tmp_path):
    suite = build_suite("controls", size=(96, 64), seconds=1.0)
    case = suite.cases[30]
    g = case.render()
    assert [f for f, _ in g.keyframes] == [0] and np.array_equal(g.keyframes[0][1], g.frames[0]) and g.truth["brush"]["regions"]
    report = evaluate(dataclasses.replace(suite, cases=(case,)), "truth", tmp_path, n_boot=20, quiet=True, summary=False, html=False)
    assert report["cases"][0]["metrics"]["brush_adherence"] == 1.0


def test_without_controls_runs_the_same_cases_with_their_controls_left_out(tmp_path, monkeypatch):
    """The ablation behind "each control shown to matter": same cases, seeds and prompts, no control."""
    torch.manual_seed(0)
    ckpt = save_checkpoint(A2D(preset("test")).eval(), tmp_path / "random.safetensors")
    suite = build_suite("controls", size=(64, 64), seconds=1.0)
    # i2v, keyframes, brush, camera, dof, two references, a brush on a first frame
    suite = dataclasses.replace(suite, cases=suite.cases[:5] + suite.cases[24:25] + suite.cases[30:31])
    assert suite.cases[-1].controls == {"mode": "brush", "keyframes": [0]}
    seen: list[tuple[int, bool, bool, int]] = []
    orig = A2D.stream

    def spy(self, cond, *a, **k):
        seen.append((len(cond.keyframes), cond.brush is not None, cond.camera is not None, len(cond.references)))
        return orig(self, cond, *a, **k)

    monkeypatch.setattr(A2D, "stream", spy)
    lens_at: list[int] = []  # the output lens pass of a camera path with an aperture (`WarpGuide.lens`)
    real_lens = WarpGuide.lens
    def lens(self, t, frames):  # record the calls that can change a pixel: a camera path with an aperture
        if self.views is not None and any(v.aperture > 0 for v in self.views):
            lens_at.append(t)
        return real_lens(self, t, frames)

    monkeypatch.setattr(WarpGuide, "lens", lens)
    full = evaluate(suite, str(ckpt), tmp_path / "full", steps=1, n_boot=20, quiet=True, summary=False, html=False)
    with_ctl, seen[:] = list(seen), []
    assert lens_at[:3] == [0, 2, 4]  # the dof case's frames, chunk by chunk
    lens_at.clear()
    bare = evaluate(suite, str(ckpt), tmp_path / "bare", steps=1, n_boot=20, quiet=True, summary=False, html=False, without_controls=True)
    assert any(k for k, _, _, _ in with_ctl) and any(b for _, b, _, _ in with_ctl) and any(c for _, _, c, _ in with_ctl)
    assert (0, False, False, 2) in with_ctl and with_ctl[-1] == (1, True, False, 0)  # two tagged images; a brushed first frame
    assert not lens_at  # no camera path, no lens
    # every control is left out; a brush case keeps the first frame it paints on (the image is its input, the brush its control)
    assert seen[:-1] and all(s == (0, False, False, 0) for s in seen[:-1]) and seen[-1] == (1, False, False, 0)
    # the reference case's "@hero" reached the model as the word "hero"
    assert full["cases"][-2]["prompt"] == bare["cases"][-2]["prompt"] and "@hero" in full["cases"][-2]["prompt"]
    assert bare["source"]["meta"]["without_controls"] is True and full["source"]["meta"]["without_controls"] is False
    assert [c["id"] for c in bare["cases"]] == [c["id"] for c in full["cases"]]
    rc = main(["eval", "--truth", "--without-controls", "--limit", "1", "--quiet"])
    assert rc == 2


# ------------------------------------------------------------------------------------------- reference cases
# the controls suite before its reference cases, which must never change: ids, seeds, modes and every field
CONTROLS_24_SHA256 = "f03fad350940f34bc196d48247212077cb8597b896a34e1e9a58c9bd73f59a3a"


def test_reference_cases_are_appended_after_the_unchanged_controls_cases():
    suite = build_suite("controls")
    old, new, brush, rack = suite.cases[:24], suite.cases[24:30], suite.cases[30:36], suite.cases[36:]
    modes = ["i2v", "keyframes", "brush", "camera", "dof", "extend"]
    assert [(c.id, c.seed, c.controls["mode"]) for c in old] == [(f"controls-{i:03d}", 2_020_000_000 + i, modes[i % 6]) for i in range(24)]
    assert hashlib.sha256(json.dumps([c.to_dict() for c in old]).encode()).hexdigest() == CONTROLS_24_SHA256
    assert build_suite("controls", limit=24).cases == old  # `--limit 24` is the earlier suite, case for case
    assert [c.id for c in new] == [f"controls-refs-{j:03d}" for j in range(6)]
    assert all(c.controls["mode"] == "references" for c in new) and {c.controls["subjects"] for c in new} == {1, 2}
    taken = {c.seed for c in old} | {c.seed for c in reference_cases(suite)[:24]} | {c.seed for n in ("standard", "ood", "long") for c in build_suite(n).cases}
    assert taken.isdisjoint(c.seed for c in new) and len({c.seed for c in new}) == 6
    # then Motion Brush painted on a given first frame (the numbered brush cases are text-only)
    assert [c.id for c in brush] == [f"controls-brush-img-{j:03d}" for j in range(6)]
    assert all(c.controls == {"mode": "brush", "keyframes": [0]} for c in brush)
    assert taken.isdisjoint(c.seed for c in brush) and not {c.seed for c in brush} & {c.seed for c in new} and len({c.seed for c in brush}) == 6
    # then rack focus: depth of field whose focus is pulled across the clip
    assert [c.id for c in rack] == [f"controls-rack-{j:03d}" for j in range(4)] and len(suite.cases) == 40
    assert all(c.controls == {"mode": "dof", "rack": True} for c in rack)
    assert taken.isdisjoint(c.seed for c in rack) and not {c.seed for c in rack} & {c.seed for c in new + brush} and len({c.seed for c in rack}) == 4
    keys = rack[0].scene().camera.keys
    assert len(keys) == 2 and keys[0].aperture == keys[1].aperture > 0 and abs(keys[1].focus - keys[0].focus) >= 6
    g = _tiny("controls", None, seconds=1.0).cases[24].render()  # collide: two tagged subjects
    assert [t for t, _ in g.references] == list(g.truth["references"]) == ["hero", "villain"]
    assert all(img.dtype == np.uint8 and img.shape[0] == img.shape[1] >= 16 for _, img in g.references)
    assert "@hero" in g.prompt and "@villain" in g.prompt and g.truth["caption"] in g.truth["captions"] and "@" not in g.truth["caption"]
    ids = {r["object"] for r in g.truth["references"].values()}
    words = set(g.prompt.lower().replace(".", " ").replace(",", " ").split())
    assert not any(o["color"] in words for o in g.truth["objects"] if o["id"] in ids)  # the look is in the images only


def _recoloured(case, truth: dict) -> np.ndarray:
    """The case's scene with its tagged subjects' colours swapped (two) or changed to an unused colour (one)."""
    from kino.world.palette import COLORS
    from kino.world.render import render

    sc = case.scene()
    ids = [r["object"] for r in truth["references"].values()]
    colors = {b.id: b.color for b in sc.bodies}
    spare = next(c for c in ("green", "blue", "red", "yellow") if c not in colors.values() and c in COLORS)
    new = {ids[0]: colors[ids[1]], ids[1]: colors[ids[0]]} if len(ids) == 2 else {ids[0]: spare}
    bodies = tuple(dataclasses.replace(b, color=new.get(b.id, b.color)) for b in sc.bodies)
    return render(sc.with_(bodies=bodies), seed=case.seed).frames


def test_reference_identity_floors_at_the_truth_and_fails_recoloured_videos(tmp_path, truth_run):
    from kino.eval.run import summary_table
    from kino.io.video import write_mp4

    suite = _tiny("controls", None, seconds=1.0)
    suite = dataclasses.replace(suite, cases=suite.cases[:1] + suite.cases[24:26])  # i2v, collide (two subjects), roll (one)
    truth = evaluate(suite, "truth", tmp_path / "truth", n_boot=50, quiet=True, summary=False)
    ref, swaps = truth["metrics"]["reference_identity"], truth["metrics"]["reference_swaps"]
    assert ref["n"] == 2 and swaps["n"] == 1  # not applicable to the i2v case, nor swaps to a single subject
    assert truth["cases"][0]["metrics"]["reference_identity"] is None and truth["cases"][0]["references"] is None
    assert ref["value"] == ref["floor"] > 0.7 and swaps["value"] == swaps["floor"] == 0 and ref["pass"] and swaps["pass"]
    assert [r["tag"] for r in truth["cases"][1]["references"]] == ["hero", "villain"]
    assert "reference_identity" in summary_table(truth) and "reference_swaps" in (tmp_path / "truth" / "report.html").read_text()
    assert "reference_identity" not in truth_run[0]["metrics"]  # a suite without reference cases does not list it
    videos = tmp_path / "videos"
    for case in suite.cases:
        g = case.render()
        write_mp4(videos / f"{case.id}.mp4", _recoloured(case, g.truth) if g.references else g.frames, case.fps)
    bad = evaluate(suite, str(videos), tmp_path / "bad", n_boot=50, quiet=True, summary=False, html=False)
    floor = {c["id"]: c["floor"]["reference_identity"] for c in truth["cases"]}
    for c in bad["cases"][1:]:
        print(c["id"], "floor", floor[c["id"]], "recoloured", c["metrics"]["reference_identity"], "swaps", c["metrics"]["reference_swaps"])
        assert c["metrics"]["reference_identity"] < floor[c["id"]] - 0.3  # measured: 0.89 -> 0.20 (swapped), 0.86 -> 0.29 (recoloured)
    assert bad["cases"][1]["metrics"]["reference_swaps"] == 1
    assert bad["metrics"]["reference_identity"]["pass"] is False and bad["metrics"]["reference_swaps"]["pass"] is False


# ------------------------------------------------------------------------------------------- pieces
def test_bootstrap_ci_contains_the_mean_and_is_seeded():
    x = np.random.default_rng(0).normal(3.0, 1.0, 40)
    lo, hi = bootstrap_ci(x)
    assert lo < x.mean() < hi and hi - lo < 1.0
    assert bootstrap_ci(x) == bootstrap_ci(x) and bootstrap_ci([]) is None and bootstrap_ci([2.0]) == (2.0, 2.0)


def test_slicing_keeps_frames_and_events_aligned():
    g = _tiny("standard", 1).cases[0].render()
    tr = g.truth
    part = slice_truth(tr, 6, 18)
    assert part["num_frames"] == 12 and len(part["camera"]) == 12 and len(part["objects"][0]["track"]) == 12
    assert all(0 <= e["frame"] < 12 for e in part["events"])
    assert len(part["events"]) == sum(6 <= e["frame"] < 18 for e in tr["events"])
    p = parse_video(g.frames, tr)
    q = slice_parsed(p, 6, 18)
    assert len(q.frames) == 12 and len(q.camera) == 11 and all(len(t) == 12 for t in q.tracks.values())


@pytest.fixture(scope="module")
def clip():
    """A standard clip with a direction clause, parsed once (for the corruption tests)."""
    for case in build_suite("standard", limit=8, size=(96, 64), seconds=2.0).cases:
        g = case.render()
        p = parse_video(g.frames, g.truth)
        s = score_clip(p, g.truth, PROMPT_METRICS)
        if s["prompt_direction"] is not None and s["prompt_color"] is not None:
            return g, s
    raise AssertionError("no clip with direction and colour clauses")


def test_prompt_metrics_fail_on_corruptions(clip):
    g, clean = clip
    assert clean["prompt_adherence"] == 1.0 and clean["prompt_direction"] == 1.0

    def score(frames):
        return score_clip(parse_video(np.ascontiguousarray(frames), g.truth), g.truth, PROMPT_METRICS)

    reversed_ = score(g.frames[::-1])
    assert reversed_["prompt_direction"] < clean["prompt_direction"] and reversed_["prompt_adherence"] < clean["prompt_adherence"]
    frozen = score(np.repeat(g.frames[:1], len(g.frames), 0))
    assert frozen["prompt_direction"] == 0.0
    swapped = score(g.frames[..., ::-1])  # RGB -> BGR: every colour changes
    assert swapped["prompt_color"] < clean["prompt_color"]
    blank = score(np.repeat(np.median(g.frames, axis=(1, 2), keepdims=True).astype(np.uint8), 64, 1).repeat(96, 2))
    assert blank["prompt_adherence"] == 0.0


def test_brush_metrics_fail_when_the_object_moves_the_wrong_way():
    case = _tiny("controls", 6, seconds=2.0, size=(64, 64)).cases[2]
    g = case.render()
    names = ("brush_adherence", "brush_endpoint_error")
    clean = score_clip(parse_video(g.frames, g.truth), g.truth, names)
    backwards = score_clip(parse_video(np.ascontiguousarray(g.frames[::-1]), g.truth), g.truth, names)
    frozen = score_clip(parse_video(np.repeat(g.frames[:1], len(g.frames), 0), g.truth), g.truth, names)
    assert clean["brush_adherence"] == 1.0 and clean["brush_endpoint_error"] < 2.0
    assert backwards["brush_adherence"] == 0.0 and backwards["brush_endpoint_error"] > 5 * clean["brush_endpoint_error"] + 5
    assert frozen["brush_adherence"] == 0.0 and frozen["brush_endpoint_error"] > 5
    assert score_clip(parse_video(g.frames, {**g.truth, "brush": None}), {**g.truth, "brush": None}, names)["brush_adherence"] is None


def test_frechet_is_zero_on_identical_sets_and_grows_with_a_shift(clip):
    g, _ = clip
    f = state_features(parse_video(g.frames, g.truth))
    assert f.shape == (len(FEATURES),) and np.isfinite(f).all()
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (30, 6)), rng.normal(0, 1, (30, 6))
    assert frechet_state(a, a) == pytest.approx(0, abs=1e-6)
    near, far = frechet_state(a, b), frechet_state(a, b + 2.0)
    assert near < far and far == pytest.approx(frechet_state(b + 2.0, a))
    lo, hi = frechet_ci(a, b + 2.0, n_boot=200)
    assert lo <= far <= hi
    with pytest.raises(ValueError, match="features"):
        frechet_state(a, b[:, :3])


def test_metric_registry_holds_this_sides_metrics():
    for name in (*PROMPT_METRICS, "brush_adherence", "brush_endpoint_error"):
        assert name in METRICS and METRICS[name].definition
