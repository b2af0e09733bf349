"""Whether bf16 autocast pays on this device, decided by measurement (house rule: bf16 where it helps).

On CPUs with AVX-512 BF16 a bf16 matmul runs ~2x fp32 (../shared/design/machine.md); on AVX2-only
CPUs (no AVX-512 at all) PyTorch emulates it at ~1 GFLOP/s against ~95 for fp32 (measured on such a
machine: a training step took 48 s instead of ~3 s). Guessing from flags is fragile across builds, so
time a small matmul once per process. `KINO_BF16=0|1` overrides. fp16 is never used on CPU.
"""

from __future__ import annotations

import functools
import os
import time

import torch

__all__ = ["bf16_helps"]


def _seconds(dtype: torch.dtype, n: int = 256, reps: int = 2) -> float:
    a = torch.randn(n, n).to(dtype)
    a @ a  # warm-up (kernel selection)
    t = time.perf_counter()
    for _ in range(reps):
        a @ a
    return time.perf_counter() - t


@functools.cache
def _cpu_bf16_helps() -> bool:
    return _seconds(torch.bfloat16) * 1.25 < _seconds(torch.float32)


def bf16_helps(device: torch.device | str) -> bool:
    """True where bf16 autocast is faster than fp32 for matmuls on `device` (CUDA: if supported)."""
    env = os.environ.get("KINO_BF16")
    if env in ("0", "1"):
        return env == "1"
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return dev.type == "cpu" and _cpu_bf16_helps()
