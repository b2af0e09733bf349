"""Natural-language captions of a rendered Kino World clip: structured facts, then several paraphrases.

`facts` reads claims off the simulation, the measured tracks and the scene (who is there, which way things
move, what happens in what order, the camera and the look); `captions` words them. A claim that is
ambiguous (a direction a camera move could explain, an event off screen, a bounce too small to see) is
dropped rather than guessed, so every caption stays true to the ground truth.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, replace

import numpy as np

from kino.world.palette import MATERIALS
from kino.world.render import Clip
from kino.world.scene import STATIC_KINDS
from kino.world.truth import measure_tracks, visibility_events

__all__ = ["named_captions", "Fact", "facts", "captions"]

Tracks = dict[int, dict[str, np.ndarray]]

MOVING = 0.2  # m/s: slower than this is at rest
SEEN_VISIBLE, SEEN_AREA = 0.3, 4.0  # an object is seen in a frame with this share and pixel count visible
BOUNCE_RISE = 0.1  # m: a bounce is worth saying when the rebound rises at least this high

_PATTERN = {"solid": "", "stripes": "striped", "checker": "checkered", "dots": "polka-dot"}
_MATERIAL = {"rubber": "rubber", "wood": "wooden", "metal": "metal", "ice": "icy"}
_NOUNS = {"ball": ("ball", "sphere"), "box": ("box", "crate", "block"), "ramp": ("ramp", "slope"),
          "platform": ("platform", "ledge"), "pillar": ("pillar", "column"), "wall": ("wall", "panel"),
          "person": ("person", "figure")}
_NUMBER = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_ORDINAL = ("first", "second", "third", "fourth", "fifth", "sixth")
_VERB = {"roll": "rolls", "slide": "slides", "walk": "walks", "fly": "flies", "drop": "falls"}
# Wordings; the first is the canonical one. {0} is the other object, {d} the subject's direction.
_EVENT = {
    "bounce": ("bounces", "bounces on the floor", "bounces off the floor"),
    "bounce_many": ("bounces several times", "bounces a few times"),
    "hit": ("hits {0}", "bumps into {0}", "strikes {0}"),
    "collide": ("hits {0}", "collides with {0}", "bumps into {0}"),
    "crash": ("crashes into {0}", "hits {0}", "slams into {0}"),
    "meet": ("move toward each other and collide", "collide head-on"),
    "topple": ("knocks over {0}", "knocks {0} over", "topples {0}"), "kick": ("kicks {0}", "gives {0} a kick"),
    "jump": ("jumps", "jumps into the air", "leaps up"), "turn": ("turns around", "turns to face the other way"),
    "occlude": ("passes behind {0}", "goes behind {0}", "disappears behind {0}"),
    "pass_front": ("passes in front of {0}", "crosses in front of {0}"),
    "emerge": ("reappears", "comes out again", "emerges again"),
    "exit": ("leaves the frame", "goes out of view", "leaves the shot"),
    "enter": ("comes into view", "enters the frame"),
    "fall_off": ("rolls off the edge of {0}", "falls off {0}", "drops off the edge of {0}"),
    "roll_down": ("rolls {d}down {0}",),
}
_CAMERA = {"pan": ("pans {d}",), "tilt": ("tilts {d}",), "zoom": ("zooms {d}",), "roll": ("rolls {d}",),
           "dolly": ("dollies {d}", "moves {d}"), "orbit": ("orbits {d}", "circles {d}")}
_STYLE = {"flat": ("a flat cartoon style", "a simple cartoon look", "a flat cartoon look"),
          "shaded": ("a softly shaded 3D style", "a shaded 3D look", "a soft 3D look"),
          "contrast": ("a high-contrast style", "a stark high-contrast look", "a hard-shadowed high-contrast look")}
_FLOOR = {"tiles": ("a tiled floor", "tiles"), "wood": ("a wooden floor", "wooden boards"),
          "grass": ("grass", "a lawn"), "concrete": ("a concrete floor", "bare concrete")}
_BACKDROP = {"sky": ("under a pale sky", "beneath a hazy sky"), "dusk": ("under a dusk sky", "at dusk"),
             "wall": ("against a plain back wall", "by a plain back wall"),
             "studio": ("in a dim studio", "in a dark studio")}
_TINT = {"warm": "warm", "cool": "cool", "white": "neutral"}  # "white light" would name a palette colour


@dataclass(frozen=True)
class Fact:
    """One claim a caption may make: its kind, the object ids it is about (agent first) and typed details."""

    kind: str  # object | count | motion | event | relation | camera | style | light | setting
    subjects: tuple[int, ...] = ()
    value: str = ""  # moving/still/scenery, direction, event, relation, camera move, style, tint, floor
    detail: str = ""  # tall/background, manner of motion, camera direction, light side, backdrop
    shape: str = ""  # body kind or "person"
    color: str = ""
    pattern: str = "solid"
    material: str = ""
    count: int = 0
    frame: int = 0
    parts: tuple[tuple[str, str], ...] = ()  # a person's identity, e.g. (("shirt", "red"), ("hat", "yellow"))


class _World:
    """Per-object arrays the extractors share: 3-D centres and velocities, tracks, what was seen."""

    def __init__(self, clip: Clip, tracks: Tracks):
        sc, m = clip.scene, clip.motion
        self.clip, self.sc, self.m, self.tracks = clip, sc, m, tracks
        self.bodies = {b.id: b for b in sc.bodies}
        self.chars = {c.id: c for c in sc.characters}
        self.pos = {b.id: m.positions[:, i] for i, b in enumerate(sc.bodies)}
        self.vel = {b.id: m.velocities[:, i] for i, b in enumerate(sc.bodies)}
        for j, c in enumerate(sc.characters):
            self.pos[c.id] = m.char_positions[:, j] + np.array([0.0, c.height / 2, 0.0])
            self.vel[c.id] = m.char_velocities[:, j]
        self.vis = {i: (t["visible"] >= SEEN_VISIBLE) & (t["area"] >= SEEN_AREA) for i, t in tracks.items()}
        self.seen = {i for i, v in self.vis.items() if v.any()}

    def shape(self, oid: int) -> str:
        return self.bodies[oid].kind if oid in self.bodies else "person"

    def travel(self, oid: int) -> float:
        return float(np.linalg.norm(self.pos[oid] - self.pos[oid][0], axis=1).max())

    def speed(self, oid: int, f: int) -> float:
        return float(np.linalg.norm(self.vel[oid][max(f, 0)]))

    def shown(self, oid: int, f: int) -> bool:
        inside = self.tracks[oid]["in_frame"]
        return oid in self.seen and max(inside[f], inside[max(f - 1, 0)]) >= 0.2

    def depth0(self, oid: int) -> float:
        return float(self.clip.cameras[0].to_camera(self.pos[oid][0])[2])

    def direction(self, oid: int) -> str:
        """left/right when the screen track and the 3-D motion agree and the track is near monotonic."""
        vis = np.flatnonzero(self.vis[oid])
        if len(vis) < 2:
            return ""
        f0, f1, cams = int(vis[0]), int(vis[-1]), self.clip.cameras
        x = self.tracks[oid]["xy"][vis, 0]
        dx, path = float(x[-1] - x[0]), float(np.abs(np.diff(x)).sum())
        shift = self.pos[oid][f1] - self.pos[oid][f0]
        world_x = float(shift @ (cams[f0].rotation[0] + cams[f1].rotation[0]) / 2)  # along the camera's right
        world_z = float(shift @ cams[f0].rotation[2])
        if abs(dx) >= max(4.0, 0.08 * self.sc.width) and abs(dx) >= 0.75 * path and abs(world_x) >= 0.3:
            return ("right" if dx > 0 else "left") if dx * world_x > 0 else ""  # else a camera move explains it
        area = self.tracks[oid]["area"][vis]
        if abs(world_z) >= 1.0 and abs(world_z) > 2 * abs(world_x) and (area[-1] > area[0]) == (world_z < 0):
            return "toward the camera" if world_z < 0 else "away from the camera"
        return ""


def facts(clip: Clip, tracks: Tracks | None = None) -> list[Fact]:
    """The structured claims a caption may make, in caption order: who, counts, motion, events, relation, look."""
    w = _World(clip, tracks if tracks is not None else measure_tracks(clip))
    out = _objects(w)
    for kind in sorted({w.shape(i) for i in w.seen} - set(STATIC_KINDS)):
        every = [i for i in w.pos if w.shape(i) == kind]
        if all(i in w.seen for i in every):  # a count includes every one, so every one must be seen
            out.append(Fact("count", tuple(sorted(every)), shape=kind, count=len(every)))
    events = _events(w)
    toppled = {f.subjects[1] for f in events if f.value == "topple"}
    walkers = {e.objects[0] for e in w.m.events if e.type == "walk"}
    for oid in [f.subjects[0] for f in out if f.value == "moving" and w.travel(f.subjects[0]) > 0.15]:
        fast = np.flatnonzero(np.linalg.norm(w.vel[oid], axis=1) > MOVING)
        start = int(fast[0]) if len(fast) else 0
        if oid in w.chars and oid not in walkers:
            continue  # a person moved by a jump alone does not walk
        b, p = w.bodies.get(oid), w.pos[oid][start]
        how = "walk" if b is None else "roll" if b.kind == "ball" else "slide"
        if b is not None and p[1] - b.size[1] > 0.05 and not any(  # in the air, not on a ramp or platform
                abs(p[0] - s.position[0]) < s.size[0] and abs(p[2] - s.position[2]) < s.size[2] + b.size[2]
                and p[1] - b.size[1] < s.position[1] + s.size[1] + 0.05 for s in w.sc.bodies if s.static):
            how = "fly" if w.vel[oid][start, 1] > 0.5 else "drop"
        how = "fall" if oid in toppled else how
        out.append(Fact("motion", (oid,), "" if oid in toppled else w.direction(oid), how, frame=start))
    out += events + _relation(w) + _camera(w)
    look, az = clip.scene.look, clip.scene.look.light_azimuth  # azimuth 0 = from the camera, -90 = from the left
    side = ("left" if az < -50 else "front left" if az < -20 else "front" if az <= 20
            else "front right" if az <= 50 else "right")
    return out + [Fact("style", value=look.style), Fact("light", value=look.light, detail=side),
                  Fact("setting", value=look.floor, detail=look.backdrop)]


def _objects(w: _World) -> list[Fact]:
    out = []
    for oid in [b.id for b in w.sc.bodies] + [c.id for c in w.sc.characters]:
        if oid not in w.seen:
            continue  # never on screen: a caption must not mention it
        value = "scenery" if w.shape(oid) in STATIC_KINDS else "moving" if w.travel(oid) > 0.05 else "still"
        if oid in w.chars:
            c = w.chars[oid]
            parts = (("hair", c.hair), ("shirt", c.shirt), ("trousers", c.trousers))
            parts += (("hat", c.hat),) if c.hat else ()
            out.append(Fact("object", (oid,), value, shape="person", color=c.shirt, parts=parts))
        else:
            b = w.bodies[oid]
            tall = "tall" if b.kind == "box" and b.size[1] >= 1.3 * b.size[0] else ""
            out.append(Fact("object", (oid,), value, tall, b.kind, b.color, b.pattern, b.material))
    movers = [w.depth0(f.subjects[0]) for f in out if f.value == "moving"]
    far = {f.subjects[0] for f in out if f.value == "still" and movers and w.depth0(f.subjects[0]) > max(movers) + 1.0}
    return [replace(f, detail="background") if f.subjects[0] in far else f for f in out]


def _events(w: _World) -> list[Fact]:
    """Visible, noticeable events as facts in frame order; repeats between the same objects are dropped."""
    raw = sorted(w.m.events + visibility_events(w.clip, w.tracks), key=lambda e: (e.frame, e.time))
    topples = {frozenset(e.objects): e.frame for e in raw if e.type == "topple"}
    out: list[Fact] = []
    done, hidden, busy = set(), set(), set()
    bounces: dict[int, list[int]] = {}
    for e in raw:
        ids, f, t = e.objects, e.frame, e.type
        key = (t, frozenset(ids))
        if not ids or key in done or not all(w.shown(i, f) or t in ("occluded", "exit_frame") for i in ids):
            continue
        fact = None
        if t == "bounce" and len(ids) == 1 and ids[0] in w.bodies:  # a floor bounce (two ids: on a static top)
            rise = (MATERIALS[w.bodies[ids[0]].material].restitution * e.speed) ** 2 / (2 * max(w.sc.gravity, 1e-6))
            if rise >= BOUNCE_RISE:
                bounces.setdefault(ids[0], []).append(f)
        elif t == "collision" and e.speed >= 0.3 and abs(topples.get(frozenset(ids), -99) - f) > 2:
            a, b = ids if w.speed(ids[0], f - 1) >= w.speed(ids[1], f - 1) else ids[::-1]  # the faster one hits
            va, vb = w.vel[a][0], w.vel[b][0]
            head_on = (min(w.speed(a, 0), w.speed(b, 0)) > MOVING and va[0] * vb[0] < 0 and not {a, b} & busy
                       and (w.pos[b][0][0] - w.pos[a][0][0]) * (va[0] - vb[0]) > 0)
            fact = Fact("event", (a, b), "meet" if head_on else "crash" if e.speed >= 1.5 else "collide", frame=f)
        elif t in ("hit", "kick", "jump", "turn"):
            fact = Fact("event", ids, t, frame=f)
        elif t == "topple":
            fact = Fact("event", (ids[1], ids[0]), "topple", frame=f)
        elif t == "occluded" and ids[0] not in hidden and len(ids) == 2 and ids[1] in w.seen:  # else: behind what?
            hidden.add(ids[0])
            moving = w.speed(ids[0], f - 1) > MOVING  # else the occluder moved in front of it
            fact = Fact("event", ids if moving else ids[::-1], "occlude" if moving else "pass_front", frame=f)
        elif t == "emerged" and ids[0] in hidden and w.speed(ids[0], f - 1) > MOVING:
            fact = Fact("event", ids, "emerge", frame=f)
        elif t in ("exit_frame", "enter_frame") and w.speed(ids[0], f - 1) > MOVING and ids[0] in w.seen:
            if t == "exit_frame" or not w.vis[ids[0]][0]:  # the camera moving past a still thing is no exit
                fact = Fact("event", ids, "exit" if t == "exit_frame" else "enter", frame=f)
        if fact is not None:
            out.append(fact)
            done.add(key)
            busy.update(ids)
    for oid, frames in bounces.items():
        out.append(Fact("event", (oid,), "bounce_many" if len(frames) >= 3 else "bounce", frame=frames[0]))
    return sorted(out + _descents(w), key=lambda x: x.frame)


def _descents(w: _World) -> list[Fact]:
    """A ball that starts up on a ramp or platform and ends off its side, well lower: rolls down / falls off."""
    out = []
    for s in (s for s in w.sc.bodies if s.kind in ("ramp", "platform")):
        for oid in (i for i, b in w.bodies.items() if b.kind == "ball" and i in w.seen):
            p, r = w.pos[oid], w.bodies[oid].size[0]
            on_top = abs(p[0, 0] - s.position[0]) < s.size[0] and abs(p[0, 2] - s.position[2]) < s.size[2] + r
            beyond = np.abs(p[:, 0] - s.position[0]) > s.size[0]
            if not on_top or p[0, 1] - r < 0.05 or not (beyond & (p[:, 1] - r < 0.5 * (p[0, 1] - r))).any():
                continue
            edge = int(np.flatnonzero(beyond)[0])
            if s.kind == "ramp":
                out.append(Fact("event", (oid, s.id), "roll_down", frame=0))
            elif w.shown(oid, edge):
                out.append(Fact("event", (oid, s.id), "fall_off", frame=edge))
    return out


def _relation(w: _World) -> list[Fact]:
    """Where one object is relative to another at frame 0: left/right of, else in front of/behind."""
    tr = w.tracks
    ids = [i for i in w.seen if w.shape(i) not in STATIC_KINDS and tr[i]["visible"][0] >= 0.5 and tr[i]["area"][0] >= 8]
    ids.sort(key=lambda i: (w.travel(i) <= 0.05, i))  # movers first: the caption names them first
    for n, a in enumerate(ids):
        for b in ids[n + 1:]:
            gap = tr[b]["xy"][0, 0] - tr[a]["xy"][0, 0]
            if abs(gap) > np.sqrt(tr[a]["area"][0] / np.pi) + np.sqrt(tr[b]["area"][0] / np.pi) + 2:  # no overlap
                return [Fact("relation", (a, b), "left of" if gap > 0 else "right of")]
            dz = w.depth0(b) - w.depth0(a)
            if abs(dz) >= 1.5:
                return [Fact("relation", (a, b), "in front of" if dz > 0 else "behind")]
    return []


def _camera(w: _World) -> list[Fact]:
    k0, k1 = w.sc.camera.keys[0], w.sc.camera.keys[-1]
    moves = [("pan", k1.pan - k0.pan, 1.0, "right", "left"), ("tilt", k1.tilt - k0.tilt, 1.0, "up", "down"),
             ("zoom", np.log(k1.zoom / k0.zoom), 0.05, "in", "out"), ("dolly", k1.dolly - k0.dolly, 0.2, "in", "out"),
             ("roll", k1.roll - k0.roll, 1.0, "clockwise", "counter-clockwise"),
             ("orbit", k1.orbit - k0.orbit, 2.0, "right", "left")]  # orbit + moves the camera toward +x
    out = [Fact("camera", value=m, detail=pos if d > 0 else neg) for m, d, lo, pos, neg in moves if abs(d) >= lo]
    out = out or [Fact("camera", value="static")]
    return out + [Fact("camera", value="shallow focus")] * any(k.aperture > 0 for k in w.sc.camera.keys)


# ------------------------------------------------------------------------------------------- wording
class _Writer:
    """Words one caption from facts; mode full (canonical, rng None), plain (varied) or short (a prompt)."""

    def __init__(self, fs: list[Fact], mode: str, rng: random.Random | None, names: dict[int, str] | None = None):
        self.fs, self.mode, self.rng, self.short = fs, mode, rng, mode == "short"
        self.names = names or {}  # object id -> a fixed name for every mention (e.g. "@hero")
        self.obj = {f.subjects[0]: f for f in fs if f.kind == "object"}
        self.noun = {k: self.pick(v) for k, v in _NOUNS.items()}  # one word per kind in a caption
        self.said: list[int] = []
        self.look_alike = {i: (f.color if f.shape != "person" else "", f.shape) for i, f in self.obj.items()}
        keys = list(self.look_alike.values())
        self.twins = {i for i, k in self.look_alike.items() if keys.count(k) > 1}

    def pick(self, options: tuple[str, ...]) -> str:
        return options[0] if self.rng is None else self.rng.choice(options)

    def chance(self, p: float) -> bool:
        return self.rng is None or self.rng.random() < p

    def np_(self, oid: int) -> str:
        """A noun phrase: the full description on first mention, "the red ball" afterwards."""
        f, first = self.obj[oid], oid not in self.said
        self.said += [oid] if first else []
        if oid in self.names:  # a tagged reference: its look comes from the image, so no colour, pattern or article
            return self.names[oid]
        noun, art = self.noun[f.shape], "" if self.short else "a " if first else "the "
        if f.shape == "person" and first:
            p, a = dict(f.parts), (lambda t: t if self.short else _a(t))
            hat = f" with {a(p['hat'] + ' hat')}" if "hat" in p else ""
            who = f"{p['hair']}-haired {noun}" if self.mode == "full" else noun
            return f"{a(who)} in {a(p['shirt'] + ' shirt')} and {p['trousers']} trousers{hat}"
        words = [f.color, noun] if f.shape != "person" else [noun]
        if oid in self.twins:  # two red balls: "another red ball", then "the second red ball"
            rank = [i for i in self.said if self.look_alike[i] == self.look_alike[oid]].index(oid)
            if first and rank:
                return ("another " if not self.short else "") + " ".join(words)
            words.insert(0, _ORDINAL[min(rank, 5)] if not first else "")
        if first and f.shape != "person":
            words[:0] = [f.detail if f.detail == "tall" and self.chance(0.5) else "",
                         _PATTERN[f.pattern] if self.chance(0.5) else ""]
            if f.value == "moving" and not self.short and self.chance(0.25):
                words.insert(-1, _MATERIAL[f.material])
        text = " ".join(x for x in words if x)
        return _a(text) if first and not self.short else art + text

    def dir(self, d: str) -> str:
        if d not in ("left", "right") or self.short:
            return d
        return self.pick((f"to the {d}", d, f"toward the {d}"))

    def clauses(self) -> list[tuple]:
        """(frame, order, subjects, template, refs, has_direction) for everything that moves or happens."""
        events = [f for f in self.fs if f.kind == "event"]
        motion = {f.subjects[0]: f for f in self.fs if f.kind == "motion"}
        own = {i for f in events if f.value == "meet" for i in f.subjects}
        own |= {f.subjects[0] for f in events if f.value == "roll_down"}
        shelf = {f.subjects[0]: f.subjects[1] for f in events  # "rolls along a platform and drops off the edge"
                 if f.value == "fall_off" and f.subjects[0] in motion and motion[f.subjects[0]].detail == "roll"}
        entered = {f.subjects[0]: n for n, f in enumerate(events) if f.value == "enter"}
        out = []
        for n, f in enumerate(events):
            tmpl, d = self.pick(_EVENT[f.value]), motion[f.subjects[0]].value if f.subjects[0] in motion else ""
            has_dir, tmpl = "{d}" in tmpl and bool(d), tmpl.replace("{d}", self.dir(d) + " " if d else "")
            refs = () if f.value == "meet" else f.subjects[1:]
            if f.value == "fall_off" and f.subjects[0] in shelf:
                tmpl, refs = self.pick(("drops off the edge", "falls off the edge", "rolls off the edge")), ()
            out.append((f.frame, 2 * n, f.subjects if f.value == "meet" else f.subjects[:1], tmpl, refs, has_dir))
        for oid, m in motion.items():
            if m.detail == "fall" or oid in own:
                continue  # said by the topple, the head-on collision or the ramp
            verb = _VERB[m.detail] + (" " + self.dir(m.value) if m.value else "")
            refs = (shelf[oid],) if oid in shelf else ()
            verb += " through the air" if m.detail == "fly" else " along {0}" if refs else ""
            trig = next((n for n, f in enumerate(events) if f.subjects[1:2] == (oid,) and f.frame <= m.frame + 1
                         and f.value in ("collide", "crash", "kick", "hit")), None)
            if trig is not None and m.frame > 0:  # set moving by that event: say it right after
                verb += "" if m.value else " away"
                out.append((events[trig].frame, 2 * trig + 1, (oid,), verb, refs, bool(m.value)))
            elif oid in entered and m.value:  # "comes into view and rolls to the left"; "rolls" alone says nothing
                out.append((events[entered[oid]].frame, 2 * entered[oid] + 1, (oid,), verb, refs, bool(m.value)))
            elif oid not in entered:
                verb += "" if m.value or refs or m.detail in ("fly", "drop") else " across the floor"
                out.append((m.frame, -1, (oid,), verb, refs, bool(m.value)))
        # only name what a caption can describe: an object never seen (e.g. a platform hidden behind a
        # wall) drops the clause instead of guessing
        out = [c for c in out if all(i in self.obj for i in (*c[2], *c[4]))]
        return sorted(out, key=lambda c: (c[0], c[1]))

    def story(self) -> list[str]:
        """Clauses grouped into sentences: one subject's actions joined, a patient that reacts gets ", which"."""
        sentences: list[list] = []
        for _, _, subj, tmpl, refs, has_dir in self.clauses():
            group = sentences[-1][-1] if sentences else None
            # a direction after another object's name would read as that object's, so it starts a new sentence
            if group and group[0] == subj and len(group[2]) < 3 and not (has_dir and any(r for _, r in group[2])):
                group[2].append((tmpl, refs))
            elif (group and not self.short and len(subj) == 1 and group[2][-1][1][-1:] == subj
                  and group[2][-1][0].endswith("{0}") and len(sentences[-1]) == 1):  # "hits X, which rolls"
                sentences[-1].append([subj, "which", [(tmpl, refs)]])
            else:
                again = sentences and sentences[-1][0][0] == subj and not self.short
                sentences.append([[subj, "", [(("then " if again else "") + tmpl, refs)]]])
        return [self.sentence(s) for s in sentences]

    def sentence(self, groups: list) -> str:
        text = ""
        for subj, joiner, preds in groups:
            words = [t.format(*(self.np_(r) for r in refs)) for t, refs in preds]
            joined = ", ".join(words) if self.short else _join(words)
            text += f", which {joined}" if joiner else " and ".join(self.np_(s) for s in subj) + " " + joined
        return text

    def count(self) -> str:
        counts = [f for f in self.fs if f.kind == "count"]
        if self.short or not any(f.count > 1 for f in counts):
            return ""
        names = []
        for f in counts:
            noun = self.noun[f.shape]
            plural = "people" if noun == "person" else noun + ("es" if noun.endswith("x") else "s")
            names.append(f"{_NUMBER[min(f.count, 10)]} {plural}" if f.count > 1 else _a(noun))
        return ("there is " if counts[0].count == 1 else "there are ") + _join(names)

    def extras(self, still: bool, relation: bool) -> dict[str, str]:
        """Sentences beside the story: bystanders and scenery, the relation, the setting and look, the camera."""
        out: dict[str, str] = {}
        lines = []
        for i, f in self.obj.items():
            if still and f.value in ("still", "scenery") and i not in self.said:
                verb = " stands nearby" if f.value == "scenery" else " stands still" if f.shape == "person" \
                    else " sits still"
                lines.append(self.np_(i) + verb + (" in the background" if f.detail == "background" else ""))
        if lines:
            out["still"] = "; ".join(lines)
        rel = next((f for f in self.fs if f.kind == "relation"), None)
        if rel is not None and relation and not self.short:
            phrase = {"left of": "to the left of", "right of": "to the right of"}.get(rel.value, rel.value)
            a, b = (self.np_(i) for i in rel.subjects)
            out["relation"] = self.pick((f"at the start, {a} is {phrase} {b}", f"{a} starts out {phrase} {b}"))
        look = {f.kind: f for f in self.fs if f.kind in ("style", "light", "setting")}
        style, tint, side = self.pick(_STYLE[look["style"].value]), _TINT[look["light"].value], look["light"].detail
        light = self.pick((f"{tint} light from the {side}", f"{tint} light coming from the {side}"))
        out["where"] = f"on {self.pick(_FLOOR[look['setting'].value])} {self.pick(_BACKDROP[look['setting'].detail])}"
        if self.short:
            out["setting"] = f"{style.removeprefix('a ')}, {light}"
        elif self.chance(0.5):
            out["setting"] = f"the scene is set {out['where']}, rendered in {style} with {light}"
        else:
            out["setting"] = f"shot in {style} with {light}, {out['where']}"
        cam = [f for f in self.fs if f.kind == "camera"]
        moves = [self.pick(_CAMERA[f.value]).format(d=self.dir(f.detail) if f.value in ("pan", "orbit") else f.detail)
                 for f in cam if f.value in _CAMERA]
        if moves:
            text = ("camera " if self.short else "the camera ") + _join(moves)
        else:
            text = "static camera" if self.short else self.pick(("the camera stays still", "the camera is static"))
        if any(f.value == "shallow focus" for f in cam):
            text += ", shallow depth of field" if self.short else self.pick((", with a shallow depth of field",
                                                                               " with shallow focus"))
        out["camera"] = text
        return out


def _a(text: str) -> str:
    return ("an " if text[0] in "aeiou" else "a ") + text


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _write(fs: list[Fact], mode: str, rng: random.Random | None, names: dict[int, str] | None = None) -> str:
    """One caption. full: everything in a fixed order; plain: a seeded subset and order; short: a prompt."""
    w = _Writer(fs, mode, rng, names)
    count, story = w.count(), w.story()
    # choose the optional sentences before wording them: a name's first mention must be one that is kept
    ex = w.extras(still=w.chance(0.6 if mode == "plain" else 0.5), relation=w.chance(0.6))
    if mode == "short":
        return ", ".join(p for p in story + [ex.get("still", ""), ex["camera"], ex["setting"]] if p)
    if mode == "full":
        parts = [count] + story + [ex.get(k, "") for k in ("still", "relation", "setting", "camera")]
    else:
        lead = bool(story) and w.chance(0.35)  # "On a tiled floor under a pale sky, a red ball ..."
        if lead:
            story[0] = f"{ex['where']}, {story[0]}"
        ends = ([] if lead or not w.chance(0.7) else [ex["setting"]]) + ([ex["camera"]] if w.chance(0.8) else [])
        parts = ([count] if w.chance(0.4) else []) + story + [ex.get("still", ""), ex.get("relation", "")]
        parts += ends if w.chance(0.5) else ends[::-1]
    return " ".join(p[0].upper() + p[1:] + "." for p in parts if p)


def named_captions(clip: Clip, tracks: Tracks | None, namings: list[dict[int, str]]) -> list[str]:
    """The full caption (`captions(...)[0]`) under each naming, reading the clip's facts once: the tagged prompts
    training pairs with reference images, worded as the eval's reference cases word theirs."""
    fs = facts(clip, tracks)
    return [_write(fs, "full", None, names) for names in namings]


def captions(clip: Clip, tracks: Tracks | None = None, n: int = 4, names: dict[int, str] | None = None) -> list[str]:
    """n distinct, deterministic paraphrases; the first is the most complete, the last a short prompt.

    names: object id -> the word every mention of it uses instead of its description (`{3: "@hero"}` words a
    prompt for tagged reference images: "@hero rolls to the left and hits a blue box.")."""
    fs = facts(clip, tracks)
    rng = random.Random(zlib.crc32(clip.scene.to_json().encode()))  # same scene, same wording
    out = [_write(fs, "full", None, names)]
    for tries in range(400):
        if len(out) >= n:
            break
        text = _write(fs, "short" if len(out) == n - 1 or tries >= 200 and tries % 2 else "plain", rng, names)
        if text not in out:
            out.append(text)
    return out[:n]
