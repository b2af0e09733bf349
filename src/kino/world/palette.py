"""Kino World's fixed vocabulary: named colours, patterns, materials, styles and looks.

Everything a caption can say and an evaluator can check comes from these tables. Object colours are
chosen far apart in RGB and away from every background tone, so a colour key parses pixels back into
objects (eval.md: "Kino World renders from a known palette").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COLORS",
    "SKIN_TONES",
    "PATTERNS",
    "MATERIALS",
    "STYLES",
    "BACKDROPS",
    "FLOORS",
    "LIGHTS",
    "Material",
    "rgb",
]

# Flat albedo of every nameable object colour (sRGB 0-255). Saturated, mutually distant hues.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 135, 20),
    "yellow": (240, 215, 30),
    "green": (40, 170, 60),
    "cyan": (30, 200, 210),
    "blue": (40, 80, 220),
    "purple": (140, 55, 190),
    "pink": (245, 110, 180),
    "white": (245, 245, 245),
    "black": (25, 25, 30),
    "brown": (130, 80, 40),
}

# Character skin tones are a separate, non-object palette (never used for balls and boxes).
SKIN_TONES: dict[str, tuple[int, int, int]] = {
    "light": (240, 200, 170),
    "tan": (205, 150, 105),
    "dark": (120, 80, 55),
}

# "fabric": a second tone is mixed from the albedo so the named colour stays the dominant one.
PATTERNS: tuple[str, ...] = ("solid", "stripes", "checker", "dots")


@dataclass(frozen=True)
class Material:
    """Contact constants: restitution e, sliding friction mu, rolling resistance, density (kg/m^3 / 1000)."""

    restitution: float
    friction: float
    rolling: float
    density: float


MATERIALS: dict[str, Material] = {
    "rubber": Material(restitution=0.8, friction=0.9, rolling=0.04, density=1.1),
    "wood": Material(restitution=0.5, friction=0.5, rolling=0.03, density=0.7),
    "metal": Material(restitution=0.35, friction=0.3, rolling=0.01, density=7.8),
    "ice": Material(restitution=0.2, friction=0.03, rolling=0.005, density=0.9),
}

# flat: cartoon fills with dark outlines and no shading; shaded: Lambert + highlight + soft shadows;
# contrast: saturated, hard-edged shadows, dark backdrop.
STYLES: tuple[str, ...] = ("flat", "shaded", "contrast")

# Background tones are muted (low saturation) so no background pixel keys as an object colour.
BACKDROPS: dict[str, dict[str, tuple[int, int, int]]] = {
    "sky": {"top": (150, 180, 205), "horizon": (215, 222, 228)},
    "dusk": {"top": (95, 95, 125), "horizon": (205, 175, 160)},
    "wall": {"top": (200, 195, 185), "horizon": (170, 165, 158)},
    "studio": {"top": (70, 72, 78), "horizon": (120, 122, 128)},
}
FLOORS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "tiles": ((185, 180, 170), (150, 145, 138)),
    "wood": ((170, 140, 110), (150, 122, 95)),
    "grass": ((120, 150, 105), (105, 135, 92)),
    "concrete": ((160, 160, 158), (148, 148, 146)),
}
# Light colour multipliers (linear-ish tint applied to lit surfaces).
LIGHTS: dict[str, tuple[float, float, float]] = {
    "white": (1.0, 1.0, 1.0),
    "warm": (1.06, 0.98, 0.86),
    "cool": (0.88, 0.96, 1.08),
}


def rgb(name: str) -> tuple[int, int, int]:
    """The flat albedo of a colour name (object palette or skin tones)."""
    if name in COLORS:
        return COLORS[name]
    if name in SKIN_TONES:
        return SKIN_TONES[name]
    raise ValueError(f"color: unknown colour {name!r}; choose one of {sorted(COLORS)}")
