"""Persistence: the only package that holds SQL.

:class:`Store` owns (or borrows) a SQLAlchemy ``Engine``/``Connection`` and runs each command in
one transaction (guarantee 1). On SQLite that transaction is ``BEGIN IMMEDIATE`` so writers queue
instead of failing on lock upgrade; on PostgreSQL row locks and ``SKIP LOCKED`` do the work.
Deadlocks, serialization failures and busy databases are retried a bounded number of times.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from casework.errors import ConfigurationError
from casework.store.schema import Tables, build_tables

log = logging.getLogger("casework.store")

T = TypeVar("T")

RETRY_ATTEMPTS = 5

# SQLite file engines casework created itself: each thread keeps one connection open across
# commands (checking one out of the pool costs more than a small command's own statements).
_HELD_ENGINES: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
_RETRY_SQLSTATES = {"40001", "40P01", "55P03"}


def create_sa_engine(url: str, *, synchronous: str = "FULL", **kwargs: Any) -> sa.Engine:
    """A SQLAlchemy engine with casework's connection settings.

    SQLite: WAL journal, ``synchronous`` (FULL by default: a committed command survives power
    loss), foreign keys on, a busy timeout, and ``BEGIN IMMEDIATE`` transactions.
    """
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        memory = sa_url.database in (None, "", ":memory:")
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        if memory:
            kwargs.setdefault("poolclass", StaticPool)
        else:
            # Threads keep a connection each (see Store._unit): let the pool grow with them.
            kwargs.setdefault("max_overflow", -1)
        engine = sa.create_engine(sa_url, **kwargs)
        install_sqlite_settings(engine, synchronous=synchronous, wal=not memory)
        if not memory:
            _HELD_ENGINES.add(engine)
        return engine
    if sa_url.get_backend_name() == "postgresql" and sa_url.drivername == "postgresql":
        sa_url = sa_url.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(sa_url, **kwargs)


BUSY_TIMEOUT_MS = 30_000
# How long a snapshot gate waits for a writer before the caller reads without a shared snapshot.
SNAPSHOT_GATE_WAIT_MS = 1_000


class SnapshotBusy(Exception):
    """:meth:`Store.snapshot_readers` could not hold writers back in time (a long write is in
    progress); the caller reads from one connection instead."""


def install_sqlite_settings(
    engine: sa.Engine, *, synchronous: str = "FULL", wal: bool = True
) -> None:
    """Pragmas on every new connection, and ``BEGIN IMMEDIATE`` instead of pysqlite's lazy BEGIN.

    A transaction started with the execution option ``casework_read=True`` uses a plain
    (deferred) BEGIN, so readers never queue behind writers.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite; we emit BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Straight to the driver: this runs once per command and SQLAlchemy's statement path
        # would cost more than the BEGIN itself.
        sql = "BEGIN" if conn.get_execution_options().get("casework_read") else "BEGIN IMMEDIATE"
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]


def _is_retryable(exc: sa.exc.DBAPIError) -> bool:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _RETRY_SQLSTATES:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database is busy" in text


class Store:
    """Tables plus a way to run one unit of work.

    Give it a URL, an ``Engine`` (casework commits its own transactions) or a ``Connection``
    (casework joins the host's transaction through a SAVEPOINT and commits nothing).
    """

    def __init__(
        self,
        bind: str | sa.Engine | sa.Connection,
        *,
        prefix: str = "",
        schema: str | None = None,
    ) -> None:
        self.owns_engine = isinstance(bind, str)
        self.connection: sa.Connection | None = None
        if isinstance(bind, str):
            self.engine: sa.Engine = create_sa_engine(bind)
        elif isinstance(bind, sa.Engine):
            self.engine = bind
        elif isinstance(bind, sa.Connection):
            self.connection = bind
            self.engine = bind.engine
        else:
            raise ConfigurationError(
                f"expected a database URL, SQLAlchemy Engine or Connection, got {type(bind)!r}"
            )
        self.tables: Tables = build_tables(prefix, schema)
        self.dialect = self.engine.dialect.name
        # Kept per-thread connections: only for SQLite files on engines casework made, and
        # never when joining a host's connection.
        keep = self.connection is None and self.engine in _HELD_ENGINES
        self._held = threading.local() if keep else None
        self._held_all: weakref.WeakSet[sa.Connection] = weakref.WeakSet()
        self._held_lock = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def create_all(self) -> None:
        """Create missing tables directly (no migration history); tests and quick starts."""
        if self.connection is not None:
            self.tables.metadata.create_all(self.connection)
        else:
            with self.engine.begin() as conn:
                self.tables.metadata.create_all(conn)

    @contextlib.contextmanager
    def _unit(self, read: bool) -> Iterator[sa.Connection]:
        if self.connection is not None:
            if self.is_sqlite:
                # pysqlite (in its default mode) has not sent BEGIN yet when the host's first
                # statement is ours; a SAVEPOINT outside a transaction would start one that its
                # RELEASE commits, beyond the host's reach. Open the host's transaction first.
                driver = self.connection.connection.driver_connection
                if driver is not None and not driver.in_transaction:
                    driver.execute("BEGIN")
            # Join the host's transaction; a savepoint keeps a failed command from leaving
            # half its rows behind while the host's own work stays untouched.
            with self.connection.begin_nested():
                yield self.connection
            return
        # A fresh pooled connection (``run`` takes the thread's kept one when it can).
        conn = self.engine.connect()
        if read:
            conn = conn.execution_options(casework_read=True)
        try:
            with conn.begin():
                yield conn
        finally:
            conn.close()

    def _held_connection(self) -> sa.Connection | None:
        """This thread's kept connection, or ``None`` (not kept for this engine, or busy with
        an enclosing unit — e.g. a host guard that reads casework during a command)."""
        if self._held is None:
            return None
        conn: sa.Connection | None = getattr(self._held, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._held.conn = self.engine.connect()
            with self._held_lock:
                self._held_all.add(conn)
        if conn.in_transaction():
            return None
        return conn

    def run(self, work: Callable[[sa.Connection], T], *, read: bool = False) -> T:
        """Run ``work(conn)`` in one transaction, retrying deadlocks/serialization failures.

        ``work`` must not have side effects outside the transaction: it may run again.
        """
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                held = self._held_connection()
                if held is not None:
                    # The common case: the thread's kept connection, one transaction.
                    if held.get_execution_options().get("casework_read", False) != read:
                        held.execution_options(casework_read=read)
                    with held.begin():
                        return work(held)
                with self._unit(read) as conn:
                    return work(conn)
            except sa.exc.DBAPIError as exc:
                if self.connection is not None or attempt == RETRY_ATTEMPTS:
                    raise
                if not _is_retryable(exc):
                    raise
                # Jittered backoff so retrying writers do not collide again in lockstep.
                delay = min(0.5, 0.01 * 2**attempt) * (0.5 + random.random())
                log.info("retrying after %s (attempt %d): %s", type(exc).__name__, attempt, exc)
                time.sleep(delay)
        raise AssertionError("unreachable")

    @property
    def can_share_snapshot(self) -> bool:
        """Whether :meth:`snapshot_readers` is available: SQLite files on engines casework made
        (not a host's connection, not ``:memory:``)."""
        return self.is_sqlite and self._held is not None

    @contextlib.contextmanager
    def snapshot_readers(self, n: int) -> Iterator[list[sa.Connection]]:
        """``n`` connections in read transactions that all see the same snapshot, so that
        several threads can read one consistent state (SQLite releases the GIL while it
        works). SQLite has no API to share a snapshot: while the readers take theirs, another
        connection holds the write lock (``BEGIN IMMEDIATE``, as any writer would), so no
        commit can fall between them; writers wait only those few milliseconds. Raises
        :class:`SnapshotBusy` when a writer holds the lock for more than a second."""
        if not self.can_share_snapshot:
            raise ConfigurationError("shared snapshots need a SQLite file casework opened")
        readers: list[sa.Connection] = []
        try:
            with self.engine.connect() as gate:
                driver = gate.connection.driver_connection
                assert driver is not None
                # Do not queue long behind a writer: raise SnapshotBusy instead.
                driver.execute(f"PRAGMA busy_timeout={SNAPSHOT_GATE_WAIT_MS}")
                try:
                    with gate.begin():
                        for _ in range(n):
                            conn = self.engine.connect().execution_options(casework_read=True)
                            readers.append(conn)
                            conn.begin()
                            # The first read fixes the transaction's snapshot.
                            conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
                except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:
                    # The BEGIN comes straight from the driver (install_sqlite_settings).
                    text = str(getattr(exc, "orig", None) or exc)
                    if "locked" not in text.lower() and "busy" not in text.lower():
                        raise
                    raise SnapshotBusy(text) from exc
                finally:
                    driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            yield readers
        finally:
            for conn in readers:
                with contextlib.suppress(Exception):
                    conn.close()

    def release_connections(self) -> None:
        """Close the connections threads keep (all threads); the next command reconnects."""
        with self._held_lock:
            held = list(self._held_all)
            self._held_all = weakref.WeakSet()
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()

    def dispose(self) -> None:
        self.release_connections()
        if self.owns_engine:
            self.engine.dispose()
