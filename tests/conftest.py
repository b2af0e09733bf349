"""Shared pytest fixtures for the kino test suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tmp_out(tmp_path: Path) -> Path:
    """Return an empty per-test output directory."""
    out = tmp_path / "out"
    out.mkdir()
    return out
