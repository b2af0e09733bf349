"""The diffusion decoder: a small convolutional U-Net per chunk that owns its diffusion.

Like MAR's DiffLoss, the backbone only hands over a condition (here a per-token map plus a pooled
vector); `loss(x0, cond)` and `sample(cond, steps)` live here. A convolutional decoder gives the
spatial inductive bias that made the 25-minute CPU experiment produce coherent objects where a patch
transformer did not (architecture.md). Rectified flow with x-prediction (JiT, arXiv 2511.13720),
logit-normal times biased to high noise, and shortcut self-consistency (Frans et al., arXiv 2410.12557)
so 1-4 steps work without a teacher.

With `prev_chunk` the U-Net also reads the previous chunk (lightly noised, plus a "present" channel),
concatenated to its input: a convolution can carry background, colours and positions over by copying and
extrapolate motion from two frames, where the backbone's 32x32-pixel tokens alone left every chunk
redrawn from scratch (pix-1's chunk-to-chunk flicker, docs/model.md). The same frame-concatenation
conditioning is how frame-autoregressive diffusion models stay continuous (GameNGen, arXiv 2408.14837,
concatenates past frames to the noisy input); the backbone keeps the plan: prompt, controls, keyframes, motion beyond two frames.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kino.model.config import DecoderConfig
from kino.model.sampling import guided, sample_shortcut, timesteps

__all__ = ["Decoder", "timestep_embedding"]

MIN_STEP = 1 / 64  # finest shortcut step; d=0 means the plain flow-matching target
TERMINAL = 0.97  # `loss(terminal=)`: rows drawn in (TERMINAL, 1], where a prompt is all there is to go on


def timestep_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal embedding (N,) → (N, dim) (DDPM / DiT)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * scale * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    """GroupNorm → adaptive scale/shift from the embedding → SiLU → conv, twice, plus a skip."""

    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, cin // 4), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(8, cout // 4), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.ada = nn.Linear(emb, 2 * cout)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.ada(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return self.skip(x) + h


class Decoder(nn.Module):
    """U-Net over one chunk's latents (B, chunk*C, h, w), conditioned on the backbone's map at 1/patch."""

    def __init__(self, cfg: DecoderConfig, latent_channels: int, chunk: int, cond_dim: int, patch: int):
        super().__init__()
        self.cfg = cfg
        self.in_ch = latent_channels * chunk
        ch = cfg.channels
        emb = 4 * ch[0]
        self.cond_level = int(math.log2(patch))
        if not 0 <= self.cond_level < len(ch):
            raise ValueError(f"decoder.channels: needs more than {self.cond_level} levels for patch {patch}")
        self.t_mlp = nn.Sequential(nn.Linear(2 * ch[0], emb), nn.SiLU(), nn.Linear(emb, emb))
        self.c_vec = nn.Linear(cond_dim, emb)
        self.c_map = nn.Conv2d(chunk * cond_dim, ch[self.cond_level - 1] if self.cond_level else ch[0], 1)  # channels entering that level
        self.prev_ch = self.in_ch + 1 if cfg.prev_chunk else 0  # previous chunk + its "present" flag
        self.guide_ch = self.in_ch + 1 if cfg.guide_input else 0  # warped chunk + its "present" flag
        self.inp = nn.Conv2d(self.in_ch + self.prev_ch + self.guide_ch, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        for i, c in enumerate(ch):
            cin = ch[i - 1] if i else ch[0]
            self.down.append(nn.ModuleList([ResBlock(cin if j == 0 else c, c, emb) for j in range(cfg.blocks)]))
            self.pool.append(nn.Conv2d(c, c, 3, stride=2, padding=1) if i < len(ch) - 1 else nn.Identity())
        self.mid = nn.ModuleList([ResBlock(ch[-1], ch[-1], emb) for _ in range(2)])
        self.up = nn.ModuleList()
        for i in reversed(range(len(ch))):
            cout = ch[i - 1] if i else ch[0]
            self.up.append(nn.ModuleList([ResBlock(ch[i] * 2 if j == 0 else cout, cout, emb) if j == 0 else ResBlock(cout, cout, emb) for j in range(cfg.blocks)]))
        self.out_norm = nn.GroupNorm(min(8, ch[0] // 4), ch[0])
        self.out = nn.Conv2d(ch[0], self.in_ch, 3, padding=1)

    @property
    def multiple(self) -> int:
        """Latent height and width must be multiples of this."""
        return 2 ** (len(self.cfg.channels) - 1)

    @staticmethod
    def _side(z: torch.Tensor | None, width: int, like: torch.Tensor) -> torch.Tensor | None:
        """A side input of `width` channels: latents z (B, width-1, h, w) plus a "present" channel of ones, all
        zeros when z is None, None when the decoder has no such input (width 0)."""
        if not width:
            return None
        b, _, h, w = like.shape
        if z is None:
            return torch.zeros(b, width, h, w, device=like.device, dtype=like.dtype)
        return torch.cat([z.to(like.dtype), torch.ones(b, 1, h, w, device=like.device, dtype=like.dtype)], 1)

    def prev_input(self, prev: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
        """The previous chunk (B, K, h, w) or None (first chunk) → decoder side input (B, K+1, h, w)."""
        return self._side(prev, self.prev_ch, like)

    def guide_input(self, guide: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
        """The warp guide's latents for this chunk (B, K, h, w) or None → decoder side input (B, K+1, h, w)."""
        return self._side(guide, self.guide_ch, like)

    def forward(self, x: torch.Tensor, t: torch.Tensor, d: torch.Tensor, cmap: torch.Tensor, cvec: torch.Tensor, prev: torch.Tensor | None = None, guide: torch.Tensor | None = None) -> torch.Tensor:
        """Predict the clean chunk. x (B, K, h, w); t, d (B,); cmap (B, chunk*D, h/p, w/p); cvec (B, D); prev, guide (B, K+1, h, w)."""
        c0 = self.cfg.channels[0]
        emb = self.t_mlp(torch.cat([timestep_embedding(t, c0), timestep_embedding(d, c0)], -1)) + self.c_vec(cvec)  # (B, E)
        noisy = x
        if self.prev_ch:
            x = torch.cat([x, prev if prev is not None else self.prev_input(None, noisy)], 1)  # (B, 2K+1, h, w)
        if self.guide_ch:
            x = torch.cat([x, guide if guide is not None else self.guide_input(None, noisy)], 1)  # (B, .. + K+1, h, w)
        h = self.inp(x)  # (B, C0, h, w)
        skips = []
        for i, (blocks, pool) in enumerate(zip(self.down, self.pool, strict=True)):
            if i == self.cond_level:
                h = h + self.c_map(cmap)  # backbone state enters at its own resolution
            for blk in blocks:
                h = blk(h, emb)
            skips.append(h)
            h = pool(h)
        for blk in self.mid:
            h = blk(h, emb)
        for i, blocks in enumerate(self.up):
            level = len(self.cfg.channels) - 1 - i
            if h.shape[-2:] != skips[level].shape[-2:]:
                h = F.interpolate(h, size=skips[level].shape[-2:], mode="nearest")
            h = torch.cat([h, skips[level]], dim=1)
            for blk in blocks:
                h = blk(h, emb)
        return self.out(F.silu(self.out_norm(h)))  # (B, K, h, w)

    # ------------------------------------------------------------------------------------ diffusion
    def loss(self, x0: torch.Tensor, cmap: torch.Tensor, cvec: torch.Tensor, prev: torch.Tensor | None = None, shortcut_frac: float = 0.25, guide: torch.Tensor | None = None, weight: torch.Tensor | None = None, terminal: float = 0.0) -> torch.Tensor:
        """Flow-matching loss on x0 (B, K, h, w) plus shortcut self-consistency on a fraction of the batch.

        prev: the decoder side input from `prev_input` (B, K+1, h, w), or None without `prev_chunk`.
        guide: the side input from `guide_input` (B, K+1, h, w), or None (no guide, or no `guide_input`).
        weight: per-element weights of the squared error, broadcastable to (B, K, h, w) (e.g. heavier on object
        pixels, `kino.train.pixel_weights`); None = uniform. The caller keeps their mean near 1.
        terminal: the share of the flow-matching rows (not the shortcut ones) trained at t ~ U(TERMINAL, 1], the
        noise levels sampling starts from. Why: a 4x4 pixel patch carries 48 strongly correlated values, so big
        uniform regions (floor, sky, a near ball) stay readable through the noise up to t ~ 0.98; below that the
        prompt adds almost nothing to the loss, and the logit-normal draw puts only ~0.5% of rows above 0.97
        (`scripts/text_probe.py` on prev-1: its own caption lowers the chunk-0 loss by 3.6% against none at t > 0.97,
        1.1% at the usual draw; after 1,035 steps at terminal=0.1, run term-1: 20%, and yet its videos followed the
        prompt less, docs/model.md). The zero-terminal-SNR argument of Lin et al. (arXiv 2305.08891) and the resolution shift of SD3
        (arXiv 2403.03206, Esser et al.) and simple diffusion (Hoogeboom et al., arXiv 2301.11093) say the same:
        the levels where only the condition is informative must be trained. 0 = as before, bit for bit.
        """
        b = x0.shape[0]
        dev = x0.device
        # logit-normal times shifted toward high noise, where layout is decided
        t = torch.sigmoid(torch.randn(b, device=dev) * 1.0 + 0.8)
        noise = torch.randn_like(x0)
        n_sc = int(round(b * shortcut_frac))
        d = torch.zeros(b, device=dev)
        target = x0
        if n_sc > 0:
            # step sizes 2^-k, k in 0..5; consistency: one step of 2d equals two steps of d
            k = torch.randint(0, int(math.log2(1 / MIN_STEP)), (n_sc,), device=dev)
            dd = 2.0 ** (-k.float())
            tt = torch.maximum(t[:n_sc], dd)  # a step of size dd must fit in [0, t]
            t = torch.cat([tt, t[n_sc:]])
            d = torch.cat([dd, d[n_sc:]])
            with torch.no_grad():
                xt = (1 - tt[:, None, None, None]) * x0[:n_sc] + tt[:, None, None, None] * noise[:n_sc]
                half = dd / 2
                p_sc = prev[:n_sc] if prev is not None else None
                g_sc = guide[:n_sc] if guide is not None else None
                x0a = self(xt, tt, half, cmap[:n_sc], cvec[:n_sc], p_sc, g_sc)
                xm = xt + (-half)[:, None, None, None] * (xt - x0a) / tt[:, None, None, None]
                tm = tt - half
                x0b = self(xm, tm, half, cmap[:n_sc], cvec[:n_sc], p_sc, g_sc)
                xe = xm + (-half)[:, None, None, None] * (xm - x0b) / tm.clamp_min(1e-6)[:, None, None, None]
                # the x0 that makes one step of size dd land on xe
                sc_target = xt - tt[:, None, None, None] * (xt - xe) / dd[:, None, None, None]
            target = torch.cat([sc_target, x0[n_sc:]])
        if terminal > 0:
            top = torch.rand(b, device=dev) < terminal
            top[:n_sc] = False  # shortcut rows keep their step-fitted times
            t = torch.where(top, 1.0 - (1.0 - TERMINAL) * torch.rand(b, device=dev), t)
        xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * noise
        pred = self(xt, t, d, cmap, cvec, prev, guide)
        # velocity-space error: x-error / t, with t clamped so near-clean samples don't dominate
        w = 1.0 / t.clamp_min(0.05)[:, None, None, None]
        err = ((pred - target) * w).pow(2)
        return (err * weight).mean() if weight is not None else err.mean()

    @torch.no_grad()
    def sample(self, cmap: torch.Tensor, cvec: torch.Tensor, shape: tuple[int, ...], steps: int, generator: torch.Generator | None = None, known: torch.Tensor | None = None, known_mask: torch.Tensor | None = None, noise: torch.Tensor | None = None, start: float = 1.0, prev: torch.Tensor | None = None, guide: torch.Tensor | None = None, uncond: tuple[torch.Tensor, torch.Tensor] | None = None, scale: float = 1.0) -> torch.Tensor:
        """Sample a chunk (B, K, h, w) in `steps` shortcut steps from time `start` (< 1: SDEdit from a noised source).

        uncond: the backbone's (cmap, cvec) for the same chunk without the prompt (or with a negative one);
        with it, classifier-free guidance at `scale` (`sampling.guided`): both passes run as one batch.
        """
        if noise is None:
            noise = torch.randn(shape, generator=generator, device=cmap.device, dtype=torch.float32)

        def denoise(x, t, d):
            return self(x, t, d, cmap, cvec, prev, guide).float()

        if uncond is not None and scale != 1.0:
            two = lambda z: None if z is None else torch.cat([z, z])  # noqa: E731
            cm2, cv2, prev2, guide2 = torch.cat([cmap, uncond[0]]), torch.cat([cvec, uncond[1]]), two(prev), two(guide)

            def pair(x, t, d):  # (conditional, unconditional) x0 predictions from one batched forward
                both = self(torch.cat([x, x]), t.repeat(2), d.repeat(2), cm2, cv2, prev2, guide2).float()
                return both.chunk(2)

            denoise = guided(pair, scale)
        return sample_shortcut(denoise, noise, timesteps(steps, self.cfg.time_shift, start), known, known_mask)
