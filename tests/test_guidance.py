"""Classifier-free guidance: the pure combination, the second (unconditional) KV cache, its cost, and `generate`'s fields."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
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


def _run(m: A2D, cond: Conditions, n: int = 4, **kw) -> torch.Tensor:
    return torch.cat(list(m.stream(cond, n, (8, 8), steps=2, generator=torch.Generator().manual_seed(5), **kw)), 1)


def _still(j: int, last: torch.Tensor) -> torch.Tensor:
    """A warp guide for tests: the newest frame held still over the chunk (B, 2, C, h, w)."""
    return last[:, -1:].expand(-1, 2, -1, -1, -1) * 0.9


def test_guided_denoiser_extrapolates_by_hand():
    c, u = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    den = guided(lambda x, t, d: (c + x, u + x), 3.0)
    x = torch.tensor([0.25, 0.25])
    # u + 3 (c - u) = [0.5 + 1.5, -1 + 9], plus x (both branches see it)
    torch.testing.assert_close(den(x, torch.ones(2), torch.ones(2)), torch.tensor([2.25, 8.25]))
    torch.testing.assert_close(guided(lambda x, t, d: (c, u), 1.0)(x, None, None), c)


@pytest.mark.parametrize("name", ["test", "test-prev", "test-guide", "test-text"])
def test_scale_zero_is_the_unconditional_generation_through_the_second_cache(name):
    torch.manual_seed(0)
    m = A2D(preset(name)).eval()
    with torch.no_grad():
        for p in m.parameters():  # zero-initialised layers would hide a side input the second branch got wrong
            p.add_(torch.randn_like(p) * 0.05)
    cond, uncond = _conds()
    kw = {"guide": _still} if name == "test-guide" else {}
    # 7 chunks: past the test preset's 3-chunk window, so both caches are trimmed
    plain_u = _run(m, uncond, 7, **kw)
    # guidance 0 on every chunk: each chunk is the unconditional prediction, so the whole rollout, including the
    # unconditional cache fed with the chunks it made and the side inputs doubled for the pair, must be the
    # unconditional model's own rollout
    torch.testing.assert_close(_run(m, cond, 7, uncond=uncond, guidance=0.0, guidance_chunks=None, **kw), plain_u, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(_run(m, cond, 7, **kw), plain_u, atol=1e-3)  # the prompt does matter in this model
    torch.testing.assert_close(_run(m, cond, 7, uncond=cond, guidance=4.0, guidance_chunks=None, **kw), _run(m, cond, 7, **kw), atol=1e-4, rtol=1e-4)


def test_extend_guides_the_new_chunks_after_both_caches_read_the_context():
    m = _model()
    cond, uncond = _conds()
    ctx = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(9))  # two chunks of real latents
    # n=2 new chunks after 2 context chunks (the camera covers all 8 frames)
    got = _run(m, cond, 2, context=ctx, uncond=uncond, guidance=0.0, guidance_chunks=None)
    torch.testing.assert_close(got, _run(m, uncond, 2, context=ctx), atol=1e-4, rtol=1e-4)


def test_same_branches_change_nothing_and_scale_one_skips_the_second_pass(monkeypatch):
    m = _model()
    cond, uncond = _conds()
    plain = _run(m, cond)
    torch.testing.assert_close(_run(m, cond, uncond=cond, guidance=4.0, guidance_chunks=None), plain, atol=1e-4, rtol=1e-4)
    batches: list[int] = []
    forward = m.decoder.forward
    monkeypatch.setattr(m.decoder, "forward", lambda x, *a, **k: batches.append(x.shape[0]) or forward(x, *a, **k))
    assert torch.equal(_run(m, cond, uncond=uncond, guidance=1.0), plain)
    assert batches == [1] * 8  # 4 chunks x 2 steps, never the batched pair
    monkeypatch.undo()
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


def test_the_api_maps_its_fields_and_checks_the_negative_prompt(tmp_path):
    from kino.server.config import DEFAULT_MODELS, ServerConfig
    from kino.server.requests import ApiIssue, TextToVideo, normalise

    body = {"model": "kino-tiny", "promptText": "a red ball", "ratio": "16:9", "duration": 2}
    _, req, _ = normalise(TextToVideo(**body, guidance=2.5, guidanceChunks=0, negativePromptText="blur"), "text_to_video", ServerConfig(models=DEFAULT_MODELS), None, tmp_path)
    assert (req["guidance"], req["guidance_chunks"], req["negative_prompt"]) == (2.5, 0, "blur")
    _, plain, _ = normalise(TextToVideo(**body), "text_to_video", ServerConfig(models=DEFAULT_MODELS), None, tmp_path)
    assert not {"guidance", "guidance_chunks", "negative_prompt"} & set(plain)  # generate's defaults apply
    with pytest.raises(ApiIssue) as e:
        normalise(TextToVideo(**body, negativePromptText="x\ud800"), "text_to_video", ServerConfig(models=DEFAULT_MODELS), None, tmp_path)
    assert e.value.issue["path"] == ["negativePromptText"]
