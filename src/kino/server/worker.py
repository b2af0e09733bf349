"""The in-process worker pool: takes PENDING tasks in submission order and runs `generate` on them.

The database is the queue, so nothing is lost with the process: at start-up tasks left RUNNING are re-run
(or failed with a refund after `max_attempts`). Each chunk is written as a small mp4 under
`tasks/<id>/chunks/` as soon as it exists (the SSE stream serves them) and progress is stored; the final
mp4 is written atomically before the task turns SUCCEEDED. Cancellation and shutdown are checked between
chunks: a cancelled task stops; on graceful shutdown a running task goes back to PENDING (no attempt used).
"""

from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path

from sqlalchemy import select, update

from kino.server.config import ServerConfig
from kino.server.db import Task
from kino.server.store import admit_throttled, claim, fail, requeue_stale, succeed

__all__ = ["WorkerPool", "build_request"]

log = logging.getLogger("kino.server")


def build_request(req: dict, steps: int):
    """The stored (normalised) request → a `GenerateRequest`."""
    from kino.controls import brush_from_dict, camera_from_dict
    from kino.generate import GenerateRequest, Keyframe, Reference

    return GenerateRequest(
        references=tuple(Reference(r.get("tag"), r["path"]) for r in req.get("references", [])),
        camera=camera_from_dict(req["camera"]) if req.get("camera") else None,
        motion_brush=brush_from_dict(req["motion_brush"], "motionBrush") if req.get("motion_brush") else None,
        prompt=req.get("prompt", ""),
        seconds=float(req["seconds"]),
        fps=int(req.get("fps", 16)),
        ratio=req["ratio"],
        seed=int(req["seed"]),
        steps=steps,
        keyframes=tuple(Keyframe(k["path"], int(k["frame"])) for k in req.get("keyframes", [])),
        extend=req.get("extend"),
        video_to_video=req.get("video_to_video"),
        strength=float(req.get("strength", 0.7)),
        warp_guide=float(req.get("warp_guide", GenerateRequest.warp_guide)),
        guidance=float(req.get("guidance", GenerateRequest.guidance)),
        guidance_chunks=req["guidance_chunks"] or None if "guidance_chunks" in req else GenerateRequest.guidance_chunks,
        negative_prompt=req.get("negative_prompt", ""),
    )


class _Shutdown(Exception):
    pass


class _Cancelled(Exception):
    pass


class WorkerPool:
    def __init__(self, cfg: ServerConfig, sessions, loader=None):
        self.cfg = cfg
        self.sessions = sessions
        self.tasks_dir = Path(cfg.data_dir) / "tasks"
        self._loader = loader
        self._models: dict[str, object] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        with self.sessions.begin() as s:
            rerun, failed = requeue_stale(s, self.cfg)
        if rerun or failed:
            log.warning("recovered %d interrupted task(s): %d re-queued, %d failed with a refund", rerun + failed, rerun, failed)
        for i in range(self.cfg.workers):
            t = threading.Thread(target=self._loop, name=f"kino-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self.sessions.begin() as s:
                    admit_throttled(s, self.cfg)
                    task = claim(s)
            except Exception:  # database hiccup: log and retry, never kill the worker
                log.exception("queue poll failed")
                task = None
            if task is None:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            self._run(task)
            self._wake.set()  # a slot freed: THROTTLED tasks may be admitted

    # --------------------------------------------------------------------------------- one task
    def _model(self, checkpoint: str | None):
        key = checkpoint or ""
        with self._lock:
            if key not in self._models:
                if self._loader is not None:
                    self._models[key] = self._loader(checkpoint)
                else:
                    from kino.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint

                    self._models[key] = load_checkpoint(checkpoint or DEFAULT_CHECKPOINT)
            return self._models[key]

    def _check(self, task: Task) -> None:
        if self._stop.is_set():
            raise _Shutdown
        with self.sessions() as s:
            if s.scalar(select(Task.status).where(Task.seq == task.seq)) != "RUNNING":
                raise _Cancelled

    def _run(self, task: Task) -> None:
        from kino.generate import RequestError, stream
        from kino.io.video import save_png, write_mp4

        m = self.cfg.model(task.model)
        folder = self.tasks_dir / task.id
        chunks = folder / "chunks"
        chunks.mkdir(parents=True, exist_ok=True)
        for old in chunks.glob("*.mp4"):  # a re-run starts its stream afresh
            old.unlink()
        (folder / "thumb.png").unlink(missing_ok=True)
        try:
            if m is None:
                raise RequestError(f"model: {task.model!r} is no longer configured on this server")
            req = build_request(task.request, m.steps)
            model = self._model(m.checkpoint)
            it = stream(req, model)
            total = max(1, int(task.meta.get("frames", 1)))
            frames = []
            done = 0
            for i, chunk in enumerate(it):
                frames.append(chunk)
                done += len(chunk)
                write_mp4(chunks / f"{i:05d}.mp4", chunk, req.fps)
                if i == 0:  # the first frame as the task's thumbnail (GET /v1/tasks)
                    save_png(folder / "thumb.png", chunk[0])
                with self.sessions.begin() as s:
                    s.execute(update(Task).where(Task.seq == task.seq, Task.status == "RUNNING").values(progress=min(0.99, done / total)))
                self._check(task)
            import numpy as np

            video = np.concatenate(frames)
            out = write_mp4(folder / "output.mp4", video, req.fps)
            meta = dict(task.meta, frames=int(len(video)), seconds=round(len(video) / req.fps, 3), size=f"{video.shape[2]}x{video.shape[1]}")
            with self.sessions.begin() as s:
                succeed(s, task, out.name, meta)
        except _Cancelled:
            log.info("task %s cancelled while running", task.id)
        except _Shutdown:
            with self.sessions.begin() as s:  # graceful shutdown: back to the queue, the attempt not counted
                s.execute(update(Task).where(Task.seq == task.seq, Task.status == "RUNNING").values(status="PENDING", progress=0.0, attempts=Task.attempts - 1))
        except RequestError as exc:
            with self.sessions.begin() as s:
                fail(s, task, str(exc), "INPUT.INVALID")
        except Exception as exc:  # a crashed generation fails with a code and a refund
            log.error("task %s crashed: %s", task.id, "".join(traceback.format_exception(exc)))
            with self.sessions.begin() as s:
                fail(s, task, f"The generation failed ({exc.__class__.__name__}).", "INTERNAL.BAD_OUTPUT")
