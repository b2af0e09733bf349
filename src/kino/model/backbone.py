"""The autoregressive backbone: a block-causal transformer with a KV cache, a rolling window and a sink.

Sequence: [prefix | BOS | chunk_1 | chunk_2 | ...]. The prefix (text, keyframes, references, brush)
is one bidirectional block every chunk sees; a chunk sees the prefix, the sink (block 0: BOS, or the
first real chunk for image-to-video) and the last `window` blocks including itself, bidirectionally
inside itself (CausVid / Self-Forcing block-causal mask). Time enters only through a learned per-head
bias on the *relative* chunk distance, clamped to the window (T5-style relative buckets), so positions
never exceed what training saw, however long the video (LongLive's lesson, without re-rotating a cache).
The output at block j conditions the decoder for chunk j+1 (GPT-style shift).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kino.model.config import BackboneConfig

__all__ = ["Backbone", "KVCache", "block_mask"]

PREFIX = -10_000  # chunk id of prefix tokens: a bucket of their own in the relative bias


def _buckets(q_ids: torch.Tensor, k_ids: torch.Tensor, window: int) -> torch.Tensor:
    """Relative-distance bucket (Lq, Lk): 0..window-1 = chunks back, window = future (keyframes), window+1 = prefix."""
    dist = q_ids[:, None] - k_ids[None, :]
    b = dist.clamp(0, window - 1)
    b = torch.where(dist < 0, torch.full_like(b, window), b)
    return torch.where(k_ids[None, :] == PREFIX, torch.full_like(b, window + 1), b)


def block_mask(q_ids: torch.Tensor, k_ids: torch.Tensor, window: int, sink: int = 0) -> torch.Tensor:
    """Boolean (Lq, Lk) mask, True = may attend. Prefix keys always; chunk keys if in [q-window+1, q] or == sink.

    Prefix queries see only the prefix. Keyframe tokens in the prefix carry their target chunk id only
    for the relative bias; for masking they are prefix (id PREFIX) via `k_is_prefix`.
    """
    q_prefix = q_ids == PREFIX
    k_prefix = k_ids == PREFIX
    dist = q_ids[:, None] - k_ids[None, :]
    chunk_ok = (dist >= 0) & ((dist < window) | (k_ids[None, :] == sink))
    allowed = k_prefix[None, :] | (chunk_ok & ~k_prefix[None, :])
    return torch.where(q_prefix[:, None], k_prefix[None, :].expand_as(allowed), allowed)


@dataclass
class KVCache:
    """Per-layer keys and values of everything written so far, with their chunk ids (for bias and window)."""

    k: list[torch.Tensor]  # per layer (B, H, L, Dh)
    v: list[torch.Tensor]
    ids: torch.Tensor  # (L,) chunk id per cached token (PREFIX for prefix)
    rel: torch.Tensor  # (L,) chunk id used for the relative bias (a keyframe's target chunk)
    valid: torch.Tensor  # (B, L) False for padding keys (short prompts)

    def trim(self, current: int, window: int, sink: int) -> None:
        """Drop chunk tokens that fell out of the window (keep prefix and sink)."""
        keep = (self.ids == PREFIX) | (self.ids == sink) | (self.ids > current - window)
        if bool(keep.all()):
            return
        self.k = [k[:, :, keep] for k in self.k]
        self.v = [v[:, :, keep] for v in self.v]
        self.ids, self.rel, self.valid = self.ids[keep], self.rel[keep], self.valid[:, keep]


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, window: int):
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.bias = nn.Parameter(torch.zeros(heads, window + 2))  # relative buckets (see _buckets)

    def forward(self, x, q_rel, k_rel, mask, past: tuple[torch.Tensor, torch.Tensor] | None = None):
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B, H, N, Dh)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, H, L, Dh)
            v = torch.cat([past[1], v], dim=2)
        bias = self.bias[:, _buckets(q_rel, k_rel, self.window)]  # (H, N, L)
        bias = bias[None].masked_fill(~mask, float("-inf")).to(q.dtype)  # mask (B, 1, N, L)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B, H, N, Dh)
        return self.out(y.transpose(1, 2).reshape(b, n, d)), (k[:, :, -n:], v[:, :, -n:])


class Block(nn.Module):
    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width)
        self.attn = Attention(cfg.width, cfg.heads, cfg.window)
        self.norm2 = nn.LayerNorm(cfg.width)
        hidden = int(cfg.width * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(cfg.width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, cfg.width))

    def forward(self, x, q_rel, k_rel, mask, past=None):
        h, kv = self.attn(self.norm1(x), q_rel, k_rel, mask, past)
        x = x + h
        return x + self.mlp(self.norm2(x)), kv


class Backbone(nn.Module):
    """Transformer over token blocks; `forward` for training, `step` with a KVCache for streaming."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, x: torch.Tensor, ids: torch.Tensor, rel: torch.Tensor, valid: torch.Tensor | None = None, sink: int = 0) -> torch.Tensor:
        """Full-sequence pass. x (B, L, D); ids/rel (L,) chunk ids (PREFIX for prefix tokens); valid (B, L) keys."""
        mask = block_mask(ids, ids, self.cfg.window, sink)[None, None]  # (1, 1, L, L)
        if valid is not None:
            mask = mask & valid[:, None, None, :]
        for blk in self.blocks:
            x, _ = blk(x, rel, rel, mask)
        return self.norm(x)  # (B, L, D)

    def empty_cache(self, batch: int, device: torch.device, dtype: torch.dtype) -> KVCache:
        h, dh = self.cfg.heads, self.cfg.width // self.cfg.heads
        z = torch.zeros(batch, h, 0, dh, device=device, dtype=dtype)
        e = torch.zeros(0, dtype=torch.long, device=device)
        return KVCache([z] * len(self.blocks), [z] * len(self.blocks), e, e, torch.zeros(batch, 0, dtype=torch.bool, device=device))

    def step(self, x: torch.Tensor, ids: torch.Tensor, rel: torch.Tensor, cache: KVCache, valid: torch.Tensor | None = None, sink: int = 0) -> torch.Tensor:
        """Append one block (B, N, D) with ids/rel (N,) to the cache and return its outputs (B, N, D)."""
        all_ids = torch.cat([cache.ids, ids])
        all_rel = torch.cat([cache.rel, rel])
        if valid is None:
            valid = torch.ones(x.shape[0], x.shape[1], dtype=torch.bool, device=x.device)
        all_valid = torch.cat([cache.valid, valid], 1)
        mask = block_mask(ids, all_ids, self.cfg.window, sink)[None, None] & all_valid[:, None, None, :]  # (B, 1, N, L)
        for i, blk in enumerate(self.blocks):
            x, (k, v) = blk(x, rel, all_rel, mask, (cache.k[i], cache.v[i]))
            cache.k[i] = torch.cat([cache.k[i], k], dim=2)
            cache.v[i] = torch.cat([cache.v[i], v], dim=2)
        cache.ids, cache.rel, cache.valid = all_ids, all_rel, all_valid
        return self.norm(x)
