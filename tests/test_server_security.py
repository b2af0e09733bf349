"""Security of `kino serve`: keys, isolation, SSRF, hostile media, signatures — against a live server."""

from __future__ import annotations

import base64
import http.server
import io
import ssl
import subprocess
import threading

import httpx
import numpy as np
import pytest
from PIL import Image

from kino.io.video import write_mp4
from kino.server.config import Limits
from kino.server.media import Fetcher, MediaError
from server_helpers import ThreadServer, add_org, free_port, poll, tiny_checkpoint, write_config


def png(size=(64, 48), color=(10, 200, 10), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def data_uri(data: bytes, mime="image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------- a local HTTPS host
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path == "/ball.png":
            body = png()
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/redirect.png":
            self.send_response(302)
            self.send_header("Location", "https://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/page.png":
            body = b"<html>not an image</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def https_host(tmp_path_factory):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for `localhost`."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"https://localhost:{port}", str(cert)
    srv.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, https_host):
    root = tmp_path_factory.mktemp("sec")
    config = write_config(root / "data", tiny_checkpoint(root / "tiny.safetensors"), limits={"upload_bytes": 200_000, "image_data_uri_bytes": 100_000})
    key = add_org(config, "acme", 100_000)
    other = add_org(config, "globex", 100_000)
    with ThreadServer(config) as srv:
        srv.key, srv.other = key, other
        srv.h = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        yield srv


def t2v(server, **over):
    body = {"model": "kino-tiny", "promptText": "a ball", "ratio": "16:9", "duration": 2} | over
    return server.h.post("/v1/text_to_video", json=body)


def i2v(server, uri):
    return server.h.post("/v1/image_to_video", json={"model": "kino-tiny", "promptImage": uri, "ratio": "16:9", "duration": 2})


def test_keys(server):
    for headers in ({}, {"Authorization": "Bearer key_nope"}, {"Authorization": "Basic abc"}, {"Authorization": f"Bearer {server.key}x"}):
        r = httpx.get(server.url + "/v1/organization", headers=headers)
        assert r.status_code == 401 and r.headers["content-type"] == "application/json" and "error" in r.json()
    assert httpx.get(server.url + "/v1/nope", headers={"Authorization": f"Bearer {server.key}"}).json() == {"error": "Not found"}


def test_other_org_sees_nothing(server):
    tid = t2v(server).json()["id"]
    done = poll(server.h, tid)
    other = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.other}"})
    assert other.get(f"/v1/tasks/{tid}").status_code == 404
    assert other.delete(f"/v1/tasks/{tid}").status_code == 404
    assert other.get(f"/v1/tasks/{tid}/events").status_code == 404
    # an upload of one organization is unknown to another
    up = server.h.post("/v1/uploads", json={"filename": "a.png", "type": "ephemeral"}).json()
    assert httpx.post(up["uploadUrl"], data=up["fields"], files={"file": ("a.png", png(), "image/png")}).status_code == 201
    r = other.post("/v1/image_to_video", json={"model": "kino-tiny", "promptImage": up["runwayUri"], "ratio": "16:9", "duration": 2})
    assert r.status_code == 400 and "upload" in r.json()["error"]
    assert httpx.get(done["output"][0]).status_code == 200  # the signed URL itself is the credential


@pytest.mark.parametrize("uri,why", [
    ("https://127.0.0.1/a.png", "not an IP address"),
    ("https://10.0.0.7/a.png", "not an IP address"),
    ("https://[::1]/a.png", "not an IP address"),
    ("https://169.254.169.254/latest/meta-data/", "not an IP address"),
    ("https://localhost/a.png", "non-public"),
    ("http://example.com/a.png", "https://"),
    ("file:///etc/passwd", "https://"),
    ("https://user:pw@example.com/a.png", "credentials"),
])
def test_ssrf_refused(server, uri, why):
    r = i2v(server, uri)
    assert r.status_code == 400 and why in r.json()["error"] and r.json()["issues"][0]["path"] == ["promptImage"]


def test_fetch_rules_with_a_trusted_local_host(https_host):
    """Through a real TLS host (trusted for the test): a good image is fetched; redirects and wrong types are refused."""
    base, ca = https_host
    f = Fetcher(Limits(), lambda _id: None, trusted_hosts=("localhost",), ca_file=ca)
    assert f.fetch(base + "/ball.png", "promptImage", "image").ext == "png"
    with pytest.raises(MediaError, match="redirect"):
        f.fetch(base + "/redirect.png", "promptImage", "image")
    with pytest.raises(MediaError, match="Content-Type"):
        f.fetch(base + "/page.png", "promptImage", "image")
    with pytest.raises(MediaError, match="HTTP 404"):
        f.fetch(base + "/missing.png", "promptImage", "image")
    untrusted = Fetcher(Limits(), lambda _id: None, ca_file=ca)
    with pytest.raises(MediaError, match="non-public"):
        untrusted.fetch(base + "/ball.png", "promptImage", "image")


def test_hostile_media_refused(server):
    bomb = io.BytesIO()
    Image.new("L", (5000, 5000)).save(bomb, format="PNG")  # 25 MP, ~25 kB compressed
    cases = {
        "over the 100000 byte limit": data_uri(b"\0" * 150_000),
        "not valid base64": "data:image/png;base64,@@@@",
        "not one of": data_uri(png(fmt="GIF"), "image/gif"),
        "format GIF": data_uri(png(fmt="GIF")),
        "corrupt": data_uri(png()[:60]),
        "pixel limit": data_uri(bomb.getvalue()),
        "must be base64": "data:image/png,rawbytes",
        "unknown or expired upload": "runway://uploads/00000000-0000-0000-0000-000000000000",
    }
    for why, uri in cases.items():
        r = i2v(server, uri)
        assert r.status_code == 400 and why in r.json()["error"], (why, r.json())
    src = write_mp4(server.cfg.data_dir + "/v.mp4", np.zeros((4, 64, 64, 3), np.uint8), 16)
    good = open(src, "rb").read()
    r = server.h.post("/v1/video_to_video", json={"model": "aleph2", "videoUri": data_uri(good[: len(good) // 3], "video/mp4")})
    assert r.status_code == 400 and "videoUri" in r.json()["error"]
    r = server.h.post("/v1/video_to_video", json={"model": "aleph2", "videoUri": data_uri(png(), "video/mp4")})
    assert r.status_code == 400 and "not a video file" in r.json()["error"]


def test_body_validation_names_fields(server):
    r = t2v(server, promptText="😀" * 501)  # 1002 UTF-16 code units
    assert r.status_code == 400 and r.json()["issues"][0]["path"] == ["promptText"]
    assert t2v(server, promptText="😀" * 500).status_code == 200
    r = t2v(server, duration="ten")
    assert r.status_code == 400 and r.json()["issues"][0]["path"] == ["duration"]
    r = t2v(server, seed=-1)
    assert r.status_code == 400 and r.json()["issues"][0]["path"] == ["seed"]
    r = t2v(server, cameraa={})
    assert r.status_code == 400 and r.json()["issues"][0]["path"] == ["cameraa"]
    r = t2v(server, keyframes=[{"uri": data_uri(png()), "frame": 40}])
    assert r.status_code == 400 and r.json()["issues"][0]["path"] == ["keyframes", 0]
    r = server.h.post("/v1/text_to_video", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()


def test_uploads_limits_and_tokens(server):
    up = server.h.post("/v1/uploads", json={"filename": "big.png", "type": "ephemeral"}).json()
    r = httpx.post(up["uploadUrl"], data={"token": "wrong"}, files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 403
    r = httpx.post(up["uploadUrl"], data=up["fields"], files={"file": ("a.png", b"\0" * 300_000, "image/png")})
    assert r.status_code == 400 and "file" in r.json()["error"]
    r = httpx.post(up["uploadUrl"], data=up["fields"], files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 201
    r = httpx.post(up["uploadUrl"], data=up["fields"], files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 403  # one-shot


def test_signed_urls(server):
    out = poll(server.h, t2v(server).json()["id"])["output"][0]
    assert httpx.get(out).status_code == 200
    assert httpx.get(out.replace("sig=", "sig=0")).status_code == 403
    assert httpx.get(out.split("?")[0]).status_code == 403
    path, query = out.split("?")
    exp = int(query.split("exp=")[1].split("&")[0])
    assert httpx.get(out.replace(f"exp={exp}", f"exp={exp + 1000}")).status_code == 403  # expiry is signed
    assert httpx.get(path.rsplit("/", 1)[0] + "/../../secret.key?" + query).status_code in (403, 404)
