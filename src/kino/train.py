"""`kino train`: the tokenizer stage, then backbone + decoder, on streamed Kino World clips.

Resumable (`--resume` continues from DIR/state.pt), time-boxed (`--minutes`), checkpointing every few
minutes as safetensors (EMA weights, config in the metadata) plus a loss-curve PNG. Runs unchanged
under `torchrun` (DDP; gloo on CPU, nccl on GPU): each rank streams different clips, rank 0 writes.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from kino.controls import prompt_words
from kino.guide import guide_from_truth
from kino.model.a2d import A2D, BRUSH_DIM, REF_SIZE, Conditions, camera_features
from kino.model.checkpoint import load_checkpoint, save_checkpoint
from kino.model.config import preset
from kino.model.decoder import TERMINAL
from kino.model.precision import bf16_helps
from kino.model.text import text_encoder
from kino.world.controls import square_image
from kino.world.data import DataSpec, Sample, WorldStream

__all__ = ["TrainConfig", "train", "main", "batch_from_samples", "reference_latents", "pixel_weights"]

TOKENIZER_FRAMES = 32  # frames per autoencoder update (~0.5 s on 2 cores at 128x128)


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "tiny"
    out: str = "runs/tiny"
    minutes: float = 30.0
    tokenizer_steps: int = 1500  # stage 1 updates of TOKENIZER_FRAMES frames; an under-trained tokenizer caps sharpness
    batch: int = 8  # pix-1's measured recipe; tiny-2 (batch 4 + the options below) did worse in the same budget
    decoder_chunks: int | None = None  # train the decoder on chunk 0 + (N-1) random chunks per clip (it is ~60% of a CPU step); None = all
    self_prev: float = 0.0  # fraction of clips whose decoder reads its own one-step sample as the previous chunk (prev_chunk models)
    lr: float = 1e-3
    lr_end: float | None = None  # anneal (cosine, over this invocation's wall-clock budget) to this rate; None = constant
    warmup: int = 100
    ema: float = 0.999
    seconds: float = 1.0  # 8 chunks: 2 s clips cost 3.5x a 1 s clip per step on CPU (attention + memory), measured
    fps: int = 16
    sizes: tuple[tuple[int, int], ...] = ((128, 128), (224, 128), (128, 224))
    workers: int = 0  # CPU: rendering in-process beats a render worker fighting torch's threads (3.6 vs 7.2 s/step, measured)
    seed: int = 0
    save_minutes: float = 5.0
    device: str = "cpu"
    p_drop_text: float = 0.1
    p_keyframe: float = 0.5
    p_camera: float = 0.5
    p_brush: float = 0.3
    p_reference: float = 0.3  # give every clip of the batch crops of 1-2 of its own objects as identity references (0: off, as before)
    p_tag: float = 0.5  # of the batches given references, this many name those subjects by tag (@hero, @villain) instead of by look
    p_guide: float = 1.0  # guide_input models: of the batches given the camera path or a brush, this many also get the warp guide (generate always builds one)
    init: str | None = None  # start a fresh run from these weights (e.g. a checkpoint made on another machine)
    object_weight: float = 1.0  # loss weight of latent pixels showing an object, relative to the background's (1 = uniform; `pixel_weights`)
    p_terminal: float = 0.0  # share of decoder rows trained at t in (decoder.TERMINAL, 1], where only the prompt and controls inform (`Decoder.loss`)
    object_weight_from: str = "target"  # "target": each frame's own masks (run obj-1); "prev": chunk i>0 from chunk i-1's masks (unbiased; `pixel_weights`)
    # every Nth A2D step (0: never) trains on one-chunk clips, `batch` x chunks-per-clip of them: as many decoder rows
    # as a normal step, all of them the first chunk, the one drawn from the prompt alone (`_first_chunk_steps`)
    first_chunk_every: int = 0


# ------------------------------------------------------------------------------------------- data
def _frames(samples: list[Sample], device) -> torch.Tensor:
    x = torch.from_numpy(np.stack([s.frames for s in samples])).to(device)  # (B, T, H, W, 3) uint8
    return x.permute(0, 1, 4, 2, 3).float().div(127.5).sub(1.0)  # (B, T, 3, H, W) in [-1, 1]


def pixel_weights(samples: list[Sample], object_weight: float, latent_hw: tuple[int, int], device, prev_chunk: int | None = None, reach: int = 2) -> torch.Tensor | None:
    """Loss weights (B, T, h, w) at latent resolution: `object_weight` where a latent pixel's patch shows any object
    (ground-truth instance masks, `Sample.objects`), 1 elsewhere, scaled to mean 1 over the batch; None when uniform.

    Why: the per-pixel diffusion loss is dominated by sky and floor. A ball covers ~1-3% of a frame, so a wrong-coloured
    ball costs almost nothing, and every checkpoint to prev-1 learnt the layout of the prompt's scene but not its
    objects' colours (prompt_color ~0.19, docs/model.md). Weighting the loss toward the regions the prompt talks about
    is the object-aware loss of Make-A-Scene (Gafni et al., arXiv 2203.13131, where faces and salient objects get
    heavier weights); Kino World gives exact masks for it. The mean is kept at 1 so the learning rate means the same.
    Measured (run obj-1, docs/model.md): W = 8 lifted prompt direction 0.18 -> 0.45 but objects grew over a rollout,
    since target-dependent weights bias the x0 estimate toward "object"; hence off by default.

    prev_chunk=k (`--object-weight-from prev`): the frames of chunk i > 0 are weighted by where chunk i-1 showed an
    object (the union over its k frames, grown by `reach` latent pixels for the motion in between), not by their own
    masks. A weight that is a function of what the decoder is given (the previous chunk is its side input) leaves the
    minimiser of the weighted loss at E[x0 | input], unbiased: weighting only says which errors matter more, it no longer
    tells the model where objects are. Chunk 0 has nothing before it and keeps its own masks; its bias is paid once and
    copied, not compounded chunk after chunk as in obj-1.
    """
    if object_weight == 1.0 or any(s.objects is None for s in samples):
        return None
    m = torch.from_numpy(np.stack([s.objects for s in samples])).to(device).float()  # (B, T, H, W)
    b, T, H, W = m.shape
    h, w = latent_hw
    if H % h or W % w:
        raise ValueError(f"object weights: frame {H}x{W} is not a multiple of latent {h}x{w}")
    hit = torch.nn.functional.max_pool2d(m.reshape(b * T, 1, H, W), (H // h, W // w)).reshape(b, T, h, w)  # any object pixel in the patch
    if prev_chunk:
        k = prev_chunk
        n = T // k
        seen = hit[:, : n * k].reshape(b, n, k, h, w).amax(2)  # (B, n, h, w): where each chunk shows an object
        grown = torch.nn.functional.max_pool2d(seen.reshape(b * n, 1, h, w), 2 * reach + 1, stride=1, padding=reach).reshape(b, n, 1, h, w)
        hit = hit.clone()  # chunk 0 (and any frames past the last whole chunk) keep their own masks
        hit[:, k : n * k] = grown[:, :-1].expand(-1, -1, k, -1, -1).reshape(b, (n - 1) * k, h, w)  # chunk i <- chunk i-1
    wt = 1.0 + (object_weight - 1.0) * hit
    return wt / wt.mean()


def _camera(truth: dict) -> torch.Tensor:
    cams = truth["camera"]
    R = torch.tensor([c["R"] for c in cams], dtype=torch.float32)
    t = torch.tensor([c["t"] for c in cams], dtype=torch.float32)
    f = torch.tensor([c["focal_px"] for c in cams], dtype=torch.float32)
    focus = torch.tensor([c["focus"] for c in cams], dtype=torch.float32)
    ap = torch.tensor([c["aperture"] for c in cams], dtype=torch.float32)
    return camera_features(R, t, f, focus, ap)


def brush_grid(truth: dict, instance0: np.ndarray, hp: int, wp: int) -> torch.Tensor:
    """Motion-brush tokens (hp, wp, BRUSH_DIM) from frame-0 instance ids and ground-truth tracks."""
    h, w = instance0.shape
    fps = truth["fps"]
    grid = torch.zeros(hp, wp, BRUSH_DIM)
    moving = np.zeros((h, w), bool)
    for obj in truth["objects"]:
        mask = instance0 == obj["id"]
        track = np.array(obj["track"])
        seen = np.flatnonzero(track[:, 2] > 0.05)
        if not mask.any() or seen.size < 2:
            continue
        last = seen[-1]
        d = (track[last, :2] - track[0, :2]) / (last / fps)
        if np.hypot(*d) * last / fps < 4.0:
            continue
        cover = torch.from_numpy(mask.reshape(hp, h // hp, wp, w // wp).mean(axis=(1, 3))).float()
        grid[..., 0] = torch.maximum(grid[..., 0], cover)
        grid[..., 2] += cover * float(d[0]) / w  # frame widths per second
        grid[..., 3] += cover * float(d[1]) / h
        moving |= mask
    grid[..., 1] = torch.from_numpy((~moving).reshape(hp, h // hp, wp, w // wp).mean(axis=(1, 3))).float()
    return grid


def guide_latents(model: A2D, samples: list[Sample], frames: torch.Tensor, brush: bool, first: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Each chunk's warp guide as `A2D.stream` builds it at generation, from the real frames (B, T, 3, H, W) in
    [-1, 1] before the chunk: the truth camera path (plus the brushed objects' tracks with `brush`), anchored on
    frame 0 when it is given (`first`: image-to-video, so chunk 0 is guided too), else on chunk 0's last frame.
    Returns latents (B, n, chunk, C, h, w) and present (B, n) bool."""
    b, T, _, H, W = frames.shape
    k = model.cfg.chunk
    n = T // k
    out = torch.zeros(b, n, k, *frames.shape[2:], device=frames.device)
    present = torch.zeros(b, n, dtype=torch.bool, device=frames.device)
    for i, s in enumerate(samples):
        warp = guide_from_truth(s.truth, s.instance0, (W, H), k, camera=True, brush=brush, source_lens=True)  # true renders show their lens
        if warp is None:
            continue
        for j in range(0 if first else 1, n):
            out[i, j] = warp(j * k, frames[i, max(j * k - 1, 0)])  # (k, 3, H, W); chunk 0 from frame 0 (r = -1)
            present[i, j] = True
    with torch.no_grad():
        lat = model.tokenizer.encode(out.flatten(1, 2)).unflatten(1, (n, k))
    return lat, present


def batch_from_samples(model: A2D, samples: list[Sample], cfg: TrainConfig, rng: random.Random, device) -> tuple[torch.Tensor, Conditions]:
    """Latents (B, T, C, h, w) and randomly dropped conditions for one batch (with `guide_input`, also
    `cond.guide`: each chunk's warp guide, see `guide_latents`)."""
    frames = _frames(samples, device)
    with torch.no_grad():
        lat = model.tokenizer.encode(frames)
    b, T = lat.shape[:2]
    prompts = ["" if rng.random() < cfg.p_drop_text else rng.choice(s.truth["captions"]) for s in samples]
    cond = Conditions(text=torch.zeros(0), text_mask=torch.zeros(0, dtype=torch.bool))  # text: encoded last, once the prompts are final
    if rng.random() < cfg.p_camera:
        cond.camera = torch.stack([_camera(s.truth) for s in samples]).to(device)
    if rng.random() < cfg.p_keyframe:  # i2v (frame 0) most often, else any frame, sometimes two
        picks = {0} if rng.random() < 0.5 else {rng.randrange(T)}
        if rng.random() < 0.3:
            picks.add(rng.randrange(T))
        cond.keyframes = [(f, lat[:, f]) for f in sorted(picks)]
    if rng.random() < cfg.p_brush and all(s.instance0 is not None for s in samples):
        hp, wp = lat.shape[-2] // model.patch, lat.shape[-1] // model.patch
        cond.brush = torch.stack([brush_grid(s.truth, s.instance0, hp, wp) for s in samples]).to(device)
    # drawn last and only when on, so p_reference 0 keeps the random stream (and a run) exactly as before
    if cfg.p_reference > 0 and rng.random() < cfg.p_reference and all(s.crops for s in samples):
        cond.references, picked = reference_latents(model, samples, rng, device)
        # the subjects named by tag instead of by look, as the eval's reference cases (and users) word them: the
        # look is then in the image alone, which is what teaches the model to read it (drawn only when on)
        if cfg.p_tag > 0 and rng.random() < cfg.p_tag and all(ids in s.tagged for s, ids in zip(samples, picked, strict=True)):
            prompts = [p and prompt_words(s.tagged[ids]) for p, s, ids in zip(prompts, samples, picked, strict=True)]
    # drawn last and only for guide_input models, so every other run's random stream stays as it was. A brush
    # without the camera path gets a guide too (guide-1 gave those none and its brush adherence on an image fell,
    # 0.75 -> 0.58): it warps with the truth camera, the only path that matches the frames, so the model learns to
    # move what the guide moves; at generation a brush alone warps with a still camera.
    controlled = cond.camera is not None or cond.brush is not None
    if model.decoder.guide_ch and controlled and all(s.instance0 is not None for s in samples) and rng.random() < cfg.p_guide:
        cond.guide = guide_latents(model, samples, frames, cond.brush is not None, any(f == 0 for f, _ in cond.keyframes))
    cond.text, cond.text_mask = _encode_prompts(model, prompts, device)
    return lat, cond


def _encode_prompts(model: A2D, prompts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
    """MiniLM token states (B, Lt, D) and mask; an empty prompt (dropped text) is one zeroed token."""
    states, mask = text_encoder(model.cfg.backbone.max_text, device=str(device)).encode_or_drop(prompts)
    return states.to(device), mask.to(device)


def reference_latents(model: A2D, samples: list[Sample], rng: random.Random, device) -> tuple[list[torch.Tensor], list[tuple[int, ...]]]:
    """1-2 reference slots (B, C, h, w): per clip, crops of that many of its objects in random order (so a slot
    means nothing but "a subject"), squared to REF_SIZE; and per clip the object ids in slot order. A batch
    keeps equal shapes: the slot count is the smallest any clip can fill."""
    n = min(rng.choice((1, 2)), *(len(s.crops) for s in samples))
    picks = [rng.sample(range(len(s.crops)), n) for s in samples]
    imgs = np.stack([[square_image(s.crops[j], REF_SIZE) for j in js] for s, js in zip(samples, picks, strict=True)])  # (B, n, S, S, 3)
    x = torch.from_numpy(imgs).to(device).permute(0, 1, 4, 2, 3).float().div(127.5).sub(1.0)  # (B, n, 3, S, S)
    with torch.no_grad():
        z = model.tokenizer.encode(x)  # (B, n, C, h, w)
    ids = [tuple(s.crop_ids[j] for j in js) if s.crop_ids else () for s, js in zip(samples, picks, strict=True)]
    return [z[:, i] for i in range(n)], ids


def learning_rate(cfg: TrainConfig, step: int, frac: float) -> float:
    """Linear warm-up over the first cfg.warmup steps, then constant, or (with lr_end) a cosine from cfg.lr to
    cfg.lr_end over the fraction `frac` of this invocation's wall-clock budget. The schedule follows the clock,
    not a step count, because CPU runs are time-boxed (`--minutes`) and resumed: an annealed continuation
    (`--resume --lr-end 1e-4`) is how a long run is finished (SGDR, arXiv 1608.03983; EMA alone kept pix-3 at
    pix-1's level)."""
    lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup)
    if cfg.lr_end is not None:
        lr = cfg.lr_end + (lr - cfg.lr_end) * 0.5 * (1 + math.cos(math.pi * min(max(frac, 0.0), 1.0)))
    return lr


def load_init(model: A2D, path: str) -> dict:
    """Load a checkpoint's weights into `model`, whose decoder may read more side inputs than the checkpoint's
    (a preset that adds one, e.g. `tiny` → `tiny-guide` → `tiny-guide-prev`): each input the checkpoint had keeps
    its weights at its place in the new layout, and the new inputs' channels start at zero (as does a new
    `text_vec` map, `tiny-guide-prev` → `tiny-guide-prev-text`), so the model starts as
    the checkpoint did (the zero-initialised extra input channels of Stable Diffusion's inpainting model and
    InstructPix2Pix, arXiv 2211.09800). Returns the checkpoint's meta."""
    src = load_checkpoint(path)
    have, want = src.decoder, model.decoder
    lost = [n for n in ("prev", "guide") if getattr(have, f"{n}_ch") and not getattr(want, f"{n}_ch")]
    if lost:  # a side input cannot be dropped (nor silently become the other: they are equally wide)
        raise ValueError(f"init: {path} does not fit preset: decoder side inputs prev_chunk={have.cfg.prev_chunk}, guide_input={have.cfg.guide_input} there, "
                         f"prev_chunk={want.cfg.prev_chunk}, guide_input={want.cfg.guide_input} here")
    if src.text_pool is not None and model.text_pool is None:
        raise ValueError(f"init: {path} does not fit preset: decoder.text_vec=True there, False here")
    if have.cfg.context_noise != want.cfg.context_noise:  # the level the context is written at is not a weight
        raise ValueError(f"init: {path} does not fit preset: decoder.context_noise is {have.cfg.context_noise} there, {want.cfg.context_noise} here")
    sd = src.state_dict()
    own = model.state_dict()
    for name, t in sd.items():
        o = own.get(name)
        if o is None or o.shape == t.shape:
            continue
        if name == "decoder.inp.weight" and t.shape[0] == o.shape[0] and t.shape[2:] == o.shape[2:] and have.in_ch == want.in_ch:
            wide = torch.zeros_like(o)  # input channels: [noisy chunk | previous chunk | guide], each block where present
            for a, b, width in _input_blocks(have, want):
                wide[:, b : b + width] = t[:, a : a + width]
            sd[name] = wide
        else:
            raise ValueError(f"init: {path} does not fit preset: {name} is {tuple(t.shape)} there, {tuple(o.shape)} here")
    if model.text_pool is not None and src.text_pool is None:  # a new prompt path (`text_vec`) starts at its zero init
        sd.update({f"text_pool.{k}": v for k, v in model.text_pool.state_dict().items()})
    model.load_state_dict(sd)
    return src.meta


def _input_blocks(have, want) -> list[tuple[int, int, int]]:
    """(offset in the checkpoint's input conv, offset in the model's, width) of each input block both decoders read."""
    out, a, b = [(0, 0, have.in_ch)], have.in_ch, want.in_ch
    for ha, wa in ((have.prev_ch, want.prev_ch), (have.guide_ch, want.guide_ch)):
        if ha:
            out.append((a, b, ha))
        a, b = a + ha, b + wa
    return out


def _first_chunk_steps(main, first, every: int, state: dict):
    """Yield (samples, is_first): the main stream's batches, but every `every`th A2D step a batch from `first`.

    Why: a t2v clip's first chunk is the only one drawn from the prompt alone (colours, floor, layout); later
    chunks continue what is there. In a 1 s clip it is 1 of 8 decoder rows, and prompt colour stayed at ~0.19
    across six runs (docs/model.md). One-chunk clips cost ~1/6 of a 1 s clip to render and their backbone pass is
    the prefix and one block, so a step of them trains 8x the first-chunk rows at about a normal step's cost.
    The backbone state that predicts chunk 0 reads the prefix and BOS only (block-causal), the same in both.
    Measured (run fc1, docs/model.md): at N = 3 the first chunk's loss fell 19% but prompt colour did not rise."""
    while True:
        if first is not None and state["stage"] == "a2d" and state["step"] % every == every - 1:
            yield next(first), True
        else:
            yield next(main), False


def _batches(stream, batch: int):
    """Group streamed samples by frame size (aspect buckets) into equal-shape batches."""
    queues: dict[tuple, list[Sample]] = defaultdict(list)
    for s in stream:
        q = queues[s.frames.shape]
        q.append(s)
        if len(q) == batch:
            yield list(q)
            q.clear()


# ------------------------------------------------------------------------------------------- loop
def _plot(history: dict[str, list[tuple[int, float]]], path: Path) -> None:
    """Loss curves as a PNG (log-scale y), drawn with Pillow."""
    from PIL import Image, ImageDraw

    w, h, pad = 640, 360, 40
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    colors = [(200, 40, 40), (40, 80, 200), (40, 150, 60)]
    for ci, (name, pts) in enumerate(sorted(history.items())):
        if len(pts) < 2:
            continue
        xs = np.array([p[0] for p in pts], float)
        ys = np.log10(np.maximum([p[1] for p in pts], 1e-8))
        k = max(1, len(ys) // 200)  # smooth for readability
        ys = np.convolve(ys, np.ones(k) / k, mode="valid")
        xs = xs[: len(ys)]
        lo, hi = ys.min(), ys.max() + 1e-6
        px = pad + (xs - xs.min()) / max(xs.max() - xs.min(), 1) * (w - 2 * pad)
        py = h - pad - (ys - lo) / (hi - lo) * (h - 2 * pad)
        draw.line(list(zip(px.tolist(), py.tolist(), strict=True)), fill=colors[ci % 3], width=2)
        draw.text((pad, 8 + 14 * ci), f"{name}: log10 loss {lo:.2f}..{hi:.2f}, steps {int(xs.min())}..{int(xs.max())}", fill=colors[ci % 3])
    img.save(path)


def _average(params: list[torch.nn.Parameter]) -> None:
    """All-reduce-mean gradients in one flat buffer; unused parameters count as zero (ranks stay in step)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    i = 0
    for p, g in zip(params, grads, strict=True):
        p.grad = flat[i : i + g.numel()].view_as(p).clone()
        i += g.numel()


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Run (or continue) training for cfg.minutes of wall time; return the checkpoint path."""
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank = 0
    if distributed:
        dist.init_process_group("nccl" if cfg.device == "cuda" else "gloo")
        rank = dist.get_rank()
    device = torch.device(cfg.device if cfg.device != "cuda" else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed + rank)
    rng = random.Random(cfg.seed * 7919 + rank)
    model = A2D(preset(cfg.preset)).to(device)
    state_path = out / "state.pt"
    state = {"stage": "tokenizer", "step": 0, "tok_step": 0, "seconds": 0.0, "history": {}, "data_index": 0}
    if resume and state_path.is_file():
        ck = torch.load(state_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        state = ck["state"]
    elif cfg.init:
        # what the weights already had in them (steps, hours, every recipe): the checkpoint's lineage
        state["init"] = {"path": str(cfg.init), **{k: v for k, v in load_init(model, cfg.init).items() if k in ("steps", "train_seconds", "preset", "recipes", "init")}}
        state["stage"] = "a2d"  # the tokenizer came with the weights
    # every invocation's settings, in order, so a resumed checkpoint records the whole chain that made it
    state["recipes"] = [*state.get("recipes", []), {**cfg.__dict__, "resume": bool(resume and state_path.is_file()), "from_step": state["step"]}]
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    if resume and state_path.is_file():
        ema.load_state_dict(ck["ema"])
    tok_params = list(model.tokenizer.parameters())
    gen_params = [p for n, p in model.named_parameters() if not n.startswith("tokenizer.")]
    opt_tok = torch.optim.AdamW(tok_params, lr=cfg.lr, weight_decay=0.0) if tok_params else None
    opt = torch.optim.AdamW(gen_params, lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.99))
    if resume and state_path.is_file():
        opt.load_state_dict(ck["opt"])
        if opt_tok is not None and ck.get("opt_tok"):
            opt_tok.load_state_dict(ck["opt_tok"])
    if distributed:  # same initial weights on every rank; gradients are averaged by hand below
        for p_ in model.parameters():
            dist.broadcast(p_.data, 0)
    spec = DataSpec(split="train", fps=cfg.fps, seconds=cfg.seconds, seed=cfg.seed * 1000 + rank, sizes=cfg.sizes)
    stream = WorldStream(spec, start=state["data_index"], workers=cfg.workers)
    first = None
    if cfg.first_chunk_every > 0:  # its own seeds (a different base), so no clip of it repeats the main stream's
        n_chunks = max(1, round(cfg.seconds * cfg.fps) // model.cfg.chunk)
        fspec = dataclasses.replace(spec, seconds=model.cfg.chunk / cfg.fps, seed=spec.seed + 500)
        first = _batches(WorldStream(fspec, start=state.get("first_index", 0), workers=cfg.workers), cfg.batch * n_chunks)
    history = defaultdict(list, {k: [tuple(p) for p in v] for k, v in state["history"].items()})
    t_start, t_saved = time.time(), time.time()
    seconds_before = state["seconds"]
    budget = cfg.minutes * 60
    if opt_tok is None:
        state["stage"] = "a2d"
    bf16 = bf16_helps(device)  # AVX2-only CPUs emulate bf16 at ~1 GFLOP/s (measured): fp32 there

    def save() -> Path:
        if rank != 0:
            return out / "model.safetensors"
        state["history"] = {k: list(v) for k, v in history.items()}
        tmp = out / ".state.pt.tmp"
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "opt_tok": opt_tok.state_dict() if opt_tok else None, "state": state, "config": cfg.__dict__}, tmp)
        os.replace(tmp, state_path)
        _plot(history, out / "loss.png")
        (out / "progress.json").write_text(json.dumps({k: v for k, v in state.items() if k != "history"}, indent=1))
        return save_checkpoint(ema, out / "model.safetensors", dtype=torch.bfloat16, steps=state["step"], tokenizer_steps=state["tok_step"], train_seconds=round(state["seconds"]), preset=cfg.preset, recipe=cfg.__dict__, recipes=state["recipes"], **({"init": state["init"]} if "init" in state else {}))

    for samples, is_first in _first_chunk_steps(_batches(stream, cfg.batch), first, cfg.first_chunk_every, state):
        elapsed = time.time() - t_start
        if distributed:  # every rank follows rank 0's clock, so all stop and switch stage on the same step
            clock = torch.tensor([elapsed], dtype=torch.float64)
            dist.broadcast(clock, 0)
            elapsed = float(clock)
        if elapsed >= budget:
            break
        count = "first_index" if is_first else "data_index"  # each stream's clips so far, where a resume starts it
        state[count] = state.get(count, 0) + len(samples) * int(os.environ.get("WORLD_SIZE", 1))
        if state["stage"] == "tokenizer":
            # every rendered frame is used, in several small updates: updates, not frames per update, are
            # what the autoencoder needs (128 frames/step reached 20.3 dB where 16 frames/step reached 23.9 dB
            # on the same data), and one step per batch of clips left it waiting on rendering
            frames = _frames(samples, device).flatten(0, 1)
            frames = frames[torch.randperm(frames.shape[0], device=device)].contiguous(memory_format=torch.channels_last)
            for part in frames.split(TOKENIZER_FRAMES):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):  # CPU: bf16 conv backward is slow
                    loss, _ = model.tokenizer.loss(part)
                opt_tok.zero_grad(set_to_none=True)
                loss.backward()
                if distributed:
                    _average(tok_params)
                    dist.all_reduce(model.tokenizer.scale)
                    model.tokenizer.scale /= dist.get_world_size()
                torch.nn.utils.clip_grad_norm_(tok_params, 1.0)
                opt_tok.step()
                state["tok_step"] += 1
                history["tokenizer"].append((state["tok_step"], loss.item()))
                if state["tok_step"] >= cfg.tokenizer_steps:
                    state["stage"] = "a2d"
                    model.tokenizer.requires_grad_(False)
                    break
        else:
            lr = learning_rate(cfg, state["step"], elapsed / budget)
            for g in opt.param_groups:
                g["lr"] = lr
            lat, cond = batch_from_samples(model, samples, cfg, rng, device)
            level = torch.rand(lat.shape[0], device=device) * 2 * model.cfg.decoder.context_noise
            cuda = device.type == "cuda"
            weight = pixel_weights(samples, cfg.object_weight, lat.shape[-2:], device, prev_chunk=model.cfg.chunk if cfg.object_weight_from == "prev" else None)
            loss = model.loss(lat, cond, level, bf16=bf16, decoder_bf16=cuda, decoder_chunks=cfg.decoder_chunks, self_prev=cfg.self_prev, weight=weight, terminal=cfg.p_terminal)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if distributed:  # the model's entry point is .loss(), not forward(): average gradients by hand
                _average(gen_params)
            if math.isfinite(loss.item()):
                torch.nn.utils.clip_grad_norm_(gen_params, 1.0)
                opt.step()
            state["step"] += 1
            history["a2d first chunk" if is_first else "a2d"].append((state["step"], loss.item()))
            history["lr"].append((state["step"], lr))
        with torch.no_grad():  # EMA with warm-up (early weights forgotten fast); the tokenizer is copied outright
            decay = min(cfg.ema, (1 + state["step"]) / (10 + state["step"]))
            for (name, pe), pm in zip(ema.named_parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1.0 if name.startswith("tokenizer.") else 1 - decay)
            for be, bm in zip(ema.buffers(), model.buffers(), strict=True):
                be.copy_(bm)
        now = time.time()
        state["seconds"] = seconds_before + now - t_start  # wall time across resumed runs
        if now - t_saved > cfg.save_minutes * 60:
            save()
            t_saved = now
    path = save()
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kino train", description="Train a Kino A2D model on streamed Kino World clips.")
    p.add_argument("--preset", default="tiny", help="model preset (tiny, small, base, large, test)")
    p.add_argument("--out", default=None, help="run folder (default runs/<preset>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state.pt")
    p.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget of this invocation")
    p.add_argument("--batch", type=int, default=TrainConfig.batch, help="clips per step (per process)")
    p.add_argument("--self-prev", type=float, default=TrainConfig.self_prev, help="fraction of clips whose decoder reads its own one-step sample as the previous chunk (exposure-bias repair)")
    p.add_argument("--first-chunk-every", type=int, default=TrainConfig.first_chunk_every, help="every Nth step trains on one-chunk clips (batch x chunks per clip of them: the first chunk, drawn from the prompt alone); 0 = never")
    p.add_argument("--decoder-chunks", type=int, default=TrainConfig.decoder_chunks, help="chunks per clip the decoder trains on (first + random); 0 = all (default)")
    p.add_argument("--p-tag", type=float, default=TrainConfig.p_tag, help="of the batches given reference images, the fraction whose captions name those subjects @hero / @villain instead of by look")
    p.add_argument("--p-guide", type=float, default=TrainConfig.p_guide, help="guide_input presets: of the batches given the camera path or a brush, the fraction also given the warp guide")
    p.add_argument("--p-reference", type=float, default=TrainConfig.p_reference, help="share of batches trained with 1-2 object crops as reference images (0 = off)")
    p.add_argument("--object-weight", type=float, default=TrainConfig.object_weight, help="loss weight of object pixels relative to the background (ground-truth masks; 1 = uniform)")
    p.add_argument("--p-terminal", type=float, default=TrainConfig.p_terminal, help=f"share of decoder rows trained at near-pure noise t in ({TERMINAL}, 1], where the prompt is all there is (0 = the logit-normal draw alone)")
    p.add_argument("--object-weight-from", choices=("target", "prev"), default=TrainConfig.object_weight_from, help="which masks weigh chunk i>0: its own (target) or chunk i-1's (prev, unbiased)")
    p.add_argument("--seconds", type=float, default=1.0, help="training clip length")
    p.add_argument("--size", action="append", default=None, help="aspect bucket WxH (repeatable; default 128x128, 224x128, 128x224)")
    p.add_argument("--workers", type=int, default=0, help="data render processes (0 = in the training process: best on 2 CPU cores; GPU hosts: many)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--lr-end", type=float, default=None, help="anneal to this rate (cosine over --minutes); default constant")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--tokenizer-steps", type=int, default=1500, help="updates of the tokenizer stage (fresh runs)")
    p.add_argument("--save-minutes", type=float, default=5.0, help="checkpoint interval")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    p.add_argument("--init", default=None, help="start from this checkpoint's weights (fresh optimizer)")
    a = p.parse_args(argv)
    sizes = tuple(tuple(int(v) for v in s.lower().split("x")) for s in a.size) if a.size else TrainConfig.sizes
    cfg = TrainConfig(preset=a.preset, out=a.out or f"runs/{a.preset}", minutes=a.minutes, batch=a.batch, seconds=a.seconds, sizes=sizes, workers=a.workers, lr=a.lr, lr_end=a.lr_end, seed=a.seed, tokenizer_steps=a.tokenizer_steps, save_minutes=a.save_minutes, device=a.device, init=a.init, decoder_chunks=a.decoder_chunks or None, self_prev=a.self_prev, p_reference=a.p_reference, p_tag=a.p_tag, p_guide=a.p_guide, object_weight=a.object_weight, object_weight_from=a.object_weight_from, p_terminal=a.p_terminal, first_chunk_every=a.first_chunk_every)
    if cfg.first_chunk_every < 0:
        p.error(f"--first-chunk-every: must be >= 0 (0 = never), got {cfg.first_chunk_every}")
    if not 0.0 <= cfg.p_terminal <= 1.0:
        p.error(f"--p-terminal: must be in [0, 1], got {cfg.p_terminal}")
    if cfg.object_weight <= 0:
        p.error(f"--object-weight: must be > 0, got {cfg.object_weight}")
    print(train(cfg, resume=a.resume))
    return 0
