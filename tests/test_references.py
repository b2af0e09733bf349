"""Tagged reference images end to end on the real classes at the `test` preset: training batches, `generate`
(validation naming the field, @tags, order), the CLI, the API worker's request, and storyboards."""

from __future__ import annotations

import dataclasses
import json
import random
import re

import numpy as np
import pytest
import torch
from PIL import Image

from kino.cli import main
from kino.controls import MAX_REFERENCES, Reference, mentions, prompt_words
from kino.generate import GenerateRequest, RequestError, generate
from kino.model.a2d import A2D, REF_SIZE
from kino.model.checkpoint import save_checkpoint
from kino.model.config import TokenizerConfig, preset
from kino.model.text import text_encoder
from kino.train import TrainConfig, batch_from_samples
from kino.world.controls import square_image
from kino.world.data import DataSpec, make_sample


@pytest.fixture(scope="module")
def model() -> A2D:
    torch.manual_seed(0)
    return A2D(preset("test")).eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory, model) -> dict[str, str]:
    d = tmp_path_factory.mktemp("refs")
    red, blue = np.zeros((40, 30, 3), np.uint8), np.zeros((50, 50, 3), np.uint8)
    red[..., 0], blue[..., 2] = 220, 220
    Image.fromarray(red).save(d / "hero.png")
    Image.fromarray(blue).save(d / "villain.png")
    (d / "x.png").write_bytes(b"\x00not a png\xff" * 8)
    return {"ckpt": str(save_checkpoint(model, d / "m.safetensors")), "hero": str(d / "hero.png"), "villain": str(d / "villain.png"), "garbage": str(d / "x.png"), "dir": str(d)}


def _req(**kw) -> GenerateRequest:
    return GenerateRequest(**{"prompt": "@hero rolls left", "seconds": 0.25, "ratio": "1:1", "steps": 1, "seed": 0, **kw})


class _Spy:
    """Wraps model.stream to record the Conditions it was given."""

    def __init__(self, model, monkeypatch):
        self.conds, stream = [], model.stream

        def spy(cond, *a, **k):
            self.conds.append(cond)
            return stream(cond, *a, **k)

        monkeypatch.setattr(model, "stream", spy)


# ------------------------------------------------------------------------------------------- training
def test_samples_carry_crops_and_squares_keep_the_whole_subject():
    s = make_sample(0, DataSpec(width=64, height=64, seconds=0.25))
    assert s.crops and all(c.dtype == np.uint8 and c.ndim == 3 and min(c.shape[:2]) >= 4 for c in s.crops)
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, 0], wide[:, -1] = (255, 0, 0), (0, 0, 255)  # a red left edge and a blue right edge
    sq = square_image(wide, REF_SIZE)
    assert sq.shape == (REF_SIZE, REF_SIZE, 3)
    assert sq[REF_SIZE // 2, 0, 0] > 150 and sq[REF_SIZE // 2, -1, 2] > 150  # padded, not cropped: both edges stay


def test_batches_get_one_or_two_reference_slots_only_when_every_clip_has_crops(model):
    spec = DataSpec(width=64, height=64, seconds=0.25)
    samples = [s for s in (make_sample(i, spec) for i in range(12)) if len(s.crops) >= 2][:3]
    assert len(samples) == 3
    on = TrainConfig(preset="test", p_reference=1.0, p_keyframe=0.0, p_camera=0.0, p_brush=0.0)
    counts = set()
    for seed in range(6):
        _, cond = batch_from_samples(model, samples, on, random.Random(seed), "cpu")
        counts.add(len(cond.references))
        side = REF_SIZE // model.tokenizer.down
        assert all(r.shape == (3, model.tokenizer.channels, side, side) for r in cond.references)
    assert counts == {1, 2}
    _, cond = batch_from_samples(model, samples, dataclasses.replace(on, p_reference=0.0), random.Random(0), "cpu")
    assert cond.references == []
    samples[1].crops = []  # one clip with nothing to show: the whole batch goes without (equal shapes)
    _, cond = batch_from_samples(model, samples, on, random.Random(0), "cpu")
    assert cond.references == []


def test_tagged_batches_name_the_referenced_subjects_by_tag_as_the_eval_words_them(model, monkeypatch):
    spec = DataSpec(width=64, height=64, seconds=0.25)
    samples = [s for s in (make_sample(i, spec) for i in range(12)) if len(s.crops) >= 2][:2]
    s = samples[0]
    assert len(s.crop_ids) == len(s.crops) and set(s.tagged) >= {(a,) for a in s.crop_ids}
    a, b = s.crop_ids[:2]
    assert s.tagged[(a, b)].count("@hero") >= 1 and "@villain" in s.tagged[(a, b)] and "@" not in s.truth["captions"][0]
    seen = []
    encode = text_encoder(model.cfg.backbone.max_text).encode
    monkeypatch.setattr(type(text_encoder(model.cfg.backbone.max_text)), "encode", lambda self, prompts: (seen.append(list(prompts)), encode(prompts))[1])
    cfg = TrainConfig(preset="test", p_reference=1.0, p_tag=1.0, p_keyframe=0.0, p_camera=0.0, p_brush=0.0, p_drop_text=0.0)
    for seed in range(4):
        _, cond = batch_from_samples(model, samples, cfg, random.Random(seed), "cpu")
        n = len(cond.references)
        # every prompt is its clip's caption with the n referenced subjects (slot order: hero, villain) named by tag, as words
        assert all(p in {prompt_words(c) for k, c in x.tagged.items() if len(k) == n} for p, x in zip(seen[-1], samples, strict=True))
        assert all("hero" in p and "@" not in p for p in seen[-1]) and (n == 1 or all("villain" in p for p in seen[-1]))
        for i, (p, x) in enumerate(zip(seen[-1], samples, strict=True)):  # slot j holds the crop of the subject the prompt tags j-th
            ids = next(k for k, c in x.tagged.items() if len(k) == n and prompt_words(c) == p)
            for j, oid in enumerate(ids):
                img = torch.from_numpy(square_image(x.crops[x.crop_ids.index(oid)], REF_SIZE)).permute(2, 0, 1).float().div(127.5).sub(1)
                assert torch.allclose(cond.references[j][i], model.tokenizer.encode(img[None, None])[0, 0], atol=1e-5)
    batch_from_samples(model, samples, dataclasses.replace(cfg, p_tag=0.0), random.Random(0), "cpu")
    assert all(p in x.truth["captions"] for p, x in zip(seen[-1], samples, strict=True))  # off: the plain captions


# ------------------------------------------------------------------------------------------- generate
def test_references_reach_the_model_in_order_and_tags_become_words(model, files, monkeypatch):
    spy = _Spy(model, monkeypatch)
    refs = (Reference("hero", files["hero"]), Reference("villain", files["villain"]))
    out = generate(_req(prompt="@hero chases @villain", references=refs), model)
    plain = generate(_req(prompt="hero chases villain"), model)
    swapped = generate(_req(prompt="@hero chases @villain", references=refs[::-1]), model)
    assert out.shape == (4, 128, 128, 3)
    with_refs, without, back = spy.conds
    side = REF_SIZE // model.tokenizer.down
    assert [r.shape for r in with_refs.references] == [(1, model.tokenizer.channels, side, side)] * 2 and without.references == []
    hero = model.tokenizer.encode(torch.from_numpy(square_image(np.asarray(Image.open(files["hero"])), REF_SIZE)).permute(2, 0, 1)[None, None].float().div(127.5).sub(1))[:, 0]
    torch.testing.assert_close(with_refs.references[0], hero)  # slot 0 is the first reference given
    torch.testing.assert_close(back.references[1], hero)
    torch.testing.assert_close(with_refs.text, without.text)  # "@hero" reached MiniLM as "hero"
    assert out.tobytes() != plain.tobytes() and out.tobytes() != swapped.tobytes()
    assert prompt_words("@red_ball hits @Box2, mail me@x.org") == "red ball hits Box2, mail me@x.org"
    assert mentions("@hero and @hero's friend, a@b.c") == ["hero", "hero"]


BAD = [
    ("references[0].image", "", {"references": (Reference("hero", "{dir}/nope.png"),)}),
    ("references[0].image", "unreadable image", {"references": (Reference("hero", "{garbage}"),)}),
    ("references[0].image", "uint8", {"references": (Reference("hero", np.zeros((8, 8), np.float32)),)}),
    ("references[1].tag", "already the tag of references[0]", {"references": (Reference("hero", "{hero}"), Reference("hero", "{villain}"))}),
    ("references[0].tag", "3-16 letters", {"references": (Reference("h", "{hero}"),), "prompt": "x"}),
    ("references[0].tag", "3-16 letters", {"references": (Reference("1hero", "{hero}"),), "prompt": "x"}),
    ("references[0].tag", "must be a string", {"references": (Reference(7, "{hero}"),), "prompt": "x"}),
    ("references[0]", "expected a Reference", {"references": ("{hero}",)}),
    ("references", f"at most {MAX_REFERENCES}", {"references": tuple(Reference(f"ref{i}", "{hero}") for i in range(MAX_REFERENCES + 1)), "prompt": "x"}),
    ("prompt", "@villain names no reference (have: hero)", {"references": (Reference("hero", "{hero}"),), "prompt": "@hero meets @villain"}),
    ("prompt", "@hero names no reference (have: none)", {}),
]


def _fill(v, files):
    if isinstance(v, str):
        return v.format(**files)
    if isinstance(v, Reference):
        return Reference(v.tag, _fill(v.image, files))
    return tuple(_fill(x, files) for x in v) if isinstance(v, tuple) else v


@pytest.mark.parametrize(("field", "message", "kw"), BAD, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD)])
def test_bad_references_fail_at_the_entry_point_naming_the_field(model, files, field, message, kw):
    with pytest.raises(RequestError, match="^" + re.escape(field) + ":.*" + re.escape(message)):
        generate(_req(**{k: _fill(v, files) for k, v in kw.items()}), model)


def test_untagged_references_are_allowed(model, files):
    assert generate(_req(prompt="a ball", references=(Reference(None, files["hero"]),)), model).shape == (4, 128, 128, 3)


# ------------------------------------------------------------------------------------------- CLI and API worker
def test_cli_reference_flags_and_request_file(files, tmp_path, capsys, monkeypatch):
    import kino.generate

    seen, stream = [], kino.generate.stream
    monkeypatch.setattr(kino.generate, "stream", lambda req, model=None: seen.append(req) or stream(req, model))
    base = ["--seconds", "0.25", "--ratio", "1:1", "--steps", "1", "--checkpoint", files["ckpt"], "--quiet", "--output", str(tmp_path / "o.mp4")]
    assert main(["generate", "@hero meets @villain", "--reference", f"hero={files['hero']}", "--reference", f"villain={files['villain']}", *base]) == 0
    assert seen[-1].references == (Reference("hero", files["hero"]), Reference("villain", files["villain"]))
    req = {"prompt": "@hero rolls", "references": [{"tag": "hero", "image": files["hero"]}]}
    (tmp_path / "req.json").write_text(json.dumps(req))
    assert main(["generate", "--request", str(tmp_path / "req.json"), "--reference", f"villain={files['villain']}", *base]) == 0
    assert [r.tag for r in seen[-1].references] == ["hero", "villain"]  # the file's first, then the flags'
    capsys.readouterr()
    for args, err in [
        (["--reference", files["hero"]], "reference: expected TAG=IMAGE"),
        (["--reference", f"hero={files['garbage']}"], "references[0].image: unreadable image"),
        (["--reference", f"hero={files['hero']}", "--reference", f"hero={files['villain']}"], "references[1].tag:"),
    ]:
        assert main(["generate", "@hero", *args, *base]) == 2
        assert capsys.readouterr().err.startswith(f"kino: error: {err}")
    (tmp_path / "req.json").write_text(json.dumps({"prompt": "x", "references": [{"tag": "hero"}]}))
    assert main(["generate", "--request", str(tmp_path / "req.json"), *base]) == 2
    assert capsys.readouterr().err.startswith("kino: error: references[0].image: required")


def test_worker_builds_references_from_the_stored_request(files):
    from kino.server.worker import build_request

    req = build_request({"prompt": "@hero", "seconds": 1, "ratio": "1:1", "seed": 1, "references": [{"path": files["hero"], "tag": "hero"}, {"path": files["villain"], "tag": None}]}, 1)
    assert req.references == (Reference("hero", files["hero"]), Reference(None, files["villain"]))


# ------------------------------------------------------------------------------------------- storyboards
def test_storyboard_references_go_to_the_shots_that_name_them(tmp_path, files, capsys, monkeypatch):
    import kino.shots
    from kino.io.video import read_mp4

    torch.manual_seed(0)
    cfg = dataclasses.replace(preset("test"), tokenizer=TokenizerConfig(kind="pixel", down=4))
    ckpt = str(save_checkpoint(A2D(cfg).eval(), tmp_path / "m.safetensors"))
    seen, gen = [], kino.shots.generate
    monkeypatch.setattr(kino.shots, "generate", lambda req, model: seen.append(req) or gen(req, model))
    board = {"ratio": "1:1", "seed": 3, "steps": 1, "references": [{"tag": "hero", "image": files["hero"]}, {"tag": "villain", "image": files["villain"]}],
             "shots": [{"prompt": "@villain waits", "seconds": 0.25}, {"prompt": "a box", "seconds": 0.25}, {"prompt": "@hero hits @villain", "seconds": 0.25, "continue": True}]}
    (tmp_path / "board.json").write_text(json.dumps(board))
    assert main(["shots", str(tmp_path / "board.json"), "--output", str(tmp_path / "out"), "--checkpoint", ckpt]) == 0
    paths = capsys.readouterr().out.split()
    assert len(read_mp4(paths[-1])[0]) == 12
    assert [[r.tag for r in req.references] for req in seen] == [["villain"], [], ["hero", "villain"]]  # the board's order
    assert seen[2].references[0].image.shape == (REF_SIZE, REF_SIZE, 3)
    for change, err in [
        ({"shots": [{"prompt": "@hero", "seconds": 0.25}, {"prompt": "@villian runs", "seconds": 0.25}]}, "storyboard.shots[1].prompt: @villian names no reference (have: hero, villain)"),
        ({"references": [{"image": files["hero"]}]}, "storyboard.references[0].tag: required"),
        ({"references": [{"tag": "hero", "image": files["garbage"]}]}, "storyboard.references[0].image: unreadable image"),
        ({"references": [{"tag": "hero", "image": files["hero"], "strength": 2}]}, "storyboard.references[0]: unknown field(s) ['strength']"),
    ]:
        (tmp_path / "board.json").write_text(json.dumps({**board, **change}))
        assert main(["shots", str(tmp_path / "board.json"), "--output", str(tmp_path / "bad"), "--checkpoint", ckpt]) == 2
        assert err in capsys.readouterr().err
        assert not (tmp_path / "bad").exists()  # validated before anything was rendered


def test_text_encoder_sees_words_not_tags():
    enc = text_encoder(8)
    a, _ = enc.encode([prompt_words("@red_ball rolls")])
    b, _ = enc.encode(["red ball rolls"])
    torch.testing.assert_close(a, b)
