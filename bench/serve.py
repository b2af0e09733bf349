"""`kino serve` HTTP cost: task-create and task-poll throughput and latency, with no generation running.

The server is `create_app(cfg, run_workers=False)` under uvicorn (as `kino serve` runs it, access log off)
in a child process, so the client's own Python work does not share the server's interpreter lock; SQLite
in a fresh temp data dir; one organization with credits to spare and no daily limit on the model. Workers
are off, so created tasks stay PENDING and every number is the API's own cost (auth, validation, the
credit-ledger transaction, the task row; GET: auth + one SELECT + JSON).

    .venv/bin/python bench/serve.py [--creates 200] [--polls 1000] [--clients 8] [--no-peak]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, os.path.dirname(__file__))

BODY = {"model": "kino-tiny", "promptText": "a red ball rolls to the right and hits a blue box", "ratio": "16:9", "duration": 2, "seed": 1}


def _serve_child(config: str, port: int) -> None:
    """The server process: what `kino serve` runs, minus the worker pool."""
    import uvicorn

    from kino.server.app import create_app
    from kino.server.config import load_config

    app = create_app(load_config(config), run_workers=False)
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")).run()


def _setup(root: Path) -> tuple[Path, str]:
    from kino.server.admin import create_key, create_org
    from kino.server.config import load_config
    from kino.server.db import make_engine, sessions

    # the checkpoint is never opened: no worker runs
    model = {"name": "kino-tiny", "checkpoint": str(root / "unused.safetensors"), "steps": 1, "credits_per_second": 1, "max_daily": None, "max_concurrent": None}
    config = root / "config.json"
    config.write_text(json.dumps({"data_dir": str(root / "data"), "models": [model]}))
    cfg = load_config(config)
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    S = sessions(make_engine(cfg.db_url))
    create_org(S, cfg, "bench", 10**12)
    return config, create_key(S, "bench")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"bench server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def _run(url: str, key: str, n: int, clients: int, request) -> tuple[float, list[float], list]:
    """`n` calls of request(client, i) spread over `clients` threads, each with its own keep-alive
    httpx.Client: (wall seconds, per-call latencies in s, results)."""
    lat: list[float] = []
    results: list = [None] * n
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(indices: range) -> None:
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
                mine = []
                for i in indices:
                    t = time.perf_counter()
                    results[i] = request(c, i)
                    mine.append(time.perf_counter() - t)
            with lock:
                lat.extend(mine)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    per = -(-n // clients)
    threads = [threading.Thread(target=worker, args=(range(k * per, min(n, (k + 1) * per)),)) for k in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return wall, lat, results


def _create(c: httpx.Client, _i: int) -> str:
    r = c.post("/v1/text_to_video", json=BODY)
    if r.status_code != 200:
        raise RuntimeError(f"create answered {r.status_code}: {r.text}")
    return r.json()["id"]


def _quantile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q * 100) - 1] if len(xs) > 1 else xs[0]


def bench_serve(creates: int = 200, polls: int = 1000, clients: int = 8) -> list[tuple[str, float, float, float]]:
    """[(name, requests/s, p50 ms, p99 ms)] for create and poll, sequential and with `clients` clients."""
    with tempfile.TemporaryDirectory(prefix="kino-bench-serve-") as tmp:
        config, key = _setup(Path(tmp))
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, OMP_NUM_THREADS="1")
        proc = subprocess.Popen([sys.executable, __file__, "--serve-child", str(config), str(port)], env=env)
        try:
            _wait_up(url, proc)
            _run(url, key, 20, 1, _create)  # warm-up: imports, first transactions, connection setup
            out = []
            ids: list[str] = []
            for name, k in ((f"POST /v1/text_to_video, {creates} sequential", 1), (f"POST /v1/text_to_video, {creates} over {clients} clients", clients)):
                wall, lat, got = _run(url, key, creates, k, _create)
                ids += got
                out.append((name, creates / wall, 1e3 * _quantile(lat, 0.5), 1e3 * _quantile(lat, 0.99)))

            def poll(c: httpx.Client, i: int) -> None:
                r = c.get(f"/v1/tasks/{ids[i % len(ids)]}")
                if r.status_code != 200 or r.json()["status"] != "PENDING":
                    raise RuntimeError(f"poll answered {r.status_code}: {r.text}")

            for name, k in ((f"GET /v1/tasks/{{id}}, {polls} sequential", 1), (f"GET /v1/tasks/{{id}}, {polls} over {clients} clients", clients)):
                wall, lat, _ = _run(url, key, polls, k, poll)
                out.append((name, polls / wall, 1e3 * _quantile(lat, 0.5), 1e3 * _quantile(lat, 0.99)))
            return out
        finally:
            proc.terminate()
            proc.wait(30)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--creates", type=int, default=200)
    p.add_argument("--polls", type=int, default=1000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--no-peak", action="store_true", help="skip the matmul peak (make bench prints it once, in bench/run.py)")
    p.add_argument("--serve-child", nargs=2, metavar=("CONFIG", "PORT"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.serve_child:
        return _serve_child(a.serve_child[0], int(a.serve_child[1]))
    if not a.no_peak:
        from peak import matmul_peak

        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
        for name, value in matmul_peak().items():
            print(f"  matmul peak {name:<10} {value:8.1f} GFLOP/s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"kino serve HTTP API (uvicorn, 1 process, SQLite, workers off; load average {load:.2f} on {os.cpu_count()} cores)")
    print(f"  {'':<48} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, rps, p50, p99 in bench_serve(a.creates, a.polls, a.clients):
        print(f"  {name:<48} {rps:8.1f} {p50:8.2f} {p99:8.2f}")


if __name__ == "__main__":
    main()
