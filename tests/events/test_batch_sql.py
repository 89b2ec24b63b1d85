"""execute_many: the SQLite fast path writes what SQLAlchemy's executemany writes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from brushwork.events.batch_sql import execute_many

metadata = sa.MetaData()
items = sa.Table(
    "items", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("done", sa.Boolean, nullable=False, default=False),
    sa.Column("note", sa.Text),
)
INSERT = items.insert()
RESIZE = (items.update().where(items.c.name == sa.bindparam("k_name"))
          .values(size=sa.bindparam("v_size")))
# A bound parameter with a value: the fast path must fill it in for every row.
TOUCH_FIRST = (items.update().where(items.c.name == sa.bindparam("first", value="a"))
               .values(note=sa.bindparam("note")))


def rows_after(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        inserted = execute_many(conn, INSERT, [
            {"name": "a", "size": 1, "done": False, "note": None},
            {"name": "b", "size": 2, "done": True, "note": "two"},
        ])
        resized = execute_many(conn, RESIZE, [{"k_name": "a", "v_size": 10},
                                              {"k_name": "missing", "v_size": 0}])
        touched = execute_many(conn, TOUCH_FIRST, [{"note": "first"}])
    with engine.connect() as conn:
        stored = [tuple(row) for row in conn.execute(sa.select(items).order_by(items.c.name))]
    engine.dispose()
    return [inserted, resized, touched, *stored]


def test_fast_path_matches_sqlalchemy(tmp_path):
    fast = rows_after(f"sqlite+pysqlite:///{tmp_path / 'fast.db'}")
    assert fast == [2, 1, 1, ("a", 10, False, "first"), ("b", 2, True, "two")]


def test_other_drivers_use_sqlalchemy(monkeypatch, tmp_path):
    # Seen as another driver, the same calls go through SQLAlchemy's executemany.
    monkeypatch.setattr(sa.dialects.sqlite.pysqlite.SQLiteDialect_pysqlite, "driver", "other")
    slow = rows_after(f"sqlite+pysqlite:///{tmp_path / 'slow.db'}")
    assert slow == [2, 1, 1, ("a", 10, False, "first"), ("b", 2, True, "two")]


def test_driver_errors_become_sqlalchemy_errors(tmp_path):
    engine = sa.create_engine(f"sqlite+pysqlite:///{tmp_path / 'dup.db'}")
    metadata.create_all(engine)
    row = {"name": "a", "size": 1, "done": False, "note": None}
    with engine.connect() as conn:
        execute_many(conn, INSERT, [row])
        with pytest.raises(sa.exc.IntegrityError):
            execute_many(conn, INSERT, [row])
    engine.dispose()
