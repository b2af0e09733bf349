"""`kino admin`, plans (one-time, monthly reset, rollover) and config checking."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from kino.cli import main
from kino.server.config import ConfigError, load_config
from kino.server.db import ApiKey, Ledger, Org, hash_key, make_engine, recompute_balance, sessions
from kino.server.store import renew_plan


def test_admin_cli_round_trip(tmp_path, capsys):
    d = str(tmp_path / "data")
    assert main(["admin", "--data-dir", d, "create-org", "acme", "--credits", "50"]) == 0
    assert main(["admin", "--data-dir", d, "create-org", "acme"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["admin", "--data-dir", d, "create-key", "acme"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("key_") and len(key) > 40
    S = sessions(make_engine(load_config(data_dir=d).db_url))
    with S() as s:
        stored = s.scalar(select(ApiKey))
        assert stored.key_hash == hash_key(key) and key not in stored.key_hash  # only the hash is kept
    assert main(["admin", "--data-dir", d, "grant", "acme", "25"]) == 0
    assert capsys.readouterr().out.strip() == "75"
    assert main(["admin", "--data-dir", d, "grant", "nobody", "25"]) == 2
    assert "ORG" in capsys.readouterr().err
    assert main(["admin", "--data-dir", d, "list"]) == 0
    assert "balance 75\tledger 75\tok" in capsys.readouterr().out
    assert main(["admin", "--data-dir", d, "revoke-key", key[:12]]) == 0
    with S() as s:
        assert s.scalar(select(ApiKey)).revoked


@pytest.mark.parametrize("plan,start,expect", [("free", 40, 40), ("standard", 40, 625), ("max", 40, 40 + 9500), ("max", 30000, 9500 + 9500)])
def test_plans_renew_lazily(tmp_path, plan, start, expect):
    cfg = load_config(data_dir=str(tmp_path))
    S = sessions(make_engine(cfg.db_url))
    with S.begin() as s:
        org = Org(name="o", plan=plan, credits=start, period_start=dt.datetime(2026, 1, 1))
        s.add(org)
        s.flush()
        s.add(Ledger(org_id=org.id, kind="grant", amount=start))
        renew_plan(s, cfg, org, at=dt.datetime(2026, 1, 20))  # inside the period: nothing
        assert org.credits == start
        renew_plan(s, cfg, org, at=dt.datetime(2026, 2, 5))  # one period later
        s.refresh(org)
        assert org.credits == expect and recompute_balance(s, org.id) == expect
        if plan != "free":
            assert org.period_start == dt.datetime(2026, 1, 31)


def test_config_errors_name_the_field(tmp_path):
    bad = {
        "models[0].steps": {"models": [{"name": "m", "steps": 3}]},
        "models[0].ratios": {"models": [{"name": "m", "ratios": ["2:1"]}]},
        "models[0].price": {"models": [{"name": "m", "price": 1}]},
        "plans[0].kind": {"plans": [{"name": "free", "kind": "weekly"}]},
        "config.workers": {"workers": "two"},
        "limits.upload_bytes": {"limits": {"upload_bytes": "big"}},
    }
    for field, data in bad.items():
        p = tmp_path / "c.json"
        p.write_text(json.dumps(data))
        with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
            load_config(p)
    p = tmp_path / "c.toml"
    p.write_text('workers = 2\n[[models]]\nname = "gen4.5"\nmax_concurrent = 1\n')
    cfg = load_config(p)
    assert cfg.workers == 2 and cfg.model("gen4.5").max_concurrent == 1 and cfg.model("kino-tiny") is None
