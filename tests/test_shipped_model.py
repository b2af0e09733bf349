"""The shipped default checkpoint: loads with zero flags, stays small, generates, and `kino demo` uses it."""

from __future__ import annotations

import numpy as np

from kino.generate import GenerateRequest, generate
from kino.io.video import read_mp4
from kino.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint, read_metadata
from kino.model.config import preset


def test_the_default_checkpoint_is_small_and_self_describing():
    assert DEFAULT_CHECKPOINT.is_file(), "the default checkpoint must ship as package data"
    assert DEFAULT_CHECKPOINT.stat().st_size < 40 * 2**20
    info = read_metadata(DEFAULT_CHECKPOINT)
    assert info["config"] == preset("tiny")  # the shipped model is the documented CPU preset
    assert info["meta"]["steps"] > 0 and info["meta"]["recipe"]["preset"] == "tiny"  # how it was made


def test_the_default_model_generates_every_ratio_and_follows_its_seed():
    model = load_checkpoint(DEFAULT_CHECKPOINT)  # zero flags
    prompt = "A red rubber ball rolls to the right. The camera stays still."
    for ratio, (w, h) in (("16:9", (224, 128)), ("9:16", (128, 224)), ("1:1", (128, 128))):
        clip = generate(GenerateRequest(prompt=prompt, seconds=1.0, ratio=ratio, seed=3), model)
        assert clip.shape == (16, h, w, 3)
        assert clip.std() > 10  # a picture, not a flat field
    a = generate(GenerateRequest(prompt=prompt, seconds=0.5, seed=1), model)
    b = generate(GenerateRequest(prompt=prompt, seconds=0.5, seed=1), model)
    c = generate(GenerateRequest(prompt=prompt, seconds=0.5, seed=2), model)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_kino_demo_renders_with_the_default_model(tmp_path, capsys):
    from kino.cli import main

    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "prompt:" in out and "not trained yet" not in out
    frames, fps = read_mp4(tmp_path / "demo.mp4")
    assert frames.shape == (64, 128, 224, 3) and fps == 16
    assert (tmp_path / "demo.png").is_file()
