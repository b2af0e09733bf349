"""The A2D model: tokenizer + block-causal backbone + per-chunk diffusion decoder.

Training (`loss`) runs the backbone once over [prefix | BOS | chunk_1 .. chunk_{N-1}] (teacher forcing
on lightly noised context) and the decoder on every chunk; generation (`stream`) writes the prefix into
a KV cache, then per chunk: one backbone step → K decoder steps → yield → write the new chunk back.
All modes are the same loop with different prefill: t2v (text), keyframes / i2v (clean keyframe tokens
in the prefix tagged with their chunk, plus replacement inside the decoder), Extend (the source's real
latents prefilled as context), v2v (each chunk starts from the source noised to `strength`), references
(clean tokens of identity images in the prefix, each with a fixed slot code: Phantom / VACE's "same patch
embedding" idea, with no new parameters so every existing checkpoint still loads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from kino.model.backbone import PREFIX, Backbone
from kino.model.config import ModelConfig
from kino.model.decoder import Decoder, timestep_embedding
from kino.model.tokenizer import build_tokenizer

__all__ = ["A2D", "Conditions", "CAMERA_DIM", "BRUSH_DIM", "REF_SIZE", "camera_features"]

CAMERA_DIM = 16  # per frame: R_rel (9), t_rel (3), log zoom, 1/focus, 1/aperture, present
BRUSH_DIM = 5  # per token of frame 0: painted, static, dx, dy, dz
TYPES = {"text": 0, "keyframe": 1, "reference": 2, "brush": 3, "bos": 4, "chunk": 5}
# reference images are squares of this many pixels (training and generation alike): 2x2 tokens of 32x32
# pixels in `tiny`, enough for a Kino World object's colour, pattern and outline (they are 10-40 px tall)
REF_SIZE = 64


@dataclass
class Conditions:
    """Everything a generation or training example is conditioned on (batch-first tensors)."""

    text: torch.Tensor  # (B, Lt, text_dim) token states; zeros + mask False = no text
    text_mask: torch.Tensor  # (B, Lt) bool
    camera: torch.Tensor | None = None  # (B, T, CAMERA_DIM)
    keyframes: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # (frame, latent (B, C, h, w))
    brush: torch.Tensor | None = None  # (B, hp, wp, BRUSH_DIM)
    references: list[torch.Tensor] = field(default_factory=list)  # latents (B, C, h, w) of REF_SIZE-square images, in slot order
    # training only (generation builds it chunk by chunk: `stream(guide=)`): each chunk's warp guide, as latents
    # (B, n, chunk, C, h, w) and present (B, n) bool, read by decoders with `guide_input`
    guide: tuple[torch.Tensor, torch.Tensor] | None = None


def camera_features(R: torch.Tensor, t: torch.Tensor, focal: torch.Tensor, focus: torch.Tensor, aperture: torch.Tensor) -> torch.Tensor:
    """Per-frame camera vectors (T, CAMERA_DIM) relative to frame 0 (MotionCtrl-style [R|t], cheap)."""
    R0, t0 = R[0], t[0]
    R_rel = R @ R0.T  # (T, 3, 3)
    t_rel = t - (R_rel @ t0[:, None])[..., 0]  # (T, 3)
    zoom = torch.log(focal / focal[0])
    inv_focus = 1.0 / focus.clamp_min(0.1)
    inv_ap = torch.where(aperture > 0, 1.0 / aperture.clamp_min(0.5), torch.zeros_like(aperture))
    ones = torch.ones_like(zoom)
    return torch.cat([(R_rel - torch.eye(3)).flatten(1) * 4, t_rel, zoom[:, None] * 2, inv_focus[:, None] * 4, inv_ap[:, None] * 2, ones[:, None]], dim=1)


def _sincos_2d(h: int, w: int, dim: int, device) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding (h*w, dim): any aspect ratio (MAE / DiT)."""
    q = dim // 4
    freqs = 1.0 / (10_000 ** (torch.arange(q, device=device, dtype=torch.float32) / q))
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32), torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    ay, ax = ys.flatten()[:, None] * freqs, xs.flatten()[:, None] * freqs
    return torch.cat([ay.sin(), ay.cos(), ax.sin(), ax.cos()], dim=1)


def _slot_code(i: int, dim: int, device) -> torch.Tensor:
    """Fixed sin-cos code (dim,) of reference slot i: tells references apart without learned parameters.

    Interleaved sin/cos (the 2-D position code is blocked), base 100 so that neighbouring slots differ in
    most dimensions, i + 1 so that slot 0 is not the all-(0, 1) code of position (0, 0)."""
    half = dim // 2
    a = (i + 1) / (100 ** (torch.arange(half, device=device, dtype=torch.float32) / half))
    return torch.stack([a.sin(), a.cos()], dim=-1).flatten()


class A2D(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        bc = cfg.backbone
        d = bc.width
        self.tokenizer = build_tokenizer(cfg.tokenizer)
        c = self.tokenizer.channels
        self.patch = bc.patch
        self.patch_in = nn.Linear(c * bc.patch**2, d)
        self.text_in = nn.Linear(cfg.text_dim, d)
        self.brush_in = nn.Linear(BRUSH_DIM, d)
        self.camera_in = nn.Linear(CAMERA_DIM, d)
        self.next_camera_in = nn.Linear(CAMERA_DIM, d)
        for lin in (self.camera_in, self.next_camera_in):  # zero-init: controls start as no-ops (ControlNet)
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        # the prompt straight into the decoder's vector (DecoderConfig.text_vec), zero-init: starts as without it
        self.text_pool = nn.Linear(cfg.text_dim, d) if cfg.decoder.text_vec else None
        if self.text_pool is not None:
            nn.init.zeros_(self.text_pool.weight)
            nn.init.zeros_(self.text_pool.bias)
        self.type_emb = nn.Embedding(len(TYPES), d)
        self.frame_emb = nn.Embedding(cfg.chunk, d)
        self.level_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.bos = nn.Parameter(torch.randn(d) * 0.02)
        self.backbone = Backbone(bc)
        self.decoder = Decoder(cfg.decoder, c, cfg.chunk, d, bc.patch)

    # ------------------------------------------------------------------------------------ tokens
    def _chunk_tokens(self, z: torch.Tensor, level: torch.Tensor, camera: torch.Tensor | None, next_camera: torch.Tensor | None) -> torch.Tensor:
        """Latent chunk(s) (B, n, chunk, C, h, w) at noise `level` (B,) → tokens (B, n, chunk*hp*wp, D)."""
        b, n, k, c, h, w = z.shape
        p = self.patch
        x = z.reshape(b, n, k, c, h // p, p, w // p, p).permute(0, 1, 2, 4, 6, 3, 5, 7).reshape(b, n, k, (h // p) * (w // p), c * p * p)
        x = self.patch_in(x)  # (B, n, k, S, D)
        x = x + self._common(b, n, h // p, w // p, camera, next_camera, x.device, k)
        lvl = self.level_mlp(timestep_embedding(level, x.shape[-1]))  # (B, D)
        x = x + lvl[:, None, None, None] + self.type_emb.weight[TYPES["chunk"]]
        return x.reshape(b, n, k * x.shape[3], x.shape[-1])  # D named: a one-chunk clip has n = 0 context chunks

    def _common(self, b, n, hp, wp, camera, next_camera, device, k: int | None = None) -> torch.Tensor:
        """Position, frame-in-chunk and camera embeddings (B or 1, n, k, S, D)."""
        k, d = k or self.cfg.chunk, self.cfg.backbone.width
        e = _sincos_2d(hp, wp, d, device)[None, None, None] + self.frame_emb.weight[:k][None, None, :, None]  # (1,1,k,S,D)
        if camera is not None:
            e = e + self.camera_in(camera.reshape(b, n, k, camera.shape[-1]))[:, :, :, None]
        if next_camera is not None:
            e = e + self.next_camera_in(next_camera.reshape(b, n, k, next_camera.shape[-1]))[:, :, :, None]
        return e

    def _bos_tokens(self, b: int, hp: int, wp: int, next_camera: torch.Tensor | None, device) -> torch.Tensor:
        e = self._common(b, 1, hp, wp, None, next_camera, device) + self.bos + self.type_emb.weight[TYPES["bos"]]
        return e.expand(b, 1, self.cfg.chunk, hp * wp, -1).reshape(b, self.cfg.chunk * hp * wp, -1)

    def _prefix(self, cond: Conditions, hp: int, wp: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Prefix tokens (B, Lp, D), their relative-bias ids (Lp,), and a key-padding mask (B, Lp)."""
        b = cond.text.shape[0]
        dev = cond.text.device
        toks = [self.text_in(cond.text) + self.type_emb.weight[TYPES["text"]]]
        rel = [torch.full((cond.text.shape[1],), PREFIX, device=dev)]
        pad = [cond.text_mask]
        for frame, lat in cond.keyframes:
            z = lat[:, None, None]  # (B, 1, 1, C, h, w)
            x = self._chunk_tokens(z, torch.zeros(b, device=dev), None, None)[:, 0]  # (B, S, D)
            x = x + self.frame_emb.weight[frame % self.cfg.chunk] - self.frame_emb.weight[0]
            x = x + self.type_emb.weight[TYPES["keyframe"]] - self.type_emb.weight[TYPES["chunk"]]
            toks.append(x)
            rel.append(torch.full((x.shape[1],), frame // self.cfg.chunk + 1, device=dev))  # block id of its chunk
            pad.append(torch.ones(b, x.shape[1], dtype=torch.bool, device=dev))
        for i, lat in enumerate(cond.references):  # clean (level 0), timeless, in the prefix bucket of the relative bias
            x = self._chunk_tokens(lat[:, None, None], torch.zeros(b, device=dev), None, None)[:, 0]  # (B, S_ref, D)
            x = x - self.frame_emb.weight[0] + _slot_code(i, x.shape[-1], dev)
            x = x + self.type_emb.weight[TYPES["reference"]] - self.type_emb.weight[TYPES["chunk"]]
            toks.append(x)
            rel.append(torch.full((x.shape[1],), PREFIX, device=dev))
            pad.append(torch.ones(b, x.shape[1], dtype=torch.bool, device=dev))
        if cond.brush is not None:
            x = self.brush_in(cond.brush.reshape(b, hp * wp, BRUSH_DIM)) + _sincos_2d(hp, wp, self.cfg.backbone.width, dev) + self.type_emb.weight[TYPES["brush"]]
            toks.append(x)
            rel.append(torch.full((hp * wp,), PREFIX, device=dev))
            pad.append(torch.ones(b, hp * wp, dtype=torch.bool, device=dev))
        return torch.cat(toks, 1), torch.cat(rel), torch.cat(pad, 1)

    # ------------------------------------------------------------------------------------ training
    def loss(self, latents: torch.Tensor, cond: Conditions, context_level: torch.Tensor, bf16: bool = False, decoder_bf16: bool = False, decoder_chunks: int | None = None, self_prev: float = 0.0, weight: torch.Tensor | None = None, terminal: float = 0.0) -> torch.Tensor:
        """Diffusion loss of the chunks of latents (B, T, C, h, w) given conditions (teacher forcing).

        weight: per-latent-pixel loss weights (B, T, h, w), shared by a pixel's channels; None = uniform.
        terminal: share of decoder rows trained at near-pure noise (`Decoder.loss`), where only the conditions inform.

        decoder_chunks: train the decoder on only this many chunks per clip, always the first (the one
        drawn from nothing, where prompt adherence is decided) plus random others. The decoder is ~60%
        of a CPU step (measured), the backbone still sees every chunk.
        self_prev: fraction of clips whose decoder reads, as its previous chunk, the decoder's own
        one-step sample of that chunk (no gradient) instead of the real one: the decoder half of
        Self-Forcing (arXiv 2506.08009), so it learns to repair its own artefacts instead of copying and
        amplifying them over a rollout. One extra no-grad decoder pass per trained chunk.
        cond.guide (models with `guide_input`): each chunk's warp guide, as `stream` builds it from the frames
        before that chunk; chunks without one (and every chunk when it is None) get the "none" input.
        """
        b, T, c, h, w = latents.shape
        k = self.cfg.chunk
        n = T // k
        hp, wp = h // self.patch, w // self.patch
        z = latents[:, : n * k].reshape(b, n, k, c, h, w)
        noisy = torch.lerp(z, torch.randn_like(z), context_level[:, None, None, None, None, None])
        cam = cond.camera[:, : n * k].reshape(b, n, k, -1) if cond.camera is not None else None
        ctx = self._chunk_tokens(noisy[:, : n - 1], context_level, cam[:, : n - 1] if cam is not None else None, cam[:, 1:] if cam is not None else None)
        bos = self._bos_tokens(b, hp, wp, cam[:, :1] if cam is not None else None, latents.device)
        prefix, prel, pad = self._prefix(cond, hp, wp)
        s = k * hp * wp
        x = torch.cat([prefix, bos, ctx.flatten(1, 2)], 1)  # (B, Lp + n*s, D)
        ids = torch.cat([torch.full_like(prel, PREFIX), torch.arange(n, device=x.device).repeat_interleave(s)])
        rel = torch.cat([prel, torch.arange(n, device=x.device).repeat_interleave(s)])
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            out = self.backbone(x, ids, rel, valid=torch.cat([pad, torch.ones(b, x.shape[1] - pad.shape[1], dtype=torch.bool, device=x.device)], 1))[:, prefix.shape[1] :]  # (B, n*s, D)
        pick = torch.arange(n, device=x.device)
        if decoder_chunks is not None and decoder_chunks < n:
            pick = torch.cat([pick[:1], 1 + torch.randperm(n - 1, device=x.device)[: decoder_chunks - 1]])
        m = len(pick)
        tvec = self._text_vec(cond)  # (B, D) or None
        cmap, cvec = self._decoder_cond(out.reshape(b, n, s, -1)[:, pick].reshape(b * m, s, -1), hp, wp, None if tvec is None else tvec.repeat_interleave(m, 0))
        prev = None
        if self.decoder.prev_ch:  # chunk i's decoder reads chunk i-1 as written to the context (noised); chunk 0 none
            flat = noisy.reshape(b, n, k * c, h, w)
            prev = self._side_inputs(flat, pick.tolist())
            if self_prev > 0 and (pick > 0).any():
                prev = self._own_prev(prev, flat, out.reshape(b, n, s, -1), pick, context_level, self_prev, hp, wp, tvec)
            prev = prev.reshape(b * m, -1, h, w)  # (B*m, k*C+1, h, w)
        side = None
        if self.decoder.guide_ch:
            g, present = cond.guide if cond.guide is not None else (torch.zeros_like(z), torch.zeros(b, n, dtype=torch.bool, device=z.device))
            side = self.decoder.guide_input(g[:, pick].reshape(b * m, k * c, h, w), g.new_zeros(b * m, 1, h, w))
            side = side * present[:, pick].reshape(b * m, 1, 1, 1).to(side.dtype)  # absent: all zeros, flag included
        # bf16 convolutions' backward is slow on CPU (measured 15x), fast on GPUs: the caller decides
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16 and decoder_bf16):
            wt = None
            if weight is not None:  # (B, T, h, w) -> (B*m, k*C, h, w), each frame's map repeated over its channels
                wt = weight[:, : n * k].reshape(b, n, k, 1, h, w)[:, pick].expand(-1, -1, -1, c, -1, -1).reshape(b * m, k * c, h, w)
            return self.decoder.loss(z[:, pick].reshape(b * m, k * c, h, w), cmap, cvec, prev, guide=side, weight=wt, terminal=terminal)

    def _side_inputs(self, flat: torch.Tensor, chunks: list[int]) -> torch.Tensor:
        """Decoder side inputs (B, len(chunks), k*C+1, h, w) of `chunks`: chunk i-1 of flat (B, n, k*C, h, w); none for chunk 0."""
        return torch.stack([self.decoder.prev_input(flat[:, i - 1] if i > 0 else None, flat[:, 0]) for i in chunks], 1)

    @torch.no_grad()
    def _own_prev(self, prev: torch.Tensor, flat: torch.Tensor, out: torch.Tensor, pick: torch.Tensor, level: torch.Tensor, frac: float, hp: int, wp: int, tvec: torch.Tensor | None = None) -> torch.Tensor:
        """Replace prev (B, m, k*C+1, h, w) of picked chunks i > 0, for a `frac` of the clips, by the decoder's
        one-step sample of chunk i-1 (from the backbone state and the real chunk i-2), noised to the context level."""
        b = flat.shape[0]
        later = [(j, i) for j, i in enumerate(pick.tolist()) if i > 0]
        src = torch.tensor([i - 1 for _, i in later], device=flat.device)  # the chunks to sample
        cm, cv = self._decoder_cond(out[:, src].reshape(b * len(later), out.shape[2], -1), hp, wp, None if tvec is None else tvec.repeat_interleave(len(later), 0))
        side = self._side_inputs(flat, src.tolist())
        noise = torch.randn(b * len(later), *flat.shape[2:], device=flat.device)
        ones = torch.ones(noise.shape[0], device=flat.device)
        own = self.decoder(noise, ones, ones, cm, cv, side.reshape(b * len(later), -1, *flat.shape[-2:])).float()  # x0 in one step (t=1, d=1)
        lvl = level.repeat_interleave(len(later))[:, None, None, None]
        own = torch.lerp(own, torch.randn_like(own), lvl).reshape(b, len(later), *flat.shape[2:])
        use = torch.rand(b, device=flat.device) < frac
        prev = prev.clone()
        for q, (j, _) in enumerate(later):
            prev[use, j, :-1] = own[use, q].to(prev.dtype)
        return prev

    def _text_vec(self, cond: Conditions) -> torch.Tensor | None:
        """The prompt's masked-mean MiniLM states mapped to the decoder's vector (B, D); None without `text_vec`.
        A dropped prompt (one zeroed token, as training drops it) gives the map's bias alone."""
        if self.text_pool is None:
            return None
        m = cond.text_mask.to(cond.text.dtype)[..., None]  # (B, Lt, 1)
        pooled = (cond.text * m).sum(1) / m.sum(1).clamp_min(1.0)  # (B, text_dim)
        return self.text_pool(pooled).float()

    def _decoder_cond(self, out: torch.Tensor, hp: int, wp: int, tvec: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone block outputs (M, chunk*S, D) → map (M, chunk*D, hp, wp) and pooled vector (M, D), plus the
        prompt's vector tvec (M, D) when given (`_text_vec`)."""
        m, _, d = out.shape
        cmap = out.reshape(m, self.cfg.chunk, hp, wp, d).permute(0, 1, 4, 2, 3).reshape(m, self.cfg.chunk * d, hp, wp)
        cvec = out.mean(1).float()
        return cmap.float(), cvec if tvec is None else cvec + tvec

    # ------------------------------------------------------------------------------------ generation
    @torch.no_grad()
    def stream(
        self,
        cond: Conditions,
        num_chunks: int,
        latent_hw: tuple[int, int],
        steps: int = 4,
        generator: torch.Generator | None = None,
        context: torch.Tensor | None = None,
        source: torch.Tensor | None = None,
        strength: float = 0.7,
        guide: Callable[[int, torch.Tensor], torch.Tensor | None] | None = None,
        guide_level: float = 1.0,
        uncond: Conditions | None = None,
        guidance: float = 1.0,
        guidance_chunks: int | None = None,
    ) -> Iterator[torch.Tensor]:
        """Yield latent chunks (B, chunk, C, h, w) one at a time.

        context: real latents (B, Tc, C, h, w) to continue from (Extend), written into the cache first.
        source: latents (B, T, C, h, w) to restyle chunk by chunk (video-to-video, SDEdit at `strength`).
        guide: called as guide(j, previous chunk's latents) before chunk j (counted over the whole video) is
            sampled; latents (B, chunk, C, h, w) it returns are the start, noised to `guide_level` (SDEdit), as
            `kino.guide.WarpGuide` does with the requested camera and brush motion. None: start from noise.
            A model with `guide_input` also reads the guide as a decoder input, at every level (1 included).
        uncond: the same conditions without the prompt (text dropped, as training drops it) or with a negative
            one; with guidance != 1 a second KV cache runs it and the decoder is guided (classifier-free) on the
            first `guidance_chunks` new chunks (None: all; 0: none). Later chunks read the guided ones as context,
            so guiding only the first chunk, where the scene is drawn from nothing, costs one extra chunk (with
            `context`, the second cache also reads the context once).
        """
        cfgb = self.cfg.backbone
        b = cond.text.shape[0]
        k, c = self.cfg.chunk, self.tokenizer.channels
        h, w = latent_hw
        hp, wp = h // self.patch, w // self.patch
        s = k * hp * wp
        dev = cond.text.device
        level = torch.full((b,), self.cfg.decoder.context_noise, device=dev)
        cache = self.backbone.empty_cache(b, dev, cond.text.dtype)
        prefix, prel, pad = self._prefix(cond, hp, wp)
        self.backbone.step(prefix, torch.full_like(prel, PREFIX), prel, cache, valid=pad)
        tvec = self._text_vec(cond)
        cam = cond.camera
        n_ctx = 0 if context is None else context.shape[1] // k
        total = n_ctx + num_chunks
        # guided chunks end here; the unconditional cache runs until then
        guided = uncond is not None and guidance != 1.0 and (guidance_chunks is None or guidance_chunks > 0)
        g_end = n_ctx + (num_chunks if guidance_chunks is None else guidance_chunks) if guided else 0
        ucache = None
        if g_end > 0:
            ucache = self.backbone.empty_cache(b, dev, uncond.text.dtype)
            uprefix, uprel, upad = self._prefix(uncond, hp, wp)
            self.backbone.step(uprefix, torch.full_like(uprel, PREFIX), uprel, ucache, valid=upad)
            utvec = self._text_vec(uncond)

        def cam_of(j: int) -> torch.Tensor | None:  # camera of chunk j (0-based over the whole video)
            if cam is None:
                return None
            lo = min(j * k, cam.shape[1] - k)
            return cam[:, lo : lo + k][:, None]

        block = self._bos_tokens(b, hp, wp, cam_of(0), dev)
        kf = {f: lat for f, lat in cond.keyframes}
        prev = None  # the previous chunk as written to the context: the decoder's side input
        # the previous chunk, clean (context or generated): what a guide starts from; image-to-video starts the
        # guide at the given first frame, so even chunk 0 follows the requested motion
        last = kf[0][:, None] if 0 in kf and context is None else None
        for j in range(total):
            ids = torch.full((s,), j, device=dev)
            out = self.backbone.step(block, ids, ids, cache)  # conditions chunk j
            cache.trim(j, cfgb.window, 0)
            ucond = None
            if ucache is not None:
                uout = self.backbone.step(block, ids, ids, ucache)
                ucache.trim(j, cfgb.window, 0)
                ucond = self._decoder_cond(uout, hp, wp, utvec) if j >= n_ctx else None
                ucache = ucache if j + 1 < g_end else None
            if j < n_ctx:
                x = context[:, j * k : (j + 1) * k]
            else:
                cmap, cvec = self._decoder_cond(out, hp, wp, tvec)
                known, mask = self._known(kf, j, b, (c, h, w), dev)
                noise = torch.randn((b, k * c, h, w), generator=generator, device=dev)
                start, g = 1.0, None
                if guide is not None and last is not None and (guide_level < 1.0 or self.decoder.guide_ch):
                    g = guide(j, last)
                    g = None if g is None else g.reshape(b, k * c, h, w).to(noise.dtype)
                if source is not None:  # SDEdit: start from the source chunk noised to `strength`
                    src = source[:, j * k : (j + 1) * k].reshape(b, k * c, h, w)
                    noise, start = torch.lerp(src, noise, strength), strength
                elif g is not None and guide_level < 1.0:
                    noise, start = torch.lerp(g, noise, guide_level), guide_level
                side = self.decoder.prev_input(prev, noise)
                x = self.decoder.sample(cmap, cvec, (b, k * c, h, w), steps, known=known, known_mask=mask, noise=noise, start=start, prev=side, guide=self.decoder.guide_input(g, noise), uncond=ucond, scale=guidance)
                x = x.reshape(b, k, c, h, w)
                yield x
            last = x
            noisy = torch.lerp(x, torch.randn(x.shape, generator=generator, device=dev), self.cfg.decoder.context_noise)
            prev = noisy.reshape(b, k * c, h, w)
            block = self._chunk_tokens(noisy[:, None].to(prefix.dtype), level, cam_of(j), cam_of(j + 1))[:, 0]

    def _known(self, kf: dict, j: int, b: int, chw: tuple[int, int, int], dev) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Keyframe latents inside chunk j (replacement targets) and their mask, or (None, None)."""
        k = self.cfg.chunk
        inside = [(f - j * k, lat) for f, lat in kf.items() if j * k <= f < (j + 1) * k]
        if not inside:
            return None, None
        c, h, w = chw
        known = torch.zeros(b, k, c, h, w, device=dev)
        mask = torch.zeros(1, k, 1, 1, 1, device=dev)
        for i, lat in inside:
            known[:, i] = lat
            mask[:, i] = 1.0
        return known.reshape(b, k * c, h, w), mask.expand(1, k, c, 1, 1).reshape(1, k * c, 1, 1)

    def num_params(self) -> dict[str, int]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {"tokenizer": count(self.tokenizer), "backbone": count(self.backbone), "decoder": count(self.decoder), "total": count(self)}

