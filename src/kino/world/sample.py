"""Random scenes for training and evaluation, with documented in-distribution and held-out splits.

A scene comes from one *scenario* (roll, collide, throw, topple, occlude, ledge, ramp, walk), a random
look and a random camera. The splits follow PhyWorld (arXiv 2411.02385): the `train` space never
contains the held-out colour–shape pairs in OOD_PAIRS nor launch speeds in OOD_SPEED; every `ood` scene
contains at least one of them (its main object has a held-out colour–shape pair, a held-out speed, or both).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kino.world.palette import BACKDROPS, COLORS, FLOORS, LIGHTS, MATERIALS, PATTERNS, SKIN_TONES, STYLES
from kino.world.scene import Action, Body, CameraKey, CameraSpec, Character, Look, Scene

__all__ = ["sample_scene", "rack_focus", "RACK_SHARE", "SCENARIOS", "OOD_PAIRS", "TRAIN_SPEED", "OOD_SPEED", "SPLITS", "CAMERA_MOVES"]

SCENARIOS = ("roll", "collide", "throw", "topple", "occlude", "ledge", "ramp", "walk")
SCENARIO_WEIGHTS = (0.16, 0.16, 0.14, 0.1, 0.14, 0.09, 0.08, 0.13)
OOD_PAIRS = frozenset({("ball", "purple"), ("ball", "white"), ("box", "orange"), ("box", "cyan")})
TRAIN_SPEED = (0.8, 3.0)  # m/s launch speed of the main object
OOD_SPEED = (3.6, 5.0)
SPLITS = ("train", "ood")
CAMERA_MOVES = ("pan", "tilt", "zoom", "roll", "dolly", "orbit")
OBJECT_COLORS = tuple(c for c in COLORS if c != "brown")  # brown is kept for static scenery


class _Picker:
    """Seeded choices plus the scene's colour bookkeeping (object colours are unique per scene)."""

    def __init__(self, seed: int, split: str):
        self.rng = np.random.default_rng([seed, SPLITS.index(split)])
        self.split = split
        self.used: set[str] = set()
        self.next_id = 1

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def choice(self, options, p=None):
        return options[int(self.rng.choice(len(options), p=p))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def sign(self) -> int:
        return 1 if self.rng.random() < 0.5 else -1

    def id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def color(self, kind: str, held_out: bool = False) -> str:
        """A fresh colour; in train never a held-out pair, with held_out=True always one."""
        if held_out:
            options = [c for k, c in OOD_PAIRS if k == kind and c not in self.used]
        else:
            options = [c for c in OBJECT_COLORS if c not in self.used and (kind, c) not in OOD_PAIRS]
        c = self.choice(sorted(options))
        self.used.add(c)
        return c

    def speed(self, held_out: bool) -> float:
        return self.uniform(*(OOD_SPEED if held_out else TRAIN_SPEED))


def sample_scene(
    seed: int,
    split: str = "train",
    width: int = 128,
    height: int = 128,
    fps: int = 16,
    seconds: float = 4.0,
    scenario: str | None = None,
) -> Scene:
    """A random, valid scene; the same arguments always give the same scene."""
    if split not in SPLITS:
        raise ValueError(f"split: must be one of {SPLITS}, got {split!r}")
    if scenario is not None and scenario not in SCENARIOS:
        raise ValueError(f"scenario: must be one of {SCENARIOS}, got {scenario!r}")
    pk = _Picker(seed, split)
    scenario = scenario or pk.choice(SCENARIOS, p=SCENARIO_WEIGHTS)
    # OOD: hold out the colour-shape pair, the speed, or both (only where the scenario has that shape)
    ood_pair = ood_speed = False
    if split == "ood":
        mode = pk.choice(("pair", "speed", "both"))
        ood_pair, ood_speed = mode in ("pair", "both"), mode in ("speed", "both")
        if scenario in ("walk", "ramp", "ledge") and not ood_pair:
            ood_pair = True  # their main ball's speed is not launched
    bodies, chars = _SCENARIO_FNS[scenario](pk, ood_pair, ood_speed)
    if pk.chance(0.25) and scenario not in ("occlude",):  # a bystander ball at rest, far back
        r = pk.uniform(0.15, 0.3)
        bodies.append(Body(pk.id(), "ball", pk.color("ball"), (pk.uniform(-3, 3), r, pk.uniform(2.5, 4.0)), (r, r, r), pattern=pk.choice(PATTERNS), material=pk.choice(tuple(MATERIALS))))
    scene = Scene(
        bodies=tuple(bodies),
        characters=tuple(chars),
        camera=_camera(pk, scenario),
        look=_look(pk),
        width=width,
        height=height,
        fps=fps,
        seconds=seconds,
        split=split,
    )
    return scene.validate()


# ------------------------------------------------------------------------------------------- scenarios
def _ball(pk: _Picker, held_out_color: bool, x: float, z: float, v: tuple[float, float, float], y: float | None = None, r: float | None = None, material: str | None = None) -> Body:
    r = r if r is not None else pk.uniform(0.2, 0.38)
    return Body(
        pk.id(), "ball", pk.color("ball", held_out_color), (x, r if y is None else y, z), (r, r, r), v,
        pattern=pk.choice(PATTERNS, p=(0.55, 0.15, 0.15, 0.15)),
        material=material or pk.choice(("rubber", "wood", "metal", "ice"), p=(0.45, 0.25, 0.2, 0.1)),
    )


def _roll(pk, ood_pair, ood_speed):
    d = pk.sign()
    out = [_ball(pk, ood_pair, -d * pk.uniform(1.0, 2.8), pk.uniform(-1.0, 1.5), (d * pk.speed(ood_speed), 0.0, pk.uniform(-0.3, 0.3)))]
    if pk.chance(0.4):
        d2 = pk.sign()
        out.append(_ball(pk, False, -d2 * pk.uniform(0.5, 2.5), pk.uniform(2.0, 3.5), (d2 * pk.speed(False) * 0.7, 0.0, 0.0)))
    return out, []


def _collide(pk, ood_pair, ood_speed):
    d = pk.sign()
    z = pk.uniform(-1.0, 1.5)
    a = _ball(pk, ood_pair, -d * pk.uniform(1.6, 2.8), z, (d * pk.speed(ood_speed), 0.0, 0.0))
    moving = pk.chance(0.4)
    vb = (-d * pk.speed(False) * 0.6, 0.0, 0.0) if moving else (0.0, 0.0, 0.0)
    if pk.chance(0.7):
        b = _ball(pk, False, d * pk.uniform(0.0, 1.2), z + pk.uniform(-0.15, 0.15), vb)
    else:
        h = pk.uniform(0.2, 0.4)
        b = Body(pk.id(), "box", pk.color("box"), (d * pk.uniform(0.0, 1.2), h, z), (h, h, h), pattern=pk.choice(PATTERNS), material=pk.choice(tuple(MATERIALS)))
    return [a, b], []


def _throw(pk, ood_pair, ood_speed):
    d = pk.sign()
    speed = pk.speed(ood_speed)
    up = pk.uniform(2.5, 5.0)
    r = pk.uniform(0.18, 0.32)
    ball = _ball(pk, ood_pair, -d * pk.uniform(1.5, 3.0), pk.uniform(-0.5, 1.5), (d * speed, up, 0.0), y=pk.uniform(0.5, 1.5), r=r, material=pk.choice(("rubber", "rubber", "wood", "metal")))
    return [ball], []


def _topple(pk, ood_pair, ood_speed):
    d = pk.sign()
    z = pk.uniform(-0.5, 1.0)
    hx, hy = pk.uniform(0.08, 0.13), pk.uniform(0.22, 0.3)
    kind_ood = ood_pair and pk.chance(0.5)
    box = Body(pk.id(), "box", pk.color("box", kind_ood), (d * pk.uniform(0.0, 1.0), hy, z), (hx, hy, pk.uniform(0.12, 0.2)), pattern=pk.choice(PATTERNS), material=pk.choice(("wood", "ice")))
    r = pk.uniform(0.32, 0.4)
    ball = _ball(pk, ood_pair and not kind_ood, -d * pk.uniform(1.8, 2.8), z, (d * pk.speed(ood_speed), 0.0, 0.0), r=r, material="metal")
    return [ball, box], []


def _occlude(pk, ood_pair, ood_speed):
    d = pk.sign()
    wide = pk.chance(0.3)
    half = (pk.uniform(0.6, 1.0) if wide else pk.uniform(0.25, 0.45), pk.uniform(0.9, 1.4), 0.15)
    kind = "wall" if wide else "pillar"
    screen = Body(pk.id(), kind, "brown" if pk.chance(0.6) else pk.color(kind), (pk.uniform(-0.6, 0.6), half[1], pk.uniform(-2.5, -1.5)), half, pattern=pk.choice(("solid", "stripes")), material="wood")
    if pk.chance(0.3) and not (ood_pair or ood_speed):  # held-out scenes keep the (held-out) ball
        ch = _person(pk, x=-d * 3.2, z=pk.uniform(0.5, 1.5), facing=d, actions=(Action("walk", 0.0, 10.0, pk.uniform(1.2, 1.8)),))
        return [screen], [ch]
    ball = _ball(pk, ood_pair, -d * pk.uniform(2.2, 3.0), pk.uniform(0.0, 1.5), (d * pk.speed(ood_speed), 0.0, 0.0), material=pk.choice(("metal", "ice")))
    return [screen, ball], []


def _ledge(pk, ood_pair, ood_speed):
    d = pk.sign()
    top = pk.uniform(0.5, 1.0)
    half = (pk.uniform(0.8, 1.3), top / 2, 0.6)
    z = pk.uniform(-0.5, 1.0)
    cx = -d * pk.uniform(0.8, 1.6)
    plat = Body(pk.id(), "platform", "brown", (cx, top / 2, z), half, material="wood")
    r = pk.uniform(0.18, 0.3)
    ball = _ball(pk, ood_pair, cx + d * half[0] * 0.1, z, (d * pk.speed(ood_speed), 0.0, 0.0), y=top + r, r=r)
    return [plat, ball], []


def _ramp(pk, ood_pair, ood_speed):
    d = pk.sign()  # the ball rolls toward d: the ramp rises toward -d
    hx, hy = pk.uniform(0.8, 1.3), pk.uniform(0.35, 0.7)
    z = pk.uniform(-0.5, 1.0)
    cx = -d * pk.uniform(1.0, 1.8)
    ramp = Body(pk.id(), "ramp", pk.color("ramp"), (cx, hy, z), (hx, hy, 0.5), material="wood", facing=-d)
    r = pk.uniform(0.15, 0.25)
    # start a little down the slope so the ball rests on the face
    x0 = cx - d * hx * 0.7
    along = (x0 - (cx + d * hx)) * -d  # distance from the foot along x
    y_surf = along / (2 * hx) * 2 * hy
    norm_y = 2 * hx / math.hypot(2 * hy, 2 * hx)
    ball = _ball(pk, ood_pair, x0, z, (0.0, 0.0, 0.0), y=y_surf + r / norm_y + 0.01, r=r, material=pk.choice(("rubber", "wood", "metal")))
    return [ramp, ball], []


def _walk(pk, ood_pair, ood_speed):
    d = pk.sign()
    z = pk.uniform(-0.5, 1.0)
    speed = pk.uniform(0.8, 1.6)
    acts = [Action("walk", 0.0, pk.uniform(2.0, 4.0), speed)]
    if pk.chance(0.4):
        acts.append(Action("jump", pk.uniform(0.8, 2.5), 0.6, speed=0.0, height=pk.uniform(0.3, 0.6)))  # walking carries it
    if pk.chance(0.3):
        acts.append(Action("turn", pk.uniform(2.2, 3.2), 0.4))
    ch = _person(pk, x=-d * pk.uniform(2.0, 3.0), z=z, facing=d, actions=tuple(acts))
    out: list[Body] = []
    if pk.chance(0.6):  # a ball in the path gets kicked
        out.append(_ball(pk, ood_pair, -d * pk.uniform(0.0, 1.0), z, (0.0, 0.0, 0.0), r=pk.uniform(0.15, 0.25), material="rubber"))
    elif ood_pair:
        out.append(_ball(pk, True, d * 2.5, z + 1.5, (0.0, 0.0, 0.0)))
    return out, [ch]


_SCENARIO_FNS = {"roll": _roll, "collide": _collide, "throw": _throw, "topple": _topple, "occlude": _occlude, "ledge": _ledge, "ramp": _ramp, "walk": _walk}


def _person(pk: _Picker, x: float, z: float, facing: int, actions: tuple[Action, ...]) -> Character:
    free = [c for c in OBJECT_COLORS if c not in pk.used]
    shirt = pk.choice(free)
    pk.used.add(shirt)
    return Character(
        pk.id(), (x, 0.0, z),
        skin=pk.choice(tuple(SKIN_TONES)),
        hair=pk.choice(("black", "brown", "yellow", "orange")),
        shirt=shirt,
        trousers=pk.choice(("blue", "black", "brown", "green")),
        hat=pk.choice(("red", "yellow", "green", "blue", "black")) if pk.chance(0.35) else None,
        height=pk.uniform(1.3, 1.7),
        facing=facing,
        actions=actions,
    )


# ------------------------------------------------------------------------------------------- look and camera
def _look(pk: _Picker) -> Look:
    style = pk.choice(STYLES, p=(0.3, 0.5, 0.2))
    return Look(
        style=style,
        backdrop="studio" if style == "contrast" and pk.chance(0.7) else pk.choice(tuple(BACKDROPS)),
        floor=pk.choice(tuple(FLOORS)),
        light=pk.choice(tuple(LIGHTS)),
        light_azimuth=pk.uniform(-80, 80),
        light_elevation=pk.uniform(30, 70),
    )


RACK_SHARE = 0.5  # of the training clips with depth of field, the share whose focus is pulled (kino.world.data)


def rack_focus(camera: CameraSpec, rng: np.random.Generator) -> tuple[CameraKey, CameraKey]:
    """The camera's keys with a rack focus: the focus pulled smoothly across the clip between the subjects'
    distance (where the shot is framed) and 6-10 m behind them, either way, at f/1.2-2.0 (wide open: a pull a
    viewer sees). The camera keeps its own path (first and last key). Shared by training data and the eval
    suite's rack-focus cases, so both see the same pulls."""
    dist = float(np.linalg.norm(np.subtract(camera.position, camera.target)))
    a, b = dist, dist + float(rng.uniform(6.0, 10.0))
    a, b = (a, b) if rng.random() < 0.5 else (b, a)
    ap = float(rng.uniform(1.2, 2.0))
    first, last = camera.keys[0], camera.keys[-1]
    return dataclasses.replace(first, focus=a, aperture=ap), dataclasses.replace(last, t=1.0, focus=b, aperture=ap, ease="smooth")


def _camera(pk: _Picker, scenario: str) -> CameraSpec:
    dist = pk.uniform(4.5, 6.5)
    height = pk.uniform(0.8, 2.0)
    start = CameraKey(t=0.0, focus=dist, aperture=0.0)
    end = None
    if pk.chance(0.4):
        move = pk.choice(CAMERA_MOVES)
        amount = {
            "pan": pk.sign() * pk.uniform(8, 20),
            "tilt": pk.sign() * pk.uniform(5, 12),
            "zoom": math.exp(pk.sign() * pk.uniform(0.25, 0.6)),
            "roll": pk.sign() * pk.uniform(8, 20),
            "dolly": pk.sign() * pk.uniform(1.0, 2.5),
            "orbit": pk.sign() * pk.uniform(10, 25),
        }[move]
        end = CameraKey(t=1.0, focus=dist, ease=pk.choice(("smooth", "linear")), **{move: amount})
    if pk.chance(0.2):  # depth of field: focus on the middle distance or on the far field
        focus = dist + pk.uniform(-2.0, 3.0)
        ap = pk.uniform(1.4, 4.0)
        start = CameraKey(t=0.0, focus=focus, aperture=ap)
        if end is not None:
            end = CameraKey(**{**end.__dict__, "focus": focus, "aperture": ap})
    keys = (start,) if end is None else (start, end)
    return CameraSpec(position=(0.0, height, -dist), target=(0.0, pk.uniform(0.4, 0.9), 0.0), fov=pk.uniform(40, 50), keys=keys)
