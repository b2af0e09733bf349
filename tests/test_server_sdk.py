"""The official `runwayml` Python SDK (5.24.0), unchanged, against a live `kino serve` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from server_helpers import poll, two_org_server

runwayml = pytest.importorskip("runwayml")

from kino.io.video import read_mp4, write_mp4  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with two_org_server(tmp_path_factory.mktemp("serve")) as srv:
        yield srv


def png_data_uri(color=(200, 30, 30), size=(64, 48)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def client(server, key=None):
    return runwayml.RunwayML(api_key=key or server.key, base_url=server.url, max_retries=0)


def test_text_to_video_wait_download_decode(server):
    c = client(server)
    task = c.text_to_video.create(model="gen4.5", prompt_text="a red ball rolls left", ratio="1280:720", duration=2, seed=3)
    assert task.id
    out = task.wait_for_task_output(timeout=120)
    assert out.status == "SUCCEEDED" and out.cost.credits == 24  # gen4.5: 12 credits/s x 2 s
    video = httpx.get(out.output[0], timeout=30)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    path = server.cfg.data_dir + "/dl.mp4"
    open(path, "wb").write(video.content)
    frames, fps = read_mp4(path)
    assert frames.shape == (32, 128, 224, 3) and fps == 16  # native 16:9 size, reported below
    time.sleep(1.1)
    got = c.tasks.retrieve(task.id)
    assert got.status == "SUCCEEDED" and got.output[0] != out.output[0]  # re-signed (new expiry) on every GET
    assert httpx.get(got.output[0]).status_code == 200 and httpx.get(out.output[0]).status_code == 200
    raw = httpx.get(f"{server.url}/v1/tasks/{task.id}", headers={"Authorization": f"Bearer {server.key}"}).json()
    assert raw["kino"]["size"] == "224x128" and raw["kino"]["requestedRatio"] == "1280:720" and raw["kino"]["model"] == "gen4.5"
    assert "aliasOf" in raw["kino"]


def test_async_client_image_to_video_with_upload(server):
    async def run():
        c = runwayml.AsyncRunwayML(api_key=server.key, base_url=server.url, max_retries=0)
        buf = io.BytesIO()
        Image.new("RGB", (96, 64), (20, 160, 40)).save(buf, format="PNG")
        up = await c.uploads.create_ephemeral(file=("first.png", buf.getvalue(), "image/png"))
        assert up.uri.startswith("runway://")
        task = await c.image_to_video.create(model="gen4_turbo", prompt_image=up.uri, ratio="960:960", duration=2, seed=1)
        return await task.wait_for_task_output(timeout=120)

    out = asyncio.run(run())
    assert out.status == "SUCCEEDED"
    data = httpx.get(out.output[0]).content
    path = server.cfg.data_dir + "/i2v.mp4"
    open(path, "wb").write(data)
    frames, _ = read_mp4(path)
    assert frames.shape[1:] == (128, 128, 3)
    # the first frame is the uploaded image (keyframe replacement), within codec error
    assert np.abs(frames[0].astype(int) - np.array([20, 160, 40])).mean() < 12


def test_video_to_video_and_extension_fields(server):
    src = np.zeros((16, 128, 224, 3), np.uint8)
    src[..., 2] = 200
    path = write_mp4(server.cfg.data_dir + "/src.mp4", src, 16)
    uri = "data:video/mp4;base64," + base64.b64encode(open(path, "rb").read()).decode()
    c = client(server)
    task = c.video_to_video.create(model="aleph2", video_uri=uri, prompt_text="make it red", seed=2, extra_body={"strength": 0.5})
    out = c.tasks.retrieve(task.id).wait_for_task_output(timeout=120)
    assert out.status == "SUCCEEDED"
    # keyframes at any frame ride through the SDK as extra fields
    t2 = c.text_to_video.create(model="kino-tiny", prompt_text="a ball", ratio="16:9", duration=2, extra_body={"keyframes": [{"uri": png_data_uri(), "frame": 17}]})
    body = poll(httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}), t2.id)
    assert body["status"] == "SUCCEEDED"
    # Extend: continue a video that Kino did not make, for `duration` new seconds
    t3 = c.text_to_video.create(model="kino-tiny", prompt_text="the ball keeps rolling", ratio="16:9", duration=2, extra_body={"extend": {"videoUri": uri}})
    body = poll(httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}), t3.id)
    assert body["status"] == "SUCCEEDED" and body["kino"]["frames"] == 32


def test_errors_map_to_sdk_exceptions(server):
    c = client(server)
    with pytest.raises(runwayml.BadRequestError) as e:
        c.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1:3", duration=2)
    assert e.value.body["issues"][0]["path"] == ["ratio"]
    with pytest.raises(runwayml.BadRequestError) as e:
        c.text_to_video.create(model="nope", prompt_text="x", ratio="1280:720", duration=2)
    assert "model" in e.value.body["error"]
    with pytest.raises(runwayml.BadRequestError) as e:
        c.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1280:720", duration=11)
    assert e.value.body["issues"][0]["path"] == ["duration"]
    with pytest.raises(runwayml.AuthenticationError):
        client(server, key="key_wrong").organization.retrieve()
    with pytest.raises(runwayml.NotFoundError):
        c.tasks.retrieve("00000000-0000-0000-0000-000000000000")


def test_retrieve_delete_and_other_org_isolation(server):
    c = client(server)
    task = c.text_to_video.create(model="kino-tiny", prompt_text="a blue box", ratio="1:1", duration=2)
    other = client(server, key=server.other_key)
    with pytest.raises(runwayml.NotFoundError):
        other.tasks.retrieve(task.id)
    with pytest.raises(runwayml.NotFoundError):
        other.tasks.delete(task.id)
    assert c.tasks.retrieve(task.id).id == task.id
    c.tasks.delete(task.id)
    with pytest.raises(runwayml.NotFoundError) as e:
        c.tasks.retrieve(task.id)
    assert e.value.body == {"error": "Could not find Task"}


def test_organization_and_usage(server):
    c = client(server)
    org = c.organization.retrieve()
    assert org.credit_balance <= 10_000 and "gen4.5" in org.tier.models
    assert org.tier.models["gen4.5"].max_concurrent_generations == 2
    usage = c.organization.retrieve_usage()
    assert isinstance(usage.results, list)
    with pytest.raises(runwayml.BadRequestError):
        c.organization.retrieve_usage(start_date="2026/01/01")


def test_cancel_refunds_and_sse_streams_chunks(server):
    h = {"Authorization": f"Bearer {server.key}"}
    hc = httpx.Client(base_url=server.url, headers=h, timeout=60)
    before = hc.get("/v1/organization").json()["creditBalance"]
    r = hc.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": "a ball falls", "ratio": "16:9", "duration": 3, "seed": 5})
    tid = r.json()["id"]
    events, chunks = [], []
    with hc.stream("GET", f"/v1/tasks/{tid}/events") as s:
        for line in s.iter_lines():
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
            if line.startswith("data:") and events and events[-1] == "chunk":
                chunks.append(line)
            if events and events[-1] == "done" and line.startswith("data:"):
                break
    assert events[-1] == "done" and len(chunks) == 24  # 3 s x 16 fps / 2 frames per chunk
    after = hc.get("/v1/organization").json()["creditBalance"]
    assert before - after == 3  # kino-tiny: 1 credit/s, charged once
    # cancel a queued task: full refund
    ids = [hc.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": "x", "ratio": "16:9", "duration": 10}).json()["id"] for _ in range(3)]
    mid = hc.get("/v1/organization").json()["creditBalance"]
    assert mid == after - 30
    for i in ids:
        assert hc.delete(f"/v1/tasks/{i}").status_code == 204
    time.sleep(0.5)
    assert hc.get("/v1/organization").json()["creditBalance"] == after


def test_camera_and_motion_brush_through_extra_body(server):
    c = client(server)
    mask = io.BytesIO()
    m = np.zeros((128, 224), np.uint8)
    m[40:90, 20:80] = 255
    Image.fromarray(m).save(mask, format="PNG")
    extra = {
        "camera": {"preset": {"pan": -4, "zoom": 2}, "keys": [{"t": 0, "focus": 3, "aperture": 2.8}, {"t": 1, "focus": 8, "aperture": 2.8}]},
        "motionBrush": {"regions": [{"mask": "data:image/png;base64," + base64.b64encode(mask.getvalue()).decode(), "vector": [40, 0]}, {"polygon": [[150, 20], [200, 20], [200, 70]], "vector": [0, 0, 0]}]},
        "warpGuide": 0.6,
        "guidance": 2.0, "guidanceChunks": 0, "negativePromptText": "a blurry smear",
    }
    task = c.text_to_video.create(model="gen4.5", prompt_text="a ball rolls right, the camera pans left", ratio="1280:720", duration=2, seed=4, extra_body=extra)
    body = poll(httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}), task.id)
    assert body["status"] == "SUCCEEDED"
    with pytest.raises(runwayml.BadRequestError) as e:
        c.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1280:720", duration=2, extra_body={"camera": {"keys": [{"t": 0.5}, {"t": 0.1}]}})
    assert e.value.body["issues"][0]["path"] == ["camera"] and "camera.keys[1].t" in e.value.body["error"]
    with pytest.raises(runwayml.BadRequestError) as e:
        c.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1280:720", duration=2, extra_body={"warpGuide": 1.5})
    assert e.value.body["issues"][0]["path"] == ["warpGuide"]
    with pytest.raises(runwayml.BadRequestError) as e:
        c.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1280:720", duration=2, extra_body={"guidance": -1})
    assert e.value.body["issues"][0]["path"] == ["guidance"]
    small = io.BytesIO()
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(small, format="PNG")
    with pytest.raises(runwayml.BadRequestError) as e:
        c.text_to_video.create(model="gen4.5", prompt_text="x", ratio="1280:720", duration=2, extra_body={"motionBrush": {"regions": [{"mask": "data:image/png;base64," + base64.b64encode(small.getvalue()).decode(), "vector": [1, 0]}]}})
    assert "the output is 224x128" in e.value.body["error"]


def test_references_through_extra_body(server, monkeypatch):
    """Runway's referenceImages shape {uri, tag} (and {type: "image", uri}) as a Kino extension on text_to_video."""
    import kino.generate

    seen, stream = [], kino.generate.stream
    monkeypatch.setattr(kino.generate, "stream", lambda req, model=None: seen.append(req) or stream(req, model))
    c = client(server)
    hero, villain = {"uri": png_data_uri((220, 30, 30)), "tag": "hero"}, {"uri": png_data_uri((30, 30, 220), (40, 60)), "tag": "villain", "type": "image"}
    task = c.text_to_video.create(model="kino-tiny", prompt_text="@hero chases @villain", ratio="1:1", duration=2, seed=1, extra_body={"references": [hero, villain]})
    body = poll(httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}), task.id)
    assert body["status"] == "SUCCEEDED"
    (req,) = [r for r in seen if r.prompt == "@hero chases @villain"]
    assert [r.tag for r in req.references] == ["hero", "villain"] and all(str(r.image).endswith(".png") for r in req.references)
    bad = [
        ([hero, {**villain, "tag": "hero"}], "@hero", ["references", 1, "tag"], "references[1].tag: 'hero' is already the tag of references[0]"),
        ([hero], "@hero meets @villain", ["promptText"], "promptText: @villain names no reference (have: hero)"),
        ([{**hero, "tag": "a-b"}], "x", ["references", 0, "tag"], "references[0].tag: 'a-b' must be 3-16 letters"),
        ([{**hero, "uri": "data:image/png;base64,AA=="}], "@hero", ["references", 0, "uri"], ""),
        ([{"uri": hero["uri"], "tag": f"ref{i}"} for i in range(5)], "x", ["references"], "at most 4 reference images"),
    ]
    for refs, prompt, path, message in bad:
        with pytest.raises(runwayml.BadRequestError) as e:
            c.text_to_video.create(model="kino-tiny", prompt_text=prompt, ratio="1:1", duration=2, extra_body={"references": refs})
        assert e.value.body["issues"][0]["path"] == path and message in e.value.body["error"], e.value.body
