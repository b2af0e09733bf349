"""A Kino World scene: a typed, JSON-serialisable description of everything in a clip.

World units are metres and seconds. Axes: +x right, +y up, +z away from the default camera; the floor
is the plane y = 0. A scene is pure data: `simulate` (physics.py) and `render` (render.py) turn it into
motion and pixels deterministically.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from kino.world.palette import BACKDROPS, COLORS, FLOORS, LIGHTS, MATERIALS, PATTERNS, SKIN_TONES, STYLES

__all__ = [
    "Vec3",
    "Body",
    "Action",
    "Character",
    "CameraKey",
    "CameraSpec",
    "Look",
    "Scene",
    "SceneError",
    "BODY_KINDS",
    "STATIC_KINDS",
    "MAX_SIZE",
]

Vec3 = tuple[float, float, float]

BODY_KINDS = ("ball", "box", "ramp", "pillar", "wall", "platform")
STATIC_KINDS = ("ramp", "pillar", "wall", "platform")  # never move; pillars and walls are occluders
ACTION_KINDS = ("walk", "jump", "turn", "idle")
EASINGS = ("smooth", "linear", "ease_in", "ease_out")
MAX_SIZE = 2048  # pixels per side; far above anything the CPU model trains on


class SceneError(ValueError):
    """A scene field is invalid; the message names the field and the reason."""


@dataclass(frozen=True)
class Body:
    """A rigid thing. `size` holds half extents (a ball's radius three times); ramps rise toward `facing`."""

    id: int
    kind: str
    color: str
    position: Vec3
    size: Vec3
    velocity: Vec3 = (0.0, 0.0, 0.0)
    pattern: str = "solid"
    material: str = "wood"
    angle: float = 0.0  # rotation about the world z axis, radians, counter-clockwise seen from the camera
    facing: int = 1

    @property
    def static(self) -> bool:
        return self.kind in STATIC_KINDS


@dataclass(frozen=True)
class Action:
    """One step of a character's script: walk (speed m/s), jump (height m; speed adds forward motion), turn, idle."""

    kind: str
    start: float
    duration: float
    speed: float = 1.0
    height: float = 0.5


@dataclass(frozen=True)
class Character:
    """A simple person: identity attributes plus a kinematic action script. `position` is the feet."""

    id: int
    position: Vec3
    skin: str = "light"
    hair: str = "brown"
    shirt: str = "blue"
    trousers: str = "black"
    hat: str | None = None
    height: float = 1.5
    facing: int = 1  # +1 looks right (+x), -1 left
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class CameraKey:
    """Camera offsets at clip time `t` in [0, 1], relative to the base pose.

    pan/tilt/roll/orbit in degrees (pan + turns right, tilt + looks up, roll + turns the camera
    clockwise so the image turns counter-clockwise, orbit + circles the target counter-clockwise seen
    from above), crane + raises the camera in metres (world up, orientation kept), zoom multiplies the focal length, dolly moves forward in metres. focus (metres along
    the view axis) and aperture (f-number; 0 = pinhole, everything sharp) set depth of field.
    """

    t: float = 0.0
    pan: float = 0.0
    tilt: float = 0.0
    roll: float = 0.0
    zoom: float = 1.0
    dolly: float = 0.0
    orbit: float = 0.0
    crane: float = 0.0  # metres straight up (a boom/pedestal move: the view direction does not change)
    focus: float = 7.0
    aperture: float = 0.0
    ease: str = "smooth"


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole camera at `position` looking at `target`; `fov` spans the short image side at zoom 1."""

    position: Vec3 = (0.0, 1.3, -7.0)
    target: Vec3 = (0.0, 0.7, 0.0)
    fov: float = 40.0
    keys: tuple[CameraKey, ...] = (CameraKey(),)


@dataclass(frozen=True)
class Look:
    """Backdrop, floor, style and light. Light azimuth: 0 = from the camera, -90 = from the left."""

    style: str = "shaded"
    backdrop: str = "sky"
    floor: str = "tiles"
    light: str = "white"
    light_azimuth: float = -40.0
    light_elevation: float = 50.0
    grain: float = 0.0  # std of per-pixel noise in 0-255 units


@dataclass(frozen=True)
class Scene:
    """Everything in one clip. Render size and timing live here so a scene alone fixes the video."""

    bodies: tuple[Body, ...] = ()
    characters: tuple[Character, ...] = ()
    camera: CameraSpec = field(default_factory=CameraSpec)
    look: Look = field(default_factory=Look)
    width: int = 128
    height: int = 128
    fps: int = 16
    seconds: float = 4.0
    gravity: float = 9.81
    split: str = "train"

    @property
    def num_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))

    def with_(self, **changes: Any) -> Scene:
        """A copy with fields replaced (and validated)."""
        return dataclasses.replace(self, **changes).validate()

    # ---------------------------------------------------------------- validation
    def validate(self) -> Scene:
        """Raise SceneError naming the first bad field; return self when the scene is renderable."""
        for name, value, lo, hi in (("width", self.width, 16, MAX_SIZE), ("height", self.height, 16, MAX_SIZE)):
            if not isinstance(value, int) or not lo <= value <= hi:
                raise SceneError(f"{name}: must be an integer in [{lo}, {hi}], got {value!r}")
            if value % 2:
                raise SceneError(f"{name}: must be even (H.264 4:2:0 needs even sizes), got {value}")
        if not isinstance(self.fps, int) or not 1 <= self.fps <= 120:
            raise SceneError(f"fps: must be an integer in [1, 120], got {self.fps!r}")
        if not 0 < self.seconds <= 600:
            raise SceneError(f"seconds: must be in (0, 600], got {self.seconds!r}")
        if not 0 <= self.gravity <= 100:
            raise SceneError(f"gravity: must be in [0, 100] m/s^2, got {self.gravity!r}")
        ids = [b.id for b in self.bodies] + [c.id for c in self.characters]
        if len(set(ids)) != len(ids) or any(i <= 0 for i in ids):
            raise SceneError(f"bodies/characters: ids must be unique positive integers, got {ids}")
        for i, b in enumerate(self.bodies):
            where = f"bodies[{i}]"
            _check(b.kind in BODY_KINDS, f"{where}.kind: {b.kind!r} is not one of {BODY_KINDS}")
            _check(b.color in COLORS, f"{where}.color: {b.color!r} is not one of {sorted(COLORS)}")
            _check(b.pattern in PATTERNS, f"{where}.pattern: {b.pattern!r} is not one of {PATTERNS}")
            _check(b.material in MATERIALS, f"{where}.material: {b.material!r} is not one of {sorted(MATERIALS)}")
            _check(all(0.02 <= s <= 20 for s in b.size), f"{where}.size: half extents must be in [0.02, 20] m")
            _check(all(math.isfinite(v) for v in (*b.position, *b.velocity)), f"{where}: non-finite position")
            _check(b.facing in (-1, 1), f"{where}.facing: must be -1 or 1")
        for i, c in enumerate(self.characters):
            where = f"characters[{i}]"
            _check(c.skin in SKIN_TONES, f"{where}.skin: {c.skin!r} is not one of {sorted(SKIN_TONES)}")
            for part in ("hair", "shirt", "trousers"):
                _check(getattr(c, part) in COLORS, f"{where}.{part}: {getattr(c, part)!r} is not a palette colour")
            _check(c.hat is None or c.hat in COLORS, f"{where}.hat: {c.hat!r} is not a palette colour")
            _check(0.5 <= c.height <= 3.0, f"{where}.height: must be in [0.5, 3] m")
            _check(c.facing in (-1, 1), f"{where}.facing: must be -1 or 1")
            for j, a in enumerate(c.actions):
                _check(a.kind in ACTION_KINDS, f"{where}.actions[{j}].kind: {a.kind!r} not in {ACTION_KINDS}")
                _check(a.duration > 0 and a.start >= 0, f"{where}.actions[{j}]: start >= 0 and duration > 0")
        keys = self.camera.keys
        _check(len(keys) >= 1, "camera.keys: at least one key")
        _check(1.0 <= self.camera.fov <= 150.0, f"camera.fov: must be in [1, 150] degrees, got {self.camera.fov}")
        for j, k in enumerate(keys):
            _check(0.0 <= k.t <= 1.0, f"camera.keys[{j}].t: must be in [0, 1]")
            _check(0.05 <= k.zoom <= 20, f"camera.keys[{j}].zoom: must be in [0.05, 20]")
            _check(k.focus > 0.05, f"camera.keys[{j}].focus: must be > 0.05 m")
            _check(k.aperture == 0 or 0.5 <= k.aperture <= 64, f"camera.keys[{j}].aperture: 0 or f/0.5..f/64")
            _check(k.ease in EASINGS, f"camera.keys[{j}].ease: {k.ease!r} not in {EASINGS}")
        _check(all(keys[j].t < keys[j + 1].t for j in range(len(keys) - 1)), "camera.keys: t must increase")
        look = self.look
        _check(look.style in STYLES, f"look.style: {look.style!r} is not one of {STYLES}")
        _check(look.backdrop in BACKDROPS, f"look.backdrop: {look.backdrop!r} is not one of {sorted(BACKDROPS)}")
        _check(look.floor in FLOORS, f"look.floor: {look.floor!r} is not one of {sorted(FLOORS)}")
        _check(look.light in LIGHTS, f"look.light: {look.light!r} is not one of {sorted(LIGHTS)}")
        _check(0 <= look.grain <= 50, "look.grain: must be in [0, 50]")
        return self

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        """Build and validate a scene from `to_dict` output (or hand-written JSON)."""
        try:
            return _build(cls, data, "scene").validate()
        except TypeError as exc:  # missing / unexpected keys
            raise SceneError(str(exc)) from exc

    @classmethod
    def from_json(cls, text: str) -> Scene:
        return cls.from_dict(json.loads(text))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise SceneError(message)


_NESTED = {
    ("Scene", "bodies"): Body,
    ("Scene", "characters"): Character,
    ("Scene", "camera"): CameraSpec,
    ("Scene", "look"): Look,
    ("Character", "actions"): Action,
    ("CameraSpec", "keys"): CameraKey,
}


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """Recursively rebuild frozen dataclasses (lists become tuples) from plain JSON data."""
    if not isinstance(data, dict):
        raise SceneError(f"{where}: expected an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise SceneError(f"{where}: unknown field(s) {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        sub = _NESTED.get((cls.__name__, key))
        if sub is not None and isinstance(value, (list, tuple)):
            kwargs[key] = tuple(_build(sub, v, f"{where}.{key}[{i}]") for i, v in enumerate(value))
        elif sub is not None:
            kwargs[key] = _build(sub, value, f"{where}.{key}")
        elif isinstance(value, (list, tuple)):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)
