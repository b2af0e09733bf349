"""Kino Studio in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against a
live `kino serve`: sign in, upload, paint + drag a vector, camera preset + focus key, generate, watch the
chunks stream and the video play, find it in the library, re-open, delete; errors next to their fields;
tagged reference images;
the JS camera path equals kino.controls'; tablet width; keyboard access. Saves screenshots (KINO_SCREENSHOTS=docs/studio for the README's)."""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from server_helpers import ThreadServer, add_org, poll, tiny_checkpoint, write_config

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
# screenshots go to a temp folder; `KINO_SCREENSHOTS=docs/studio` refreshes the README's (a clean tree after make test)
SHOTS = Path(os.environ.get("KINO_SCREENSHOTS") or Path(tempfile.gettempdir()) / "kino-studio-shots")

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - `make test` installs it (pyproject dev extra)
    sync_playwright = None

if sync_playwright is None or not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"browser tests need Playwright (pip install playwright: {'ok' if sync_playwright else 'missing'}) and Debian's Chromium at {CHROMIUM} "
        f"(apt-get install chromium: {'ok' if os.access(CHROMIUM, os.X_OK) else 'missing'}); `make setup` installs both",
        allow_module_level=True,
    )


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio")
    config = write_config(root / "data", tiny_checkpoint(root / "tiny.safetensors"))
    key = add_org(config, "acme", 10_000)
    other = add_org(config, "globex", 10_000)
    with ThreadServer(config) as srv:
        srv.key, srv.other_key, srv.root = key, other, root
        yield srv


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(f"pageerror: {e}"))
    pg.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text and pg.errors.append(f"console: {m.text}"))
    yield pg
    ctx.close()
    assert pg.errors == [], pg.errors  # no script errors on any screen


def world_frame(tmp: Path, index: int, name: str) -> Path:
    """A first frame from Kino World (what the model knows): balls, boxes, a tiled floor."""
    from kino.world.data import DataSpec, make_sample

    frame = make_sample(index, DataSpec(width=448, height=256, seconds=0.25, seed=7)).frames[0]
    path = tmp / name
    Image.fromarray(frame).save(path)
    return path


def blobs(path: Path) -> list[tuple[float, float]]:
    """Centres (as fractions of the image) of the saturated objects, left to right."""
    img = np.asarray(Image.open(path).convert("HSV")).astype(int)
    sat = (img[..., 1] > 110) & (img[..., 2] > 60)
    ys, xs = np.nonzero(sat)
    if not len(xs):
        return [(0.3, 0.55)]
    cols = np.unique(xs)
    groups, cur = [], [cols[0]]
    for c in cols[1:]:
        if c - cur[-1] > 6:
            groups.append(cur)
            cur = []
        cur.append(c)
    groups.append(cur)
    h, w = sat.shape
    out = []
    for g in groups:
        sel = (xs >= g[0]) & (xs <= g[-1])
        out.append((float(xs[sel].mean()) / w, float(ys[sel].mean()) / h))
    return out


def sign_in(page, server, key=None):
    page.goto(server.url + "/studio/")
    page.fill("#apikey", key or server.key)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#tabs")).to_be_visible()
    expect(page.locator("#balance")).not_to_have_text("…")


def shot(page, name: str, full_page: bool = False):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(150)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def paint(page, canvas, points, steps=6):
    box = canvas.bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for p in xy[1:]:
        page.mouse.move(*p, steps=steps)
    page.mouse.up()


def api(server, key=None) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key or server.key}"}, timeout=30)


def task_ids(server) -> list[str]:
    """The org's task ids, newest first: compare ids, not whole tasks, whose signed URLs change every second."""
    return [t["id"] for t in api(server).get("/v1/tasks", params={"limit": 100}).json()["tasks"]]


def seed_library(server, tmp: Path) -> list[str]:
    """A few earlier shots made through the API (what a script would do): the library has something to show."""
    c = api(server)
    ids = []
    prompts = ["Two balls on a tiled floor at dusk; the yellow ball rolls toward the green one.", "A green rubber ball rolls across a concrete floor; the camera zooms in.", "A white ramp on grass against a plain wall; a slow push in."]
    for i, (idx, prompt) in enumerate(zip((0, 3, 2), prompts, strict=True)):
        uri = "data:image/png;base64," + base64.b64encode(world_frame(tmp, idx, f"seed{idx}.png").read_bytes()).decode()
        body = {"model": "kino-tiny", "promptText": prompt, "promptImage": [{"uri": uri, "position": "first"}], "ratio": "16:9", "duration": 2 + i, "seed": i}
        if i == 1:
            body["camera"] = {"preset": {"zoom": 4}}
        r = c.post("/v1/image_to_video", json=body)
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    for t in ids:
        assert poll(c, t)["status"] == "SUCCEEDED"
    return ids


# ------------------------------------------------------------------------------ the whole flow
def slowed(stream, seconds: float):
    """The server's chunk stream with a pause per chunk (the test model is ~1 s in all): time to watch it live."""

    def slow(*args, **kwargs):
        for chunk in stream(*args, **kwargs):
            time.sleep(seconds)
            yield chunk

    return slow


@pytest.mark.slow
def test_paint_direct_generate_watch_library_delete(page, server, tmp_path, monkeypatch):
    import kino.generate

    seeded = seed_library(server, tmp_path)
    first = world_frame(tmp_path, 1, "first.png")  # a cyan ball left of a blue box
    key_img = world_frame(tmp_path, 3, "key.png")
    ball, box = (blobs(first) + [(0.6, 0.55)])[:2]

    # ---- sign in (a wrong key first: the error is next to the field)
    page.goto(server.url + "/studio/")
    expect(page.locator("#apikey")).to_be_focused()
    shot(page, "signin")
    page.fill("#apikey", "key_wrong")
    page.keyboard.press("Enter")
    expect(page.locator("#err-apikey")).to_contain_text("not accepted")
    expect(page.locator("#apikey")).to_have_attribute("aria-invalid", "true")
    page.fill("#apikey", server.key)
    page.keyboard.press("Enter")
    expect(page.locator("#balance")).to_have_text("9,991")  # 10,000 less the three seeded shots (2 + 3 + 4 credits)
    assert page.evaluate("sessionStorage.getItem('kino.apiKey')") == server.key

    # ---- generate: prompt, model from the organization's tier, upload a first frame, a keyframe on the timeline
    options = page.locator("#model option").all_inner_texts()
    assert any(o.startswith("kino-tiny") for o in options) and any(o.startswith("gen4.5") for o in options)
    page.select_option("#model", "kino-tiny")
    page.select_option("#ratio", "16:9")
    page.fill("#duration", "2")
    page.fill("#seed", "7")
    page.fill("#promptText", "A cyan metal ball rolls right across the tiled floor toward the blue box; the camera pans and pushes in as focus racks to the box.")
    page.set_input_files("#first-file", str(first))
    expect(page.locator("#first-img img")).to_be_visible()
    page.fill("#kf-frame", "20")
    page.set_input_files("#kf-file", str(key_img))
    expect(page.locator("#kf-markers .marker:not(.pending)")).to_have_count(1)
    expect(page.locator("#kf-markers .marker i")).to_have_text("20")
    page.locator("#kf-markers .marker").focus()
    page.keyboard.press("ArrowRight")  # markers move by keyboard too
    expect(page.locator("#kf-markers .marker i")).to_have_text("21")
    # an image file dropped on the timeline lands at the frame under the pointer (0.9 of frames 0..31 → 28)
    dropped = base64.b64encode(world_frame(tmp_path, 2, "drop.png").read_bytes()).decode()
    page.evaluate(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], "drop.png", { type: "image/png" }));
          const tl = document.querySelector("#kf-timeline");
          const m = tl.querySelector(".markers").getBoundingClientRect();
          for (const type of ["dragover", "drop"]) tl.dispatchEvent(new DragEvent(type, { dataTransfer: dt, clientX: m.left + 0.9 * m.width, clientY: m.top + 10, bubbles: true, cancelable: true }));
        }""",
        dropped,
    )
    expect(page.locator("#kf-markers .marker:not(.pending)")).to_have_count(2)
    expect(page.locator("#kf-markers .marker i")).to_have_text(["21", "28"])

    # ---- motion brush: paint the ball, drag its arrow to the right; paint the box as the static area
    page.click("#tab-brush")
    canvas = page.locator("#brush-canvas")
    bx, by = ball
    paint(page, canvas, [(bx - 0.03, by - 0.04), (bx + 0.03, by - 0.04), (bx + 0.03, by + 0.04), (bx - 0.03, by + 0.04), (bx, by)])
    expect(page.locator("#layers li").first).to_contain_text("0 px/s")
    page.click("label[for=tool-arrow]")
    cb = canvas.bounding_box()
    page.mouse.move(cb["x"] + bx * cb["width"], cb["y"] + by * cb["height"])
    page.mouse.down()
    page.mouse.move(cb["x"] + (bx + 0.22) * cb["width"], cb["y"] + (by - 0.01) * cb["height"], steps=8)
    page.mouse.up()
    dx, dy = float(page.input_value("#region-dx")), float(page.input_value("#region-dy"))
    assert 35 < dx < 65 and abs(dy) < 6, (dx, dy)  # ~0.22 of 224 px → px/s to the right
    page.locator("#region-dz").focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")  # depth: +0.5 m/s toward the camera
    assert float(page.input_value("#region-dz")) == pytest.approx(0.5)
    page.locator("#layers button.layer", has_text="Static area").click()
    page.click("label[for=tool-brush]")
    sx, sy = box
    paint(page, canvas, [(sx, sy - 0.1), (sx, sy + 0.08)])
    expect(page.locator("#layers li", has_text="Static area")).to_contain_text("keep still")
    page.locator("#layers button.layer", has_text="Region 1").click()
    page.mouse.move(cb["x"] + cb["width"] * 0.6, cb["y"] + cb["height"] * 0.3)
    shot(page, "motion-brush")

    # ---- camera director: preset sliders by keyboard, a rack-focus pair of keys, then a focus key edited
    page.click("#tab-camera")
    page.locator("#preset-pan").focus()
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    page.locator("#preset-zoom").focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.locator("#preset-dolly").focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#preset-pan-out")).to_have_text("+3")
    expect(page.locator("#preset-zoom-out")).to_have_text("+2")
    page.click("#add-rack")
    page.fill("#key-0-focus", "2.5")
    page.fill("#key-1-focus", "9")
    page.select_option("#key-1-ease", "ease_out")
    expect(page.locator("#cam-markers .marker")).to_have_count(2)
    page.locator("#cam-scrub").evaluate("(e) => { e.value = 0.6; e.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(page.locator("#cam-readout")).to_contain_text("t 0.60")
    shot(page, "camera")

    page.click("#tab-generate")
    expect(page.locator("#brush-summary")).to_contain_text("1 region")
    expect(page.locator("#camera-summary")).to_contain_text("rack focus 2.5→9 m")
    expect(page.locator("#estimate")).to_have_text("≈ 2 credits")
    shot(page, "generate")

    page.locator("#warp-guide").fill("0.5")  # leave the model more room than the default (0.2)
    expect(page.locator("#warp-guide-out")).to_have_text("0.50")
    page.locator("#guidance").fill("2.5")  # classifier-free guidance on the first chunk
    expect(page.locator("#guidance-out")).to_have_text("2.5")

    # ---- generate → watch: chunks stream in and play while the task runs, then the final video plays
    monkeypatch.setattr(kino.generate, "stream", slowed(kino.generate.stream, 0.35))  # the in-process server's worker
    page.click("#generate")
    expect(page.locator("#tab-watch")).to_have_attribute("aria-selected", "true")
    task_id = page.get_attribute("#watch-id", "title")
    assert task_id
    page.wait_for_function("() => document.querySelectorAll('#filmstrip .chunk.ready').length >= 4 && document.querySelector('#watch-status').textContent === 'RUNNING'", timeout=90_000)
    expect(page.locator("#live-badge")).to_be_visible()
    assert "/chunks/" in page.evaluate("document.querySelector('#watch-video').currentSrc")  # a chunk is on the player
    assert 0 < float(page.get_attribute("#watch-progress", "value") or page.evaluate("document.querySelector('#watch-progress').value")) < 1
    expect(page.locator("#watch-cost")).to_have_text("—")  # the estimate is shown; the final cost comes with `done`
    shot(page, "watch-streaming")
    expect(page.locator("#player")).to_have_attribute("data-state", "final", timeout=90_000)
    assert int(page.get_attribute("#player", "data-chunks-before-done")) >= 1  # chunk events arrived before `done`
    expect(page.locator("#filmstrip .chunk")).to_have_count(16)  # 2 s x 16 fps / 2 frames a chunk
    expect(page.locator("#filmstrip .chunk.ready")).to_have_count(16)  # each chunk's mp4 decoded into its tile
    page.wait_for_function("() => { const v = document.querySelector('#watch-video'); return v.readyState >= 2 && !v.paused && v.currentTime > 0; }")
    t0 = page.evaluate("document.querySelector('#watch-video').currentTime")
    page.wait_for_function(f"() => document.querySelector('#watch-video').currentTime !== {t0}")  # it is playing
    expect(page.locator("#watch-status")).to_have_text("SUCCEEDED")
    expect(page.locator("#watch-estimated")).to_have_text("2 credits")
    expect(page.locator("#watch-cost")).to_have_text("2 credits")
    expect(page.locator("#balance")).to_have_text("9,989")
    sent = api(server).get("/v1/tasks", params={"limit": 1}).json()["tasks"][0]
    assert sent["id"] == task_id and sent["kind"] == "image_to_video"
    req = sent["request"]
    assert req["camera"]["preset"] == {"pan": 3, "zoom": 2, "dolly": 2.5} and [k["focus"] for k in req["camera"]["keys"]] == [2.5, 9]
    assert req["warpGuide"] == 0.5
    assert req["guidance"] == 2.5
    assert [k["frame"] for k in req["keyframes"]] == [21, 28] and req["promptImage"][0]["uri"].startswith("runway://uploads/")
    region = req["motionBrush"]["regions"][0]
    assert region["vector"][0] == dx and region["vector"][2] == pytest.approx(0.5) and region["mask"].startswith("[data URI omitted: image/png")
    assert req["motionBrush"]["staticMask"].startswith("[data URI omitted")
    page.evaluate("() => { const v = document.querySelector('#watch-video'); v.pause(); v.currentTime = 0; }")  # frame 0 for the picture
    page.wait_for_function("() => document.querySelector('#watch-video').readyState >= 2 && !document.querySelector('#watch-video').seeking")
    shot(page, "watch")

    # ---- library: the new shot first, with its thumbnail and cost; re-open it; then delete it
    page.click("#tab-library")
    card = page.locator(f"article.task[data-id='{task_id}']")
    expect(card).to_be_visible()
    assert page.locator("article.task").first.get_attribute("data-id") == task_id  # newest first
    expect(page.locator("article.task")).to_have_count(4)
    expect(card.locator(".badge")).to_have_text("SUCCEEDED")
    expect(card.locator(".cost")).to_have_text("2 credits")
    expect(card).to_contain_text("2 keyframes")
    page.wait_for_function(f"() => document.querySelector(\"article.task[data-id='{task_id}'] .thumb img\").naturalWidth === 224")
    for sid in seeded:
        page.wait_for_function(f"() => document.querySelector(\"article.task[data-id='{sid}'] .thumb img\")?.naturalWidth === 224")
    assert card.locator("a", has_text="Download").get_attribute("href").startswith(server.url + f"/v1/files/{task_id}/output.mp4?")
    shot(page, "library")

    card.locator("button", has_text="Re-open").click()
    expect(page.locator("#tab-generate")).to_have_attribute("aria-selected", "true")
    assert page.input_value("#promptText").startswith("A cyan metal ball")
    assert page.input_value("#seed") == "7"
    assert page.input_value("#preset-pan") == "3" and page.input_value("#key-0-focus") == "2.5"
    assert page.input_value("#guidance") == "2.5"
    expect(page.locator("#brush-summary")).to_contain_text("1 region")  # the masks come back from this tab's copy

    # v2v from a library result: its output is copied into an upload (the server refuses loopback URLs)
    page.click("#tab-library")
    page.locator(f"article.task[data-id='{seeded[0]}'] button", has_text="V2V").click()
    expect(page.locator("#source-label")).to_contain_text("Result", timeout=30_000)
    expect(page.locator("#mode-v2v")).to_be_checked()
    expect(page.locator("#strength-row")).to_be_visible()

    page.click("#tab-library")
    card = page.locator(f"article.task[data-id='{task_id}']")
    delete = card.locator("button", has_text="Delete")
    delete.click()
    expect(card.locator("button.danger")).to_have_text("Confirm delete")
    card.locator("button.danger").click()
    expect(page.locator(f"article.task[data-id='{task_id}']")).to_have_count(0)
    assert task_id not in [t["id"] for t in api(server).get("/v1/tasks").json()["tasks"]]
    assert api(server).get(f"/v1/tasks/{task_id}").status_code == 404


# ------------------------------------------------------------------------------ errors next to their fields
def test_api_errors_shown_next_to_the_field(page, server):
    sign_in(page, server)
    # a camera key out of order → the Camera screen opens at that key's t
    page.click("#tab-camera")
    page.click("#add-key")
    page.click("#add-key")
    page.fill("#key-0-t", "0.5")
    page.fill("#key-1-t", "0.1")
    page.click("#tab-generate")
    page.fill("#promptText", "a ball rolls")
    page.click("#generate")
    err = page.locator('[data-err="camera.keys.1.t"]')
    expect(err).to_be_visible()
    expect(err).to_contain_text("increasing time order")
    expect(page.locator("#tab-camera")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#key-1-t")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#key-1-t")).to_be_focused()
    shot(page, "error-camera-key")

    # fix it; a too-long prompt → its error under the prompt (counter red), nothing created
    page.fill("#key-1-t", "1")
    page.click("#tab-generate")
    page.fill("#promptText", "x" * 1001)
    expect(page.locator("#prompt-count")).to_have_class("hint count over")
    before = task_ids(server)
    page.click("#generate")
    expect(page.locator("#err-promptText")).to_contain_text("longer than 1000")
    expect(page.locator("#promptText")).to_have_attribute("aria-invalid", "true")
    expect(page.locator('[data-err="camera.keys.1.t"]')).to_be_hidden()  # old errors cleared
    assert task_ids(server) == before

    # a v2v without a source video → the error sits in the source box
    page.click("label[for=mode-v2v]")
    page.fill("#promptText", "restyle")
    page.click("#generate")
    expect(page.locator("#err-videoUri")).to_be_visible()


# ------------------------------------------------------------------------------ reference images with tags
def test_references_sent_in_order_with_their_tags_and_errors_next_to_them(page, server, tmp_path):
    sign_in(page, server)
    paths = []
    for name, rgb in (("hero.png", (220, 40, 40)), ("villain.png", (40, 60, 220))):
        img = np.full((48, 40, 3), 235, np.uint8)
        img[8:40, 6:34] = rgb  # a coloured subject on a pale ground
        Image.fromarray(img).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    page.select_option("#model", "kino-tiny")
    page.select_option("#ratio", "1:1")
    page.fill("#duration", "2")
    page.set_input_files("#ref-file", paths)  # two at once (a drop on the box does the same)
    items = page.locator("#ref-list li")
    expect(page.locator("#ref-list li:not(.pending)")).to_have_count(2)
    expect(items.locator("img")).to_have_count(2)
    expect(page.locator("#ref-count")).to_have_text("2 / 4")
    tags = items.locator("input[type=text]")
    tags.nth(0).fill("hero")
    tags.nth(1).fill("9lives")  # must start with a letter: the server's error lands next to this reference
    page.fill("#promptText", "@hero rolls left across a tiled floor")
    before = task_ids(server)
    page.click("#generate")
    expect(items.nth(1).locator(".error").first).to_contain_text("3-16 letters")
    expect(tags.nth(1)).to_have_attribute("aria-invalid", "true")
    expect(items.nth(0).locator(".error.show")).to_have_count(0)
    assert task_ids(server) == before  # nothing was created
    shot(page, "error-reference-tag")

    tags.nth(1).fill("@villain")  # the @ some people type is not part of the tag
    page.fill("#promptText", "@hero rolls left across a tiled floor and knocks over @villain")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/text_to_video")) as sent:
        page.click("#generate")
    body = sent.value.post_data_json
    assert [r["tag"] for r in body["references"]] == ["hero", "villain"]
    assert all(r["uri"].startswith("data:image/png;base64,") for r in body["references"])
    sent_png = base64.b64decode(body["references"][0]["uri"].split(",", 1)[1])
    assert sent_png == Path(paths[0]).read_bytes()  # a small image goes as it is (large ones are scaled to 512 px)
    expect(page.locator("#tab-watch")).to_have_attribute("aria-selected", "true")
    task_id = page.get_attribute("#watch-id", "title")
    stored = api(server).get("/v1/tasks", params={"limit": 1}).json()["tasks"][0]
    assert stored["id"] == task_id and [r["tag"] for r in stored["request"]["references"]] == ["hero", "villain"]
    assert poll(api(server), task_id)["status"] == "SUCCEEDED"  # the worker is idle again for the next test


# ------------------------------------------------------------------------------ the preview is the real path
def test_camera_preview_path_matches_kino_controls(page, server):
    from kino.controls import camera_from_dict, camera_path

    page.goto(server.url + "/studio/")
    cases = [
        {"preset": {"pan": 3, "zoom": 2, "orbit": -4, "dolly": 5, "crane": 3}},
        {"keys": [{"t": 0, "focus": 2.5, "aperture": 2.8}, {"t": 0.4, "pan": 20, "tilt": -5, "roll": 10, "zoom": 1.5, "ease": "ease_in"}, {"t": 1, "orbit": 40, "dolly": -1, "crane": -0.8, "ease": "ease_out"}], "preset": {"tilt": 2}},
        {"keys": [{"t": 0.25, "pan": -10}], "focus": 4, "aperture": 1.4},
        {"focus": 3, "aperture": 2},
    ]
    for cam in cases:
        js = page.evaluate(
            "async ([cam]) => { const m = await import('/studio/js/campath.js'); return m.cameraPath(cam, 24, 224, 128).map((c) => [c.position, c.forward, c.right, c.up, c.focal, c.focus, c.aperture]); }",
            [cam],
        )
        py = camera_path(camera_from_dict(json.loads(json.dumps(cam))), 24, (224, 128))
        for (pos, fwd, right, up, focal, focus, ap), c in zip(js, py, strict=True):
            np.testing.assert_allclose(pos, c.position, atol=1e-9)
            np.testing.assert_allclose([right, [-x for x in up], fwd], c.rotation, atol=1e-9)
            assert focal == pytest.approx(c.focal) and focus == pytest.approx(c.focus) and ap == pytest.approx(c.aperture)


# ------------------------------------------------------------------------------ tablet width, keyboard, labels
def test_tablet_width_and_keyboard(browser, server):
    ctx = browser.new_context(viewport={"width": 820, "height": 1180}, device_scale_factor=1)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/studio/")
    expect(page.locator("#apikey")).to_be_focused()
    page.keyboard.type(server.key)
    page.keyboard.press("Tab")
    expect(page.locator("#signin-form button[type=submit]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#tabs")).to_be_visible()
    # tabs: arrow keys move between screens (WAI-ARIA tabs)
    page.locator("#tab-generate").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-brush")).to_be_focused()
    expect(page.locator("#screen-brush")).to_be_visible()
    for screen in ("generate", "brush", "camera", "watch", "library"):
        page.click(f"#tab-{screen}")
        page.wait_for_timeout(100)
        width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], f"{screen}: horizontal overflow at tablet width {width}"
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('.screen:not([hidden]) input, .screen:not([hidden]) select, .screen:not([hidden]) textarea, .screen:not([hidden]) button')]
                 .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
                 .map((el) => el.outerHTML.slice(0, 80))"""
        )
        assert unlabeled == [], f"{screen}: controls without a label {unlabeled}"
        clickable_divs = page.evaluate("() => [...document.querySelectorAll('.screen:not([hidden]) div[onclick], .screen:not([hidden]) span[onclick]')].length")
        assert clickable_divs == 0
    page.click("#tab-camera")
    shot(page, "tablet-camera", full_page=True)
    page.click("#tab-generate")
    shot(page, "tablet-generate", full_page=True)
    ctx.close()
    assert errors == []

