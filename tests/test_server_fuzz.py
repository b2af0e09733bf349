"""Schemathesis over every operation of `kino serve`'s own OpenAPI document: no input may cause a 5xx.

A live server (uvicorn in a thread, real HTTP) and a valid API key; the worker pool is off, so tasks
that valid bodies create stay PENDING and nothing is generated. Per operation, schema-conforming
(positive) and schema-violating (negative) requests, plus, on the task-creating operations, conforming
bodies with a served model name and (mostly) an accepted ratio, so inputs get past the model check into
`normalise` and the media fetcher. Hypothesis is derandomized and capped at 25 examples per operation and
mode, so the run is deterministic and bounded (well under 2 min on 2 cores).

Below it, the inputs that did answer 500 before they were fixed (found by probing what the fuzzer cannot
send: Python's JSON reader takes NaN/Infinity/1e400 and lone surrogates; query strings take any Unicode).

Each operation x mode is a pytest subtest. (schemathesis' own `schemathesis.pytest.from_fixture` loader
fails on pytest 9.2 — it writes `Function._nodeid`, which pytest no longer has — so the Hypothesis test
is built here from the public per-operation API: `as_strategy`, `Case.call`, `Case.validate_response`.)
"""

from __future__ import annotations

import base64
import io
from collections import Counter

import httpx
import numpy as np
import pytest

from server_helpers import ThreadServer, add_org, tiny_checkpoint, write_config

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-fuzz")
    config = write_config(root / "data", tiny_checkpoint(root / "tiny.safetensors"))
    key = add_org(config, "acme", 10**9)  # never runs out, so the paths past the credit check get fuzzed too
    with ThreadServer(config, run_workers=False) as srv:
        srv.key = key
        yield srv


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Real and hostile media inputs: the fuzzer swaps these into every media field (no https: no network)."""
    from PIL import Image

    from kino.io.video import write_mp4

    buf = io.BytesIO()
    Image.new("RGB", (40, 24), (200, 30, 30)).save(buf, format="PNG")
    png = buf.getvalue()
    clip = np.zeros((4, 32, 48, 3), np.uint8)
    clip[..., 1] = 180
    mp4 = write_mp4(tmp_path_factory.mktemp("fuzz-media") / "clip.mp4", clip, 16).read_bytes()
    hostile = [
        "data:image/png;base64,!!!not-base64",
        "data:image/png,raw-not-base64",
        "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
        "runway://uploads/00000000-0000-0000-0000-000000000000",
        "runway://",
        "ftp://example.com/x.png",
        _data_uri("image/png", b""),
    ]
    return {
        "image": [_data_uri("image/png", png), _data_uri("image/jpeg", png), _data_uri("image/png", png[: len(png) // 2]), _data_uri("image/webp", mp4[:256]), *hostile],
        "video": [_data_uri("video/mp4", mp4), _data_uri("video/webm", mp4), _data_uri("video/mp4", mp4[: len(mp4) // 2]), _data_uri("video/mp4", png), _data_uri("video/quicktime", mp4[:64]), *hostile],
    }


def with_served_model(op, cfg, media):
    """Conforming bodies made to get past the cheap checks: a model that serves this operation, usually one of
    its ratios and durations, and real or hostile media (or random bytes) in every media field (references included)."""
    kind = op.path.rsplit("/", 1)[-1]
    models = [m for m in cfg.models if kind in m.modes]

    @st.composite
    def served(draw):
        case = draw(op.as_strategy(generation_mode=GenerationMode.POSITIVE))
        body = case.body
        if not isinstance(body, dict):
            return case
        m = draw(st.sampled_from(models))
        body["model"] = m.name
        if draw(st.integers(0, 3)) != 3:  # hypothesis leans to small draws: 0 is the common case
            body["ratio"] = draw(st.sampled_from(m.ratios))
            if "duration" in body or kind != "video_to_video":
                body["duration"] = draw(st.integers(m.min_seconds, m.max_seconds))
        if kind == "text_to_video" and not str(body.get("promptText", "")).strip():
            body["promptText"] = "a red ball"

        def uri(what: str) -> str:
            if draw(st.integers(0, 5)) == 5:
                return _data_uri(draw(st.sampled_from(["image/png", "video/mp4"])), draw(st.binary(max_size=512)))
            return draw(st.sampled_from(media[what]))

        if isinstance(body.get("promptImage"), str):
            body["promptImage"] = uri("image")
        for p in body.get("promptImage") if isinstance(body.get("promptImage"), list) else []:
            p["uri"] = uri("image")
        if "videoUri" in body:
            body["videoUri"] = uri("video")
        if isinstance(body.get("extend"), dict):
            body["extend"]["videoUri"] = uri("video")
        for k in (body.get("keyframes") or []) + (body.get("references") or []):
            k["uri"] = uri("image")
        return case

    return served()


@pytest.mark.slow
def test_no_server_errors_on_any_operation(live, media, subtests):
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    headers = {"Authorization": f"Bearer {live.key}"}
    operations = [result.ok() for result in schema.get_all_operations()]  # .ok() raises on a broken operation
    labels = {op.label for op in operations}
    assert {"POST /v1/text_to_video", "GET /v1/tasks/{task_id}", "DELETE /v1/tasks/{task_id}", "POST /v1/uploads"} <= labels, labels
    seen: dict[str, Counter] = {}
    for op in operations:
        strategies = {mode.value: op.as_strategy(generation_mode=mode) for mode in GenerationMode}
        if op.method.upper() == "POST" and op.path.endswith("_to_video"):
            strategies["served-model"] = with_served_model(op, live.cfg, media)
        for mode, strategy in strategies.items():
            counts = seen.setdefault(f"{op.label} [{mode}]", Counter())

            @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def fuzz(case):
                response = case.call(base_url=live.url, headers=headers, timeout=30)
                counts[response.status_code] += 1  # noqa: B023 (fuzz runs inside this iteration)
                case.validate_response(response, checks=[not_a_server_error], headers=headers)

            with subtests.test(operation=op.label, mode=mode):
                try:
                    fuzz()
                except Unsatisfiable:
                    if mode != GenerationMode.NEGATIVE.value:
                        raise
                    pytest.skip("no request violates this operation's schema (e.g. one unconstrained string path parameter)")
    print("\nstatus codes per operation and mode:\n" + "\n".join(f"  {k}: {dict(sorted(v.items()))}" for k, v in seen.items()))
    assert sum(sum(v.values()) for v in seen.values()) >= len(operations) * MAX_EXAMPLES


T2V = '{"model":"kino-tiny","promptText":%s,"ratio":"16:9","duration":2%s}'
KEYFRAME_AT = ',"keyframes":[{"uri":"data:image/png;base64,AA==","seconds":%s}]'


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/text_to_video", T2V % ('"a"', KEYFRAME_AT % "NaN"), 400),  # int(round(nan)): ValueError
        ("POST", "/v1/text_to_video", T2V % ('"a"', KEYFRAME_AT % "Infinity"), 400),  # OverflowError
        ("POST", "/v1/text_to_video", T2V % ('"a"', KEYFRAME_AT % "1e400"), 400),  # parsed as inf
        ("POST", "/v1/text_to_video", T2V % ('"a"', KEYFRAME_AT % "1e308"), 400),  # finite, but x 16 fps is inf
        ("POST", "/v1/text_to_video", T2V % ('"a"', KEYFRAME_AT % "-1e308"), 400),
        ("POST", "/v1/video_to_video", '{"model":"aleph2","videoUri":"x","strength":NaN}', 400),
        ("POST", "/v1/text_to_video", T2V % ('"a\\ud800"', ""), 400),  # lone surrogate: utf-16 encode raised
        ("POST", "/v1/text_to_video", (T2V % ('"a@"', "")).encode().replace(b"@", b"\xed\xa0\x80"), 400),  # the same as CESU-8 bytes
        ("POST", "/v1/uploads", '{"filename":"a\\udc00.png","type":"ephemeral"}', 400),
        ("POST", "/v1/organization/usage", '{"beforeDate":"0001-01-01"}', 400),  # default start = before - 30 days underflowed
        ("POST", "/v1/organization/usage", '{"beforeDate":"0001-01-20"}', 200),
        ("GET", "/v1/files/x/y.mp4?exp=%C2%B2&sig=ab", None, 403),  # '²'.isdigit() but int('²') raises
        ("GET", "/v1/files/x/y.mp4?exp=" + "9" * 5000 + "&sig=ab", None, 403),  # int() refuses > 4300 digits
        ("GET", "/v1/files/x/y.mp4?exp=99999999999&sig=%C3%A9", None, 403),  # compare_digest raises on non-ASCII str
        ("GET", "/v1/files/x/y.mp4?exp=99999999999&sig=%FF", None, 403),
    ],
)
def test_former_server_errors(live, method, path, body, status):
    headers = {"Authorization": f"Bearer {live.key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=live.url, headers=headers, timeout=30) as c:  # fresh connection: a 500 closes it
        r = c.request(method, path, content=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json" and "error" in r.json() or status == 200
