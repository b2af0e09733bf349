"""Kino: an open A2D video generation system, from procedural physics worlds to trained video models."""

__version__ = "0.1.0"
