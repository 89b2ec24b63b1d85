"""Read a data directory's event log directly with sqlite3 (for crash checks)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


def read_events(data_dir: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(data_dir / "brushwork.db") as conn:
        rows = conn.execute(
            "SELECT position, stream_id, version, type, payload FROM events ORDER BY position"
        ).fetchall()
    return [{"position": p, "stream": s, "version": v, "type": t, **json.loads(payload)}
            for p, s, v, t, payload in rows]


def run_log(path: Path) -> list[tuple[str, str, str, int]]:
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        prompt_id, node_id, name, attempt = line.split()
        entries.append((prompt_id, node_id, name, int(attempt)))
    return entries
