"""Credits, throttling, limits and durability of `kino serve` under concurrency, crashes and restarts."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from kino.server.config import load_config
from kino.server.db import Ledger, Org, Task, make_engine, recompute_balance, sessions
from server_helpers import ProcessServer, ThreadServer, add_org, poll, tiny_checkpoint, write_config


def ledger_ok(config) -> tuple[int, int]:
    """(balance, ledger sum) of every organization must agree."""
    S = sessions(make_engine(load_config(config).db_url))
    with S() as s:
        for org in s.scalars(select(Org)):
            assert recompute_balance(s, org.id) == org.credits, org.name
            assert org.credits >= 0
        return org.credits, recompute_balance(s, org.id)


def client(url, key):
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def concurrent_creates(url: str, key: str, n: int) -> list[httpx.Response]:
    """n 2-second kino-tiny creates at once, each from its own client and thread."""
    results = []

    def create():
        with client(url, key) as c:
            results.append(c.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": "a ball", "ratio": "1:1", "duration": 2}))

    threads = [threading.Thread(target=create) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def set_model(config, **over):
    cfg = json.loads(config.read_text())
    for m in cfg["models"]:
        m.update(over)
    config.write_text(json.dumps(cfg))


def test_concurrent_creates_never_overdraw(tmp_path):
    config = write_config(tmp_path / "data", tiny_checkpoint(tmp_path / "t.safetensors"))
    set_model(config, max_concurrent=None, max_daily=None)
    key = add_org(config, "acme", 7 * 2)  # kino-tiny: 1 credit/s, 2 s tasks: room for exactly 7
    with ThreadServer(config) as srv:
        results = concurrent_creates(srv.url, key, 20)
        ok = [r for r in results if r.status_code == 200]
        assert len(ok) == 7 and all(r.status_code == 400 and "enough credits" in r.json()["error"] for r in results if r.status_code != 200)
        c = client(srv.url, key)
        assert c.get("/v1/organization").json()["creditBalance"] == 0
        for r in ok:
            assert poll(c, r.json()["id"])["status"] == "SUCCEEDED"
    assert ledger_ok(config) == (0, 0)


def test_throttled_in_submission_order_and_daily_limit(tmp_path):
    config = write_config(tmp_path / "data", tiny_checkpoint(tmp_path / "t.safetensors"))
    set_model(config, max_concurrent=1, max_daily=4)
    key = add_org(config, "acme", 1000)
    with ThreadServer(config) as srv:
        c = client(srv.url, key)
        ids = [c.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": f"ball {i}", "ratio": "1:1", "duration": 2}).json()["id"] for i in range(4)]
        statuses = [c.get(f"/v1/tasks/{i}").json()["status"] for i in ids]
        assert statuses.count("THROTTLED") >= 2 and statuses[-1] == "THROTTLED"
        r = c.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": "one too many", "ratio": "1:1", "duration": 2})
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 60
        assert c.get("/v1/organization").json()["usage"]["models"]["kino-tiny"]["dailyGenerations"] == 4
        for i in ids:
            assert poll(c, i)["status"] == "SUCCEEDED"
    S = sessions(make_engine(load_config(config).db_url))
    with S() as s:
        started = [s.scalar(select(Task.started_at).where(Task.id == i)) for i in ids]
    assert started == sorted(started)  # admitted in submission order
    ledger_ok(config)


def test_crashed_generation_fails_with_refund(tmp_path):
    config = write_config(tmp_path / "data", tmp_path / "missing.safetensors")
    key = add_org(config, "acme", 100)
    with ThreadServer(config) as srv:
        c = client(srv.url, key)
        tid = c.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": "a ball", "ratio": "1:1", "duration": 5}).json()["id"]
        body = poll(c, tid)
        assert body["status"] == "FAILED" and body["failureCode"].startswith("INTERNAL") and body["cost"] == {"credits": 0}
        assert c.get("/v1/organization").json()["creditBalance"] == 100
    ledger_ok(config)


@pytest.mark.slow
def test_kill_9_loses_nothing_and_charges_once(tmp_path):
    config = write_config(tmp_path / "data", tiny_checkpoint(tmp_path / "t.safetensors"))
    set_model(config, max_concurrent=None)
    key = add_org(config, "acme", 1000)
    srv = ProcessServer(config).start()
    c = client(srv.url, key)
    ids = [c.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": f"ball {i}", "ratio": "16:9", "duration": 5}).json()["id"] for i in range(4)]
    poll(c, ids[0], until=("RUNNING", "SUCCEEDED"))
    srv.kill()  # SIGKILL: no shutdown code runs
    S = sessions(make_engine(load_config(config).db_url))
    with S() as s:
        before = {t.id: t.status for t in s.scalars(select(Task))}
    assert "RUNNING" in before.values() or "PENDING" in before.values()
    srv2 = ProcessServer(config, port=srv.port).start()
    try:
        done = [poll(c, i, timeout=300) for i in ids]
    finally:
        assert srv2.terminate() == 0  # graceful shutdown exits cleanly
    assert [d["status"] for d in done] == ["SUCCEEDED"] * 4
    with S() as s:
        charges = s.scalars(select(Ledger.task_id).where(Ledger.kind == "charge")).all()
        releases = s.scalars(select(Ledger.task_id).where(Ledger.kind == "release")).all()
    assert sorted(charges) == sorted(ids) and not releases  # each charged exactly once
    assert ledger_ok(config) == (1000 - 20, 1000 - 20)


@pytest.mark.slow
def test_graceful_shutdown_requeues_running_task(tmp_path):
    config = write_config(tmp_path / "data", tiny_checkpoint(tmp_path / "t.safetensors"))
    key = add_org(config, "acme", 1000)
    srv = ProcessServer(config).start()
    c = client(srv.url, key)
    tid = c.post("/v1/text_to_video", json={"model": "kino-tiny", "promptText": "a long one", "ratio": "16:9", "duration": 10}).json()["id"]
    poll(c, tid, until=("RUNNING", "SUCCEEDED"))
    t0 = time.time()
    assert srv.terminate() == 0 and time.time() - t0 < 30
    S = sessions(make_engine(load_config(config).db_url))
    with S() as s:
        t = s.scalar(select(Task).where(Task.id == tid))
        assert t.status in ("PENDING", "SUCCEEDED") and t.attempts <= 1
    srv2 = ProcessServer(config, port=srv.port).start()
    try:
        assert poll(c, tid, timeout=300)["status"] == "SUCCEEDED"
    finally:
        srv2.terminate()
    ledger_ok(config)


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server (Debian's binaries, run as the postgres user) on a free port."""
    import os
    import shutil
    import subprocess
    import tempfile

    from server_helpers import free_port

    initdb = shutil.which("initdb") or next(iter(sorted(__import__("glob").glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    if initdb is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries (initdb) and root/runuser are needed for the PostgreSQL test")
    pg_ctl = str(__import__("pathlib").Path(os.path.realpath(initdb)).with_name("pg_ctl"))
    d = tempfile.mkdtemp(prefix="kino-pg-")
    shutil.chown(d, "postgres", "postgres")
    port = free_port()
    run = lambda *a: subprocess.run(["runuser", "-u", "postgres", "--", *a], check=True, capture_output=True)  # noqa: E731
    run(initdb, "-D", f"{d}/db", "-A", "trust", "-U", "kino")
    run(pg_ctl, "-D", f"{d}/db", "-o", f"-p {port} -k {d} -c listen_addresses=127.0.0.1", "-l", f"{d}/log", "-w", "start")
    try:
        yield f"postgresql+psycopg://kino@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", f"{d}/db", "-m", "immediate", "stop")
        shutil.rmtree(d, ignore_errors=True)


def test_postgresql_backend(tmp_path, postgres_url):
    """The same server on PostgreSQL: concurrent creates never overdraw, tasks run, the ledger balances."""
    config = write_config(tmp_path / "data", tiny_checkpoint(tmp_path / "t.safetensors"), database_url=postgres_url)
    set_model(config, max_concurrent=None, max_daily=None)
    key = add_org(config, "acme", 5)
    with ThreadServer(config) as srv:
        results = concurrent_creates(srv.url, key, 8)
        assert sorted(r.status_code for r in results) == [200, 200] + [400] * 6
        c = client(srv.url, key)
        for r in results:
            if r.status_code == 200:
                assert poll(c, r.json()["id"])["status"] == "SUCCEEDED"
        tasks = [t for t in c.get("/v1/organization").json()["usage"]["models"].items()]
        assert dict(tasks)["kino-tiny"]["dailyGenerations"] == 2
    assert ledger_ok(config) == (1, 1)
