"""Shared fixtures: a frozen clock, real SQLite and real PostgreSQL backends, the shipped
workflows, and the third-party data folder.

PostgreSQL tests run when ``CASEWORK_TEST_POSTGRES_URL`` is set (``make test`` sets it when the
server answers, and always under CI, where an unreachable server is a failure). Each test gets a
schema of its own, dropped afterwards, so tests can run in parallel.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from casework import Engine
from casework.clock import FrozenClock

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "workflows"
CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("CASEWORK_TEST_POSTGRES_URL")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def run_benchmark(
    script: str, *args: str, timeout: float, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    """Run ``benchmarks/<script> ARGS --json`` from the checkout; its last line (the figures)
    parsed, and everything it printed. Exit 1 means "a bar was missed": allowed, timing is not
    a test's business."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    data = json.loads(lines[-1])
    assert isinstance(data, dict)
    return data, proc.stdout


def realdata_dir() -> Path | None:
    """``../shared/realdata`` beside the checkout (or ``$CASEWORK_REALDATA``)."""
    env = os.environ.get("CASEWORK_REALDATA")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "realdata", ROOT.parent.parent / "shared" / "realdata"]
    return next((p for p in candidates if p.is_dir()), None)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The third-party data folder; a failure under CI when missing, a visible skip elsewhere."""
    path = realdata_dir()
    if path is None:
        if CI:
            pytest.fail("../shared/realdata is missing; CI must have it (set CASEWORK_REALDATA)")
        pytest.skip("third-party data folder ../shared/realdata is absent on this machine")
    return path


@pytest.fixture
def clock() -> FrozenClock:
    """Wednesday 2026-05-06 09:00 in Shanghai."""
    return FrozenClock(dt.datetime(2026, 5, 6, 9, 0, tzinfo=SHANGHAI))


def _pg_schema_url() -> tuple[str, str]:
    if not PG_URL:
        if CI:
            pytest.fail("CASEWORK_TEST_POSTGRES_URL must be set under CI")
        pytest.skip("PostgreSQL tests need CASEWORK_TEST_POSTGRES_URL")
    return PG_URL, f"t_{uuid.uuid4().hex[:12]}"


class Backend:
    """One database under test: a URL and, on PostgreSQL, a throwaway schema."""

    def __init__(self, name: str, url: str, schema: str | None) -> None:
        self.name = name
        self.url = url
        self.schema = schema

    def open(self, **kwargs: Any) -> Engine:
        kwargs.setdefault("workflows", WORKFLOWS)
        if self.schema:
            kwargs.setdefault("schema", self.schema)
        return Engine.open(self.url, **kwargs)

    def sa_engine(self) -> sa.Engine:
        from casework.store import create_sa_engine

        return create_sa_engine(self.url)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every store test runs on a real SQLite file and on a real PostgreSQL schema."""
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'casework.db'}", None)
        return
    url, schema = _pg_schema_url()
    try:
        yield Backend("postgres", url, schema)
    finally:
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        eng.dispose()


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Backend:
    return Backend("sqlite", f"sqlite:///{tmp_path / 'casework.db'}", None)


@pytest.fixture
def pg_backend() -> Iterator[Backend]:
    url, schema = _pg_schema_url()
    try:
        yield Backend("postgres", url, schema)
    finally:
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        eng.dispose()


@pytest.fixture
def engine(backend: Backend, clock: FrozenClock) -> Iterator[Engine]:
    """The shipped workflows on each backend, driven by the frozen clock."""
    eng = backend.open(clock=clock)
    try:
        yield eng
    finally:
        eng.close()


@pytest.fixture
def make_engine(backend: Backend, clock: FrozenClock) -> Iterator[Callable[..., Engine]]:
    """Open extra engines on the same database (other 'processes' or other settings)."""
    opened: list[Engine] = []

    def factory(**kwargs: Any) -> Engine:
        kwargs.setdefault("clock", clock)
        eng = backend.open(**kwargs)
        opened.append(eng)
        return eng

    yield factory
    for eng in opened:
        eng.close()
