"""The official Node SDK (`@runwayml/sdk` 4.20.1, pinned in tests/node), unchanged, against a live `kino serve`.

`make setup` installs it (`npm ci` in tests/node). The checks live in tests/node/sdk_check.mjs, which
prints one JSON report; this test starts the server, runs it and reads the report. The SDK's polling
helper sleeps a fixed 4.5-7.5 s before each poll, so this takes ~10 s however fast generation is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from server_helpers import ThreadServer, add_org, tiny_checkpoint, write_config

NODE_DIR = Path(__file__).parent / "node"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (the Node SDK check needs Node.js >= 18)"),
    pytest.mark.skipif(not (NODE_DIR / "node_modules" / "@runwayml" / "sdk").is_dir(), reason="tests/node/node_modules missing: run `make setup` or `cd tests/node && npm ci`"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-node")
    config = write_config(root / "data", tiny_checkpoint(root / "tiny.safetensors"))
    key = add_org(config, "acme", 10_000)
    with ThreadServer(config) as srv:
        srv.key = key
        yield srv


def test_node_sdk_create_wait_download_retrieve_delete_errors(server):
    env = dict(os.environ, KINO_BASE_URL=server.url, KINO_API_KEY=server.key, KINO_WAIT_MS="120000")
    env.pop("RUNWAYML_BASE_URL", None)
    env.pop("RUNWAYML_API_SECRET", None)
    proc = subprocess.run([NODE, str(NODE_DIR / "sdk_check.mjs")], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=240)
    assert proc.stdout.strip(), f"no report (rc {proc.returncode}); stderr:\n{proc.stderr}"
    report = json.loads(proc.stdout)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert proc.returncode == 0 and report["ok"] and not failed, json.dumps(report, indent=2) + "\n" + proc.stderr
    by = {c["name"]: c for c in report["checks"]}
    assert set(by) == {"create", "waitForTaskOutput", "badRequest", "deleteThenNotFound", "download", "retrieve", "deleteFinished"}
    assert by["create"]["estimatedCost"] == {"credits": 24}
    assert by["waitForTaskOutput"]["cost"] == {"credits": 24}
    assert by["badRequest"]["status"] == 400 and by["badRequest"]["body"]["issues"][0]["path"] == ["ratio"]
    assert by["deleteThenNotFound"]["status"] == 404 and by["deleteThenNotFound"]["body"] == {"error": "Could not find Task"}
    assert by["download"]["bytes"] > 100
    assert by["retrieve"]["kino"]["model"] == "gen4.5" and by["retrieve"]["kino"]["size"] == "224x128"
    assert by["deleteFinished"]["status"] == 404
