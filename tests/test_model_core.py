"""The A2D model's invariants, on the real classes at test width."""

from __future__ import annotations

import torch

from kino.model.a2d import A2D, Conditions
from kino.model.backbone import PREFIX, Backbone, block_mask
from kino.model.config import PRESETS, ModelConfig, preset
from kino.model.sampling import euler_step, sample_shortcut, timesteps


def _cond(b=2, lt=5, t=8, hw=(8, 8), kf=None):
    g = torch.Generator().manual_seed(1)
    mask = torch.ones(b, lt, dtype=torch.bool)
    mask[1, 3:] = False  # a shorter prompt: padding must be ignored
    return Conditions(text=torch.randn(b, lt, 384, generator=g), text_mask=mask, camera=torch.randn(b, t, 16, generator=g) * 0.1, keyframes=kf or [])


def test_block_mask_never_lets_a_chunk_see_the_future():
    ids = torch.tensor([PREFIX, PREFIX] + [c for c in range(6) for _ in range(3)])
    m = block_mask(ids, ids, window=3, sink=0)
    for qi, q in enumerate(ids.tolist()):
        for ki, k in enumerate(ids.tolist()):
            if q == PREFIX:
                assert m[qi, ki] == (k == PREFIX)
            elif k == PREFIX:
                assert m[qi, ki]
            else:
                assert m[qi, ki] == (k <= q and (q - k < 3 or k == 0))
    assert m[ids == 2][:, ids == 2].all()  # bidirectional inside a chunk


def test_future_chunks_do_not_change_past_outputs():
    torch.manual_seed(0)
    bb = Backbone(PRESETS["test"].backbone).eval()
    ids = torch.tensor([PREFIX] * 4 + [c for c in range(5) for _ in range(6)])
    x = torch.randn(1, len(ids), 32)
    y = bb(x, ids, ids)
    x2 = x.clone()
    x2[:, ids == 4] += torch.randn_like(x2[:, ids == 4])  # change only the last chunk
    y2 = bb(x2, ids, ids)
    assert torch.allclose(y[:, ids < 4], y2[:, ids < 4], atol=1e-6)
    assert not torch.allclose(y[:, ids == 4], y2[:, ids == 4], atol=1e-3)


def test_kv_cache_rollout_equals_full_sequence_forward():
    torch.manual_seed(0)
    bb = Backbone(PRESETS["test"].backbone).eval()  # window 3: the cache must be trimmed to match
    n_prefix, s, n = 5, 6, 7
    ids = torch.tensor([PREFIX] * n_prefix + [c for c in range(n) for _ in range(s)])
    x = torch.randn(2, len(ids), 32)
    valid = torch.ones(2, len(ids), dtype=torch.bool)
    valid[1, 3:n_prefix] = False
    full = bb(x, ids, ids, valid=valid)
    cache = bb.empty_cache(2, x.device, x.dtype)
    outs = [bb.step(x[:, :n_prefix], ids[:n_prefix], ids[:n_prefix], cache, valid=valid[:, :n_prefix])]
    for c in range(n):
        sl = slice(n_prefix + c * s, n_prefix + (c + 1) * s)
        outs.append(bb.step(x[:, sl], ids[sl], ids[sl], cache))
        cache.trim(c, bb.cfg.window, 0)
    assert cache.ids.numel() <= n_prefix + s * (bb.cfg.window + 1)  # rolling window + sink, not the whole video
    torch.testing.assert_close(torch.cat(outs, 1)[:, n_prefix:], full[:, n_prefix:], atol=1e-5, rtol=1e-5)


def test_sampler_step_equals_hand_calculation():
    x = torch.tensor([1.0, -2.0])
    x0 = torch.tensor([0.5, 0.5])
    # v = (x - x0) / t = ([0.5, -2.5]) / 0.8; x' = x + (0.3 - 0.8) v
    torch.testing.assert_close(euler_step(x, x0, 0.8, 0.3), torch.tensor([1.0 - 0.5 * 0.625, -2.0 + 0.5 * 3.125]))
    assert timesteps(4) == [1.0, 0.75, 0.5, 0.25, 0.0]
    ts = timesteps(2, shift=3.0)
    assert ts[1] == 3 * 0.5 / (1 + 2 * 0.5) and ts[-1] == 0.0
    # a perfect denoiser lands on its prediction in one step, whatever the noise
    out = sample_shortcut(lambda x, t, d: torch.full_like(x, 0.25), torch.randn(3, 4), [1.0, 0.0])
    torch.testing.assert_close(out, torch.full((3, 4), 0.25))
    # replacement keeps known entries exactly
    known, mask = torch.ones(1, 4), torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    out = sample_shortcut(lambda x, t, d: torch.zeros_like(x), torch.randn(1, 4), timesteps(3), known, mask)
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0, 1.0, 0.0]]))


def test_loss_backprops_and_stream_is_seeded():
    torch.manual_seed(0)
    m = A2D(preset("test"))
    lat = torch.randn(2, 8, 4, 8, 8)
    loss = m.loss(lat, _cond(kf=[(3, lat[:, 3])]), torch.full((2,), 0.05))
    loss.backward()
    assert torch.isfinite(loss) and m.backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    m.eval()
    run = lambda seed: torch.cat(list(m.stream(_cond(), 3, (8, 8), steps=2, generator=torch.Generator().manual_seed(seed))), 1)  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    assert a.shape == (2, 6, 4, 8, 8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_keyframes_are_reproduced_at_their_frames():
    torch.manual_seed(0)
    m = A2D(preset("test")).eval()
    key = torch.randn(2, 4, 8, 8)
    out = torch.cat(list(m.stream(_cond(kf=[(0, key), (5, -key)]), 4, (8, 8), steps=2, generator=torch.Generator().manual_seed(0))), 1)
    torch.testing.assert_close(out[:, 0], key)
    torch.testing.assert_close(out[:, 5], -key)


def test_config_round_trips_through_json():
    for name, cfg in PRESETS.items():
        assert ModelConfig.from_json(cfg.to_json()) == cfg, name


def test_decoder_reads_the_previous_chunk_as_written_to_the_context():
    """Chunk 0 gets no previous chunk (flag 0); chunk j gets chunk j-1 lightly noised (flag 1)."""
    torch.manual_seed(0)
    m = A2D(preset("test-prev")).eval()
    sides, sample = [], m.decoder.sample

    def spy(*a, **k):
        sides.append(k["prev"])
        return sample(*a, **k)

    m.decoder.sample = spy
    chunks = list(m.stream(_cond(), 4, (8, 8), steps=2, generator=torch.Generator().manual_seed(0)))
    c = m.tokenizer.channels * m.cfg.chunk
    assert len(sides) == 4 and sides[0].abs().sum() == 0
    lvl = m.cfg.decoder.context_noise
    for j in range(1, 4):
        assert (sides[j][:, c] == 1).all()
        prev = sides[j][:, :c].reshape_as(chunks[j - 1])
        err = (prev - chunks[j - 1]).pow(2).mean().sqrt()  # lerp(x, noise, lvl): about lvl * |noise - x|
        other = min((prev - chunks[i]).pow(2).mean().sqrt() for i in range(4) if i != j - 1)
        assert err < 3 * lvl and err < other / 2, (j, err, other)


def test_the_previous_chunk_changes_the_decoders_prediction():
    """The side input is wired in: a different previous chunk gives a different clean-chunk estimate."""
    torch.manual_seed(0)
    m = A2D(preset("test-prev")).eval()
    dec = m.decoder
    x, t = torch.randn(2, dec.in_ch, 8, 8), torch.full((2,), 0.5)
    cmap, cvec = torch.randn(2, m.cfg.chunk * 32, 4, 4), torch.randn(2, 32)
    torch.nn.init.normal_(dec.out.weight, std=0.1)  # the zero-initialised paths must not hide the input
    a = dec(x, t, t * 0, cmap, cvec, dec.prev_input(torch.randn(2, dec.in_ch, 8, 8), x))
    b = dec(x, t, t * 0, cmap, cvec, dec.prev_input(torch.randn(2, dec.in_ch, 8, 8), x))
    assert not torch.allclose(a, b, atol=1e-4)


def test_decoder_trains_on_the_first_chunk_plus_a_random_subset():
    torch.manual_seed(0)
    m = A2D(preset("test-prev"))
    lat = torch.randn(2, 8, 4, 8, 8)
    seen, loss = [], m.decoder.loss

    def spy(x0, cmap, cvec, prev=None, **k):
        seen.append((x0, prev))
        return loss(x0, cmap, cvec, prev, **k)

    m.decoder.loss = spy
    m.loss(lat, _cond(), torch.zeros(2), decoder_chunks=2).backward()
    x0, prev = seen[0]
    assert x0.shape[0] == 2 * 2  # 2 clips x 2 chunks
    first = lat[:, :2].reshape(2, -1, 8, 8)
    torch.testing.assert_close(x0.reshape(2, 2, -1, 8, 8)[:, 0], first)  # chunk 0 is always trained
    assert prev.reshape(2, 2, -1, 8, 8)[:, 0].abs().sum() == 0  # ...with no previous chunk
    assert (prev.reshape(2, 2, -1, 8, 8)[:, 1, -1] == 1).all()  # the other has one (context level 0: exact)
    other = x0.reshape(2, 2, -1, 8, 8)[:, 1]
    j = next(i for i in range(1, 4) if torch.equal(other, lat[:, 2 * i : 2 * i + 2].reshape(2, -1, 8, 8)))
    torch.testing.assert_close(prev.reshape(2, 2, -1, 8, 8)[:, 1, :-1], lat[:, 2 * j - 2 : 2 * j].reshape(2, -1, 8, 8))


def test_bf16_is_chosen_by_measurement_with_an_override(monkeypatch):
    from kino.model import precision

    monkeypatch.setenv("KINO_BF16", "0")
    assert precision.bf16_helps("cpu") is False
    monkeypatch.setenv("KINO_BF16", "1")
    assert precision.bf16_helps("cpu") is True
    monkeypatch.delenv("KINO_BF16")
    monkeypatch.setattr(precision, "_seconds", lambda dtype, **k: 1.0 if dtype == torch.bfloat16 else 2.0)
    precision._cpu_bf16_helps.cache_clear()
    assert precision.bf16_helps("cpu") is True
    monkeypatch.setattr(precision, "_seconds", lambda dtype, **k: 50.0 if dtype == torch.bfloat16 else 1.0)  # emulated bf16 (AVX2)
    precision._cpu_bf16_helps.cache_clear()
    assert precision.bf16_helps("cpu") is False
    precision._cpu_bf16_helps.cache_clear()


def test_self_prev_feeds_the_decoder_its_own_sample_of_the_previous_chunk():
    torch.manual_seed(0)
    m = A2D(preset("test-prev"))
    torch.nn.init.normal_(m.decoder.out.weight, std=0.1)  # a decoder whose one-step sample is not ~0
    lat = torch.randn(2, 8, 4, 8, 8)
    seen, loss = [], m.decoder.loss

    def spy(x0, cmap, cvec, prev=None, **k):
        seen.append(prev)
        return loss(x0, cmap, cvec, prev, **k)

    m.decoder.loss = spy
    m.loss(lat, _cond(), torch.zeros(2), self_prev=0.0).backward()
    m.loss(lat, _cond(), torch.zeros(2), self_prev=1.0).backward()
    real, own = (p.reshape(2, 4, -1, 8, 8) for p in seen)
    assert real[:, 0].abs().sum() == 0 and own[:, 0].abs().sum() == 0  # the first chunk never has one
    torch.testing.assert_close(real[:, 1:, :-1], lat[:, :6].reshape(2, 3, -1, 8, 8))  # teacher forcing: the real chunk
    assert (own[:, 1:, -1] == 1).all()
    assert not torch.allclose(own[:, 1:, :-1], real[:, 1:, :-1], atol=1e-3)  # ...replaced by the model's own sample
    assert m.decoder.inp.weight.grad is not None and torch.isfinite(m.decoder.inp.weight.grad).all()


def test_without_prev_chunk_the_decoder_has_no_side_input():
    m = A2D(preset("test")).eval()
    assert m.decoder.prev_ch == 0 and m.decoder.prev_input(torch.randn(1, 8, 8, 8), torch.randn(1, 8, 8, 8)) is None
    assert m.decoder.inp.in_channels == m.decoder.in_ch
    lat = torch.randn(2, 8, 4, 8, 8)
    assert torch.isfinite(m.loss(lat, _cond(), torch.full((2,), 0.05), decoder_chunks=2))


# ------------------------------------------------------------------------------------------- references
# sha256 of the sorted "key:shape" lines of A2D's state_dict, taken at the commit before references were
# wired in: reference tokens reuse patch_in / level_mlp / type_emb["reference"] and a fixed slot code, so the
# checkpoints trained before them (and runs training now) must keep loading with zero flags. A new
# parameter or buffer changes this digest: that is a checkpoint-format change, not a detail.
STATE_DICT_DIGEST = {
    "test": (216, "a57e8902f7b2e5b2cbf915a811eac3186ef734a862e0190629d8667e310e9bd5"),
    "tiny": (229, "8cfe12f5c6e22b434422b5397044a68945f3fb25a05a9dcf104159153a6e2b42"),
}


def test_references_add_no_parameters_or_buffers():
    import hashlib

    for name, (count, digest) in STATE_DICT_DIGEST.items():
        sd = A2D(preset(name)).state_dict()
        text = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(sd.items()))
        assert (len(sd), hashlib.sha256(text.encode()).hexdigest()) == (count, digest), f"{name}: A2D's state_dict keys or shapes changed"


def _first_chunk(m: A2D, refs: list[torch.Tensor]) -> torch.Tensor:
    cond = _cond()
    cond.references = refs
    return next(m.stream(cond, 1, (8, 8), steps=2, generator=torch.Generator().manual_seed(0)))


def test_reference_tokens_change_the_output_and_their_slot_matters(monkeypatch):
    from kino.model import a2d
    from kino.model.a2d import REF_SIZE

    torch.manual_seed(0)
    m = A2D(preset("test")).eval()
    side = REF_SIZE // m.tokenizer.down
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(2, 4, side, side, generator=g), torch.randn(2, 4, side, side, generator=g)
    none, one, ab, ba = _first_chunk(m, []), _first_chunk(m, [a]), _first_chunk(m, [a, b]), _first_chunk(m, [b, a])
    assert not torch.allclose(none, one, atol=1e-4) and not torch.allclose(one, ab, atol=1e-4)
    assert not torch.allclose(ab, ba, atol=1e-4)  # the order (slot) of a reference is part of the request
    torch.testing.assert_close(ab, _first_chunk(m, [a, b]))  # ...and deterministic
    # the fixed slot code is what tells slots apart: without it the prefix is an unordered set
    monkeypatch.setattr(a2d, "_slot_code", lambda i, dim, device: torch.zeros(dim, device=device))
    torch.testing.assert_close(_first_chunk(m, [a, b]), _first_chunk(m, [b, a]), atol=1e-5, rtol=1e-5)


def test_reference_tokens_train_through_the_shared_embeddings():
    torch.manual_seed(0)
    m = A2D(preset("test"))
    lat = torch.randn(2, 8, 4, 8, 8)
    cond = _cond()
    cond.references = [torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)]
    m.loss(lat, cond, torch.full((2,), 0.05)).backward()
    grad = m.type_emb.weight.grad
    assert grad[2].abs().sum() > 0 and torch.isfinite(grad).all()  # TYPES["reference"] learns
