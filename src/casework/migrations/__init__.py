"""Schema migrations (Alembic). ``casework db upgrade`` and :meth:`Engine.open` run them."""

from __future__ import annotations

from casework.store import Store


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring casework's tables up to ``revision``."""
    store.create_all()
