"""Captions agree with the ground truth: a small, independent parser checks colours, shapes, counts,
directions, relations and event verbs against tracks measured on the rendered frames and the event log."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kino.world.captions import Fact, captions, facts
from kino.world.palette import COLORS
from kino.world.render import Clip, render
from kino.world.sample import SCENARIOS, sample_scene
from kino.world.truth import ground_truth, measure_tracks

NOUNS = {"ball": "ball", "sphere": "ball", "box": "box", "crate": "box", "block": "box", "cube": "box",
         "ramp": "ramp", "slope": "ramp", "platform": "platform", "ledge": "platform", "pillar": "pillar",
         "column": "pillar", "wall": "wall", "panel": "wall"}
PEOPLE = ("person", "figure")
ADJ = r"(?:striped|checkered|polka-dot|rubber|wooden|metal|icy|tall)"
COLOR = "|".join(COLORS)
NOUN = "|".join(sorted(NOUNS, key=len, reverse=True))
MENTION = re.compile(rf"\b({COLOR})(?: {ADJ})* ({NOUN})\b|\b({'|'.join(PEOPLE)})\b")
NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
COUNT = re.compile(rf"\b({'|'.join(NUMBERS)}) (?:{ADJ} )*({NOUN}|people|figure|person)(?:e?s)?\b")
# verb → the ground-truth event types that make it true
VERBS = {
    r"\bbounc": ("bounce",),
    r"\bknocks\b.*?\bover\b|\btopples\b": ("topple",),
    r"\bkick": ("kick",),
    r"\bjumps\b|\bleaps\b": ("jump",),
    r"\bhits\b|\bcollide|\bbumps into\b|\bcrashes into\b|\bslams into\b|\bstrikes\b": ("collision", "hit"),
    r"\b(?:passes|goes|disappears) behind\b|\b(?:passes|crosses) in front of\b": ("occluded",),
    r"\breappears\b|\bcomes out again\b|\bemerges again\b": ("emerged",),
    r"\bturns\b": ("turn",),
    r"\bleaves the (?:frame|shot)\b|\bout of view\b": ("exit_frame",),
    r"\binto view\b|\benters the frame\b": ("enter_frame",),
}


def scene_clip(seed: int, scenario: str) -> Clip:
    split = "ood" if seed % 3 == 2 else "train"
    return render(sample_scene(seed, split=split, width=96, height=96, fps=8, seconds=3, scenario=scenario))


CASES = [(seed, sc) for sc in SCENARIOS for seed in (0, 5)]


@pytest.fixture(scope="module")
def clips() -> dict[tuple[int, str], tuple[Clip, dict, dict]]:
    out = {}
    for seed, sc in CASES:
        clip = scene_clip(seed, sc)
        tracks = measure_tracks(clip)
        out[seed, sc] = clip, tracks, ground_truth(clip)
    return out


def mentions(text: str, clip: Clip) -> tuple[list[tuple[int, int, tuple[int, ...]]], list[str]]:
    """(start, end, ids) of every object named in `text`, plus problems (a named thing that isn't there)."""
    found, problems = [], []
    for m in MENTION.finditer(text):
        if m.group(3):
            ids = tuple(c.id for c in clip.scene.characters)
        else:
            ids = tuple(b.id for b in clip.scene.bodies if b.color == m.group(1) and b.kind == NOUNS[m.group(2)])
        if not ids:
            problems.append(f"names {m.group(0)!r}, which is not in the scene")
        found.append((m.start(), m.end(), ids))
    return found, problems


def x_shift(tracks: dict, oid: int) -> float:
    """Measured screen x displacement between the first and last frame with any visible pixel."""
    seen = np.flatnonzero(tracks[oid]["area"] > 0)
    return float(tracks[oid]["xy"][seen[-1], 0] - tracks[oid]["xy"][seen[0], 0]) if len(seen) > 1 else 0.0


def check(text: str, clip: Clip, tracks: dict, truth: dict) -> list[str]:
    """Every way `text` disagrees with the clip's ground truth (empty when the caption is true)."""
    text = text.lower()
    sc = clip.scene
    allowed = {b.color for b in sc.bodies}
    for c in sc.characters:
        allowed |= {c.shirt, c.trousers, c.hair} | ({c.hat} if c.hat else set())
    problems = [f"colour {w!r} belongs to nothing" for w in re.findall(rf"\b({COLOR})\b", text) if w not in allowed]
    for m in COUNT.finditer(text):
        kind = "person" if m.group(2) in ("people", "figure", "person") else NOUNS[m.group(2)]
        have = len(sc.characters) if kind == "person" else sum(b.kind == kind for b in sc.bodies)
        if have != NUMBERS[m.group(1)]:
            problems.append(f"says {m.group(0)!r} but there are {have}")
    for sentence in re.split(r"[.;]", text):
        found, bad = mentions(sentence, clip)
        problems += bad
        named = {i for _, _, ids in found for i in ids}
        for verb, types in VERBS.items():
            happened = any(e["type"] in types and named & set(e["objects"]) for e in truth["events"])
            if re.search(verb, sentence) and not happened:
                problems.append(f"{sentence.strip()!r}: no {types} event for the objects it names")
        problems += directions(sentence, found, tracks, clip)
        problems += relations(sentence, found, clip, tracks)
        if re.search(r"\boff the edge\b|\bfalls off\b|\bdown (?:a|the)? ?\w+ (?:ramp|slope)", sentence):
            ys = clip.motion.positions[:, :, 1]
            drops = [ys[0, j] - ys[-1, j] for j, b in enumerate(sc.bodies) if b.id in named]
            if not drops or max(drops) < 0.1:
                problems.append(f"{sentence.strip()!r}: nothing named ends lower than it started")
    return problems


def clauses(sentence: str) -> list[tuple[int, str]]:
    """(offset, text) of the clauses of a sentence, split at commas, "and", "which" and "then"."""
    out, at = [], 0
    for part in re.split(r"(,| and | which | then )", sentence):
        if part not in (",", " and ", " which ", " then "):
            out.append((at, part))
        at += len(part)
    return out


def directions(sentence: str, found: list, tracks: dict, clip: Clip) -> list[str]:
    """Check each left/right against the last-named object's track, the camera's pan/orbit or the light's azimuth."""
    problems, about = [], None
    k0, k1 = clip.scene.camera.keys[0], clip.scene.camera.keys[-1]
    for at, clause in clauses(sentence):
        if any(at <= s < at + len(clause) for s, _, _ in found):
            about = "object"
        elif re.search(r"\bcamera\b", clause) and not re.search(r"(toward|away from) the camera", clause):
            about = "camera"
        elif re.search(r"\blight\b|\blit\b", clause):
            about = "light"
        for m in re.finditer(r"\b(left|right)\b(?! of)", clause):
            sign = 1 if m.group(1) == "right" else -1
            if about == "camera":
                move = k1.orbit - k0.orbit if re.search(r"orbits|circles", clause) else k1.pan - k0.pan
                problems += [f"{clause!r}: the camera does not move {m.group(1)}"] if move * sign <= 0 else []
                continue
            if about == "light":
                az = clip.scene.look.light_azimuth
                problems += [f"{clause!r}: the light is at azimuth {az}"] if az * sign <= 0 else []
                continue
            before = [ids for s, _, ids in found if s < at + m.start()]
            if not before or not before[-1]:
                problems.append(f"{clause!r}: a direction with no object")
                continue
            shifts = [x_shift(tracks, i) for i in before[-1]]
            if not any(x * sign > 0 for x in shifts):
                problems.append(f"{clause!r}: {m.group(1)} but the track moved {shifts}")
    return problems


def relations(sentence: str, found: list, clip: Clip, tracks: dict) -> list[str]:
    """"A is to the left of B" on the first frame's tracks; "is in front of" / "is behind" by camera depth."""
    problems = []
    for m in re.finditer(r"\b(?:(left|right) of|(?:is|starts out) (in front of|behind))\b", sentence):
        before = [ids for s, _, ids in found if s < m.start() and ids]
        after = [ids for s, _, ids in found if s >= m.end() and ids]
        if not before or not after:
            continue
        a, b = before[-1][0], after[0][0]
        if m.group(1):
            gap = tracks[b]["xy"][0, 0] - tracks[a]["xy"][0, 0]
            ok = gap > 0 if m.group(1) == "left" else gap < 0
        else:
            ids = [b_.id for b_ in clip.scene.bodies] + [c.id for c in clip.scene.characters]
            pos = np.concatenate([clip.motion.positions[0], clip.motion.char_positions[0]])
            za, zb = (clip.cameras[0].to_camera(pos[ids.index(i)])[2] for i in (a, b))
            ok = za < zb if m.group(2) == "in front of" else za > zb
        if not ok:
            problems.append(f"{sentence.strip()!r}: relation {m.group(0)!r} is false at frame 0")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[f"{sc}-{seed}" for seed, sc in CASES])
def test_captions_agree_with_ground_truth(clips, case) -> None:
    clip, tracks, truth = clips[case]
    caps = captions(clip, tracks)
    assert len(caps) == 4
    for text in caps:
        assert check(text, clip, tracks, truth) == [], text


def test_captions_cover_the_story(clips) -> None:
    """The sample makes direction, event and count claims (else the checker proves nothing); caption 0 is fullest."""
    said = " ".join(captions(c, t)[0].lower() for c, t, _ in clips.values())
    for claim in (" left", " right", "bounces", "knocks", "kicks", "hits", "behind", "two balls", "camera", "light"):
        assert claim in said, claim
    for clip, tracks, _ in clips.values():
        caps = captions(clip, tracks)
        named = [{i for _, _, ids in mentions(c.lower(), clip)[0] for i in ids} for c in caps]
        assert all(n <= named[0] for n in named), caps  # the first names everything any paraphrase names
        assert "camera" in caps[0] and "light" in caps[0]
        assert len(caps[-1].split()) < len(caps[0].split()) and "." not in caps[-1]  # a short prompt


def test_paraphrases_distinct_and_deterministic(clips) -> None:
    for clip, tracks, _ in clips.values():
        caps = captions(clip, tracks, n=6)
        assert len(set(caps)) == 6, caps
        assert captions(clip, tracks, n=6) == caps
    seed, sc = CASES[3]
    assert captions(scene_clip(seed, sc)) == captions(clips[seed, sc][0])  # a fresh render of the same scene


def test_facts_are_typed(clips) -> None:
    clip, tracks, _ = clips[0, "collide"]
    fs = facts(clip, tracks)
    assert all(isinstance(f, Fact) for f in fs)
    kinds = {f.kind for f in fs}
    assert {"object", "count", "motion", "event", "camera", "style", "light", "setting"} <= kinds
    with pytest.raises(AttributeError):
        fs[0].kind = "x"  # frozen


def corrupt(text: str, clip: Clip) -> list[str]:
    """Plausible-looking lies: swapped directions, a colour that isn't there, a wrong count, an extra event."""
    absent = next(c for c in COLORS if c not in {b.color for b in clip.scene.bodies} | {
        v for ch in clip.scene.characters for v in (ch.shirt, ch.trousers, ch.hair, ch.hat)})
    present = next(b.color for b in clip.scene.bodies if re.search(rf"\b{b.color}\b", text))
    swapped = re.sub(r"\b(left|right)\b(?! of)", lambda m: "right" if m.group(1) == "left" else "left", text)
    mirrored = re.sub(r"\b(left|right) of", lambda m: ("right" if m.group(1) == "left" else "left") + " of", text)
    return [swapped, mirrored, re.sub(rf"\b{present}\b", absent, text), text.replace("two balls", "three balls"),
            re.sub(r"\.$", "", text) + ", then the " + present + " " + next(
                NOUNS[w] for w in NOUNS if re.search(rf"\b{present} {w}", text)) + " jumps."]


def test_checker_catches_corrupted_captions(clips) -> None:
    """Negative control: the agreement check must fail on captions that lie."""
    clip, tracks, truth = clips[0, "collide"]
    text = captions(clip, tracks)[0]
    assert "two balls" in text and re.search(r"\b(left|right)\b(?! of)", text) and " of " in text, text
    lies = corrupt(text, clip)
    for lie in lies:
        assert lie != text
        assert check(lie, clip, tracks, truth), lie
    assert any("track moved" in p for p in check(lies[0], clip, tracks, truth))


def test_checker_catches_every_swapped_motion(clips) -> None:
    """In every sampled scene, flipping one claimed direction of motion is caught by the track check."""
    flipped = 0
    for clip, tracks, truth in clips.values():
        text = captions(clip, tracks)[0]
        m = re.search(r"\b(rolls|walks|slides|flies) (?:to the )?(left|right)\b", text)
        if m:
            other = "right" if m.group(2) == "left" else "left"
            lie = text[: m.start(2)] + other + text[m.end(2):]
            assert any("track moved" in p for p in check(lie, clip, tracks, truth)), lie
            flipped += 1
    assert flipped >= 8
