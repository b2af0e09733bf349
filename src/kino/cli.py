"""The `kino` command line: thin argparse wrappers over library functions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size: expected WxH such as 128x128, got {text!r}") from None
    return w, h


def _world_render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from kino.world.data import DataSpec, WorldStream, make_sample, save_sample

    w, h = args.size
    spec = DataSpec(split=args.split, width=w, height=h, fps=args.fps, seconds=args.seconds, seed=args.seed)
    make_sample(0, DataSpec(split=args.split, width=w, height=h, fps=args.fps, seconds=0.25, seed=args.seed))  # fail fast on bad sizes
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.maps:
        samples = (make_sample(i, spec, keep_clip=True) for i in range(args.count))
    else:
        samples = iter(WorldStream(spec, count=args.count, workers=args.workers))
    for sample in tqdm(samples, total=args.count, desc="rendering", unit="clip", disable=args.quiet):
        save_sample(sample, out, maps=args.maps)
    print(out)
    return 0


def _world_preview(args: argparse.Namespace) -> int:
    from kino.io.video import contact_sheet, save_png, write_mp4
    from kino.world.preview import overlay
    from kino.world.render import render
    from kino.world.sample import sample_scene

    w, h = args.size
    scene = sample_scene(args.seed, args.split, width=w, height=h, fps=args.fps, seconds=args.seconds, scenario=args.scenario)
    clip = render(scene, seed=args.seed)
    frames = overlay(clip, scale=args.scale)
    path = write_mp4(args.output, frames, scene.fps)
    sheet = save_png(Path(args.output).with_suffix(".png"), contact_sheet(frames, every=max(1, len(frames) // 8), scale=1, columns=4))
    print(path)
    print(sheet)
    return 0


def _generate(args: argparse.Namespace) -> int:
    import json

    import numpy as np
    from tqdm import tqdm

    from kino.generate import GenerateRequest, Keyframe, RequestError, stream
    from kino.io.video import write_mp4

    fields: dict = {}
    if getattr(args, "request", None):
        try:
            fields = json.loads(Path(args.request).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RequestError(f"request: cannot read {args.request!r} ({exc})") from None
        if not isinstance(fields, dict):
            raise RequestError(f"request: expected a JSON object, got {type(fields).__name__}")
        unknown = set(fields) - set(GenerateRequest.__dataclass_fields__)
        if unknown:
            raise RequestError(f"request: unknown field(s) {sorted(unknown)}")
        keys = []
        for i, k in enumerate(fields.get("keyframes", [])):
            if not isinstance(k, dict) or not isinstance(k.get("image"), str) or not isinstance(k.get("frame", 0), int):
                raise RequestError(f"request: keyframes[{i}] must be {{'image': PATH, 'frame': INT}}")
            keys.append(Keyframe(k["image"], k.get("frame", 0)))
        fields["keyframes"] = tuple(keys)
    _controls_from_fields(fields)
    _references_from_flags(args, fields)
    _controls_from_flags(args, fields)
    if not getattr(args, "request", None):
        _controls_from_flags(args, fields)
    for name in ("prompt", "seconds", "fps", "ratio", "seed", "steps", "checkpoint", "strength", "warp_guide"):
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = value
    fields.update(_guidance_fields(args) or {})
    keys = list(fields.get("keyframes", ()))
    if getattr(args, "image", None):
        keys.append(Keyframe(args.image, 0))
    for spec in getattr(args, "keyframe", None) or []:
        frame, _, path = spec.partition("=")
        if not frame.isdigit() or not path:
            raise RequestError(f"keyframe: expected FRAME=IMAGE, got {spec!r}")
        keys.append(Keyframe(path, int(frame)))
    if getattr(args, "extend_video", None):
        fields["extend"] = args.extend_video
    if getattr(args, "v2v_video", None):
        fields["video_to_video"] = args.v2v_video
    req = GenerateRequest(**{**fields, "keyframes": tuple(keys)})
    if getattr(args, "last_image", None):  # frame -1: the clip's last frame, whatever its length
        req = GenerateRequest(**{**req.__dict__, "keyframes": req.keyframes + (Keyframe(args.last_image, -1),)})
    chunks = []
    total = int(round(req.seconds * req.fps))
    with tqdm(total=total, desc="generating", unit="frame", disable=args.quiet) as bar:
        for chunk in stream(req):
            chunks.append(chunk)
            bar.update(len(chunk))
    print(write_mp4(args.output, np.concatenate(chunks), req.fps))
    return 0


def _references_from_flags(args: argparse.Namespace, fields: dict) -> None:
    """--reference TAG=IMAGE (repeatable), after any `references` of the request file."""
    from kino.controls import Reference
    from kino.generate import RequestError

    refs = list(fields.get("references", ()))
    for spec in getattr(args, "reference", None) or []:
        tag, _, path = spec.partition("=")
        if not tag or not path:
            raise RequestError(f"reference: expected TAG=IMAGE, got {spec!r}")
        refs.append(Reference(tag, path))
    if refs:
        fields["references"] = tuple(refs)


def _controls_from_fields(fields: dict) -> None:
    """JSON `camera` / `motion_brush` / `references` objects (controls.md shapes) → typed controls."""
    from kino.controls import ControlError, brush_from_dict, camera_from_dict, references_from_list
    from kino.generate import RequestError

    try:
        if "references" in fields:
            fields["references"] = references_from_list(fields["references"])
        if isinstance(fields.get("camera"), dict):
            fields["camera"] = camera_from_dict(fields["camera"])
        if isinstance(fields.get("motion_brush"), dict):
            fields["motion_brush"] = brush_from_dict(fields["motion_brush"])
    except ControlError as exc:
        raise RequestError(str(exc)) from None


def _controls_from_flags(args: argparse.Namespace, fields: dict) -> None:
    """--camera pan=-4,zoom=2 --focus F --aperture N --brush MASK=DX,DY[,DZ] --static MASK."""
    from kino.controls import BrushRegion, CameraControl, CameraMove, MotionBrushControl
    from kino.generate import RequestError

    cam = getattr(args, "camera", None)
    if cam or getattr(args, "focus", None) is not None or getattr(args, "aperture", None) is not None:
        moves = {}
        for part in filter(None, (cam or "").split(",")):
            name, _, value = part.partition("=")
            if name not in CameraMove.__dataclass_fields__:
                raise RequestError(f"camera: unknown move {name!r}; use {list(CameraMove.__dataclass_fields__)}")
            try:
                moves[name] = float(value)
            except ValueError:
                raise RequestError(f"camera: {name} needs a number in -10..10, got {value!r}") from None
        fields["camera"] = CameraControl(preset=CameraMove(**moves) if moves else None, focus=args.focus, aperture=args.aperture)
    brushes = getattr(args, "brush", None) or []
    if brushes:
        regions = []
        for spec in brushes:
            mask, _, vec = spec.rpartition("=")
            try:
                v = tuple(float(x) for x in vec.split(","))
            except ValueError:
                raise RequestError(f"brush: expected MASK=DX,DY[,DZ] with numbers, got {spec!r}") from None
            if not mask or len(v) not in (2, 3):
                raise RequestError(f"brush: expected MASK=DX,DY[,DZ], got {spec!r}")
            regions.append(BrushRegion(vector=v, mask=mask))
        fields["motion_brush"] = MotionBrushControl(regions=tuple(regions), static_mask=getattr(args, "static", None))


def _shots(args: argparse.Namespace) -> int:
    from kino.shots import render_storyboard

    model = None
    if args.checkpoint:
        from kino.model.checkpoint import load_checkpoint

        model = load_checkpoint(args.checkpoint)
    for path in render_storyboard(args.storyboard, args.output, model, progress=lambda i, n: print(f"shot {i}/{n}", file=sys.stderr)):
        print(path)
    return 0


def _camera_preview(args: argparse.Namespace) -> int:
    import json

    from kino.controls import ControlError, camera_from_dict
    from kino.generate import RequestError, parse_ratio
    from kino.preview_camera import draw_camera_preview

    try:
        req = json.loads(Path(args.request).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RequestError(f"request: cannot read {args.request!r} ({exc})") from None
    if not isinstance(req, dict) or not isinstance(req.get("camera"), dict):
        raise RequestError("request: needs a 'camera' object")
    try:
        ctl = camera_from_dict(req["camera"])
    except ControlError as exc:
        raise RequestError(str(exc)) from None
    size = parse_ratio(req.get("ratio", "16:9"))
    frames = int(round(float(req.get("seconds", 4.0)) * int(req.get("fps", 16))))
    print(draw_camera_preview(ctl, frames, size, args.output, fps=int(req.get("fps", 16))))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from kino.io.video import contact_sheet, save_png, write_mp4
    from kino.model.checkpoint import DEFAULT_CHECKPOINT, read_metadata
    from kino.world.data import DataSpec, make_sample

    out = Path(args.out)
    if DEFAULT_CHECKPOINT.is_file():
        from kino.generate import GenerateRequest, generate

        meta = read_metadata(DEFAULT_CHECKPOINT)["meta"]
        prompt = "A red rubber ball rolls to the right and hits a blue wooden box. The camera stays still."
        frames = generate(GenerateRequest(prompt=prompt, seconds=4.0, ratio="16:9", seed=args.seed))
        video = write_mp4(out / "demo.mp4", frames, 16)
        sheet = save_png(out / "demo.png", contact_sheet(frames, every=8, scale=1, columns=4))
        hours = float(meta.get("train_seconds", 0)) / 3600
        print(f"model:  {DEFAULT_CHECKPOINT.name} ({meta.get('preset', '?')}, {meta.get('steps', '?')} steps, {hours:.1f} training hours; model card in README.md)")
        print(f"prompt: {prompt}\nvideo:  {video}\nsheet:  {sheet}")
        return 0
    print("Kino's default model is not trained yet: rendering a Kino World clip instead (the training data).")
    sample = make_sample(0, DataSpec(width=256, height=144, seed=args.seed))
    video = write_mp4(out / "demo.mp4", sample.frames, sample.truth["fps"])
    sheet = save_png(out / "demo.png", contact_sheet(sample.frames, every=8, scale=1, columns=4))
    print(f"caption: {sample.truth['caption']}")
    print(f"video:   {video}")
    print(f"sheet:   {sheet}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.reports and args.reports[0] == "compare":
        import json

        from kino.eval.compare import compare, compare_table

        result = compare(args.reports[1:])
        print(compare_table(result))
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "compare.json").write_text(json.dumps(result, indent=1))
        return 0
    if args.reports:
        raise ValueError(f"eval: unexpected arguments {args.reports} (did you mean `kino eval compare A B`?)")
    from kino.eval.run import evaluate
    from kino.eval.suites import build_suite

    if args.truth:
        source = "truth"
    elif args.videos:
        if not Path(args.videos).is_dir():
            raise ValueError(f"videos: {args.videos!r} is not a directory")
        source = args.videos
    else:
        from kino.model.checkpoint import DEFAULT_CHECKPOINT

        source = args.checkpoint or str(DEFAULT_CHECKPOINT)
        if not Path(source).is_file():
            raise ValueError(f"checkpoint: {source!r} does not exist (train one with `kino train`, or pass --videos DIR / --truth)")
    suite = build_suite(args.suite, seed=args.seed, size=args.size, seconds=args.seconds, count=args.count)
    evaluate(suite, source, args.out or f"out/eval/{args.suite}", limit=args.limit, steps=args.steps, quiet=args.quiet, without_controls=args.without_controls, warp_guide=args.warp_guide, cases=args.cases,
             guidance=_guidance_fields(args))
    return 0


def _guidance_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale on the prompt (1 = off)")
    p.add_argument("--guidance-chunks", type=int, default=None, help="guide only the first N chunks (0 = every chunk; default 1: the first, where the scene is drawn)")
    p.add_argument("--negative-prompt", default=None, help="what the guidance steers away from (default: no prompt)")


def _guidance_fields(args: argparse.Namespace) -> dict | None:
    """GenerateRequest fields from the guidance flags that were given (None if none)."""
    out = {}
    if getattr(args, "guidance", None) is not None:
        out["guidance"] = args.guidance
    if getattr(args, "guidance_chunks", None) is not None:
        out["guidance_chunks"] = args.guidance_chunks or None
    if getattr(args, "negative_prompt", None) is not None:
        out["negative_prompt"] = args.negative_prompt
    return out or None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kino", description="Kino: open A2D video generation.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the main job: make a video with the default model")
    demo.add_argument("--out", default="out", help="output folder (default: out)")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.set_defaults(fn=_demo)
    sub.add_parser("train", help="train a model on streamed Kino World clips (kino train --help)")
    sub.add_parser("serve", help="serve the Runway-compatible HTTP API (kino serve --help)")
    sub.add_parser("admin", help="organizations, API keys and credits of a server (kino admin --help)")

    def gen_common(p: argparse.ArgumentParser, prompt_flag: bool) -> None:
        if prompt_flag:
            p.add_argument("--prompt", default=None, help="text prompt")
        p.add_argument("--seconds", type=float, default=None, help="length in seconds (default 4)")
        p.add_argument("--fps", type=int, default=None, help="frames per second (default 16)")
        p.add_argument("--ratio", default=None, help="16:9, 9:16 or 1:1 (default 16:9)")
        p.add_argument("--seed", type=int, default=None, help="random seed (same seed, same video)")
        p.add_argument("--steps", type=int, default=None, help="decoder steps per chunk: 1, 2, 4 or 8 (default 4)")
        p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped one)")
        p.add_argument("--output", default="out/kino.mp4", help="output .mp4 (default out/kino.mp4)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--camera", default=None, help="preset moves at -10..10, e.g. pan=-4,zoom=2 (pan tilt roll zoom dolly orbit crane)")
        p.add_argument("--focus", type=float, default=None, help="focus distance in metres (depth of field)")
        p.add_argument("--aperture", type=float, default=None, help="f-number (0 = pinhole, everything sharp)")
        p.add_argument("--brush", action="append", default=None, help="MASK=DX,DY[,DZ]: move the painted region (px/s), repeatable")
        p.add_argument("--static", default=None, help="MASK of regions that must stay still")
        p.add_argument("--warp-guide", type=float, default=None, help="0..1: start each chunk from the last frame warped by the camera/brush motion, noised to this level (default 0.2; 1 = no warped start, the model alone: guide-input models still read the warp)")
        p.add_argument("--reference", action="append", default=None, help="TAG=IMAGE: an identity reference, named @TAG in the prompt; repeatable (up to 4)")
        _guidance_flags(p)
        p.set_defaults(fn=_generate)

    g = sub.add_parser("generate", help="text/image/keyframes-to-video")
    g.add_argument("prompt", nargs="?", default=None, help="text prompt")
    g.add_argument("--image", default=None, help="first frame")
    g.add_argument("--last-image", dest="last_image", default=None, help="last frame")
    g.add_argument("--keyframe", action="append", help="FRAME=IMAGE, repeatable: pin an image at any frame")
    g.add_argument("--request", default=None, help="a JSON request file (fields of GenerateRequest)")
    gen_common(g, prompt_flag=False)
    e = sub.add_parser("extend", help="continue a video (any source, not only Kino's)")
    e.add_argument("extend_video", metavar="VIDEO", help="video to continue")
    gen_common(e, prompt_flag=True)
    v = sub.add_parser("v2v", help="restyle a video, keeping its motion")
    v.add_argument("v2v_video", metavar="VIDEO", help="source video")
    v.add_argument("--strength", type=float, default=None, help="0..1, how far from the source (default 0.7)")
    gen_common(v, prompt_flag=True)

    sh = sub.add_parser("shots", help="render a storyboard of shots as separate clips plus one joined cut")
    sh.add_argument("storyboard", help="storyboard JSON (see kino/shots.py)")
    sh.add_argument("--output", required=True, help="output folder: shot_NN.mp4 and cut.mp4")
    sh.add_argument("--checkpoint", default=None, help="model checkpoint (default: the storyboard's, else the shipped one)")
    sh.set_defaults(fn=_shots)

    cam = sub.add_parser("camera", help="Camera Director tools")
    csub = cam.add_subparsers(dest="camera_command", required=True)
    cp = csub.add_parser("preview", help="draw a request's camera path (top and side views + frustum on frame 0) as a PNG")
    cp.add_argument("request", help="JSON request with a 'camera' object (and optional ratio, seconds, fps)")
    cp.add_argument("--output", required=True, help="output .png")
    cp.set_defaults(fn=_camera_preview)

    world = sub.add_parser("world", help="Kino World: render training data and test scenes")
    wsub = world.add_subparsers(dest="world_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seed", type=int, default=0, help="base random seed")
        p.add_argument("--size", type=_size, default=(128, 128), help="frame size WxH, even numbers (default 128x128)")
        p.add_argument("--fps", type=int, default=16, help="frames per second (default 16)")
        p.add_argument("--seconds", type=float, default=4.0, help="clip length in seconds (default 4)")
        p.add_argument("--split", choices=("train", "ood"), default="train", help="in-distribution or held-out space")

    r = wsub.add_parser("render", help="write N clips as DIR/<index>.mp4 + DIR/<index>.json")
    r.add_argument("--count", type=int, required=True, help="number of clips")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--workers", type=int, default=0, help="render processes (0 = in this process)")
    r.add_argument("--maps", action="store_true", help="also write <index>.npz with depth, instance ids and flow")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    common(r)
    r.set_defaults(fn=_world_render)

    p = wsub.add_parser("preview", help="a clip with ground-truth overlays (boxes, ids, velocities, events)")
    p.add_argument("--output", required=True, help="output .mp4 (a contact sheet .png is written beside it)")
    p.add_argument("--scenario", default=None, help="roll, collide, throw, topple, occlude, ledge, ramp or walk")
    p.add_argument("--scale", type=int, default=3, help="upscale factor for readable labels")
    common(p)
    p.set_defaults(fn=_world_preview)

    ev = sub.add_parser("eval", help="score a model or videos against exact Kino World ground truth (kino eval compare A B: rank reports)")
    ev.add_argument("reports", nargs="*", metavar="compare REPORT", help="`compare` then two or more report.json files")
    ev.add_argument("--suite", choices=("standard", "ood", "controls", "long"), default="standard", help="case set (default standard)")
    src = ev.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", default=None, help="generate with this checkpoint (default: the shipped one)")
    src.add_argument("--videos", default=None, help="score DIR/<case_id>.mp4 made by any model")
    src.add_argument("--truth", action="store_true", help="score the ground-truth renders themselves (the floor)")
    ev.add_argument("--out", default=None, help="output folder (default out/eval/SUITE); with compare: writes compare.json there")
    ev.add_argument("--cases", default=None, help="only the case ids matching these comma-separated patterns, e.g. 'controls-rack-*,controls-004'")
    ev.add_argument("--limit", type=int, default=None, help="only the first N cases (after --cases)")
    ev.add_argument("--count", type=int, default=None, help="numbered cases in the suite instead of its default (standard 40, long 4, ...): more cases, tighter intervals; the first ones keep their ids and seeds")
    ev.add_argument("--seed", type=int, default=0, help="suite seed (same seed, same cases)")
    ev.add_argument("--size", type=_size, default=None, help="render size WxH instead of the ratio's (quick runs)")
    ev.add_argument("--seconds", type=float, default=None, help="clip length instead of the suite's (quick runs)")
    ev.add_argument("--steps", type=int, default=4, help="decoder steps per chunk when generating (default 4)")
    ev.add_argument("--warp-guide", type=float, default=None, help="camera/brush warp-guide level for generation (default: generate's 0.2; 1 = the model alone, which guide-input models give the warp as an input)")
    _guidance_flags(ev)
    ev.add_argument("--without-controls", action="store_true", help="ablation: generate each case with its keyframes, brush, camera path and reference images left out (a brush case keeps its first frame; compare with the full run)")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(fn=_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:  # the trainer owns its flags (it also runs under torchrun directly)
        from kino.train import main as train_main

        return train_main(argv[1:])
    if argv[:1] in (["serve"], ["admin"]):  # the server's own parsers (server code stays out of model imports)
        from kino.server.admin import main_admin, main_serve

        return (main_serve if argv[0] == "serve" else main_admin)(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ValueError as exc:  # bad input: one clear line, no traceback
        print(f"kino: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
