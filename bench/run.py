"""`make bench`: every benchmark, printed beside the machine's measured matmul peak."""

from __future__ import annotations

import os
import platform
import sys

sys.path.insert(0, os.path.dirname(__file__))

from model import bench_model  # noqa: E402
from peak import matmul_peak  # noqa: E402
from world import bench_world  # noqa: E402


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    for name, value in matmul_peak().items():
        print(f"  matmul peak {name:<10} {value:8.1f} GFLOP/s")
    print("Kino World (target: >= 300 frames/s/core at 128x128 without DoF)")
    for name, value, unit in bench_world():
        print(f"  {name:<48} {value:8.1f} {unit}")
    print("A2D generation (targets for 4 s at 16 fps on 2 cores: <= 4 s wall, first chunk <= 0.5 s, RSS <= 2 GB)")
    for name, value, unit in bench_model():
        print(f"  {name:<48} {value:8.2f} {unit}")


if __name__ == "__main__":
    main()
