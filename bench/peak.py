"""The machine's measured matmul peak: every benchmark prints its numbers beside this."""

from __future__ import annotations

import time

import torch

__all__ = ["matmul_peak"]


def _gflops(dtype: torch.dtype, threads: int, n: int = 1024, reps: int = 8) -> float:
    torch.set_num_threads(threads)
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best / 1e9


def matmul_peak() -> dict[str, float]:
    """GFLOP/s of a 1024^2 matmul: fp32 and bf16, one thread and all threads."""
    threads = torch.get_num_threads()
    out = {
        "fp32_1t": _gflops(torch.float32, 1),
        f"fp32_{threads}t": _gflops(torch.float32, threads),
        "bf16_1t": _gflops(torch.bfloat16, 1),
        f"bf16_{threads}t": _gflops(torch.bfloat16, threads),
    }
    torch.set_num_threads(threads)
    return out
