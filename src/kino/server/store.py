"""Credits and the task queue as transactions over the database (no in-memory state that a crash loses).

Credit rules: reserve the estimate at create (one conditional UPDATE, so concurrent creates can never
drive a balance negative), charge on success (the reservation becomes the cost), release on failure or
cancel. Queue rules: per organization and model at most `max_concurrent` tasks are admitted (PENDING or
RUNNING); the rest wait as THROTTLED and are admitted in submission order (`seq`). A task moves to a
terminal state only from the state its caller saw (conditional UPDATE), so it is never charged twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kino.server.config import ServedModel, ServerConfig
from kino.server.db import ACTIVE, Ledger, Org, Task, now

__all__ = ["InsufficientCredits", "DailyLimit", "grant", "renew_plan", "create_task", "admit_throttled", "claim", "succeed", "fail", "cancel", "requeue_stale"]


class InsufficientCredits(Exception):
    pass


class DailyLimit(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def grant(s: Session, org: Org, amount: int, kind: str = "grant") -> None:
    s.execute(update(Org).where(Org.id == org.id).values(credits=Org.credits + amount))
    s.add(Ledger(org_id=org.id, kind=kind, amount=amount))


def renew_plan(s: Session, cfg: ServerConfig, org: Org, at: dt.datetime | None = None) -> None:
    """Lazily apply monthly resets / rollovers for every 30-day period that has passed."""
    plan = cfg.plan(org.plan) if any(p.name == org.plan for p in cfg.plans) else None
    if plan is None or plan.kind == "one_time":
        return
    at = at or now()
    while at - org.period_start >= dt.timedelta(days=30):
        s.refresh(org)
        cap = plan.credits * plan.rollover_months if plan.kind == "rollover" else 0
        target = min(max(org.credits, 0), cap) + plan.credits
        if target != org.credits:
            grant(s, org, target - org.credits, "reset")
        org.period_start = org.period_start + dt.timedelta(days=30)
        s.flush()


def _admitted(s: Session, org_id: str, model: str) -> int:
    return s.scalar(select(func.count()).select_from(Task).where(Task.org_id == org_id, Task.model == model, Task.status.in_(("PENDING", "RUNNING")))) or 0


def create_task(s: Session, org: Org, m: ServedModel, kind: str, request: dict, estimated: int, meta: dict, task_id: str | None = None) -> Task:
    """Check the daily limit, reserve credits, store the task as PENDING or THROTTLED (caller commits)."""
    t0 = now()
    if m.max_daily is not None:
        day = t0.replace(hour=0, minute=0, second=0, microsecond=0)
        used = s.scalar(select(func.count()).select_from(Task).where(Task.org_id == org.id, Task.model == m.name, Task.created_at >= day)) or 0
        if used >= m.max_daily:
            raise DailyLimit(min(60, int((day + dt.timedelta(days=1) - t0).total_seconds()) + 1))
    if estimated > 0:
        res = s.execute(update(Org).where(Org.id == org.id, Org.credits >= estimated).values(credits=Org.credits - estimated))
        if res.rowcount != 1:
            raise InsufficientCredits()
    throttled = m.max_concurrent is not None and _admitted(s, org.id, m.name) >= m.max_concurrent
    task = Task(**({"id": task_id} if task_id else {}), org_id=org.id, model=m.name, kind=kind, status="THROTTLED" if throttled else "PENDING", request=request, estimated=estimated, meta=meta, created_at=t0)
    s.add(task)
    s.flush()
    s.add(Ledger(org_id=org.id, task_id=task.id, kind="reserve", amount=-estimated, model=m.name))
    return task


def admit_throttled(s: Session, cfg: ServerConfig) -> None:
    """Promote THROTTLED tasks to PENDING, oldest first, where their organization has a free slot."""
    waiting = s.execute(select(Task.org_id, Task.model).where(Task.status == "THROTTLED").group_by(Task.org_id, Task.model)).all()
    for org_id, model in waiting:
        m = cfg.model(model)
        free = 10**9 if m is None or m.max_concurrent is None else m.max_concurrent - _admitted(s, org_id, model)
        if free <= 0:
            continue
        ids = s.scalars(select(Task.seq).where(Task.org_id == org_id, Task.model == model, Task.status == "THROTTLED").order_by(Task.seq).limit(free)).all()
        if ids:
            s.execute(update(Task).where(Task.seq.in_(ids), Task.status == "THROTTLED").values(status="PENDING"))


def claim(s: Session) -> Task | None:
    """Take the oldest PENDING task and mark it RUNNING (caller commits)."""
    for task in s.scalars(select(Task).where(Task.status == "PENDING").order_by(Task.seq).limit(8)):
        res = s.execute(update(Task).where(Task.seq == task.seq, Task.status == "PENDING").values(status="RUNNING", started_at=now(), progress=0.0, attempts=Task.attempts + 1))
        if res.rowcount == 1:
            s.refresh(task)
            return task
    return None


def _release(s: Session, task: Task) -> None:
    s.execute(update(Org).where(Org.id == task.org_id).values(credits=Org.credits + task.estimated))
    s.add(Ledger(org_id=task.org_id, task_id=task.id, kind="release", amount=task.estimated, model=task.model))


def succeed(s: Session, task: Task, output: str, meta: dict) -> bool:
    res = s.execute(update(Task).where(Task.seq == task.seq, Task.status == "RUNNING").values(status="SUCCEEDED", progress=1.0, output=output, cost=task.estimated, meta=meta, finished_at=now()))
    if res.rowcount != 1:
        return False  # cancelled meanwhile: its credits were already released
    s.add(Ledger(org_id=task.org_id, task_id=task.id, kind="charge", amount=0, model=task.model))  # the reservation becomes the cost
    return True


def fail(s: Session, task: Task, failure: str, code: str, from_status: tuple[str, ...] = ("RUNNING",)) -> bool:
    res = s.execute(update(Task).where(Task.seq == task.seq, Task.status.in_(from_status)).values(status="FAILED", failure=failure, failure_code=code, cost=0, finished_at=now()))
    if res.rowcount != 1:
        return False
    _release(s, task)
    return True


def cancel(s: Session, task: Task) -> bool:
    """Cancel a queued or running task with a full refund; False if it already ended."""
    res = s.execute(update(Task).where(Task.seq == task.seq, Task.status.in_(ACTIVE)).values(status="CANCELLED", cost=0, finished_at=now()))
    if res.rowcount != 1:
        return False
    _release(s, task)
    return True


def requeue_stale(s: Session, cfg: ServerConfig) -> tuple[int, int]:
    """At start-up: tasks left RUNNING by a dead process are re-run, or failed with a refund after max_attempts."""
    rerun = failed = 0
    for task in s.scalars(select(Task).where(Task.status == "RUNNING")).all():
        if task.attempts >= cfg.max_attempts:
            failed += fail(s, task, "The generation was interrupted too many times.", "INTERNAL.INTERRUPTED")
        else:
            s.execute(update(Task).where(Task.seq == task.seq, Task.status == "RUNNING").values(status="PENDING", progress=0.0))
            rerun += 1
    return rerun, failed
