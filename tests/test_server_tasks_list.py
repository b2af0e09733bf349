"""GET /v1/tasks (Kino extension): the organization's tasks newest first, with the request body and a
thumbnail; the studio's static files and the model capabilities on GET /v1/organization."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from server_helpers import poll, two_org_server

TASK_KEYS = {"id", "status", "createdAt", "estimatedCost", "progress", "cost", "output", "failure", "failureCode", "kino"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with two_org_server(tmp_path_factory.mktemp("list")) as srv:
        yield srv


def api(server, key=None) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key or server.key}"}, timeout=30)


def png_uri(size=(224, 128), color=(30, 90, 200)) -> str:
    buf = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buf, format="PNG")  # noise: a data URI well over 200 chars
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_list_newest_first_with_body_thumbnail_and_pages(server):
    c = api(server)
    ids = []
    for i in range(3):
        r = c.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": f"shot {i}", "ratio": "16:9", "duration": 2, "seed": i})
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    mask = png_uri()
    r = c.post(
        "/v1/image_to_video",
        json={"model": "kino-tiny", "promptImage": [{"uri": png_uri(), "position": "first"}], "ratio": "16:9", "duration": 2, "camera": {"preset": {"pan": 3}}, "motionBrush": {"regions": [{"mask": mask, "vector": [20, 0]}]}},
    )
    assert r.status_code == 200, r.text
    ids.append(r.json()["id"])
    for t in ids:
        assert poll(c, t)["status"] == "SUCCEEDED"

    body = c.get("/v1/tasks").json()
    got = [t["id"] for t in body["tasks"]]
    assert got[:4] == ids[::-1] and body["hasMore"] is False and body["nextBefore"] is None
    newest = body["tasks"][0]
    assert newest["kind"] == "image_to_video" and newest["status"] == "SUCCEEDED" and newest["cost"] == {"credits": 2}
    req = newest["request"]
    assert req["model"] == "kino-tiny" and req["camera"] == {"preset": {"pan": 3}} and req["motionBrush"]["regions"][0]["vector"] == [20, 0]
    placeholder = req["motionBrush"]["regions"][0]["mask"]
    assert placeholder.startswith("[data URI omitted: image/png, ") and len(placeholder) < 80  # the DB stays small
    assert req["promptImage"][0]["uri"].startswith("[data URI omitted")
    assert "seed" not in req and isinstance(newest["kino"]["seed"], int)  # as sent; the seed used is in kino
    assert body["tasks"][1]["request"] == {"model": "kino-tiny", "promptText": "shot 2", "ratio": "16:9", "duration": 2, "seed": 2}

    thumb = httpx.get(newest["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(thumb.content)).size == (224, 128)
    assert httpx.get(newest["thumbnail"].replace("thumb.png", "inputs/promptImage_0_uri.png")).status_code == 403  # the signature covers the name
    assert httpx.get(newest["output"][0]).headers["content-type"] == "video/mp4"

    # pages: limit + before
    page1 = c.get("/v1/tasks", params={"limit": 2}).json()
    assert [t["id"] for t in page1["tasks"]] == ids[::-1][:2] and page1["hasMore"] and page1["nextBefore"] == ids[2]
    page2 = c.get("/v1/tasks", params={"limit": 2, "before": page1["nextBefore"]}).json()
    assert [t["id"] for t in page2["tasks"]] == ids[::-1][2:4]

    # the single-task object keeps its shape (SDKs): no request, no thumbnail
    one = c.get(f"/v1/tasks/{ids[0]}").json()
    assert set(one) <= TASK_KEYS and "request" not in one

    # deleted tasks leave the list, and still mark a place for `before`
    assert c.delete(f"/v1/tasks/{ids[1]}").status_code == 204
    after = [t["id"] for t in c.get("/v1/tasks").json()["tasks"]]
    assert ids[1] not in after and ids[0] in after
    assert [t["id"] for t in c.get("/v1/tasks", params={"before": ids[1]}).json()["tasks"]] == [ids[0]]


def test_one_organization_never_sees_another(server):
    c, o = api(server), api(server, server.other_key)
    mine = c.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": "private", "ratio": "1:1", "duration": 2}).json()["id"]
    theirs = [t["id"] for t in o.get("/v1/tasks").json()["tasks"]]
    assert mine not in theirs
    r = o.get("/v1/tasks", params={"before": mine})  # another org's id is refused exactly like an unknown one
    assert r.status_code == 400 and r.json()["issues"][0]["path"] == ["before"]
    assert o.get("/v1/tasks", params={"before": "no-such-id"}).json() == r.json()
    t = o.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": "theirs", "ratio": "1:1", "duration": 2}).json()["id"]
    assert [x["id"] for x in o.get("/v1/tasks").json()["tasks"]] == [t]
    assert t not in [x["id"] for x in c.get("/v1/tasks", params={"limit": 100}).json()["tasks"]]
    poll(c, mine)
    poll(o, t)


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1", "1e3", "²"])
def test_limit_checked(server, limit):
    r = api(server).get("/v1/tasks", params={"limit": limit})
    assert r.status_code == 400 and r.json()["issues"][0]["path"] == ["limit"]


def test_list_needs_a_key(server):
    assert httpx.get(server.url + "/v1/tasks").status_code == 401


def test_organization_describes_models(server):
    org = api(server).get("/v1/organization").json()
    tiny = org["kino"]["models"]["kino-tiny"]
    assert tiny["ratios"]["16:9"] == "224x128" and tiny["ratios"]["1280:720"] == "224x128" and tiny["creditsPerSecond"] == 1
    assert org["kino"]["models"]["gen4_turbo"]["modes"] == ["image_to_video"] and org["kino"]["limits"]["promptUnits"] == 1000
    assert set(org["tier"]["models"]) == set(org["kino"]["models"])


def test_studio_is_served_same_origin_only(server):
    r = httpx.get(server.url + "/studio")
    assert r.status_code == 307 and r.headers["location"] == "/studio/"
    page = httpx.get(server.url + "/studio/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "http://" not in page.text and "https://" not in page.text  # nothing from the internet
    js = httpx.get(server.url + "/studio/js/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert httpx.get(server.url + "/studio/nope.js").status_code == 404
    assert "/studio" not in str(httpx.get(server.url + "/openapi.json").json()["paths"])
