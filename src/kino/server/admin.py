"""`kino serve` and `kino admin`: run the API; manage organizations, keys and credits from the shell."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from sqlalchemy import select

from kino.server.config import ConfigError, load_config
from kino.server.db import ApiKey, Org, hash_key, make_engine, new_key, recompute_balance, sessions
from kino.server.store import grant

__all__ = ["main_serve", "main_admin", "create_org", "create_key"]


def _config(args):
    return load_config(getattr(args, "config", None), data_dir=getattr(args, "data_dir", None))


def create_org(Session, cfg, name: str, credits: int | None = None, plan: str | None = None) -> Org:
    plan_ = cfg.plan(plan or cfg.default_plan)
    with Session.begin() as s:
        if s.scalar(select(Org).where(Org.name == name)) is not None:
            raise ValueError(f"name: organization {name!r} already exists")
        org = Org(name=name, plan=plan_.name)
        s.add(org)
        s.flush()
        amount = plan_.credits if credits is None else credits
        if amount:
            grant(s, org, amount)
        return org


def _org(s, ref: str) -> Org:
    org = s.scalar(select(Org).where((Org.name == ref) | (Org.id == ref)))
    if org is None:
        raise ValueError(f"ORG: no organization named {ref!r}")
    return org


def create_key(Session, ref: str) -> str:
    key = new_key()
    with Session.begin() as s:
        org = _org(s, ref)
        s.add(ApiKey(org_id=org.id, key_hash=hash_key(key), prefix=key[:12]))
    return key


def main_admin(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="kino admin", description="Manage organizations, API keys and credits of a `kino serve` data dir.")
    p.add_argument("--data-dir", default=None, help="server data folder (default kino-data)")
    p.add_argument("--config", default=None, help="server config file (TOML or JSON)")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create-org", help="create an organization")
    c.add_argument("name")
    c.add_argument("--credits", type=int, default=None, help="starting credits (default: the plan's)")
    c.add_argument("--plan", default=None, help="plan name from the config (default: the config's default_plan)")
    k = sub.add_parser("create-key", help="create an API key for ORG (printed once, stored hashed)")
    k.add_argument("org")
    g = sub.add_parser("grant", help="add (or, negative, remove) credits")
    g.add_argument("org")
    g.add_argument("credits", type=int)
    sub.add_parser("list", help="organizations, balances and ledger check")
    r = sub.add_parser("revoke-key", help="revoke a key by its printed prefix")
    r.add_argument("prefix")
    a = p.parse_args(argv)
    try:
        cfg = _config(a)
        Session = sessions(make_engine(cfg.db_url))
        if a.cmd == "create-org":
            org = create_org(Session, cfg, a.name, a.credits, a.plan)
            print(f"{org.id}\t{org.name}")
        elif a.cmd == "create-key":
            print(create_key(Session, a.org))
        elif a.cmd == "grant":
            with Session.begin() as s:
                org = _org(s, a.org)
                grant(s, org, a.credits)
            with Session() as s:
                print(s.get(Org, org.id).credits)
        elif a.cmd == "revoke-key":
            with Session.begin() as s:
                key = s.scalar(select(ApiKey).where(ApiKey.prefix == a.prefix))
                if key is None:
                    raise ValueError(f"prefix: no key starts with {a.prefix!r}")
                key.revoked = True
        else:
            with Session() as s:
                for org in s.scalars(select(Org).order_by(Org.created_at)):
                    ledger = recompute_balance(s, org.id)
                    print(f"{org.name}\t{org.plan}\tbalance {org.credits}\tledger {ledger}\t{'ok' if ledger == org.credits else 'MISMATCH'}")
    except (ValueError, ConfigError) as exc:
        print(f"kino admin: error: {exc}", file=sys.stderr)
        return 2
    return 0


def main_serve(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="kino serve", description="Serve the Runway-compatible Kino API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", default=None, help="database, uploads and outputs (default kino-data)")
    p.add_argument("--config", default=None, help="config file (TOML or JSON): models, prices, plans, limits")
    p.add_argument("--workers", type=int, default=None, help="generations at once (default 1)")
    p.add_argument("--log-level", default="info")
    a = p.parse_args(argv)
    try:
        cfg = load_config(a.config, data_dir=a.data_dir, workers=a.workers)
    except ConfigError as exc:
        print(f"kino serve: error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from kino.server.app import create_app

    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(cfg)
    server = uvicorn.Server(uvicorn.Config(app, host=a.host, port=a.port, log_level=a.log_level, timeout_graceful_shutdown=30))
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    server.run()
    return 0
