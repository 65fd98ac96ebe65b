"""The ``casework`` command group, its global options and its error policy.

Exit codes: 0 ok; 1 refused or invalid (one clear line on stderr, never a traceback); 2 usage.
Subcommand modules attach themselves to :data:`main`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import exc as sa_exc

from casework.errors import CaseworkError, DefinitionError

DEFAULT_DB = "sqlite:///casework.db"
DEFAULT_WORKFLOWS = "workflows"


class CaseworkGroup(click.Group):
    """Turns every casework error (and a few OS ones) into one line on stderr and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DefinitionError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(1)
        except CaseworkError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except sa_exc.ArgumentError as exc:
            click.echo(f"error: bad database URL (--db / $CASEWORK_DATABASE_URL): {exc}", err=True)
            ctx.exit(1)
        except sa_exc.DBAPIError as exc:
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            click.echo(f"error: database: {detail}", err=True)
            ctx.exit(1)
        except ModuleNotFoundError as exc:
            hint = " (pip install 'casework[postgres]')" if "psycopg" in str(exc) else ""
            click.echo(f"error: {exc}{hint}", err=True)
            ctx.exit(1)


class Settings:
    """What the global options resolved to; subcommands open the engine through it."""

    def __init__(self, db: str, workflows: str) -> None:
        self.db = db
        self.workflows = workflows
        self._engine: Any = None

    def engine(self, *, require_hooks: bool = False) -> Any:
        """The :class:`casework.Engine` for ``--db`` and ``--workflows`` (opened once).

        Installed integrations (entry point group ``casework.integrations``) register their
        hooks first; ``require_hooks`` makes a hook a workflow names but nobody registered a
        setup error (the worker delivers hooks, so it must have them all).
        """
        if self._engine is None:
            from casework.engine import Engine
            from casework.hooks import HookRegistry

            hooks = HookRegistry()
            hooks.load_entry_points()
            self._engine = Engine.open(
                self.db, workflows=Path(self.workflows), hooks=hooks, require_hooks=require_hooks
            )
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


@click.group(cls=CaseworkGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="CASEWORK_DATABASE_URL",
    default=DEFAULT_DB,
    show_default=True,
    help="Database URL (falls back to $CASEWORK_DATABASE_URL).",
)
@click.option(
    "--workflows",
    envvar="CASEWORK_WORKFLOWS",
    default=DEFAULT_WORKFLOWS,
    show_default=True,
    help="Folder of workflow files (falls back to $CASEWORK_WORKFLOWS).",
)
@click.version_option(package_name="casework")
@click.pass_context
def main(ctx: click.Context, db: str, workflows: str) -> None:
    """casework — consumer-complaint handling as durable state machines."""
    settings = Settings(db, workflows)
    ctx.obj = settings
    ctx.call_on_close(settings.close)


pass_settings = click.make_pass_decorator(Settings)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON (UTF-8, not ASCII-escaped, stable key order)."""
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return iso()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def fail(message: str) -> None:
    """Refuse with one line on stderr and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


Command = Callable[..., Any]
