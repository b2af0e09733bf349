"""Classifier-free guidance: the pure combination, the second (unconditional) KV cache, its cost, and `generate`'s fields."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from kino.cli import main
from kino.generate import GenerateRequest, generate
from kino.io.video import read_mp4
from kino.model.a2d import A2D, Conditions
from kino.model.checkpoint import save_checkpoint
from kino.model.config import preset
from kino.model.sampling import guided


def _model() -> A2D:
    torch.manual_seed(0)
    return A2D(preset("test")).eval()


def _conds() -> tuple[Conditions, Conditions]:
    g = torch.Generator().manual_seed(3)
    cam = torch.randn(1, 8, 16, generator=g) * 0.1
    cond = Conditions(text=torch.randn(1, 5, 384, generator=g), text_mask=torch.ones(1, 5, dtype=torch.bool), camera=cam)
    # no text, as training drops it: one zeroed token; every other control kept
    mask = torch.zeros(1, 1, dtype=torch.bool)
    mask[0, 0] = True
    return cond, dataclasses.replace(cond, text=torch.zeros(1, 1, 384), text_mask=mask)


def _run(m: A2D, cond: Conditions, **kw) -> torch.Tensor:
    return torch.cat(list(m.stream(cond, 4, (8, 8), steps=2, generator=torch.Generator().manual_seed(5), **kw)), 1)


def test_guided_denoiser_extrapolates_by_hand():
    c, u = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    den = guided(lambda x, t, d: (c + x, u + x), 3.0)
    x = torch.tensor([0.25, 0.25])
    # u + 3 (c - u) = [0.5 + 1.5, -1 + 9], plus x (both branches see it)
    torch.testing.assert_close(den(x, torch.ones(2), torch.ones(2)), torch.tensor([2.25, 8.25]))
    torch.testing.assert_close(guided(lambda x, t, d: (c, u), 1.0)(x, None, None), c)


def test_scale_zero_is_the_unconditional_generation_through_the_second_cache():
    m = _model()
    cond, uncond = _conds()
    plain_u = _run(m, uncond)
    # guidance 0 on every chunk: each chunk is the unconditional prediction, so the whole rollout, including the
    # unconditional cache fed with the chunks it made, must be the unconditional model's own rollout
    torch.testing.assert_close(_run(m, cond, uncond=uncond, guidance=0.0, guidance_chunks=None), plain_u, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(_run(m, cond), plain_u, atol=1e-3)  # the prompt does matter in this model


def test_same_branches_change_nothing_and_scale_one_skips_the_second_pass():
    m = _model()
    cond, uncond = _conds()
    plain = _run(m, cond)
    torch.testing.assert_close(_run(m, cond, uncond=cond, guidance=4.0, guidance_chunks=None), plain, atol=1e-4, rtol=1e-4)
    assert torch.equal(_run(m, cond, uncond=uncond, guidance=1.0), plain)
    guided_all = _run(m, cond, uncond=uncond, guidance=4.0, guidance_chunks=None)
    assert not torch.allclose(guided_all, plain, atol=1e-3)


def test_only_the_first_chunks_pay_for_guidance(monkeypatch):
    m = _model()
    cond, uncond = _conds()
    batches: list[int] = []
    forward = m.decoder.forward
    monkeypatch.setattr(m.decoder, "forward", lambda x, *a, **k: batches.append(x.shape[0]) or forward(x, *a, **k))
    first = _run(m, cond, uncond=uncond, guidance=4.0, guidance_chunks=1)
    assert batches == [2, 2, 1, 1, 1, 1, 1, 1]  # 2 steps per chunk; the first chunk's run as one batch of both branches
    all_guided = _run(m, cond, uncond=uncond, guidance=4.0, guidance_chunks=None)
    torch.testing.assert_close(first[:, :2], all_guided[:, :2])  # same first chunk either way
    assert not torch.allclose(first[:, 2:], all_guided[:, 2:], atol=1e-3)  # later chunks: guided only in the second


def test_generate_guidance_and_negative_prompt_change_the_video(tmp_path, monkeypatch):
    m = _model()
    req = GenerateRequest(prompt="a red ball rolls left", seconds=0.5, ratio="1:1", steps=1, seed=0)
    base = generate(req, m)
    assert np.array_equal(generate(dataclasses.replace(req, guidance=1.0, negative_prompt="a blue box"), m), base)  # 1 = off
    g = generate(dataclasses.replace(req, guidance=3.0), m)
    neg = generate(dataclasses.replace(req, guidance=3.0, negative_prompt="a blue box"), m)
    assert not np.array_equal(g, base) and not np.array_equal(neg, g)
    seen = []
    import kino.generate as gen

    real = gen.stream
    monkeypatch.setattr(gen, "stream", lambda r, *a: seen.append(r) or real(r, *a))
    ckpt = save_checkpoint(m, tmp_path / "m.safetensors")
    out = tmp_path / "g.mp4"
    rc = main(["generate", "a red ball rolls left", "--seconds", "0.5", "--ratio", "1:1", "--steps", "1", "--guidance", "3",
               "--guidance-chunks", "0", "--negative-prompt", "a blue box", "--checkpoint", str(ckpt), "--output", str(out), "--quiet"])
    assert rc == 0 and read_mp4(out)[0].shape == (8, 128, 128, 3)
    assert (seen[0].guidance, seen[0].guidance_chunks, seen[0].negative_prompt) == (3.0, None, "a blue box")  # 0 = every chunk


def test_the_api_fields_reach_the_request():
    from kino.server.worker import build_request

    stored = {"prompt": "a ball", "seconds": 1.0, "ratio": "16:9", "seed": 1}
    plain = build_request(stored, 4)
    assert (plain.guidance, plain.guidance_chunks, plain.negative_prompt) == (GenerateRequest.guidance, GenerateRequest.guidance_chunks, "")
    req = build_request({**stored, "guidance": 2.5, "guidance_chunks": 0, "negative_prompt": "blur"}, 4)
    assert (req.guidance, req.guidance_chunks, req.negative_prompt) == (2.5, None, "blur")  # 0 = every chunk
