"""Running casework's hot, prepared statements straight on the DBAPI cursor.

A command runs about eight small statements; SQLAlchemy's per-execution machinery (execution
context, cache-key lookup, result metadata, event dispatch) costs several times what SQLite
spends executing them. Here SQLAlchemy still compiles each statement — once per dialect and set
of parameter names — and its own bind and result processors still convert every value, so the
rows and the SQL are exactly those ``Connection.execute`` would give; only the per-call overhead
goes. The cursor belongs to the same connection, inside the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.dml import Insert, Update

from casework.store.schema import UTCDateTime


def _sqlite_instant(value: dt.datetime) -> str:
    """What ``UTCDateTime`` + SQLAlchemy's SQLite ``DATETIME`` store, in one step: naive UTC
    text with microseconds (``2026-05-06 01:00:00.000000``), so comparisons in SQL hold."""
    if value.tzinfo is not dt.UTC:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _json_text(value: Any) -> str:
    return json.dumps(value)


def _sqlite_read_instant(value: str) -> dt.datetime:
    """The reverse of :func:`_sqlite_instant`: stored naive UTC text → aware UTC datetime."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


_MISSING = object()


class FastRow:
    """A result row: ``row.column`` and ``row._mapping["column"]``, like SQLAlchemy's."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


class Prepared:
    """One statement compiled for a dialect, with its bind plan and result processors."""

    __slots__ = (
        "bind_items",
        "binds",
        "compiled",
        "dialect",
        "fixed",
        "names",
        "plan",
        "positional",
        "results",
        "sql",
    )

    def __init__(self, stmt: Any, dialect: sa.Dialect, keys: Sequence[str] | None) -> None:
        kw: dict[str, Any] = {}
        if isinstance(stmt, Insert | Update) and keys is not None:
            kw["column_keys"] = [k for k in keys if not k.startswith("_")]
        compiled = stmt.compile(dialect=dialect, **kw)
        self.compiled = compiled
        self.sql = str(compiled)
        if "POSTCOMPILE" in self.sql:
            raise ValueError(f"statement needs render-time expansion: {self.sql[:80]}")
        self.positional: Sequence[str] | None = compiled.positiontup
        self.fixed: dict[str, Any] | None = None
        self.binds: dict[str, Callable[[Any], Any]] = dict(compiled._bind_processors)
        if dialect.name == "sqlite":
            for name, bind in compiled.binds.items():
                if isinstance(bind.type, UTCDateTime):
                    self.binds[name] = _sqlite_instant
                elif type(bind.type) is sa.JSON and name in self.binds:
                    self.binds[name] = _json_text  # what the SQLite dialect's JSON stores
        self.bind_items: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(self.binds.items())
        self.plan: tuple[tuple[str, Callable[[Any], Any] | None], ...] | None = (
            None
            if self.positional is None
            else tuple((name, self.binds.get(name)) for name in self.positional)
        )
        self.names: list[str] = [rc.keyname for rc in compiled._result_columns]
        self.results: list[Callable[[Any], Any] | None] | None = None
        self.dialect = dialect

    def params(self, values: Mapping[str, Any]) -> Any:
        fixed = self.fixed
        if fixed is None:
            # Binds that carry their own value (literals such as ``status = 'running'`` or
            # ``version + 1``): let SQLAlchemy fill them once; the statement never changes.
            full = self.compiled.construct_params(dict(values))
            fixed = self.fixed = {k: v for k, v in full.items() if k not in values}
        plan = self.plan
        if plan is not None:
            # The common SQLite case: one pass in bind order, no merged dict.
            out = []
            for name, proc in plan:
                value = values.get(name, _MISSING)
                if value is _MISSING:
                    value = fixed[name]
                if proc is not None and value is not None:
                    value = proc(value)
                out.append(value)
            return out
        bound = {**fixed, **values}
        for name, proc in self.bind_items:
            value = bound.get(name)
            if value is not None:
                bound[name] = proc(value)
        return {k: bound[k] for k in self.compiled.binds if k in bound}

    def rows(self, cursor: Any) -> Iterator[FastRow]:
        results = self.results
        if results is None:
            # Some result processors depend on the driver's column type (PostgreSQL NUMERIC):
            # build them from the first cursor's description; a statement's types never change.
            columns = self.compiled._result_columns
            sqlite = self.dialect.name == "sqlite"
            results = self.results = [
                _sqlite_read_instant
                if sqlite and isinstance(rc.type, UTCDateTime)
                else rc.type._cached_result_processor(self.dialect, desc[1])
                for rc, desc in zip(columns, cursor.description, strict=True)
            ]
        names = self.names
        for raw in cursor.fetchall():
            yield FastRow(
                {
                    n: (p(v) if p is not None and v is not None else v)
                    for n, p, v in zip(names, results, raw, strict=True)
                }
            )


class FastExecutor:
    """Per-dialect cache of prepared statements, and the calls that run them."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str, tuple[str, ...]], tuple[Any, Prepared]] = {}

    def _prepare(self, conn: sa.Connection, stmt: Any, keys: Sequence[str]) -> Prepared:
        ident = (id(stmt), conn.dialect.name, tuple(keys))
        hit = self._cache.get(ident)
        if hit is None or hit[0] is not stmt:
            hit = self._cache[ident] = (stmt, Prepared(stmt, conn.dialect, keys))
        return hit[1]

    @staticmethod
    def cursor(conn: sa.Connection) -> Any:
        # One cursor per DBAPI connection, kept in SQLAlchemy's per-connection info dict.
        info = conn.connection.info
        cursor = info.get("casework_cursor")
        if cursor is None:
            cursor = info["casework_cursor"] = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        return cursor

    def execute(self, conn: sa.Connection, stmt: Any, values: Mapping[str, Any]) -> Any:
        """Run one statement; returns the DBAPI cursor (``rowcount``, ``fetchone``)."""
        prepared = self._prepare(conn, stmt, tuple(values))
        cursor = self.cursor(conn)
        cursor.execute(prepared.sql, prepared.params(values))
        return cursor

    def executemany(
        self, conn: sa.Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Run one statement for each of ``rows`` (all with the same keys)."""
        if not rows:
            return
        prepared = self._prepare(conn, stmt, tuple(rows[0]))
        self.cursor(conn).executemany(prepared.sql, [prepared.params(r) for r in rows])

    def all(self, conn: sa.Connection, stmt: Any, values: Mapping[str, Any]) -> list[FastRow]:
        prepared = self._prepare(conn, stmt, tuple(values))
        cursor = self.cursor(conn)
        cursor.execute(prepared.sql, prepared.params(values))
        return list(prepared.rows(cursor))

    def first(self, conn: sa.Connection, stmt: Any, values: Mapping[str, Any]) -> FastRow | None:
        rows = self.all(conn, stmt, values)
        return rows[0] if rows else None

    def scalar(self, conn: sa.Connection, stmt: Any, values: Mapping[str, Any]) -> Any:
        row = self.first(conn, stmt, values)
        return None if row is None else next(iter(row._mapping.values()))


FAST = FastExecutor()
