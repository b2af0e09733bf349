"""`kino serve`: a Runway-compatible HTTP API (FastAPI) over the durable queue and the in-process workers.

Wire rules the official SDKs depend on (../shared/design/api.md): every body is JSON (`{"error": ...}`
for errors; validation failures add `issues`), DELETE answers 204 with no body, task objects carry every
field of their status variant, output URLs are absolute, signed and re-signed on every GET. The SDKs
retry 408/409/429/5xx, so nothing after a task is stored may answer those (no duplicate tasks); one
organization never sees another's objects (404, so ids don't leak).
"""


import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import shutil
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select, update
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from kino.controls import MAX_REFERENCES
from kino.server.config import ServerConfig
from kino.server.db import ACTIVE, ApiKey, Org, Task, Upload, hash_key, make_engine, now, sessions
from kino.server.media import Fetcher
from kino.server.requests import NATIVE_SIZES, ApiIssue, ImageToVideo, TextToVideo, UsageQuery, VideoToVideo, normalise
from kino.server.requests import Upload as UploadBody
from kino.server.store import DailyLimit, InsufficientCredits, cancel, create_task, renew_plan
from kino.server.worker import WorkerPool

__all__ = ["create_app", "ApiError"]

log = logging.getLogger("kino.server")
DOC_URL = "https://github.com/kino-video/kino/blob/main/docs/api.md"
STUDIO_DIR = Path(__file__).with_name("studio")  # the web studio: static HTML/CSS/ES modules, package data
DATA_URI_KEEP = 200  # data: URIs longer than this are not kept in a task's stored request body
THUMBNAIL = "thumb.png"  # first frame of a task, written by the worker with its first chunk


def _slim(value):
    """The create body as stored with the task: long data: URIs replaced by a short placeholder (small DB)."""
    if isinstance(value, dict):
        return {k: _slim(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_slim(v) for v in value]
    if isinstance(value, str) and value[:5].lower() == "data:" and len(value) > DATA_URI_KEEP:
        mime = value[5:].split(";", 1)[0].split(",", 1)[0][:64] or "data"
        return f"[data URI omitted: {mime}, {len(value)} chars]"
    return value


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _iso(t: dt.datetime) -> str:
    return t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _secret(data_dir: Path) -> bytes:
    """The URL-signing key, created once (0600) in the data dir so signed URLs survive restarts."""
    path = data_dir / "secret.key"
    if not path.exists():
        tmp = data_dir / f".secret.{uuid.uuid4().hex}"
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        try:
            tmp.rename(path) if not path.exists() else tmp.unlink()
        except OSError:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip().encode()


def create_app(cfg: ServerConfig, loader=None, run_workers: bool = True) -> FastAPI:
    data_dir = Path(cfg.data_dir)
    (data_dir / "tasks").mkdir(parents=True, exist_ok=True)
    (data_dir / "uploads").mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.db_url)
    Session = sessions(engine)
    secret = _secret(data_dir)
    pool = WorkerPool(cfg, Session, loader=loader)

    @asynccontextmanager
    async def lifespan(_app):
        if run_workers:
            pool.start()
        yield
        await run_in_threadpool(pool.stop)  # graceful: running tasks go back to the queue
        engine.dispose()

    app = FastAPI(title="Kino API", version="2024-11-06", description="Runway-compatible video generation API served by Kino.", lifespan=lifespan)
    app.state.cfg, app.state.sessions, app.state.pool, app.state.engine = cfg, Session, pool, engine

    # ------------------------------------------------------------------------------ errors as JSON
    @app.exception_handler(ApiError)
    async def _api_error(_req, exc: ApiError):
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req, exc: StarletteHTTPException):
        msg = "Not found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"error": msg}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_req, exc: RequestValidationError):
        issues = []
        for e in exc.errors():
            loc = [p for p in e.get("loc", ()) if p != "body"]
            issues.append({"code": e.get("type", "invalid"), "message": e.get("msg", "invalid"), "path": loc})
        first = ".".join(str(p) for p in issues[0]["path"]) if issues else "body"
        return JSONResponse({"error": f"Validation of body failed: {first}: {issues[0]['message'] if issues else 'invalid'}", "issues": issues, "docUrl": DOC_URL}, status_code=400)

    @app.exception_handler(ApiIssue)
    async def _issue(_req, exc: ApiIssue):
        path = ".".join(str(p) for p in exc.issue["path"])
        return JSONResponse({"error": f"Validation of body failed: {path}: {exc.issue['message']}", "issues": [exc.issue], "docUrl": DOC_URL}, status_code=400)

    # ------------------------------------------------------------------------------ auth + signing
    def auth(request: Request) -> Org:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            raise ApiError(401, "Missing API key: send 'Authorization: Bearer <key>'")
        with Session.begin() as s:
            org = s.scalar(select(Org).join(ApiKey, ApiKey.org_id == Org.id).where(ApiKey.key_hash == hash_key(header[7:].strip()), ApiKey.revoked.is_(False)))
            if org is None:
                raise ApiError(401, "Invalid API key")
            renew_plan(s, cfg, org)
            return org

    OrgDep = Annotated[Org, Depends(auth)]

    def sign(path: str, ttl: int) -> str:
        exp = int(time.time()) + ttl
        sig = hmac.new(secret, f"{path}|{exp}".encode(), hashlib.sha256).hexdigest()
        return f"{path}?exp={exp}&sig={sig}"

    def verify(path: str, exp: str, sig: str) -> bool:
        # ASCII only: str.isdigit() accepts '²' (int() refuses it), compare_digest() raises on non-ASCII str;
        # 20 digits: int() refuses over 4300 (and no URL we sign has more than 11)
        if not (exp.isascii() and exp.isdigit() and sig.isascii()) or len(exp) > 20 or int(exp) < time.time():
            return False
        good = hmac.new(secret, f"{path}|{exp}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(good, sig)

    def base(request: Request) -> str:
        return (cfg.public_url or str(request.base_url)).rstrip("/")

    def task_json(t: Task, request: Request) -> dict:
        out: dict = {"id": t.id, "status": t.status, "createdAt": _iso(t.created_at)}
        if t.status in ("PENDING", "THROTTLED", "RUNNING"):
            out["estimatedCost"] = {"credits": t.estimated}
        if t.status == "RUNNING":
            out["progress"] = round(float(t.progress), 4)
        if t.status in ("SUCCEEDED", "FAILED", "CANCELLED"):
            out["cost"] = {"credits": int(t.cost)}
        if t.status == "SUCCEEDED":
            out["output"] = [base(request) + sign(f"/v1/files/{t.id}/{t.output}", cfg.url_ttl_s)]
        if t.status == "FAILED":
            out["failure"] = t.failure or "The generation failed."
            out["failureCode"] = t.failure_code or "INTERNAL"
        out["kino"] = {k: t.meta.get(k) for k in ("model", "aliasOf", "size", "fps", "frames", "seconds", "ratio", "requestedRatio", "seed") if t.meta.get(k) is not None}
        return out

    def get_task(s, org: Org, task_id: str) -> Task:
        t = s.scalar(select(Task).where(Task.id == task_id, Task.org_id == org.id, Task.deleted.is_(False)))
        if t is None:
            raise ApiError(404, "Could not find Task")
        return t

    def uploads_of(org: Org):
        def read(upload_id: str) -> bytes | None:
            with Session() as s:
                u = s.scalar(select(Upload).where(Upload.id == upload_id, Upload.org_id == org.id, Upload.done.is_(True), Upload.expires_at > now()))
            path = data_dir / "uploads" / upload_id
            return path.read_bytes() if u is not None and path.is_file() else None

        return read

    # ------------------------------------------------------------------------------ task creation
    def start_task(kind: str, body, org: Org) -> JSONResponse:
        task_id = str(uuid.uuid4())
        folder = data_dir / "tasks" / task_id
        fetcher = Fetcher(cfg.limits, uploads_of(org), cfg.trusted_hosts, cfg.ca_file)
        try:
            m, req, meta = normalise(body, kind, cfg, fetcher, folder / "inputs")
            req["seed"] = body.seed if body.seed is not None else secrets.randbelow(2**32)
            meta["seed"] = req["seed"]
            meta["body"] = _slim(body.model_dump(mode="json", exclude_unset=True))  # what the user sent (for GET /v1/tasks)
            estimated = int(round(m.credits_per_second * req["seconds"]))
            with Session.begin() as s:
                org_row = s.get(Org, org.id)
                create_task(s, org_row, m, kind, req, estimated, meta, task_id)
        except InsufficientCredits:
            shutil.rmtree(folder, ignore_errors=True)
            raise ApiError(400, "You do not have enough credits to run this task.") from None
        except DailyLimit as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ApiError(429, "Daily generation limit reached for this model.", {"Retry-After": str(exc.retry_after)}) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # nothing half-written
            raise
        pool.notify()
        return JSONResponse({"id": task_id, "estimatedCost": {"credits": estimated}})

    @app.post("/v1/text_to_video", tags=["tasks"])
    def text_to_video(body: TextToVideo, org: OrgDep):
        return start_task("text_to_video", body, org)

    @app.post("/v1/image_to_video", tags=["tasks"])
    def image_to_video(body: ImageToVideo, org: OrgDep):
        return start_task("image_to_video", body, org)

    @app.post("/v1/video_to_video", tags=["tasks"])
    def video_to_video(body: VideoToVideo, org: OrgDep):
        return start_task("video_to_video", body, org)

    # ------------------------------------------------------------------------------ tasks
    @app.get("/v1/tasks", tags=["tasks"], summary="The organization's tasks, newest first, with the request that made each (Kino extension)")
    def list_tasks(request: Request, org: OrgDep, limit: str = "20", before: str | None = None):
        if not (limit.isascii() and limit.isdigit() and len(limit) <= 4 and 1 <= int(limit) <= 100):
            raise ApiIssue(["limit"], "limit must be an integer from 1 to 100")
        n = int(limit)
        with Session() as s:
            q = select(Task).where(Task.org_id == org.id, Task.deleted.is_(False))
            if before is not None:
                seq = s.scalar(select(Task.seq).where(Task.id == before, Task.org_id == org.id))  # deleted ones still mark a place
                if seq is None:
                    raise ApiIssue(["before"], "before must be the id of a task of this organization")
                q = q.where(Task.seq < seq)
            rows = s.scalars(q.order_by(Task.seq.desc()).limit(n + 1)).all()
        items = []
        for t in rows[:n]:
            item = task_json(t, request)
            item["kind"] = t.kind
            item["request"] = t.meta.get("body")
            if (data_dir / "tasks" / t.id / THUMBNAIL).is_file():
                item["thumbnail"] = base(request) + sign(f"/v1/files/{t.id}/{THUMBNAIL}", cfg.url_ttl_s)
            items.append(item)
        return JSONResponse({"tasks": items, "hasMore": len(rows) > n, "nextBefore": items[-1]["id"] if len(rows) > n else None})

    @app.get("/v1/tasks/{task_id}", tags=["tasks"])
    def retrieve(task_id: str, request: Request, org: OrgDep):
        with Session() as s:
            return JSONResponse(task_json(get_task(s, org, task_id), request))

    @app.delete("/v1/tasks/{task_id}", status_code=204, tags=["tasks"])
    def delete(task_id: str, org: OrgDep):
        with Session.begin() as s:
            t = get_task(s, org, task_id)
            if t.status in ACTIVE:
                cancel(s, t)
            s.execute(update(Task).where(Task.seq == t.seq).values(deleted=True))
        if t.status not in ACTIVE:  # finished: its files go too (a running one is stopped by its worker)
            shutil.rmtree(data_dir / "tasks" / t.id, ignore_errors=True)
        pool.notify()
        return Response(status_code=204)

    @app.get("/v1/tasks/{task_id}/events", tags=["tasks"], summary="Server-Sent Events: status, progress and each chunk as it is made (Kino extension)")
    async def events(task_id: str, request: Request, org: OrgDep):
        def snapshot():
            with Session() as s:
                t = s.scalar(select(Task).where(Task.id == task_id, Task.org_id == org.id, Task.deleted.is_(False)))
                return None if t is None else (t, task_json(t, request))

        first = await run_in_threadpool(snapshot)
        if first is None:
            raise ApiError(404, "Could not find Task")

        async def gen():
            sent, last, idle = 0, None, 0.0
            chunks = data_dir / "tasks" / task_id / "chunks"
            fps = 16
            while True:
                snap = await run_in_threadpool(snapshot)
                if snap is None:
                    yield "event: deleted\ndata: {}\n\n"
                    return
                t, obj = snap
                fps = int(t.meta.get("fps", fps))
                names = sorted(p.name for p in chunks.glob("*.mp4")) if chunks.is_dir() else []
                for name in names[sent:]:
                    i = int(name.split(".")[0])
                    url = base(request) + sign(f"/v1/files/{task_id}/chunks/{name}", cfg.url_ttl_s)
                    yield f"event: chunk\ndata: {json.dumps({'index': i, 'url': url, 'startFrame': 2 * i, 'frames': 2, 'fps': fps})}\n\n"
                sent = max(sent, len(names))
                state = (obj["status"], obj.get("progress"))
                if state != last:
                    yield f"event: status\ndata: {json.dumps(obj)}\n\n"
                    last, idle = state, 0.0
                if obj["status"] not in ACTIVE:
                    yield f"event: done\ndata: {json.dumps(obj)}\n\n"
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.2)
                idle += 0.2
                if idle >= 10:
                    yield ": keep-alive\n\n"
                    idle = 0.0

        return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/v1/files/{task_id}/{name:path}", tags=["files"], summary="Signed output download (no API key)")
    def files(task_id: str, name: str, exp: str = "", sig: str = ""):
        if not verify(f"/v1/files/{task_id}/{name}", exp, sig):
            raise ApiError(403, "Invalid or expired signature")
        root = (data_dir / "tasks" / task_id).resolve()
        path = (root / name).resolve()
        thumb = path == root / THUMBNAIL
        if root not in path.parents or (path.suffix != ".mp4" and not thumb) or not path.is_file():
            raise ApiError(404, "Not found")
        return FileResponse(path, media_type="image/png" if thumb else "video/mp4")

    # ------------------------------------------------------------------------------ uploads
    @app.post("/v1/uploads", tags=["uploads"])
    def create_upload(body: UploadBody, request: Request, org: OrgDep):
        token = secrets.token_urlsafe(32)
        with Session.begin() as s:
            u = Upload(org_id=org.id, filename=body.filename, token_hash=hash_key(token), expires_at=now() + dt.timedelta(seconds=cfg.upload_ttl_s))
            s.add(u)
            s.flush()
            uid = u.id
        return JSONResponse({"uploadUrl": f"{base(request)}/v1/uploads/{uid}/file", "fields": {"token": token}, "runwayUri": f"runway://uploads/{uid}"})

    @app.post("/v1/uploads/{upload_id}/file", tags=["uploads"], summary="The signed upload target (multipart: token, then file); no API key")
    async def upload_file(upload_id: str, request: Request):
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > cfg.limits.upload_bytes + 64 * 1024:
            raise ApiError(400, f"file: uploads must send Content-Length and be at most {cfg.limits.upload_bytes} bytes")
        form = await request.form(max_files=1, max_fields=4)
        token, file = form.get("token"), form.get("file")
        if not isinstance(token, str) or file is None or isinstance(file, str):
            raise ApiError(400, "file: multipart body needs a 'token' field and a 'file' part")

        def store() -> None:
            with Session.begin() as s:
                u = s.scalar(select(Upload).where(Upload.id == upload_id))
                if u is None or u.done or u.expires_at < now() or not hmac.compare_digest(u.token_hash, hash_key(token)):
                    raise ApiError(403, "Invalid or expired upload token")
                dest = data_dir / "uploads" / upload_id
                tmp = dest.with_suffix(".part")
                size = 0
                with tmp.open("wb") as f:
                    file.file.seek(0)
                    while block := file.file.read(1 << 20):
                        size += len(block)
                        if size > cfg.limits.upload_bytes:
                            f.close()
                            tmp.unlink(missing_ok=True)
                            raise ApiError(400, f"file: over the {cfg.limits.upload_bytes} byte upload limit")
                        f.write(block)
                tmp.replace(dest)
                u.done, u.size = True, size

        await run_in_threadpool(store)
        return JSONResponse({}, status_code=201)

    # ------------------------------------------------------------------------------ organization
    @app.get("/v1/organization", tags=["organization"])
    def organization(org: OrgDep):
        day = now().replace(hour=0, minute=0, second=0, microsecond=0)
        with Session() as s:
            org_row = s.get(Org, org.id)
            counts = dict(s.execute(select(Task.model, func.count()).where(Task.org_id == org.id, Task.created_at >= day).group_by(Task.model)).all())
        plan = next((p for p in cfg.plans if p.name == org_row.plan), None)
        return JSONResponse(
            {
                "creditBalance": int(org_row.credits),
                "tier": {
                    "maxMonthlyCreditSpend": plan.max_monthly_spend if plan else 0,
                    "models": {m.name: {"maxConcurrentGenerations": m.max_concurrent, "maxDailyGenerations": m.max_daily} for m in cfg.models},
                },
                "usage": {"models": {m.name: {"dailyGenerations": int(counts.get(m.name, 0))} for m in cfg.models}},
                "kino": {  # Kino extension: what each model accepts, so a client (the studio) can build valid requests
                    "models": {
                        m.name: {
                            "modes": list(m.modes),
                            "ratios": {r: NATIVE_SIZES[m.kino_ratio(r)] for r in m.ratios if m.kino_ratio(r) in NATIVE_SIZES},
                            "minSeconds": m.min_seconds,
                            "maxSeconds": m.max_seconds,
                            "creditsPerSecond": m.credits_per_second,
                            "fps": 16,
                        }
                        | ({"aliasOf": m.alias_of} if m.alias_of else {})
                        for m in cfg.models
                    },
                    "limits": {"promptUnits": cfg.limits.prompt_units, "maxKeyframes": cfg.limits.max_keyframes, "maxReferences": MAX_REFERENCES, "uploadBytes": cfg.limits.upload_bytes, "dataUriKeep": DATA_URI_KEEP},
                },
            }
        )

    @app.post("/v1/organization/usage", tags=["organization"])
    def usage(org: OrgDep, body: UsageQuery | None = None):
        body = body or UsageQuery()

        def date(v: str | None, field: str, default: dt.date) -> dt.date:
            if v is None:
                return default
            try:
                return dt.date.fromisoformat(v) if len(v) == 10 else (_ for _ in ()).throw(ValueError())
            except ValueError:
                raise ApiIssue([field], f"{field} must be a date in YYYY-MM-DD format") from None

        today = now().date()
        before = date(body.beforeDate, "beforeDate", today + dt.timedelta(days=1))
        start = date(body.startDate, "startDate", max(before, dt.date.min + dt.timedelta(days=30)) - dt.timedelta(days=30))  # no underflow below year 1
        if start >= before:
            raise ApiIssue(["startDate"], "startDate must be before beforeDate")
        with Session() as s:
            rows = s.execute(
                select(Task.finished_at, Task.model, Task.cost).where(Task.org_id == org.id, Task.status == "SUCCEEDED", Task.finished_at >= dt.datetime.combine(start, dt.time()), Task.finished_at < dt.datetime.combine(before, dt.time()))
            ).all()
        per: dict[str, dict[str, int]] = {}
        for finished, model, cost in rows:
            d = per.setdefault(finished.date().isoformat(), {})
            d[model] = d.get(model, 0) + int(cost)
        results = [{"date": d, "usedCredits": [{"model": k, "amount": v} for k, v in sorted(m.items())]} for d, m in sorted(per.items())]
        return JSONResponse({"models": sorted({r[1] for r in rows}), "results": results})

    # ------------------------------------------------------------------------------ the web studio
    public = ""  # signed outputs are absolute URLs on public_url when one is configured
    if cfg.public_url and "://" in cfg.public_url:
        scheme, rest = cfg.public_url.split("://", 1)
        public = f" {scheme}://{rest.split('/', 1)[0]}"
    studio_headers = {
        # everything from this origin (and the configured public URL); nothing fetched from anywhere else
        "Content-Security-Policy": f"default-src 'self'; img-src 'self' data: blob:{public}; media-src 'self' blob: data:{public}; connect-src 'self'{public}; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }

    class Studio(StaticFiles):
        async def get_response(self, path, scope):
            resp = await super().get_response(path, scope)
            resp.headers.update(studio_headers | {"Cache-Control": "no-cache"})
            return resp

    @app.get("/studio", include_in_schema=False)
    def studio_root():
        return RedirectResponse("/studio/", status_code=307)

    app.mount("/studio/", Studio(directory=STUDIO_DIR, html=True), name="studio")
    return app
