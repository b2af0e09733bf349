"""Generate clips for held-in Kino World captions and save a contact sheet (prompt | real | generated).

    python scripts/contact_sheet.py CHECKPOINT OUT.png [--count 6] [--split train] [--steps 4]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image, ImageDraw

from kino.generate import GenerateRequest, generate
from kino.model.checkpoint import load_checkpoint
from kino.world.data import DataSpec, make_sample


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--count", type=int, default=6)
    p.add_argument("--split", default="train")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--every", type=int, default=4, help="show every k-th frame")
    a = p.parse_args()
    model = load_checkpoint(a.checkpoint, "cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for i in range(a.count):
        real = make_sample(10_000 + i, DataSpec(split=a.split, width=128, height=128, seconds=2.0))
        prompt = real.truth["caption"]
        fake = generate(GenerateRequest(prompt=prompt, seconds=2.0, ratio="1:1", seed=i, steps=a.steps), model)
        strip = lambda v: np.concatenate(list(v[:: a.every][:8]), axis=1)  # noqa: E731
        row = np.concatenate([strip(real.frames), strip(fake)], axis=0)
        img = Image.fromarray(row)
        ImageDraw.Draw(img).text((2, 2), prompt[:150], fill=(255, 255, 0))
        rows.append(np.asarray(img))
    Image.fromarray(np.concatenate(rows, axis=0)).save(a.out)
    print(a.out)


if __name__ == "__main__":
    main()
