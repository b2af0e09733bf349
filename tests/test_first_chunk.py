"""First-chunk steps (`kino train --first-chunk-every N`): one-chunk clips train the chunk drawn from the prompt alone."""

from __future__ import annotations

import json

import pytest
import torch

from kino.model.a2d import A2D
from kino.train import TrainConfig, _first_chunk_steps, train
from kino.train import main as train_main
from kino.world.data import DataSpec, WorldStream
from model_helpers import batch, noisy


def _decoder_inputs(model: A2D, lat, cond, monkeypatch) -> tuple[torch.Tensor, torch.Tensor]:
    """The backbone state (cmap, cvec) that `A2D.loss` hands the decoder for chunk 0."""
    seen = {}

    def record(x0, cmap, cvec, *a, **kw):
        seen["cmap"], seen["cvec"] = cmap, cvec
        return x0.sum() * 0

    monkeypatch.setattr(model.decoder, "loss", record)
    model.loss(lat, cond, torch.zeros(lat.shape[0]), decoder_chunks=1)  # decoder on chunk 0 only
    return seen["cmap"], seen["cvec"]


def test_a_one_chunk_clip_gives_the_decoder_the_same_state_as_the_first_chunk_of_a_long_clip(monkeypatch):
    """The claim first-chunk steps rest on: the state that predicts chunk 0 reads the prefix and BOS only, so a
    one-chunk clip trains exactly what chunk 0 of a long clip trains. Fails if any later chunk leaks into it."""
    model = noisy("test").eval()
    k = model.cfg.chunk
    spec = DataSpec(split="train", fps=16, seconds=4 * k / 16, seed=3, sizes=((64, 64),))
    samples = [s for s, _ in zip(WorldStream(spec), range(2), strict=False)]
    lat, cond = batch(model, samples, p_camera=1.0)
    assert lat.shape[1] == 4 * k and cond.camera is not None
    cmap_long, cvec_long = _decoder_inputs(model, lat, cond, monkeypatch)
    cond.camera = cond.camera[:, :k]
    cmap_one, cvec_one = _decoder_inputs(model, lat[:, :k], cond, monkeypatch)
    torch.testing.assert_close(cmap_one, cmap_long, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cvec_one, cvec_long, rtol=1e-5, atol=1e-5)
    # and the one-chunk loss is a real, differentiable loss (no empty-context corner case)
    monkeypatch.undo()
    model.train()
    loss = model.loss(lat[:, :k], cond, torch.zeros(2))
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())


def test_the_schedule_takes_every_nth_a2d_step_from_the_first_chunk_stream():
    state = {"stage": "a2d", "step": 0}
    main, first = iter(range(100)), iter(range(1000, 1100))
    got = []
    for samples, is_first in _first_chunk_steps(main, first, 3, state):
        got.append((state["step"], is_first, samples))
        state["step"] += 1
        if len(got) == 7:
            break
    assert [f for _, f, _ in got] == [False, False, True, False, False, True, False]
    assert [s for _, _, s in got] == [0, 1, 1000, 2, 3, 1001, 4]  # each stream advances only when used
    state = {"stage": "tokenizer", "step": 2}  # the tokenizer stage never takes one-chunk clips
    assert next(_first_chunk_steps(iter([7]), iter([8]), 3, state)) == (7, False)


def test_training_with_first_chunk_steps_counts_each_streams_clips(tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(preset="test", out=str(out), minutes=0.25, batch=2, seconds=0.5, sizes=((64, 64),), workers=0,
                      save_minutes=1.0, device="cpu", tokenizer_steps=1, first_chunk_every=2)
    train(cfg)
    progress = json.loads((out / "progress.json").read_text())
    hist = torch.load(out / "state.pt", weights_only=False)["state"]["history"]
    firsts, mains = [s for s, _ in hist["a2d first chunk"]], [s for s, _ in hist["a2d"]]
    assert firsts and mains and sorted(firsts + mains) == list(range(1, progress["step"] + 1))
    assert all(s % 2 == 0 for s in firsts) and all(s % 2 == 1 for s in mains)
    chunks_per_clip = round(0.5 * 16) // 2  # the test preset's chunk is 2 frames
    assert progress["first_index"] == len(firsts) * 2 * chunks_per_clip
    assert progress["data_index"] >= len(mains) * 2  # plus the tokenizer stage's clips


def test_a_negative_first_chunk_every_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        train_main(["--preset", "test", "--first-chunk-every", "-1", "--minutes", "0"])
    assert e.value.code == 2 and "--first-chunk-every: must be >= 0" in capsys.readouterr().err
