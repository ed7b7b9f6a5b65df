"""Whether the database's schema is the one this release's migrations make: for /readyz,
for every API request, and for every command that uses the database."""

import weakref
from functools import lru_cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from app.db import alembic_config, get_engine, sqlite_file
from app.errors import ServiceUnavailable

UPGRADE_HINT = "Run `crisis-tracker db upgrade`."


class MigrationsPending(ServiceUnavailable):
    type = "urn:crisis-tracker:problem:migrations-pending"


@lru_cache
def shipped_migrations() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _shipped(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def missing_file(engine: Engine) -> bool:
    """The engine's SQLite file does not exist (it is never created by connecting)."""
    path = sqlite_file(engine.url.render_as_string(hide_password=False))
    return path is not None and not path.exists()


def check(engine: Engine) -> tuple[str, ...]:
    """The database's revisions when its schema serves this release. Raises
    MigrationsPending when migrations are to be applied, and SQLAlchemy's errors when the
    database does not answer.

    A database a newer release has migrated (a rolling upgrade) serves this one too: its
    migrations are not pending for this release, and they keep the schema compatible."""
    current: tuple[str, ...] = ()
    if not missing_file(engine):
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    script = shipped_migrations()
    heads = script.get_heads()
    if set(current) == set(heads) or any(not _shipped(script, r) for r in current):
        return current
    current_text = ", ".join(current) or "none (an empty database)"
    raise MigrationsPending(
        f"Migrations are pending: the database is at {current_text}, this release needs "
        f"{', '.join(heads)}. {UPGRADE_HINT}",
        current_revision=",".join(current) or None,
        head_revision=",".join(heads),
    )


# Engines whose schema was found ready: checked once per process, not on every request.
_ready: "weakref.WeakSet[Engine]" = weakref.WeakSet()


async def require_migrated() -> None:
    """A dependency of every API operation: until the database has been seen migrated, each
    request checks it, so that an unmigrated one answers a 503 that says so (rather than
    failing on a missing table)."""
    engine = get_engine()
    if engine not in _ready:
        await run_in_threadpool(check, engine)
        _ready.add(engine)
