"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None



def _where() -> tuple[str, str | None]:
    """casework's table prefix and schema, as :func:`casework.migrations.upgrade` passed them."""
    attributes = context.config.attributes
    return attributes.get("prefix", ""), attributes.get("schema")


def upgrade() -> None:
    PREFIX, SCHEMA = _where()
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    PREFIX, SCHEMA = _where()
    ${downgrades if downgrades else "pass"}
