"""Shared pytest fixtures for the kino test suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture
def tmp_out(tmp_path: Path) -> Path:
    """Return an empty per-test output directory."""
    out = tmp_path / "out"
    out.mkdir()
    return out


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """One torch thread per test process (xdist runs one per core): on a small shared CPU, OpenMP
    spin-waiting against the other worker is ~50x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
