"""Durable state of `kino serve` through SQLAlchemy: SQLite by default, PostgreSQL by URL.

Tables: organizations, api_keys (SHA-256 of the key, never the key), tasks (the queue itself: status,
submission order `seq`, request, attempts), uploads, ledger. Every credit movement is a ledger row written
in the same transaction as the balance change, so `recompute_balance` can always re-derive a balance.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

__all__ = ["Base", "Org", "ApiKey", "Task", "Upload", "Ledger", "make_engine", "hash_key", "new_key", "now", "sessions", "recompute_balance", "ACTIVE", "TERMINAL"]

ACTIVE = ("PENDING", "THROTTLED", "RUNNING")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)  # naive UTC in the database (SQLite has no zones)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "key_" + secrets.token_hex(32)


class Base(DeclarativeBase):
    pass


class Org(Base):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    credits: Mapped[int] = mapped_column(BigInteger, default=0)
    plan: Mapped[str] = mapped_column(String(50), default="free")
    period_start: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in listings so keys can be told apart
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class Task(Base):
    __tablename__ = "tasks"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # submission order
    id: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    model: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))  # text_to_video | image_to_video | video_to_video
    status: Mapped[str] = mapped_column(String(16), index=True)
    request: Mapped[dict] = mapped_column(JSON)  # normalised request: media already fetched to files
    estimated: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[int] = mapped_column(BigInteger, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(Text, nullable=True)
    failure_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    output: Mapped[str | None] = mapped_column(String(500), nullable=True)  # file name under the task folder
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    __table_args__ = (Index("ix_tasks_org_model_status", "org_id", "model", "status"),)


class Upload(Base):
    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Ledger(Base):
    __tablename__ = "ledger"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # grant | reserve | release | charge | reset
    amount: Mapped[int] = mapped_column(BigInteger)  # signed change of the balance
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


def make_engine(url: str) -> Engine:
    """Engine + tables. SQLite gets WAL and a busy timeout so concurrent writers queue instead of failing."""
    sqlite = url.startswith("sqlite")
    if sqlite and url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {}, pool_pre_ping=not sqlite)
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):
            conn.isolation_level = None  # pysqlite's own BEGIN off: the hook below is the only BEGIN
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # take the write lock up front: no lock-upgrade deadlocks between readers-turned-writers
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    Base.metadata.create_all(engine)
    return engine


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def recompute_balance(session: Session, org_id: str) -> int:
    """The balance re-derived from the ledger alone."""
    return int(session.scalar(select(func.coalesce(func.sum(Ledger.amount), 0)).where(Ledger.org_id == org_id)))
