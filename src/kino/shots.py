"""`kino shots STORYBOARD.json --output DIR`: several shots rendered as separate clips plus one joined cut.

A storyboard is JSON: shared settings plus a list of shots, each a `generate` request (prompt, seconds,
camera, motion_brush, keyframes, seed). Continuity across separately generated shots: `"continue": true`
pins the previous shot's last frame as this shot's first frame (a match cut), and every shot shares the
storyboard's seed unless it sets its own. Identity across shots: top-level `references` are tagged images;
a shot whose prompt names `@tag` gets that image as a reference (in the storyboard's order), a shot that
names none gets none — so a cutaway to another subject is not pulled toward the hero's look.

```json
{"ratio": "16:9", "fps": 16, "seed": 7, "references": [{"tag": "hero", "image": "hero.png"}],
 "shots": [{"prompt": "@hero rolls right", "seconds": 3, "camera": {"preset": {"pan": 3}}},
           {"prompt": "@hero hits a blue box", "seconds": 3, "continue": true}]}
```
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kino.controls import (
    ControlError,
    Reference,
    brush_from_dict,
    camera_from_dict,
    check_references,
    mentions,
    references_from_list,
)
from kino.generate import GenerateRequest, Keyframe, RequestError, generate, load_references

__all__ = ["load_storyboard", "render_storyboard"]

SHOT_FIELDS = ("prompt", "seconds", "seed", "steps", "camera", "motion_brush", "keyframes", "continue")
BOARD_FIELDS = ("ratio", "fps", "seed", "steps", "checkpoint", "shots", "references")


def load_storyboard(path: str | Path) -> tuple[dict, list[dict]]:
    """The storyboard's settings and shots, checked; its references are loaded into board["references"]
    as tagged REF_SIZE squares, so a bad image fails before any shot is rendered."""
    try:
        board = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RequestError(f"storyboard: cannot read {str(path)!r} ({exc})") from None
    if not isinstance(board, dict):
        raise RequestError("storyboard: expected a JSON object")
    unknown = set(board) - set(BOARD_FIELDS)
    if unknown:
        raise RequestError(f"storyboard: unknown field(s) {sorted(unknown)}; known: {list(BOARD_FIELDS)}")
    try:
        refs = references_from_list(board.get("references") or [], "storyboard.references")
        for i, r in enumerate(refs):
            if r.tag is None:
                raise ControlError(f"storyboard.references[{i}].tag: required (shots name a reference by @tag)")
        check_references(refs, "", "storyboard.references")
    except ControlError as exc:
        raise RequestError(str(exc)) from None
    board = {**board, "references": [Reference(r.tag, img) for r, img in zip(refs, load_references(refs, "storyboard.references"), strict=True)]}
    shots = board.get("shots")
    if not isinstance(shots, list) or not shots:
        raise RequestError("storyboard.shots: must be a non-empty list")
    for i, shot in enumerate(shots):
        if not isinstance(shot, dict):
            raise RequestError(f"storyboard.shots[{i}]: must be an object")
        bad = set(shot) - set(SHOT_FIELDS)
        if bad:
            raise RequestError(f"storyboard.shots[{i}]: unknown field(s) {sorted(bad)}; known: {list(SHOT_FIELDS)}")
        if i == 0 and shot.get("continue"):
            raise RequestError("storyboard.shots[0].continue: the first shot has nothing to continue from")
        if not isinstance(shot.get("prompt", ""), str):
            raise RequestError(f"storyboard.shots[{i}].prompt: must be a string")
    return board, shots


def _request(board: dict, shot: dict, i: int, previous_last: np.ndarray | None) -> GenerateRequest:
    where = f"storyboard.shots[{i}]"
    try:
        camera = camera_from_dict(shot["camera"], f"{where}.camera") if shot.get("camera") else None
        brush = brush_from_dict(shot["motion_brush"], f"{where}.motion_brush") if shot.get("motion_brush") else None
    except ControlError as exc:
        raise RequestError(str(exc)) from None
    try:
        check_references(board["references"], shot.get("prompt", ""), prompt_where=f"{where}.prompt")
    except ControlError as exc:
        raise RequestError(str(exc)) from None
    named = set(mentions(shot.get("prompt", "")))
    refs = tuple(r for r in board["references"] if r.tag in named)  # only the shot's own @tags, in board order
    keys = []
    for j, k in enumerate(shot.get("keyframes") or []):
        if not isinstance(k, dict) or not isinstance(k.get("image"), str) or not isinstance(k.get("frame", 0), int):
            raise RequestError(f"{where}.keyframes[{j}]: must be {{'image': PATH, 'frame': INT}}")
        keys.append(Keyframe(k["image"], k.get("frame", 0)))
    if shot.get("continue"):
        keys.insert(0, Keyframe(previous_last, 0))
    fields = {"prompt": shot.get("prompt", ""), "seconds": shot.get("seconds", 4.0), "fps": board.get("fps", 16), "ratio": board.get("ratio", "16:9"),
              "seed": shot.get("seed", board.get("seed", 0)), "steps": shot.get("steps", board.get("steps", 4)), "keyframes": tuple(keys),
              "camera": camera, "motion_brush": brush, "references": refs, "checkpoint": board.get("checkpoint")}
    return GenerateRequest(**fields)


def render_storyboard(path: str | Path, output: str | Path, model=None, progress=None) -> list[Path]:
    """Render every shot to OUTPUT/shot_NN.mp4 and the joined OUTPUT/cut.mp4; return their paths."""
    from kino.io.video import write_mp4

    board, shots = load_storyboard(path)
    out = Path(output)
    # validate every shot before spending time on any (the last frame of a `continue` is a placeholder here)
    for i, shot in enumerate(shots):
        _request(board, shot, i, np.zeros((8, 8, 3), np.uint8))
    if model is None:  # load once for every shot
        from kino.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint

        ckpt = Path(board.get("checkpoint") or DEFAULT_CHECKPOINT)
        if not ckpt.is_file():
            raise RequestError(f"checkpoint: {str(ckpt)!r} does not exist (train one with `kino train`)")
        model = load_checkpoint(ckpt)
    paths, clips, last = [], [], None
    for i, shot in enumerate(shots):
        frames = generate(_request(board, shot, i, last), model)
        paths.append(write_mp4(out / f"shot_{i:02d}.mp4", frames, board.get("fps", 16)))
        clips.append(frames)
        last = frames[-1]
        if progress:
            progress(i + 1, len(shots))
    paths.append(write_mp4(out / "cut.mp4", np.concatenate(clips), board.get("fps", 16)))
    return paths
