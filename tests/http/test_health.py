"""/healthz and /readyz on a real server, at both path prefixes."""

from __future__ import annotations

import json
import sqlite3

import pytest


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_healthz_answers_ok(server, prefix):
    assert server.get(f"{prefix}/healthz")["status"] == "ok"


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_readyz_reports_checks(server, prefix):
    health = server.get(f"{prefix}/readyz")
    assert health["status"] == "ready"
    assert set(health["checks"]) == {"database", "migrations", "executor", "event_log"}
    assert all(check["ok"] for check in health["checks"].values())
    assert health["checks"]["executor"]["detail"] == "running"


def test_readyz_without_worker(server_factory):
    server = server_factory("--no-worker")
    health = server.get("/readyz")
    assert health["status"] == "ready"
    assert health["checks"]["executor"]["detail"] == "disabled (--no-worker)"


def test_readyz_fails_on_stale_schema(server):
    with sqlite3.connect(server.data_dir / "brushwork.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'stale'")
    status, raw, _ = server.request("GET", "/readyz")
    assert status == 503
    health = json.loads(raw)
    assert health["status"] == "not_ready"
    assert not health["checks"]["migrations"]["ok"]
    assert "brushwork db upgrade" in health["checks"]["migrations"]["detail"]
    assert server.get("/healthz")["status"] == "ok"
