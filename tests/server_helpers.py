"""Live `kino serve` instances for the API tests: a tiny random-weight model, a temp data dir, a free port."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import torch

from kino.model.a2d import A2D
from kino.model.checkpoint import save_checkpoint
from kino.model.config import TokenizerConfig, preset
from kino.server.admin import create_key, create_org
from kino.server.config import DEFAULT_MODELS, load_config
from kino.server.db import make_engine, sessions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_checkpoint(path: Path) -> Path:
    """A random test-width model with the lossless pixel tokenizer (so keyframes come back exactly)."""
    torch.manual_seed(0)
    cfg = replace(preset("test"), tokenizer=TokenizerConfig(kind="pixel", down=4))
    return save_checkpoint(A2D(cfg).eval(), path)


def write_config(data_dir: Path, checkpoint: Path, **over) -> Path:
    models = [
        {k: v for k, v in m.__dict__.items() if v is not None} | {"checkpoint": str(checkpoint), "steps": 1}
        for m in (replace(m, ratios=tuple(m.ratios), modes=tuple(m.modes)) for m in DEFAULT_MODELS)
    ]
    for m in models:
        m["ratios"], m["modes"] = list(m["ratios"]), list(m["modes"])
    cfg = {"data_dir": str(data_dir), "models": models} | over
    path = data_dir / "config.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg))
    return path


def add_org(config: Path, name: str, credits: int) -> str:
    cfg = load_config(config)
    S = sessions(make_engine(cfg.db_url))
    create_org(S, cfg, name, credits)
    return create_key(S, name)


@contextlib.contextmanager
def two_org_server(root: Path):
    """A live ThreadServer on a tiny model with organizations acme (`.key`) and globex (`.other_key`)."""
    config = write_config(root / "data", tiny_checkpoint(root / "tiny.safetensors"))
    key = add_org(config, "acme", 10_000)
    other = add_org(config, "globex", 10_000)
    with ThreadServer(config) as srv:
        srv.key, srv.other_key = key, other
        yield srv


class ThreadServer:
    """uvicorn in a thread of the test process (fast start; the SDK tests)."""

    def __init__(self, config: Path, run_workers: bool = True):
        import uvicorn

        from kino.server.app import create_app

        self.cfg = load_config(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(self.cfg, run_workers=run_workers)  # run_workers=False: tasks stay PENDING (HTTP-only tests, bench)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_up(self.url)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(60)


class ProcessServer:
    """`kino serve` as a real child process (restart and kill -9 tests)."""

    def __init__(self, config: Path, port: int | None = None):
        self.config = config
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> ProcessServer:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        log = open(Path(self.config).parent / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "kino.cli", "serve", "--config", str(self.config), "--port", str(self.port), "--log-level", "warning"], env=env, stdout=log, stderr=log)
        wait_up(self.url, self.proc)
        return self

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)

    def terminate(self) -> int:
        self.proc.terminate()
        return self.proc.wait(60)


def wait_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def poll(client: httpx.Client, task_id: str, until=("SUCCEEDED", "FAILED", "CANCELLED"), timeout: float = 120) -> dict:
    t0 = time.time()
    while time.time() - t0 < timeout:
        body = client.get(f"/v1/tasks/{task_id}").json()
        if body.get("status") in until:
            return body
        time.sleep(0.1)
    raise TimeoutError(f"task {task_id} still {body}")
