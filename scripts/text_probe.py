"""Does a checkpoint read its prompt? The chunk-0 diffusion loss on text-to-video training clips (no keyframes,
camera, brush or references) with each clip's own caption, with another clip's caption, and with none, on the same
noise: at the usual noise draw and at near-pure noise (t in (0.97, 1], `Decoder.loss(terminal=1)`), where the prompt
is all the model has. A model that reads its prompt has own < none there by a clear margin, and shuffled > own.

    .venv/bin/python scripts/text_probe.py CKPT [--clips 32]

Measured (docs/model.md, session 10), near-pure noise: prev-1 own 0.0530, shuffled 0.0573, none 0.0550 (the caption
is worth 3.6%); term-1 (`--p-terminal 0.1`) own 0.0461, shuffled 0.0611, none 0.0577 (20%).
"""

from __future__ import annotations

import argparse
import random

import torch

from kino.model.checkpoint import load_checkpoint
from kino.train import TrainConfig, _encode_prompts, batch_from_samples
from kino.world.data import DataSpec, WorldStream

T2V = TrainConfig(p_drop_text=0.0, p_keyframe=0.0, p_camera=0.0, p_brush=0.0, p_reference=0.0)  # the prompt and nothing else


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2, help="noise draws per clip and setting")
    a = ap.parse_args()
    model = load_checkpoint(a.checkpoint).eval()
    spec = DataSpec(split="train", fps=16, seconds=1.0, seed=4242, sizes=((128, 128),))  # clips no run trains on (seed 4242)
    samples = list(WorldStream(spec, start=0, count=a.clips))
    print(f"{a.checkpoint}: chunk-0 loss over {a.clips} clips x {a.repeats} noise draws")
    with torch.no_grad():
        for label, terminal in (("usual noise draw", 0.0), ("near-pure noise t > 0.97", 1.0)):
            res = {"own": 0.0, "shuffled": 0.0, "none": 0.0}
            for i in range(0, a.clips, 8):
                part = samples[i : i + 8]
                lat, cond = batch_from_samples(model, part, T2V, random.Random(0), "cpu")
                caps = [s.truth["caption"] for s in part]
                for name, prompts in (("own", caps), ("shuffled", caps[1:] + caps[:1]), ("none", [""] * len(caps))):
                    cond.text, cond.text_mask = _encode_prompts(model, prompts, "cpu")
                    for rep in range(a.repeats):
                        torch.manual_seed(100 + rep)
                        res[name] += model.loss(lat, cond, torch.zeros(lat.shape[0]), decoder_chunks=1, terminal=terminal).item()
            n = a.repeats * ((a.clips + 7) // 8)
            own, shuf, none = (res[k] / n for k in ("own", "shuffled", "none"))
            print(f"  {label:26s} own {own:.5f}  shuffled {shuf:.5f}  none {none:.5f}  caption's gain vs none {100 * (1 - own / none):.1f}%")


if __name__ == "__main__":
    main()
