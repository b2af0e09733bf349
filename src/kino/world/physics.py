"""Deterministic rigid-body physics for Kino World.

Fixed sub-steps (at least 128 Hz); free flight integrated exactly under constant gravity
(x += v dt + g dt^2 / 2), so free-flight tracks are exact parabolas. Contacts are impulses along the
contact normal with restitution e = min(e_a, e_b) (momentum is exchanged exactly between dynamic
bodies; static things and floors have infinite mass); Coulomb-style sliding friction for boxes and a
rolling resistance for balls only ever remove speed, so mechanical energy never increases without a
cause (a character's kick is the one external cause, and it is an event).

Tall boxes struck above their centre of mass topple when the impact's angular kinetic energy about the
far bottom edge exceeds the potential barrier m g (sqrt(hx^2 + hy^2) - hy); they then pivot about that
edge under gravity until they lie flat (a one-degree-of-freedom pivot, exact up to the sub-step).

Every event is stamped with the first frame at or after the time it happened, so in rendered frames an
effect (a struck body moving, dust) never precedes its cause.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from kino.world.palette import MATERIALS
from kino.world.scene import Body, Character, Scene

__all__ = ["Event", "Particle", "Motion", "simulate", "character_state", "body_mass"]

SUBSTEP_HZ = 128
BOUNCE_SPEED = 0.5  # m/s vertical impact that counts as a bounce (and below which contacts rest)
DUST_SPEED = 1.2  # m/s impact speed that raises dust
COLLIDE_SPEED = 0.05


@dataclass(frozen=True)
class Event:
    """Something that happened: type, first frame showing it, time (s), object ids, where, how hard."""

    type: str
    frame: int
    time: float
    objects: tuple[int, ...]
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    speed: float = 0.0

    def to_dict(self) -> dict:
        return {
            "type": self.type,
            "frame": self.frame,
            "time": round(self.time, 5),
            "objects": list(self.objects),
            "position": [round(v, 4) for v in self.position],
            "speed": round(self.speed, 4),
        }


@dataclass(frozen=True)
class Particle:
    """A dust mote: spawned by event `cause` at time t0, ballistic with drag-free light gravity."""

    t0: float
    position: tuple[float, float, float]
    velocity: tuple[float, float, float]
    life: float
    size: float
    cause: int  # index into Motion.events

    def at(self, t: float) -> tuple[float, float, float, float] | None:
        """(x, y, z, alpha) at time t, or None before spawn / after death."""
        tau = t - self.t0
        if tau < 0 or tau > self.life:
            return None
        x = self.position[0] + self.velocity[0] * tau
        y = max(0.0, self.position[1] + self.velocity[1] * tau - 0.5 * 2.0 * tau * tau)
        z = self.position[2] + self.velocity[2] * tau
        return x, y, z, 1.0 - tau / self.life


@dataclass
class Motion:
    """Per-frame state of every body and character, plus events and particles."""

    times: np.ndarray  # (T,)
    positions: np.ndarray  # (T, B, 3) body centres (static bodies constant)
    velocities: np.ndarray  # (T, B, 3)
    angles: np.ndarray  # (T, B) rotation about world z, radians
    spins: np.ndarray  # (T, B) angular velocity about z, rad/s (rolling, toppling)
    half_extents: np.ndarray  # (T, B, 3) current axis-aligned half extents (after toppling)
    char_positions: np.ndarray  # (T, C, 3) feet
    char_velocities: np.ndarray  # (T, C, 3)
    char_facing: np.ndarray  # (T, C) in [-1, 1]; passes through 0 while turning
    char_phase: np.ndarray  # (T, C) walk-cycle phase, radians
    events: list[Event] = field(default_factory=list)
    particles: list[Particle] = field(default_factory=list)


def body_mass(b: Body) -> float:
    """Mass from material density and volume (kg, with density in t/m^3)."""
    hx, hy, hz = b.size
    vol = 4.0 / 3.0 * math.pi * hx**3 if b.kind == "ball" else 8.0 * hx * hy * hz
    return MATERIALS[b.material].density * 1000.0 * vol


# ------------------------------------------------------------------------------------------- characters
def character_state(c: Character, t: float, gravity: float) -> tuple[list[float], list[float], float, float]:
    """Feet position, velocity, facing in [-1, 1] and walk phase of a character at time t (closed form).

    Walking follows the current facing: a turn flips the walking direction at its midpoint.
    """
    x, y, z = c.position
    acts = sorted(c.actions, key=lambda a: a.start)
    flips = sorted(a.start + a.duration / 2 for a in acts if a.kind == "turn")

    def heading(at: float) -> float:
        return float(c.facing) * (-1.0) ** sum(1 for f in flips if f <= at)

    def travel(a0: float, a1: float, speed: float) -> float:
        """Signed distance walked at `speed` over [a0, a1], split at the turn midpoints."""
        cuts = [a0] + [f for f in flips if a0 < f < a1] + [a1]
        return sum(speed * heading(lo) * (hi - lo) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True))

    facing = float(c.facing)
    phase = vx = vy = 0.0
    for a in acts:
        if t <= a.start:
            break
        dur = _jump_time(a, gravity) if a.kind == "jump" else a.duration
        end = min(t, a.start + dur)
        active = t < a.start + dur
        if a.kind == "walk" or (a.kind == "jump" and a.speed > 0):
            x += travel(a.start, end, a.speed)
            if active:
                vx += heading(t) * a.speed
            if a.kind == "walk":
                phase += a.speed * (end - a.start) / 0.9 * 2 * math.pi  # stride 0.9 m per cycle
        if a.kind == "jump" and active:
            v0 = math.sqrt(2 * gravity * a.height) if gravity > 0 else 0.0
            tau = t - a.start
            y += v0 * tau - 0.5 * gravity * tau * tau
            vy = v0 - gravity * tau
        elif a.kind == "turn":
            frac = min((t - a.start) / a.duration, 1.0)
            before = heading(a.start)
            facing = before * math.cos(math.pi * frac) if frac < 1 else -before
    return [x, max(0.0, y), z], [vx, vy, 0.0], facing, phase


def _jump_time(a, gravity: float) -> float:
    return 2 * math.sqrt(2 * a.height / gravity) if gravity > 0 else a.duration


def _char_box(c: Character, pos: list[float]) -> tuple[list[float], list[float]]:
    """Axis-aligned collision box of a character: centre and half extents."""
    h = c.height
    return [pos[0], pos[1] + h / 2, pos[2]], [0.16 * h, h / 2, 0.12 * h]


# ------------------------------------------------------------------------------------------- simulation
class _Dyn:
    """Mutable state of one dynamic body during simulation."""

    def __init__(self, index: int, b: Body):
        self.index, self.body = index, b
        self.p = list(b.position)
        self.v = list(b.velocity)
        self.angle = b.angle
        self.spin = 0.0
        self.h = list(b.size)
        if b.kind == "box" and abs(math.sin(b.angle)) > 0.7:
            self.h = [b.size[1], b.size[0], b.size[2]]
        self.m = body_mass(b)
        self.mat = MATERIALS[b.material]
        self.ball = b.kind == "ball"
        self.pivot: tuple | None = None  # (pivot x, side, theta, omega, alpha0, radius, inertia) while toppling
        self.support: int | None = None  # 0 = floor, body id of a static top, None = airborne
        self.moved = False


def simulate(scene: Scene) -> Motion:
    """Run the scene's physics and sample every body and character at each frame time."""
    scene.validate()
    fps, n_frames, g = scene.fps, scene.num_frames, scene.gravity
    sub = max(4, math.ceil(SUBSTEP_HZ / fps))
    dt = 1.0 / (fps * sub)
    bodies = scene.bodies
    dyn = [_Dyn(i, b) for i, b in enumerate(bodies) if not b.static]
    statics = [b for b in bodies if b.static]
    B, C = len(bodies), len(scene.characters)
    out = Motion(
        times=np.arange(n_frames) / fps,
        positions=np.zeros((n_frames, B, 3)),
        velocities=np.zeros((n_frames, B, 3)),
        angles=np.zeros((n_frames, B)),
        spins=np.zeros((n_frames, B)),
        half_extents=np.zeros((n_frames, B, 3)),
        char_positions=np.zeros((n_frames, C, 3)),
        char_velocities=np.zeros((n_frames, C, 3)),
        char_facing=np.zeros((n_frames, C)),
        char_phase=np.zeros((n_frames, C)),
    )
    for i, b in enumerate(bodies):
        out.positions[:, i] = b.position
        out.angles[:, i] = b.angle
        out.half_extents[:, i] = b.size
    sim = _Sim(scene, dyn, statics, dt, out)
    rng = np.random.default_rng(_seed_of(scene))
    for f in range(n_frames):
        t = f / fps
        for d in dyn:
            out.positions[f, d.index] = d.p
            out.velocities[f, d.index] = d.v
            out.angles[f, d.index] = d.angle
            out.spins[f, d.index] = d.spin
            out.half_extents[f, d.index] = d.h
        for ci, c in enumerate(scene.characters):
            pos, vel, facing, phase = character_state(c, t, g)
            out.char_positions[f, ci], out.char_velocities[f, ci] = pos, vel
            out.char_facing[f, ci], out.char_phase[f, ci] = facing, phase
        if f == n_frames - 1:
            break
        for s in range(sub):
            sim.step(t + s * dt)
    _character_events(scene, out)
    out.events.sort(key=lambda e: (e.time, e.type, e.objects))
    out.particles = _dust(out.events, rng)
    return out


def _seed_of(scene: Scene) -> int:
    return zlib.crc32(scene.to_json().encode())


class _Sim:
    """One sub-step at a time: integrate, resolve floor / static / pair / character contacts."""

    def __init__(self, scene: Scene, dyn: list[_Dyn], statics: list[Body], dt: float, out: Motion):
        self.scene, self.dyn, self.statics, self.dt, self.out = scene, dyn, statics, dt, out
        self.g = scene.gravity
        self.touching: set[tuple[int, int]] = set()

    def event(self, kind: str, t: float, ids: tuple[int, ...], pos, speed: float) -> None:
        frame = min(math.ceil(t * self.scene.fps - 1e-9), self.scene.num_frames - 1)
        self.out.events.append(Event(kind, frame, t, ids, tuple(float(p) for p in pos), float(speed)))

    def step(self, t: float) -> None:
        dt, g = self.dt, self.g
        t1 = t + dt
        for d in self.dyn:
            if d.pivot is not None:
                self._pivot(d, t1)
                continue
            d.p[0] += d.v[0] * dt
            d.p[1] += d.v[1] * dt - 0.5 * g * dt * dt
            d.p[2] += d.v[2] * dt
            d.v[1] -= g * dt
            d.support = None
        for d in self.dyn:
            if d.pivot is None:
                self._floor(d, t1)
                for s in self.statics:
                    self._static(d, s, t1)
        touching: set[tuple[int, int]] = set()
        for i, a in enumerate(self.dyn):
            for b in self.dyn[i + 1 :]:
                if a.pivot is None and b.pivot is None and self._pair(a, b, t1):
                    touching.add((a.body.id, b.body.id))
        for c in self.scene.characters:
            self._character(c, t1, touching)
        self.touching = touching
        for d in self.dyn:
            if d.pivot is None:
                self._friction(d)

    # -------------------------------------------------------------------------------- contacts
    def _floor(self, d: _Dyn, t: float) -> None:
        bottom = d.p[1] - d.h[1]
        if bottom >= 0:
            return
        d.p[1] -= bottom
        self._bounce(d, [0.0, 1.0, 0.0], d.mat.restitution, t, (d.body.id,), "bounce")
        d.support = 0

    def _bounce(self, d: _Dyn, n: list[float], e: float, t: float, ids: tuple[int, ...], kind: str) -> None:
        """Reflect the normal velocity against an immovable surface with normal n (unit)."""
        vn = d.v[0] * n[0] + d.v[1] * n[1] + d.v[2] * n[2]
        if vn >= 0:
            return
        # slow contacts rest instead of bouncing forever (no micro-bounces)
        e_eff = e if -vn > BOUNCE_SPEED else 0.0
        k = -(1 + e_eff) * vn
        d.v = [d.v[0] + k * n[0], d.v[1] + k * n[1], d.v[2] + k * n[2]]
        if -vn > BOUNCE_SPEED:
            pos = [d.p[0] - n[0] * d.h[0], d.p[1] - n[1] * d.h[1], d.p[2] - n[2] * d.h[2]]
            self.event(kind if n[1] > 0.7 else "hit", t, ids, pos, -vn)

    def _static(self, d: _Dyn, s: Body, t: float) -> None:
        if s.kind == "ramp":
            self._ramp(d, s, t)
            return
        n, depth = _overlap(d, s.position, s.size)
        if depth <= 0:
            return
        d.p = [d.p[i] + n[i] * depth for i in range(3)]
        self._bounce(d, n, min(d.mat.restitution, MATERIALS[s.material].restitution), t, (d.body.id, s.id), "bounce")
        if n[1] > 0.7:
            d.support = s.id

    def _ramp(self, d: _Dyn, s: Body, t: float) -> None:
        """Contact with a wedge's slope face (rising toward s.facing) and its top edge."""
        (cx, cy, cz), (hx, hy, hz) = s.position, s.size
        if abs(d.p[2] - cz) > hz + d.h[2]:
            return
        f = s.facing
        low = (cx - f * hx, cy - hy)  # foot of the slope
        nx, ny = -f * 2 * hy, 2 * hx
        norm = math.hypot(nx, ny)
        nx, ny = nx / norm, ny / norm
        along = (d.p[0] - low[0]) * f
        if not -0.0 <= along <= 2 * hx:
            return
        dist = (d.p[0] - low[0]) * nx + (d.p[1] - low[1]) * ny
        r = d.h[1]
        if dist >= r or dist < -r:
            return
        depth = r - dist
        d.p[0] += nx * depth
        d.p[1] += ny * depth
        self._bounce(d, [nx, ny, 0.0], min(d.mat.restitution, MATERIALS[s.material].restitution), t, (d.body.id, s.id), "bounce")
        d.support = s.id

    def _pair(self, a: _Dyn, b: _Dyn, t: float) -> bool:
        if a.ball and b.ball:
            dx = [b.p[i] - a.p[i] for i in range(3)]
            dist = math.sqrt(dx[0] ** 2 + dx[1] ** 2 + dx[2] ** 2)
            depth = a.h[0] + b.h[0] - dist
            if depth <= 0 or dist == 0:
                return False
            n = [v / dist for v in dx]  # from a to b
        else:
            box, other = (b, a) if a.ball else (a, b)
            n, depth = _overlap(other, box.p, box.h)  # normal pushes `other` out of `box`
            if depth <= 0:
                return False
            if box is b:
                n = [-v for v in n]  # normal from a to b
        inv_a, inv_b = 1.0 / a.m, 1.0 / b.m
        # positional split by inverse mass: no momentum change
        a.p = [a.p[i] - n[i] * depth * inv_a / (inv_a + inv_b) for i in range(3)]
        b.p = [b.p[i] + n[i] * depth * inv_b / (inv_a + inv_b) for i in range(3)]
        vrel = sum((b.v[i] - a.v[i]) * n[i] for i in range(3))
        if vrel >= 0:
            return True
        e = min(a.mat.restitution, b.mat.restitution)
        j = -(1 + e) * vrel / (inv_a + inv_b)
        a.v = [a.v[i] - j * n[i] * inv_a for i in range(3)]
        b.v = [b.v[i] + j * n[i] * inv_b for i in range(3)]
        key = (a.body.id, b.body.id)
        if -vrel > COLLIDE_SPEED and key not in self.touching:
            contact = [a.p[i] + n[i] * (a.h[0] if a.ball else 0.0) for i in range(3)]
            self.event("collision", t, key, contact, -vrel)
        for box, other, sign in ((a, b, -1.0), (b, a, 1.0)):
            if not box.ball and box.body.kind == "box":
                self._maybe_topple(box, other, [sign * j * n[0], 0.0, 0.0], t)
        return True

    def _maybe_topple(self, box: _Dyn, hitter: _Dyn, impulse: list[float], t: float) -> None:
        """Start a pivot about the far bottom edge when the hit brings enough angular energy."""
        hx, hy = box.h[0], box.h[1]
        if hy < 1.3 * hx or box.support is None or abs(impulse[0]) < 1e-9:
            return
        lever = hitter.p[1] - (box.p[1] - hy)  # height of the hit above the ground
        if lever <= hy:
            return
        inertia = box.m * ((2 * hx) ** 2 + (2 * hy) ** 2) / 3.0
        # the kinetic energy the hit gave the box becomes rotation about the edge (never more: a free-body
        # impulse applied at a lever to a pivoted body would otherwise create energy)
        omega = math.sqrt(box.m / inertia) * math.hypot(box.v[0], box.v[2])
        radius = math.hypot(hx, hy)
        if 0.5 * inertia * omega**2 <= box.m * self.g * (radius - hy):
            return
        side = 1.0 if impulse[0] > 0 else -1.0
        # from here the box turns about its far bottom edge: its centre moves on a circle around it
        alpha0 = math.atan2(hx, hy)
        box.v = [side * radius * omega * math.cos(alpha0), radius * omega * math.sin(alpha0), 0.0]
        box.spin = -side * omega
        box.pivot = (box.p[0] + side * hx, box.p[1] - hy, side, 0.0, omega, alpha0, radius, inertia)
        self.event("topple", t, (box.body.id, hitter.body.id), (box.p[0], box.p[1] + hy, box.p[2]), omega)

    def _pivot(self, d: _Dyn, t: float) -> None:
        px, py, side, theta, omega, alpha0, radius, inertia = d.pivot
        acc = d.m * self.g * radius * math.sin(theta - alpha0) / inertia
        omega += acc * self.dt
        theta += omega * self.dt
        hx, hy = d.body.size[0], d.body.size[1]
        if theta >= math.pi / 2:  # lies flat on the far side
            theta = math.pi / 2
            d.pivot = None
            d.h = [hy, hx, d.h[2]]
            d.p = [px + side * hy, py + hx, d.p[2]]
            d.angle = d.body.angle - side * math.pi / 2
            d.v, d.spin = [0.0, 0.0, 0.0], 0.0
            self.event("fall", t, (d.body.id,), (d.p[0], 0.0, d.p[2]), omega * radius)
            return
        ang = alpha0 - theta  # angle of the pivot→centre vector from vertical, toward -side
        d.p = [px - side * radius * math.sin(ang), py + radius * math.cos(ang), d.p[2]]
        d.v = [side * radius * omega * math.cos(ang), radius * omega * math.sin(ang), 0.0]
        d.angle = d.body.angle - side * theta
        d.spin = -side * omega
        d.pivot = (px, py, side, theta, omega, alpha0, radius, inertia)

    def _character(self, c: Character, t: float, touching: set[tuple[int, int]]) -> None:
        pos, vel, _, _ = character_state(c, t, self.g)
        centre, half = _char_box(c, pos)
        for d in self.dyn:
            if d.pivot is not None:
                continue
            n, depth = _overlap(d, centre, half)
            if depth <= 0:
                continue
            d.p = [d.p[i] + n[i] * depth for i in range(3)]
            vrel = sum((d.v[i] - vel[i]) * n[i] for i in range(3))
            if vrel < 0:  # the character is kinematic (infinite mass): reflect in its frame
                k = -(1 + d.mat.restitution) * vrel
                d.v = [d.v[i] + k * n[i] for i in range(3)]
                key = (c.id, d.body.id)
                if key not in self.touching:
                    self.event("kick", t, key, d.p, -vrel)
            touching.add((c.id, d.body.id))

    def _friction(self, d: _Dyn) -> None:
        if d.support is None:
            if d.ball:
                pass  # spin is kept in flight
            return
        speed = math.hypot(d.v[0], d.v[2])
        decel = (d.mat.rolling if d.ball else d.mat.friction) * self.g * self.dt
        if speed > 0:
            k = max(0.0, speed - decel) / speed
            d.v[0] *= k
            d.v[2] *= k
        if d.ball:
            d.spin = -d.v[0] / d.h[0]  # rolling without slipping, seen from the camera
        d.angle += d.spin * self.dt


def _overlap(d: _Dyn, centre, half) -> tuple[list[float], float]:
    """Contact normal (pushing d out of the box) and penetration depth of d against an AABB."""
    if d.ball:
        q = [min(max(d.p[i], centre[i] - half[i]), centre[i] + half[i]) for i in range(3)]
        dx = [d.p[i] - q[i] for i in range(3)]
        dist = math.sqrt(dx[0] ** 2 + dx[1] ** 2 + dx[2] ** 2)
        r = d.h[0]
        if dist > 1e-9:
            return [v / dist for v in dx], r - dist
        # centre inside the box: leave along the axis of least penetration
    gaps = [(half[i] + d.h[i]) - abs(d.p[i] - centre[i]) for i in range(3)]
    axis = min(range(3), key=lambda i: gaps[i])
    if gaps[axis] <= 0:
        return [0.0, 0.0, 0.0], 0.0
    n = [0.0, 0.0, 0.0]
    n[axis] = 1.0 if d.p[axis] >= centre[axis] else -1.0
    return n, gaps[axis]


def _character_events(scene: Scene, out: Motion) -> None:
    """Jumps, landings and turns from the action scripts."""
    fps = scene.fps
    end = scene.seconds
    for c in scene.characters:
        for a in c.actions:
            if a.start >= end:
                continue
            frame = min(math.ceil(a.start * fps - 1e-9), scene.num_frames - 1)
            feet = tuple(float(v) for v in character_state(c, a.start, scene.gravity)[0])
            if a.kind in ("jump", "turn", "walk"):
                out.events.append(Event(a.kind, frame, a.start, (c.id,), feet, a.speed if a.kind == "walk" else 0.0))
            if a.kind == "jump":
                tl = a.start + _jump_time(a, scene.gravity)
                if tl < end:
                    at = tuple(float(v) for v in character_state(c, tl, scene.gravity)[0])
                    out.events.append(Event("land", min(math.ceil(tl * fps - 1e-9), scene.num_frames - 1), tl, (c.id,), at))


def _dust(events: list[Event], rng: np.random.Generator) -> list[Particle]:
    """Dust puffs at hard contacts; each particle is born at its cause's time, never before."""
    particles: list[Particle] = []
    for i, e in enumerate(events):
        if e.type not in ("bounce", "fall", "land", "hit") or e.speed < DUST_SPEED and e.type != "fall":
            continue
        count = int(min(10, 3 + 2 * e.speed))
        for _ in range(count):
            ang = rng.uniform(0, 2 * math.pi)
            sp = rng.uniform(0.3, 0.9) * min(2.0, 0.5 + 0.3 * e.speed)
            vel = (math.cos(ang) * sp, rng.uniform(0.2, 0.8), math.sin(ang) * sp * 0.5)
            pos = (e.position[0], max(0.02, e.position[1]), e.position[2])
            particles.append(Particle(e.time, pos, vel, float(rng.uniform(0.4, 0.7)), float(rng.uniform(0.025, 0.045)), i))
    return particles
