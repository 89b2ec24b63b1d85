"""Executemany on the SQLite append thread without SQLAlchemy's per-call overhead."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def execute_many(conn: Connection, statement: sa.Executable,
                 rows: list[dict[str, Any]]) -> int:
    """Execute ``statement`` once per row (all rows have the same keys); return the rowcount.

    On the SQLite append thread's connection, the statement is compiled once
    and sent through the driver's cursor: SQLAlchemy's per-call overhead was
    the largest part of a small commit. ``statement`` must be a long-lived
    object (a module constant or a cached one), because it keys that cache.
    """
    if conn.dialect.driver != "pysqlite":
        return conn.execute(statement, rows).rowcount
    sql, names, defaults = _compiled(statement, tuple(rows[0]), conn.dialect)
    if defaults:
        params = [tuple(row.get(name, defaults.get(name)) for name in names) for row in rows]
    else:
        params = [tuple([row[name] for name in names]) for row in rows]
    with driver_cursor(conn, sql) as cursor:
        cursor.executemany(sql, params)
        return int(cursor.rowcount)


@contextlib.contextmanager
def driver_cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """Yield a cursor of the driver's connection, in the connection's transaction.

    Driver errors become SQLAlchemy's (``IntegrityError`` and so on), as
    ``Connection.execute`` raises them, so callers handle both paths alike.
    """
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(sql, None, error, dbapi.Error) from error
    finally:
        cursor.close()


_COMPILED: dict[tuple[Any, tuple[str, ...]], tuple[str, tuple[str, ...], dict[str, Any]]] = {}


def _compiled(statement: Any, keys: tuple[str, ...], dialect: Any
              ) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    cached = _COMPILED.get((statement, keys))
    if cached is None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        names = tuple(compiled.positiontup or ())
        defaults = {name: bind.value for name, bind in compiled.binds.items()
                    if name not in keys and bind.value is not None}
        cached = (compiled.string, names, defaults)
        if len(_COMPILED) > 1024:
            _COMPILED.clear()
        _COMPILED[(statement, keys)] = cached
    return cached
